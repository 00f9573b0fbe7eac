/**
 * The tx watcher through a node's HTTP API (NodeChain against the dev chain's): a tx the node does not
 * know is posted again; one the node refuses then is reported rejected with the node's reason, where
 * before the owner waited for a block that would never come.
 */
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { AccountMemory, buildTx, buildTxHash, Tag } from '../../lib/sdk.js';
import { DevChain } from '../../lib/chain/dev/dev-chain.js';
import { createNodeHttpApi } from '../../lib/chain/dev/node-http-api.js';
import { NodeChain } from '../../lib/chain/node-chain.js';
import { TxWatcher } from '../../lib/chain/tx-watcher.js';
import { silentLogger } from '../../lib/log.js';
import type { EncodedTx } from '../../fsm/types.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';

const GENESIS = new AccountMemory('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf');

async function chainBehindApi(t: Test) {
  const dev = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 60_000, genesisBalance: 10n ** 30n });
  const api = createNodeHttpApi(dev, silentLogger());
  const posted: string[] = [];
  api.on('request', (req: { url?: string; method?: string }) => { if (req.method === 'POST') posted.push(req.url ?? ''); });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const chain = new NodeChain({ url: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, networkId: NETWORK_ID, pollMs: 20 });
  const watcher = new TxWatcher(chain);
  t.teardown(async () => { watcher.close(); await chain.close(); await dev.close(); api.close(); api.closeAllConnections(); });
  /** mines a block and waits until the watcher has looked at it */
  const block = async () => {
    await dev.mineBlock();
    const height = await dev.height();
    for (let i = 0; i < 200 && (await chain.height()) < height; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
  };
  return { dev, chain, watcher, block, posted };
}

const spend = (from: AccountMemory, to: string, amount: bigint, nonce: number) =>
  cosign(from, buildTx({ tag: Tag.SpendTx, senderId: from.address, recipientId: to as `ak_${string}`, amount, nonce })) as Promise<EncodedTx>;

function recorder() {
  const heard: string[] = [];
  return {
    heard,
    callbacks: {
      mined: () => heard.push('mined'),
      locked: () => heard.push('locked'),
      rejected: (reason: string) => heard.push(`rejected: ${reason}`),
    },
  };
}

t.test('a co-signed tx the node never got (its post was lost) is posted by the watcher, mined and buried', async (t) => {
  const { dev, watcher, block, posted } = await chainBehindApi(t);
  const to = AccountMemory.generate();
  const tx = await spend(GENESIS, to.address, 10n ** 18n, 1);
  const { heard, callbacks } = recorder();
  watcher.watch({}, tx, 1, callbacks);
  await block();
  t.same(posted, [], 'one block unknown: not yet posted (the first post may still be on its way)');
  await block();
  t.equal(posted.length, 1, 'two blocks unknown: posted again');
  t.same(await dev.txStatus(buildTxHash(tx)), { state: 'pending' }, 'the node has it now');
  await block();
  t.same(heard, ['mined'], 'mined');
  await block();
  t.same(heard, ['mined', 'locked'], 'and buried at its depth');
  t.equal(watcher.size, 0);
});

t.test('a tx that failed where the node\'s API cannot say so is posted again, refused, and reported rejected', async (t) => {
  const { dev, watcher, block } = await chainBehindApi(t);
  const payer = AccountMemory.generate();
  await dev.postTx(await spend(GENESIS, payer.address, 10n ** 18n, 1));
  await block();
  // both apply now, one by one; mined together, the second finds the balance spent
  const all = await spend(payer, GENESIS.address, 10n ** 18n - 10n ** 15n, 1);
  const more = await spend(payer, GENESIS.address, 10n ** 17n, 2);
  await dev.postTx(all);
  await dev.postTx(more);
  const { heard, callbacks } = recorder();
  watcher.watch({}, more, 0, callbacks);
  await block();
  t.match(await dev.txStatus(buildTxHash(more)), { state: 'failed' }, 'the dev chain dropped it at mining');
  t.same(heard, [], 'through the node API it only reads as unknown');
  await block();
  await block();
  t.equal(heard.length, 1, 'then, posted again and refused, it is reported once');
  t.match(heard[0], /^rejected: the tx left the node's pool and posting it again was refused: /, 'rejected, saying why');
  t.equal(watcher.size, 0, 'and no longer watched');
});
