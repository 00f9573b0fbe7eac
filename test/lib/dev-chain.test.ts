/**
 * The dev chain checks txs as a node does: signatures over the network id, nonces, minimum fees,
 * balances; it applies spend and channel create txs and counts blocks.
 */
import t from 'tap';
import { AccountMemory, buildTx, decode, Tag, encode, Encoding } from '../../lib/sdk.js';
import { decode as rlpDecode, encode as rlpEncode } from 'rlp';
import { DevChain } from '../../lib/chain/dev/dev-chain.js';
import { channelId } from '../../lib/tx/channel-kit.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';

const GENESIS = new AccountMemory('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf');

function newChain() {
  const chain = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 60_000, genesisBalance: 10n ** 30n });
  t.teardown(() => chain.close());
  return chain;
}

function spend(from: AccountMemory, to: string, amount: bigint, nonce: number, fee?: bigint): string {
  const tx = buildTx({ tag: Tag.SpendTx, senderId: from.address, recipientId: to as `ak_${string}`, amount, nonce });
  if (fee === undefined) return tx;
  // the aepp-sdk refuses to build a fee below the minimum, so write it into the RLP directly
  const fields = rlpDecode(decode(tx)) as Uint8Array[];
  fields[5] = Buffer.from(fee.toString(16).padStart(2, '0'), 'hex'); // [tag, version, sender, recipient, amount, fee, …]
  return encode(Buffer.from(rlpEncode(fields)), Encoding.Transaction);
}

t.test('spends from genesis are checked, mined and counted', async (t) => {
  const chain = newChain();
  const alice = AccountMemory.generate();
  const tx = await cosign(GENESIS, spend(GENESIS, alice.address, 10n ** 20n, 1));
  const hash = await chain.postTx(tx as `tx_${string}`);
  t.same(await chain.txStatus(hash), { state: 'pending' });
  t.equal(await chain.nextNonce(GENESIS.address), 2, 'the pool counts for the next nonce');
  await chain.mineBlock();
  t.same(await chain.txStatus(hash), { state: 'mined', height: 1 });
  t.equal((await chain.account(alice.address))?.balance, 10n ** 20n);
});

t.test('refusals: bad signature, other network, low fee, reused nonce, insufficient balance', async (t) => {
  const chain = newChain();
  const alice = AccountMemory.generate();
  const stranger = AccountMemory.generate();
  await t.rejects(chain.postTx(await cosign(stranger, spend(GENESIS, alice.address, 1n, 1)) as `tx_${string}`), /no valid signature/);
  await t.rejects(chain.postTx(await cosign(GENESIS, spend(GENESIS, alice.address, 1n, 1), 'ae_mainnet') as `tx_${string}`), /no valid signature/);
  await t.rejects(chain.postTx(await cosign(GENESIS, spend(GENESIS, alice.address, 1n, 1, 1n)) as `tx_${string}`), /below the minimum/);
  await t.rejects(chain.postTx(spend(GENESIS, alice.address, 1n, 1) as `tx_${string}`), /not a signed transaction/);
  await t.rejects(chain.postTx(await cosign(stranger, spend(stranger, alice.address, 1n, 1)) as `tx_${string}`), /insufficient balance/);
  await chain.postTx(await cosign(GENESIS, spend(GENESIS, alice.address, 1n, 1)) as `tx_${string}`);
  await chain.mineBlock();
  await t.rejects(chain.postTx(await cosign(GENESIS, spend(GENESIS, alice.address, 2n, 1)) as `tx_${string}`), /nonce too low/);
});

t.test('a channel create tx needs both signatures and locks both amounts', async (t) => {
  const chain = newChain();
  const [a, b] = [AccountMemory.generate(), AccountMemory.generate()];
  for (const [i, acc] of [a, b].entries()) await chain.postTx(await cosign(GENESIS, spend(GENESIS, acc.address, 10n ** 21n, i + 1)) as `tx_${string}`);
  await chain.mineBlock();
  const create = buildTx({
    tag: Tag.ChannelCreateTx, initiator: a.address, initiatorAmount: 10n ** 20n, responder: b.address, responderAmount: 10n ** 19n,
    channelReserve: 0, lockPeriod: 10, ttl: 0, initiatorDelegateIds: [], responderDelegateIds: [],
    stateHash: encode(Buffer.alloc(32), Encoding.State), nonce: 1,
  });
  await t.rejects(chain.postTx(await cosign(a, create) as `tx_${string}`), /no valid signature by ak_/);
  await chain.postTx(await cosign(b, await cosign(a, create)) as `tx_${string}`);
  await chain.mineBlock();
  const id = channelId(a.address, 1, b.address);
  t.equal((await chain.channel(id))?.channelAmount, 11n * 10n ** 19n);
  t.equal((await chain.account(b.address))?.balance, 10n ** 21n - 10n ** 19n);
  t.equal((await chain.account(a.address))?.nonce, 1);
});

t.test('a tx whose nonce another tx took is dropped, not kept pending for good', async (t) => {
  const chain = newChain();
  const [alice, bob] = [AccountMemory.generate(), AccountMemory.generate()];
  const first = await chain.postTx(await cosign(GENESIS, spend(GENESIS, alice.address, 1n, 1)) as `tx_${string}`);
  const twin = await chain.postTx(await cosign(GENESIS, spend(GENESIS, bob.address, 1n, 1)) as `tx_${string}`);
  await chain.mineBlock();
  t.same(await chain.txStatus(first), { state: 'mined', height: 1 });
  t.same(await chain.txStatus(twin), { state: 'failed', reason: 'Invalid tx: nonce too low' });
  t.equal(chain.pendingCount(), 0);
});

t.test('blocks asked for together are made one after another', async (t) => {
  const chain = newChain();
  const heights: number[] = [];
  chain.onBlock((h) => heights.push(h));
  t.same(await Promise.all([chain.mineBlock(), chain.mineBlock(), chain.mineBlock()]), [1, 2, 3]);
  t.same(heights, [1, 2, 3], 'each announced once, in order');
  t.equal(await chain.height(), 3);
});
