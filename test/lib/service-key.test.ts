/**
 * The service's key derives its address through libsodium and signs through the aepp-sdk: both must
 * agree with the aepp-sdk's own AccountMemory, key for key.
 */
import t from 'tap';
import { AccountMemory, buildTx, decode, Tag } from '../../lib/sdk.js';
import { ServiceKey } from '../../lib/tx/service-key.js';
import { NETWORK_ID, unpackSignedTx } from '../helpers/accounts.js';
import { verifySignature, signingMessage } from '../../lib/tx/crypto.js';

t.test('a key made by the aepp-sdk and one made here: same address as AccountMemory, a signature the node would accept', async (t) => {
  for (const secretKey of [AccountMemory.generate().secretKey, ServiceKey.generate(), ServiceKey.generate()]) {
    const key = new ServiceKey(secretKey);
    t.equal(key.address, new AccountMemory(secretKey).address, 'the address AccountMemory derives');
    const tx = buildTx({ tag: Tag.SpendTx, senderId: key.address, recipientId: key.address, amount: 1n, nonce: 1 });
    const signed = await key.signTransaction(tx, { networkId: NETWORK_ID });
    const [signature] = unpackSignedTx(signed).signatures;
    t.ok(verifySignature(signingMessage(NETWORK_ID, decode(tx)), signature!, key.address), 'its signature checks against its address');
  }
});

t.test('a key that does not decode to a 32-byte seed is refused', async (t) => {
  t.throws(() => new ServiceKey('sk_notbase58check' as `sk_${string}`));
  t.throws(() => new ServiceKey('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWm' as `sk_${string}`), 'a checksum that fails');
});
