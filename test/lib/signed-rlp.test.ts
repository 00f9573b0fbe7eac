/**
 * The SignedTx RLP written and read by hand (lib/tx/signed-rlp.ts) must write exactly what the `rlp`
 * package writes, read exactly what it reads, and leave to the general decoder every form that is not
 * the canonical one, so nothing the kit accepted or refused before changes.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { decode as rlpDecode, encode as rlpEncode } from 'rlp';
import { encodeSignedTx, readSignedTx } from '../../lib/tx/signed-rlp.js';

const SIGNED_TX = [Buffer.of(11), Buffer.of(1)];

t.test('written byte for byte as the rlp package writes it, and read back', async (t) => {
  // inner txs around the 55-byte boundary of RLP's short form, and past one and two length bytes
  for (const innerLength of [1, 2, 54, 55, 56, 57, 200, 255, 256, 1_000, 70_000]) {
    for (const count of [0, 1, 2, 3]) {
      const inner = randomBytes(innerLength);
      if (innerLength === 1) inner[0] = 0x90; // a single byte at or above 0x80 keeps its header
      const signatures = Array.from({ length: count }, () => randomBytes(64));
      const ours = encodeSignedTx(inner, signatures);
      t.same(ours, Buffer.from(rlpEncode([...SIGNED_TX, signatures, inner])), `${innerLength}-byte tx, ${count} signatures`);
      const read = readSignedTx(ours);
      t.ok(read, 'read back');
      t.same(read!.inner, inner);
      t.same(read!.signatures, signatures);
    }
  }
  const small = Buffer.of(0x05);
  t.same(encodeSignedTx(small, []), Buffer.from(rlpEncode([...SIGNED_TX, [], small])), 'a one-byte tx below 0x80 is written without a header');
});

t.test('anything but the canonical SignedTx is left to the general decoder', async (t) => {
  const inner = randomBytes(120);
  const signature = randomBytes(64);
  const good = Buffer.from(rlpEncode([...SIGNED_TX, [signature], inner]));
  t.ok(readSignedTx(good));
  const cases: Record<string, Buffer> = {
    'another tx (not tag 11)': Buffer.from(rlpEncode([Buffer.of(57), Buffer.of(2), inner])),
    'version 2': Buffer.from(rlpEncode([Buffer.of(11), Buffer.of(2), [signature], inner])),
    'a 63-byte signature': Buffer.from(rlpEncode([...SIGNED_TX, [signature.subarray(1)], inner])),
    'a signature that is a list': Buffer.from(rlpEncode([...SIGNED_TX, [[signature]], inner])),
    'the tx as a list': Buffer.from(rlpEncode([...SIGNED_TX, [signature], [inner]])),
    'a fifth item': Buffer.from(rlpEncode([...SIGNED_TX, [signature], inner, Buffer.of(1)])),
    'a byte after the list': Buffer.concat([good, Buffer.of(0)]),
    'cut short': good.subarray(0, good.length - 1),
    'empty': Buffer.alloc(0),
    'a string, not a list': Buffer.from(rlpEncode(inner)),
    // the same items with a length written longer than it needs: the rlp package refuses these
    'a list length in the long form though short': Buffer.concat([Buffer.of(0xf8, 0x03), Buffer.of(11, 1, 0xc0)]),
    'a length with a leading zero': Buffer.concat([Buffer.of(0xf9, 0x00, good.length - 2), good.subarray(2)]),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    t.equal(readSignedTx(bytes), null, name);
  }
  // what the general decoder makes of those it accepts is not a canonical SignedTx, so none is lost
  for (const name of ['another tx (not tag 11)', 'version 2', 'a 63-byte signature', 'a fifth item']) {
    t.doesNotThrow(() => rlpDecode(cases[name]!), `${name}: the rlp package reads it (and the kit judges it)`);
  }
  for (const name of ['a byte after the list', 'cut short', 'a list length in the long form though short', 'a length with a leading zero']) {
    t.throws(() => rlpDecode(cases[name]!), `${name}: the rlp package refuses it too`);
  }
});
