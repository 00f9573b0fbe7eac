/**
 * The channel watcher's news, block by block. A chain that forks cannot be had from the dev chain, so
 * this one is scripted: each block shows the channel object the test sets (the watcher reads nothing
 * else of a chain).
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { AccountMemory, buildTx, encode, Encoding, Tag } from '../../lib/sdk.js';
import { DevChain } from '../../lib/chain/dev/dev-chain.js';
import { createNodeHttpApi } from '../../lib/chain/dev/node-http-api.js';
import { NodeChain } from '../../lib/chain/node-chain.js';
import { silentLogger } from '../../lib/log.js';
import { channelId } from '../../lib/tx/channel-kit.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';
import { ChannelWatcher, type ChannelChange } from '../../lib/chain/channel-watcher.js';
import type { Chain, ChannelObject } from '../../lib/chain/types.js';
import type { ChannelId } from '../../fsm/types.js';

const GENESIS = new AccountMemory('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf');
const id = 'ch_2CzbXD38sjii5eM1nMLtASBvtpKgfUGJSp3MofesFH5DWro8GJ' as ChannelId;

function scriptedChain() {
  let onBlock: ((height: number) => void) | null = null;
  let current: ChannelObject | null = null;
  let height = 0;
  const chain = {
    onBlock: (listener: (height: number) => void) => { onBlock = listener; return () => { onBlock = null; }; },
    channel: async () => current,
    channelTx: async () => null,
  } as unknown as Chain;
  return {
    chain,
    set(channel: ChannelObject | null) { current = channel; },
    block() { onBlock?.(++height); },
  };
}

const channel = (round: number, lockedUntil = 0) => ({ id, round, lockedUntil, channelAmount: 10n, stateHash: `st_${round}` }) as unknown as ChannelObject;
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

t.test('a channel that comes back after it closed (a fork undid the close) is a change; before it ever existed it is not', async (t) => {
  const script = scriptedChain();
  const watcher = new ChannelWatcher(script.chain);
  t.teardown(() => watcher.close());
  const seen: Array<ChannelChange['kind']> = [];
  watcher.follow(id, (change) => seen.push(change.kind));
  await settle();
  script.block(); await settle();
  script.set(channel(1)); script.block(); await settle();
  t.same(seen, [], 'the channel appearing (its create tx mined) is no news');
  script.set(channel(2)); script.block(); await settle();
  script.set(null); script.block(); await settle();
  script.set(channel(2)); script.block(); await settle();
  t.same(seen, ['changed', 'closed', 'changed'], 'the FSM hears that the closed channel is back (zombie_channel)');
});

/** A scripted chain that also says, per generation, which channels its micro blocks touched. */
function batchingChain() {
  const script = scriptedChain();
  const objects = new Map<ChannelId, ChannelObject | null>();
  const generations = new Map<number, Map<string, ChannelId[]>>();
  const reads = new Map<ChannelId, number>();
  let failGenerations = false;
  Object.assign(script.chain, {
    channel: async (which: ChannelId) => { reads.set(which, (reads.get(which) ?? 0) + 1); return objects.get(which) ?? null; },
    generationChannels: async (height: number) => {
      if (failGenerations) throw new Error('node unreachable');
      return new Map(generations.get(height) ?? []);
    },
  });
  let height = 0;
  return {
    chain: script.chain, reads, objects,
    /** a tx in a micro block of the generation at `at`, changing the channel */
    tx(at: number, block: string, which: ChannelId, channel: ChannelObject | null) {
      objects.set(which, channel);
      const blocks = generations.get(at) ?? new Map<string, ChannelId[]>();
      blocks.set(block, [...(blocks.get(block) ?? []), which]);
      generations.set(at, blocks);
    },
    get height() { return height; },
    block() { height += 1; script.block(); },
    failing(on: boolean) { failGenerations = on; },
  };
}

t.test('per block only the channels the new generations touched are read, the top generation is read again for micro blocks added later, and every channel now and then', async (t) => {
  const chain = batchingChain();
  const watcher = new ChannelWatcher(chain.chain);
  t.teardown(() => watcher.close());
  const [x, y] = [id, 'ch_2jqr9vjPiaNk2H4iE3pV9FCayL1BbyT4nDk4WHd6HTE16ZswWu' as ChannelId];
  const withId = (which: ChannelId, round: number, lockedUntil = 0) => ({ ...channel(round, lockedUntil), id: which });
  chain.objects.set(x, withId(x, 1)); chain.objects.set(y, withId(y, 1));
  const seen: string[] = [];
  watcher.follow(x, (change) => seen.push(`x:${change.kind}`));
  watcher.follow(y, (change) => seen.push(`y:${change.kind}`));
  await settle();
  chain.block(); await settle(); // the first look reads every channel
  const readsAfterFirst = { x: chain.reads.get(x)!, y: chain.reads.get(y)! };

  chain.tx(2, 'mh_a', x, withId(x, 2));
  chain.block(); await settle();
  t.same(seen, ['x:changed'], "the tx touching x is news");
  t.equal(chain.reads.get(x), readsAfterFirst.x + 1, 'x, touched, was read');
  t.equal(chain.reads.get(y), readsAfterFirst.y, 'y, untouched, was not');

  // a micro block added to generation 2 after the watcher looked at it (the node's top generation grows)
  chain.tx(2, 'mh_b', y, withId(y, 5, 40));
  chain.block(); await settle();
  t.same(seen, ['x:changed', 'y:closing'], 'the later micro block of the generation already looked at is not missed');
  t.equal(chain.reads.get(x), readsAfterFirst.x + 1, 'mh_a, already seen, is not news again');

  // a change no tx explains (a fork replaced the block): found by the full look every 20 blocks
  chain.objects.set(x, withId(x, 1));
  for (let i = 0; i < 25 && !seen.includes('x:changed', 1); i += 1) { chain.block(); await settle(); }
  t.same(seen, ['x:changed', 'y:closing', 'x:changed'], 'a full look now and then catches what no tx named');

  // the chain cannot say which channels a block touched: every channel is read
  chain.failing(true);
  const before = chain.reads.get(y)!;
  chain.block(); await settle();
  t.equal(chain.reads.get(y), before + 1, 'a failed scan falls back to reading every channel');
});

t.test('against a node (the dev chain through its HTTP API) a block costs the watcher the same requests for 1 channel and for 30', async (t) => {
  const dev = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 60_000, genesisBalance: 10n ** 30n });
  const api = createNodeHttpApi(dev, silentLogger());
  const requests: string[] = [];
  api.on('request', (req: { url?: string }) => requests.push(req.url ?? ''));
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const chain = new NodeChain({ url, networkId: NETWORK_ID, pollMs: 10 });
  t.teardown(async () => { await chain.close(); await dev.close(); api.close(); api.closeAllConnections(); });
  const watcher = new ChannelWatcher(chain);
  t.teardown(() => watcher.close());

  // a real channel: created on the dev chain with both signatures
  const [a, b] = [AccountMemory.generate(), AccountMemory.generate()];
  for (const [i, acc] of [a, b].entries()) {
    await dev.postTx(await cosign(GENESIS, buildTx({ tag: Tag.SpendTx, senderId: GENESIS.address, recipientId: acc.address, amount: 10n ** 21n, nonce: i + 1 })) as `tx_${string}`);
  }
  const create = buildTx({
    tag: Tag.ChannelCreateTx, initiator: a.address, initiatorAmount: 10n ** 20n, responder: b.address, responderAmount: 10n ** 19n,
    channelReserve: 0, lockPeriod: 10, ttl: 0, initiatorDelegateIds: [], responderDelegateIds: [],
    stateHash: encode(Buffer.alloc(32), Encoding.State), nonce: 1,
  });
  await dev.mineBlock();
  // followed before it exists: the block with its create tx must give the watcher its first state
  const real = channelId(a.address, 1, b.address);
  const kinds: string[] = [];
  watcher.follow(real, (change) => kinds.push(change.kind));
  await dev.postTx(await cosign(b, await cosign(a, create)) as `tx_${string}`);
  await dev.mineBlock();

  const waitFor = async (what: () => boolean) => { for (let i = 0; i < 500 && !what(); i += 1) await settle(); };
  /** the requests of one empty block, once the watcher has looked at it */
  const requestsPerBlock = async (): Promise<number> => {
    requests.length = 0;
    const height = await dev.mineBlock();
    // the poll notices the block and the watcher looks: it asks for the generation first, then reads what it names
    await waitFor(() => requests.some((path) => path.endsWith(`/generations/height/${height}`)));
    for (let i = 0; i < 5; i += 1) await settle();
    return requests.filter((path) => !path.endsWith('/key-blocks/current')).length;
  };
  for (let i = 0; i < 3; i += 1) await requestsPerBlock(); // past the first look
  const withOne = await requestsPerBlock();
  for (let i = 0; i < 29; i += 1) watcher.follow(channelId(a.address, 100 + i, b.address), () => undefined);
  for (let i = 0; i < 3; i += 1) await requestsPerBlock();
  const withThirty = await requestsPerBlock();
  t.ok(withOne >= 1, `an empty block costs a request or so beside the poll (${withOne})`);
  t.equal(withThirty, withOne, `30 followed channels cost what 1 does (${withThirty} against ${withOne})`);

  // and a channel tx in a block is still news: a mutual close removes the channel
  const close = buildTx({
    tag: Tag.ChannelCloseMutualTx, channelId: real, fromId: a.address, initiatorAmountFinal: 6n * 10n ** 19n - 10n ** 15n, responderAmountFinal: 5n * 10n ** 19n,
    fee: 10n ** 15n, ttl: 0, nonce: 2, // the fee comes out of the channel
  });
  await dev.postTx(await cosign(b, await cosign(a, close)) as `tx_${string}`);
  await dev.mineBlock();
  await waitFor(() => kinds.length > 0);
  t.same(kinds, ['closed'], 'the close in the block reached the watcher');
});
