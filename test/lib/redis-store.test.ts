/**
 * The Redis store against a real Redis: rounds only go up, atomically; records come back exactly.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisStore } from '../../lib/store/redis-store.js';
import { StoreUnavailableError } from '../../lib/store/store.js';
import type { ChannelParams, CoSignedState } from '../../fsm/types.js';
import { REDIS_URL } from '../helpers/service.js';

const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
const channel = 'ch_2jqr9vjPiaNk2H4iE3pV9FCayL1BbyT4nDk4WHd6HTE16ZswWu' as const;
const params: ChannelParams = {
  initiatorId: 'ak_mLjPFZQ6xB2FHGTVyfL4imAWbPrgYqcPcmxFoVhvzyU5BMrWw', responderId: 'ak_26jA8T3BcpjBxJp3Rb3GQm8HDdqGnQg9LCFBhtkwWVr7AF5RFC',
  initiatorAmount: 10n ** 30n, responderAmount: 1n, pushAmount: 0n, channelReserve: 0n, lockPeriod: 10n,
  minimumDepth: 0, minimumDepthStrategy: 'plain', initiatorDelegateIds: [], responderDelegateIds: [],
};
const state = (round: number): CoSignedState => ({
  round, balances: { initiator: 10n ** 30n - BigInt(round), responder: 1n + BigInt(round) },
  stateHash: 'st_x', signedTx: `tx_${round}`, updates: [{ op: 'OffChainTransfer', from: params.initiatorId, to: params.responderId, amount: 2n ** 64n }],
});

let store: RedisStore;
t.before(async () => { store = await RedisStore.connect({ url: REDIS_URL, keyPrefix: prefix }); });
t.teardown(async () => {
  await store.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

t.test('rounds only go up, and the history keeps every round', async (t) => {
  t.equal(await store.saveRound(channel, 'initiator', state(1), { params, fsmIdHash: 'aa' }), 'saved');
  t.equal(await store.saveRound(channel, 'initiator', state(2)), 'saved');
  t.equal(await store.saveRound(channel, 'initiator', state(2)), 'stale', 'the same round twice');
  t.equal(await store.saveRound(channel, 'initiator', state(1)), 'stale', 'an older round');
  const loaded = await store.load(channel, 'initiator');
  t.same(loaded?.state, state(2), 'amounts come back exactly');
  t.same(loaded?.params, params);
  t.same((await store.history(channel, 'initiator')).map((s) => s.round), [1, 2]);
  t.equal(await store.load(channel, 'responder'), null, 'each participant has its own record');
});

t.test('concurrent writers: exactly one wins each round', async (t) => {
  const results = await Promise.all(Array.from({ length: 20 }, () => store.saveRound(channel, 'initiator', state(3))));
  t.equal(results.filter((r) => r === 'saved').length, 1);
  t.equal((await store.load(channel, 'initiator'))?.state.round, 3);
});

t.test('keys are hash-tagged by channel id, so a cluster keeps them in one slot', async (t) => {
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  await redis.quit();
  const perChannel = keys.filter((k) => k !== `${prefix}channels`);
  t.ok(perChannel.length >= 2);
  for (const key of perChannel) t.match(key, `{${channel}}`);
  t.same(await store.channelIds(), [channel], 'the channel is in the index of hosted channels');
});

t.test('the fsm id can be replaced; a damaged record is refused, not trusted', async (t) => {
  await store.setFsmIdHash(channel, 'initiator', 'bb');
  t.equal((await store.load(channel, 'initiator'))?.fsmIdHash, 'bb');
  const redis = new Redis(REDIS_URL);
  await redis.hset(`${prefix}{${channel}}:initiator`, 'state', '{"round": "lots"}');
  await redis.quit();
  await t.rejects(store.load(channel, 'initiator'), /damaged/);
});

t.test('an unreachable Redis is one clear error', async (t) => {
  await t.rejects(RedisStore.connect({ url: 'redis://127.0.0.1:1', keyPrefix: prefix }), StoreUnavailableError);
});
