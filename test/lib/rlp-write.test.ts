/**
 * The one-pass RLP writer (lib/tx/rlp-write.ts) must write exactly what the `rlp` package writes, for
 * every shape the kit and the state trees give it, and integers exactly as the node serialises them.
 */
import t from 'tap';
import { randomBytes, randomInt } from 'node:crypto';
import { encode as rlpPackageEncode } from 'rlp';
import { rlpEncode, uintBytes, type RlpInput } from '../../lib/tx/rlp-write.js';

/** string lengths where RLP's headers change form */
const EDGES = [0, 1, 2, 55, 56, 57, 255, 256, 257, 65_535, 65_536, 70_000];

function randomItem(depth: number): RlpInput {
  if (depth > 3 || Math.random() < 0.5) {
    const length = Math.random() < 0.3 ? EDGES[randomInt(EDGES.length)]! : randomInt(80);
    const bytes = randomBytes(length);
    return bytes;
  }
  return Array.from({ length: randomInt(6) }, () => randomItem(depth + 1));
}

t.test('byte for byte what the rlp package writes', async (t) => {
  for (const length of EDGES) {
    const bytes = randomBytes(length);
    t.same(rlpEncode(bytes), Buffer.from(rlpPackageEncode(bytes)), `a ${length}-byte string`);
    t.same(rlpEncode([bytes]), Buffer.from(rlpPackageEncode([bytes])), `a list of a ${length}-byte string`);
  }
  for (const byte of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
    t.same(rlpEncode(Buffer.of(byte)), Buffer.from(rlpPackageEncode(Buffer.of(byte))), `the single byte ${byte}`);
  }
  t.same(rlpEncode([]), Buffer.from(rlpPackageEncode([])), 'an empty list');
  t.same(rlpEncode([[], [[]], [Buffer.alloc(0)]]), Buffer.from(rlpPackageEncode([[], [[]], [Buffer.alloc(0)]])), 'nested empties');
  // lists whose payload crosses the short form's limit, from items of many sizes
  let mismatches = 0;
  for (let i = 0; i < 500; i++) {
    const item = randomItem(0);
    if (!rlpEncode(item).equals(Buffer.from(rlpPackageEncode(item as never)))) mismatches++;
  }
  t.equal(mismatches, 0, '500 random nested items');
});

t.test('integers as the node serialises them: minimal big-endian, 0 as one zero byte', async (t) => {
  const hexWay = (n: bigint) => {
    let hex = n.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    return Buffer.from(hex, 'hex');
  };
  const values = [0n, 1n, 127n, 128n, 255n, 256n, 65_535n, 65_536n, 2n ** 53n, 10n ** 18n, 10n ** 21n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 255n];
  for (let i = 0; i < 200; i++) values.push(BigInt(`0x${randomBytes(randomInt(1, 33)).toString('hex')}`));
  for (const n of values) t.same(uintBytes(n), hexWay(n), `${n}`);
  t.same(uintBytes(7), Buffer.of(7), 'a number');
});
