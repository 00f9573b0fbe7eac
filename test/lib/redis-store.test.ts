/**
 * The Redis store against a real Redis, under a key prefix of its own: the store conformance suite,
 * and what only Redis has (hash-tagged keys for a cluster, an unreachable server).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisStore } from '../../lib/store/redis-store.js';
import { StoreUnavailableError } from '../../lib/store/store.js';
import { REDIS_URL } from '../helpers/storage.js';
import { newChannelId, params, state, storeConformance } from '../helpers/store-conformance.js';
import { leaseConformance } from '../helpers/lease-conformance.js';

const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
const connect = (keyPrefix = prefix) => RedisStore.connect({ url: REDIS_URL, keyPrefix });

t.teardown(async () => {
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

t.test('the store conformance suite', async (t) => {
  storeConformance(t, {
    open: () => connect(),
    close: (store) => store.close(),
    async damage(channelId, role) {
      const redis = new Redis(REDIS_URL);
      await redis.hset(`${prefix}{${channelId}}:${role}`, 'state', '{"round": "lots"}');
      await redis.quit();
    },
  });
});

t.test('keys are hash-tagged by channel id, so a cluster keeps them in one slot', async (t) => {
  const keyPrefix = `${prefix}tags:`;
  const store = await connect(keyPrefix);
  const channelId = newChannelId();
  await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' });
  await store.addWatchtowerAction(channelId, 'initiator', { action: 'slash', txHash: 'th_1', signedTx: 'tx_1', onchainRound: 1, round: 2, height: 3 });
  await store.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${keyPrefix}*`);
  await redis.quit();
  // the index and the join feed (the new channel, for other instances' watchtowers) are the store's, not the channel's
  const shared = [`${keyPrefix}channels`, `${keyPrefix}{joined}:ids`, `${keyPrefix}{joined}:seq`];
  t.same(keys.filter((k) => shared.includes(k)).sort(), shared.sort(), 'the index and the join feed');
  const perChannel = keys.filter((k) => !shared.includes(k));
  t.equal(perChannel.length, 3, 'the record, its rounds and its watchtower actions');
  for (const key of perChannel) t.match(key, `{${channelId}}`);
});

t.test('an unreachable Redis is one clear error', async (t) => {
  await t.rejects(RedisStore.connect({ url: 'redis://127.0.0.1:1', keyPrefix: prefix }), StoreUnavailableError);
});

t.test('leases and fencing tokens', async (t) => {
  leaseConformance(t, { open: () => connect(`${prefix}lease:`), close: (store) => store.close() });
});
