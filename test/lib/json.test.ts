import t from 'tap';
import fc from 'fast-check';
import { parseJson, parseJsonStrictly, stringifyJson, stringifyJsonStrictly, JsonParseError } from '../../lib/json.js';
import { parseAmount, amountToJson } from '../../lib/amounts.js';

t.test('large integers survive a round trip exactly', async (t) => {
  const parsed = parseJson('{"amount": 1000000000000000000001, "small": 42, "neg": -9007199254740993, "f": 1.5, "e": 1e3}') as any;
  t.equal(parsed.amount, 1000000000000000000001n);
  t.equal(parsed.small, 42);
  t.equal(parsed.neg, -9007199254740993n);
  t.equal(parsed.f, 1.5);
  t.equal(parsed.e, 1000);
  t.equal(stringifyJson({ a: 10n ** 21n, b: [1, 'x', null], c: undefined }), '{"a":1000000000000000000000,"b":[1,"x",null]}');
});

t.test('bigints anywhere, and strings that look like the writer\'s own marks, are written exactly', async (t) => {
  t.equal(stringifyJson(-(2n ** 70n)), '-1180591620717411303424');
  t.equal(stringifyJson([1n, { x: [2n, -3n] }]), '[1,{"x":[2,-3]}]');
  t.equal(stringifyJson({ s: '\uE0001', n: 5n }), '{"s":"\uE0001","n":5}', 'a string holding the mark stays a string');
  t.equal(stringifyJson({ '\uE000': 1n }), '{"\uE000":1}', 'a key holding the mark');
  t.equal(stringifyJson({ d: { toJSON: () => ({ a: 7n }) } }), '{"d":{"a":7}}');
  t.equal(stringifyJson(undefined), 'null');
  t.equal(stringifyJson({ f: Infinity, u: [undefined] }), '{"f":null,"u":[null]}');
});

t.test('numbers too large for a double are read as bigints wherever they are', async (t) => {
  t.same(parseJson('[123456789012345, 1234567890123456, -12345678901234567, 9007199254740991]'), [123456789012345, 1234567890123456, -12345678901234567n, 9007199254740991]);
  t.same(parseJson('{"a":{"b":[99999999999999999999]}}'), { a: { b: [99999999999999999999n] } });
  t.equal(parseJson('"1234567890123456789"'), '1234567890123456789', 'long digits in a string stay a string');
});

t.test('the parser is strict and bounded', async (t) => {
  for (const bad of ['', '{', '{"a":1,}', '[1 2]', "{'a':1}", '01', 'nul', '"\u0001"', '[]x', '['.repeat(70) + ']'.repeat(70)]) {
    t.throws(() => parseJson(bad), JsonParseError, JSON.stringify(bad).slice(0, 30));
  }
  const proto = parseJson('{"__proto__": {"polluted": true}}') as any;
  t.equal(({} as any).polluted, undefined, 'no prototype pollution');
  t.same(Object.keys(proto), ['__proto__']);
  t.equal(parseJson('"\\u00e9\\n"'), 'é\n');
});

t.test('amounts: numbers, numeric strings and exponent notation, never floats', async (t) => {
  t.equal(parseAmount(5), 5n);
  t.equal(parseAmount('1e+21'), 10n ** 21n);
  t.equal(parseAmount(1e21), 10n ** 21n);
  t.equal(parseAmount('1.5e3'), 1500n);
  t.equal(parseAmount('123456789012345678901234567890'), 123456789012345678901234567890n);
  t.equal(parseAmount(12345678901234567890123n), 12345678901234567890123n);
  t.equal(parseAmount(-1), 'negative_amount');
  t.equal(parseAmount('-7'), 'negative_amount');
  for (const bad of [1.5, '1.5', 'abc', '', null, true, {}, [], '1e-3', NaN, Infinity, '1e999999']) t.equal(parseAmount(bad), 'not_a_number', String(bad));
  t.equal(amountToJson(5n), 5);
  t.equal(amountToJson(2n ** 60n), 2n ** 60n);
});

t.test('the fast paths agree with the strict parser and writer on any value, bigints anywhere', async (t) => {
  const leaf = fc.oneof(
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(), fc.constantFrom('\uE000', '\uE0001', '"\uE0001"', '1234567890123456789'), fc.boolean(), fc.constant(null),
  );
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 })),
  })).node;
  fc.assert(fc.property(value, (v) => {
    const text = stringifyJson(v);
    t.equal(text, stringifyJsonStrictly(v));
    t.same(parseJson(text), parseJsonStrictly(text));
  }), { numRuns: 500 });
  fc.assert(fc.property(fc.string(), (text) => {
    let fast: unknown; let strict: unknown;
    try { fast = parseJson(text); } catch (err) { fast = (err as Error).message; }
    try { strict = parseJsonStrictly(text); } catch (err) { strict = (err as Error).message; }
    t.same(fast, strict, 'any text: the same value, or the same error');
  }), { numRuns: 500 });
});
