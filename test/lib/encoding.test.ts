/**
 * The fast paths of the per-update work must write exactly what the aepp-sdk writes: the prefixed
 * base64check/base58check strings, the off-chain tx and the SignedTx wrapper built straight in RLP,
 * and the once-per-process signature check must still refuse what does not verify.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { AccountMemory, buildTx, decode as sdkDecode, encode as sdkEncode, Encoding, Tag } from '../../lib/sdk.js';
import { decode, encode } from '../../lib/tx/encoding.js';
import { offchainTx, wrapSigned } from '../../lib/tx/channel-kit.js';
import { verifySignature } from '../../lib/tx/crypto.js';
import type { AccountId, ChannelId, EncodedTx, StateHash } from '../../fsm/types.js';

t.test('encode and decode agree with the aepp-sdk both ways', async (t) => {
  for (const type of [Encoding.Transaction, Encoding.State, Encoding.Poi, Encoding.AccountAddress, Encoding.Channel]) {
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(type === Encoding.Transaction || type === Encoding.Poi ? i * 7 : 32);
      const ours = encode(bytes, type);
      t.equal(ours, sdkEncode(bytes, type), `${type} encoding of ${bytes.length} bytes`);
      t.same(decode(ours), sdkDecode(ours), `${type} decoding`);
    }
  }
});

t.test('decode refuses a wrong checksum, a wrong alphabet and a state hash of the wrong size', async (t) => {
  const good = encode(randomBytes(40), Encoding.Transaction);
  const flipped = `tx_${good[3] === 'A' ? 'B' : 'A'}${good.slice(4)}`;
  t.throws(() => decode(flipped as EncodedTx), /checksum/);
  t.throws(() => decode('tx_abc-def' as EncodedTx), /base64/);
  t.throws(() => decode(encode(randomBytes(31), Encoding.State)), /32 bytes/);
  t.throws(() => decode('ak_notbase58check' as AccountId));
});

t.test('the off-chain tx and the SignedTx wrapper are byte for byte what buildTx writes', async (t) => {
  const channel = sdkEncode(randomBytes(32), Encoding.Channel) as ChannelId;
  const stateHash = sdkEncode(randomBytes(32), Encoding.State) as StateHash;
  for (const round of [0, 1, 2, 127, 128, 255, 256, 65_535, 1_000_000, 2 ** 31]) {
    const built = buildTx({ tag: Tag.ChannelOffChainTx, channelId: channel, round, stateHash });
    t.equal(offchainTx(channel, round, stateHash), built, `round ${round}`);
  }
  const tx = offchainTx(channel, 7, stateHash);
  const signatures = [randomBytes(64), randomBytes(64)];
  const sorted = [...signatures].sort(Buffer.compare);
  t.equal(wrapSigned(tx, signatures), buildTx({ tag: Tag.SignedTx, signatures: sorted, encodedTx: tx }), 'two signatures, sorted');
  t.equal(wrapSigned(tx), buildTx({ tag: Tag.SignedTx, signatures: [], encodedTx: tx }), 'no signature');
});

t.test('a signature verified once is still checked against its account, message and bytes', async (t) => {
  const account = AccountMemory.generate();
  const other = AccountMemory.generate();
  const { privateKey } = generateKeyPairSync('ed25519', {});
  const message = Buffer.concat([Buffer.from('ae_dev'), randomBytes(32)]);
  const signature = Buffer.from(await account.sign(message));
  t.ok(verifySignature(message, signature, account.address), 'good');
  t.ok(verifySignature(message, signature, account.address), 'good again (remembered)');
  t.notOk(verifySignature(message, signature, other.address), 'another account');
  t.notOk(verifySignature(Buffer.concat([message, Buffer.of(0)]), signature, account.address), 'another message');
  const tampered = Buffer.from(signature);
  tampered[10]! ^= 1;
  t.notOk(verifySignature(message, tampered, account.address), 'another signature');
  t.notOk(verifySignature(message, sign(null, message, privateKey), account.address), 'someone else\'s key');
});
