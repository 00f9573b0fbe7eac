/**
 * JSON that keeps large integers exact. Amounts are aettos and exceed 2^53, which JSON.parse would
 * round silently; this parser returns a bigint for any integer literal outside the safe range, and
 * the serializer writes bigints as bare JSON numbers (as the node does).
 *
 * The parser is strict (RFC 8259) and bounded in nesting depth, so a hostile frame cannot blow the stack.
 */
export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

export class JsonParseError extends Error {
  override name = 'JsonParseError';
}

const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING_PLAIN = /[^"\\\u0000-\u001f]*/y;

/** Digits enough to be an integer beyond 2^53 (15 digits always fit). */
const LONG_DIGITS = /\d{16}/;

export function parseJson(text: string): Json {
  // V8's parser is exact when no number could be too large and the nesting cannot be too deep (every
  // `[` and `{` counted, in strings too); a frame it refuses is read again below for the error's words
  if (!LONG_DIGITS.test(text) && fewOpenings(text)) {
    try {
      return JSON.parse(text) as Json;
    } catch { /* the parser below says why */ }
  }
  return parseStrictly(text);
}

/** The parser without V8's fast path: what `parseJson` must always agree with (its tests compare them). */
export function parseJsonStrictly(text: string): Json {
  return parseStrictly(text);
}

function fewOpenings(text: string): boolean {
  let openings = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 0x7b || c === 0x5b) && ++openings > MAX_DEPTH) return false;
  }
  return true;
}

function parseStrictly(text: string): Json {
  let pos = 0;

  const fail = (what: string): never => {
    throw new JsonParseError(`${what} at position ${pos}`);
  };
  const skipWhitespace = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      pos++;
    }
  };

  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    for (;;) {
      STRING_PLAIN.lastIndex = pos;
      STRING_PLAIN.exec(text);
      out += text.slice(pos, STRING_PLAIN.lastIndex);
      pos = STRING_PLAIN.lastIndex;
      const c = text[pos];
      if (c === '"') { pos++; return out; }
      if (c !== '\\') fail(c === undefined ? 'unterminated string' : 'control character in string');
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad unicode escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default: fail('bad escape');
      }
    }
  };

  const parseNumber = (): number | bigint => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail('unexpected character');
    pos = NUMBER.lastIndex;
    const literal = m[0];
    if (m[1] === undefined && m[2] === undefined) {
      const n = Number(literal);
      return Number.isSafeInteger(n) ? n : BigInt(literal);
    }
    return Number(literal);
  };

  const parseValue = (depth: number): Json => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    skipWhitespace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: { [key: string]: Json } = {};
      skipWhitespace();
      if (text[pos] === '}') { pos++; return obj; }
      for (;;) {
        skipWhitespace();
        if (text[pos] !== '"') fail('expected a key');
        const key = parseString();
        skipWhitespace();
        if (text[pos] !== ':') fail('expected a colon');
        pos++;
        const value = parseValue(depth + 1);
        // defineProperty keeps a "__proto__" key an ordinary key instead of changing the prototype
        Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
        skipWhitespace();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === '}') { pos++; return obj; }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      pos++;
      const arr: Json[] = [];
      skipWhitespace();
      if (text[pos] === ']') { pos++; return arr; }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWhitespace();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === ']') { pos++; return arr; }
        fail('expected , or ]');
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', pos)) { pos += 4; return true; }
    if (text.startsWith('false', pos)) { pos += 5; return false; }
    if (text.startsWith('null', pos)) { pos += 4; return null; }
    if (c === undefined) return fail('unexpected end of input');
    return parseNumber();
  };

  const value = parseValue(0);
  skipWhitespace();
  if (pos !== text.length) fail('trailing characters');
  return value;
}

/** Marks a bigint's digits in V8's output; a key or string that holds it sends the value the slow way. */
const BIGINT_MARK = '\uE000';
const MARKED_BIGINT = /"\uE000(-?\d+)"/g;

/** JSON.stringify, but bigints become bare integer literals instead of throwing. */
export function stringifyJson(value: unknown): string {
  // Most frames hold no bigint (reports, infos, answers, amounts below 2^53): V8 writes those on its
  // fast path, which a replacer turns off. Looking for one first costs far less than the replacer.
  if (!holdsBigint(value, 0)) return JSON.stringify(value) ?? 'null';
  return stringifyMarked(value);
}

/** how deep `holdsBigint` looks before it assumes there may be one (and the replacer finds out) */
const BIGINT_SEARCH_DEPTH = 32;

/** Whether a bigint is anywhere in `value` (what JSON.stringify would write of it; strings are not looked into). */
function holdsBigint(value: unknown, depth: number): boolean {
  if (typeof value === 'bigint') return true;
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= BIGINT_SEARCH_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') return true;
  if (Array.isArray(value)) {
    for (const v of value) if (holdsBigint(v, depth + 1)) return true;
    return false;
  }
  for (const key in value) {
    if (Object.hasOwn(value, key) && holdsBigint((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

function stringifyMarked(value: unknown): string {
  let bigints = false;
  let clash = false;
  const text = JSON.stringify(value, (key: string, v: unknown) => {
    if (typeof v === 'bigint') {
      bigints = true;
      return BIGINT_MARK + v.toString();
    }
    if ((typeof v === 'string' && v.includes(BIGINT_MARK)) || key.includes(BIGINT_MARK)) clash = true;
    return v;
  }) as string | undefined;
  if (clash) return write(value) ?? 'null';
  if (text === undefined) return 'null';
  return bigints ? text.replace(MARKED_BIGINT, '$1') : text;
}

/** The writer without V8's fast path: what `stringifyJson` must always agree with (its tests compare them). */
export function stringifyJsonStrictly(value: unknown): string {
  return write(value) ?? 'null';
}

function write(value: unknown): string | undefined {
  switch (typeof value) {
    case 'bigint': return value.toString();
    case 'string': return JSON.stringify(value);
    case 'number': return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean': return value ? 'true' : 'false';
    case 'undefined': case 'function': case 'symbol': return undefined;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => write(v) ?? 'null').join(',')}]`;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return write(json.call(value));
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as object)) {
    const w = write(v);
    if (w !== undefined) parts.push(`${JSON.stringify(k)}:${w}`);
  }
  return `{${parts.join(',')}}`;
}
