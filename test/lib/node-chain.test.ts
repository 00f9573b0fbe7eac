/**
 * The node-backed chain against the dev chain's own HTTP API: the same answers as the in-process chain.
 */
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { AccountMemory, buildTx, Tag } from '../../lib/sdk.js';
import { DevChain, GENESIS_ACCOUNT } from '../../lib/chain/dev/dev-chain.js';
import { createNodeHttpApi } from '../../lib/chain/dev/node-http-api.js';
import { NodeChain } from '../../lib/chain/node-chain.js';
import { ChainRejectedError } from '../../lib/chain/types.js';
import { silentLogger } from '../../lib/log.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';

const GENESIS = new AccountMemory('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf');

/** A dev chain behind its node HTTP API, every path asked of it noted, and a NodeChain polling it. */
async function servedChain(t: Test, pollMs: number) {
  const dev = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 60_000, genesisBalance: 10n ** 30n });
  const api = createNodeHttpApi(dev, silentLogger());
  const asked: string[] = [];
  api.on('request', (req: { url?: string }) => asked.push(req.url ?? ''));
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const chain = new NodeChain({ url: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, networkId: NETWORK_ID, pollMs });
  t.teardown(async () => { await chain.close(); await dev.close(); api.close(); api.closeAllConnections(); });
  return { dev, api, asked, chain };
}

t.test('NodeChain reads and writes the dev chain through its node HTTP API', async (t) => {
  const dev = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 60_000, genesisBalance: 10n ** 30n });
  const api = createNodeHttpApi(dev, silentLogger());
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const chain = new NodeChain({ url, networkId: NETWORK_ID, pollMs: 20 });
  t.teardown(async () => { await chain.close(); await dev.close(); api.close(); api.closeAllConnections(); });

  t.equal(await chain.height(), 0);
  const genesis = await chain.genesisHash();
  t.equal(genesis.length, 32, 'the genesis hash, the chain_hash of peer messages, is 32 bytes');
  t.same(Buffer.from(genesis), Buffer.from(await dev.genesisHash()), 'and the same through the node API as in-process');
  t.equal((await chain.account(GENESIS_ACCOUNT))?.balance, 10n ** 30n, 'big balances exactly');
  const stranger = AccountMemory.generate();
  t.equal(await chain.account(stranger.address), null, 'unknown account');
  t.equal(await chain.nextNonce(stranger.address), 1);
  t.equal(await chain.nextNonce(GENESIS_ACCOUNT), 1);

  const heights: number[] = [];
  chain.onBlock((h) => heights.push(h));
  const spend = await cosign(GENESIS, buildTx({ tag: Tag.SpendTx, senderId: GENESIS.address, recipientId: stranger.address, amount: 10n ** 21n, nonce: 1 }));
  const hash = await chain.postTx(spend as `tx_${string}`);
  t.same(await chain.txStatus(hash), { state: 'pending' });
  await dev.mineBlock();
  t.same(await chain.txStatus(hash), { state: 'mined', height: 1 });
  t.equal((await chain.account(stranger.address))?.balance, 10n ** 21n);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(heights, [1], 'new blocks are noticed');
  t.same(await chain.txStatus('th_2BQH5Xe1G5yo8dzGjvtNa3XUpnvu3CnnaYMcWyEL1N2wsn8dWB'), { state: 'unknown' });

  const forged = await cosign(stranger, buildTx({ tag: Tag.SpendTx, senderId: GENESIS.address, recipientId: stranger.address, amount: 1n, nonce: 2 }));
  await t.rejects(chain.postTx(forged as `tx_${string}`), ChainRejectedError, 'a refused tx is a ChainRejectedError');
  t.equal(await chain.channel('ch_2jqr9vjPiaNk2H4iE3pV9FCayL1BbyT4nDk4WHd6HTE16ZswWu'), null, 'no such channel');

  const top = await chain.keyBlockHash(1);
  t.equal(top, await dev.keyBlockHash(1), 'a key block\'s hash by height');
  t.equal(await chain.keyBlockHash(2), null, 'none above the top');
  t.equal(await chain.blockHeight(top!), 1, 'a key block\'s height by hash');
  t.equal(await chain.blockHeight(dev.blockHash(1, 'mh')), 1, 'a micro block\'s height by hash');
  t.equal(await chain.blockHeight(dev.blockHash(7, 'kh')), null, 'a block the chain does not have');
});

t.test('the top height comes from the block poll while it is fresh: a proposal does not cost a request to the node', async (t) => {
  const { dev, api, asked, chain } = await servedChain(t, 300);
  const heightRequests = () => asked.filter((path) => path.endsWith('/key-blocks/current')).length;

  t.equal(await chain.height(), 0, 'before any poll it is asked for');
  await dev.mineBlock();
  const before = heightRequests();
  const started = Date.now();
  const heights: number[] = [];
  for (let i = 0; i < 200; i += 1) heights.push(await chain.height());
  const polls = Math.ceil((Date.now() - started) / 300) + 1;
  t.ok(heightRequests() - before <= polls, `200 reads cost ${heightRequests() - before} requests (the poll's own, at most ${polls})`);
  for (let i = 0; i < 100 && (await chain.height()) < 1; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(await chain.height(), 1, 'a new block is seen within a poll');

  // the node goes away: within two polls the height is asked for, and the failure surfaces
  api.close(); api.closeAllConnections();
  await new Promise((resolve) => setTimeout(resolve, 700));
  await t.rejects(chain.height(), 'a node that stopped answering is not hidden behind an old height');
});

t.test('a key block below the top is looked up by hash once: every remote proposal pins one', async (t) => {
  const { dev, asked, chain } = await servedChain(t, 20);
  for (let i = 0; i < 3; i += 1) await dev.mineBlock();
  for (let i = 0; i < 100 && (await chain.height()) < 3; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  const byHash = () => asked.filter((path) => path.includes('/key-blocks/hash/')).length;

  const pinned = (await dev.keyBlockHash(2))!;
  const top = (await dev.keyBlockHash(3))!;
  t.equal(await chain.blockHeight(pinned), 2);
  const before = byHash();
  for (let i = 0; i < 50; i += 1) t.equal(await chain.blockHeight(pinned), 2);
  t.equal(byHash() - before, 0, 'a pin below the top costs the node no request once known');
  // height() reads the top again if the poll fell behind (a loaded machine), so the top's hash is fresh here
  t.equal(await chain.height(), 3);
  t.equal(await chain.blockHeight(top), 3, 'the top key block is answered too');
  t.equal(byHash() - before, 0, 'from the read that gave the top height, while it is fresh');
  const stranger = dev.blockHash(9, 'kh');
  t.equal(await chain.blockHeight(stranger), null, 'a block the chain does not have');
  const asked0 = byHash();
  t.equal(await chain.blockHeight(stranger), null, 'is still unknown');
  t.equal(byHash() - asked0, 1, 'and is asked for again (a block not on the chain is never remembered)');
});

t.test('the top key block a proposal pins comes from the block poll while it is fresh; a stale poll asks the node', async (t) => {
  const { dev, api, asked, chain } = await servedChain(t, 200);
  for (let i = 0; i < 2; i += 1) await dev.mineBlock();
  for (let i = 0; i < 100 && (await chain.height()) < 2; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  const byHeight = () => asked.filter((path) => path.includes('/key-blocks/height/')).length;
  const before = byHeight();
  for (let i = 0; i < 50; i += 1) t.equal(await chain.keyBlockHash(await chain.height()), await dev.keyBlockHash(2));
  t.equal(byHeight() - before, 0, '50 pins at the top cost the node no request beyond its poll');

  // a new top replaces the polled one within a poll: the new hash is what the next poll gives
  await dev.mineBlock();
  for (let i = 0; i < 100 && (await chain.height()) < 3; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(await chain.keyBlockHash(3), await dev.keyBlockHash(3), 'the new top, from the poll');
  t.equal(await chain.keyBlockHash(2), await dev.keyBlockHash(2), 'the old top, now below it, as the poll saw it');

  // the node stops answering: once the poll is stale the top's hash is asked for, and the failure surfaces
  api.close(); api.closeAllConnections();
  await new Promise((resolve) => setTimeout(resolve, 500));
  await t.rejects(chain.keyBlockHash(3), 'a stale top is not pinned');
});
