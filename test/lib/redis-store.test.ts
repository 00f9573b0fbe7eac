/**
 * The Redis store against a real Redis, under a key prefix of its own: the store conformance suite,
 * and what only Redis has (hash-tagged keys for a cluster, an unreachable server).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisStore, SCRIPTS } from '../../lib/store/redis-store.js';
import { encodeParams, encodeState } from '../../lib/store/records.js';
import { StoreUnavailableError } from '../../lib/store/store.js';
import { REDIS_URL } from '../helpers/storage.js';
import { newChannelId, params, state, storeConformance } from '../helpers/store-conformance.js';
import { leaseConformance } from '../helpers/lease-conformance.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { ReplicaShortfallError } from '../../lib/store/replicated-writes.js';

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

t.test('the round scripts: a write sent again after its master went away is recognised; a write no replica confirmed is undone', async (t) => {
  const redis = new Redis(REDIS_URL) as Redis & Record<string, (...args: Array<string | number>) => Promise<number>>;
  t.teardown(() => redis.quit());
  for (const [name, numberOfKeys, lua] of SCRIPTS) redis.defineCommand(name, { numberOfKeys, lua } as { numberOfKeys: number; lua: string });
  const store = await connect();
  t.teardown(() => store.close());
  const channelId = newChannelId();
  const key = `${prefix}{${channelId}}:initiator`;
  const keys = [key, `${key}:rounds`, `${key}:lease`, `${key}:fence`];
  const save = (round: number, retry: boolean, other = false) => {
    const s = state(round);
    if (other) s.signedTx = 'tx_other' as typeof s.signedTx;
    return redis.saveRound!(...keys, round, encodeState(s), round === 1 ? encodeParams(params) : '', round === 1 ? 'aa' : '', '', '', retry ? '1' : '');
  };
  const rounds = async () => (await store.history(channelId, 'initiator')).map((s) => `${s.round}${s.signedTx === 'tx_other' ? "'" : ''}`);

  t.equal(await save(1, false), 1);
  t.equal(await save(2, false), 1);
  t.equal(await save(2, false), 0, 'the same round again, not as a retry: stale (another writer of it)');
  t.equal(await save(2, true), 1, 'as a retry: the first attempt reached this master, so it counts as written');
  t.equal(await save(2, true, true), 0, 'a retry of another state of the same round is stale');
  t.equal(await save(1, true), 0, 'a retry of an older round is stale');
  t.same(await rounds(), ['1', '2'], 'each round once in the history');

  t.equal(await redis.undoRound!(2, key, `${key}:rounds`, 2, encodeState(state(2))), 1);
  t.equal((await store.load(channelId, 'initiator'))?.state.round, 1, 'undone: the record is back on round 1');
  t.same(await rounds(), ['1'], 'and so is its history');
  t.equal(await save(2, false, true), 1, 'round 2 can be written again, with what the channel agrees next');
  t.same(await rounds(), ['1', "2'"]);
  t.equal(await redis.undoRound!(2, key, `${key}:rounds`, 2, encodeState(state(2))), 1);
  t.same(await rounds(), ['1', "2'"], 'an undo of a state the record no longer holds changes nothing');

  const fresh = newChannelId();
  const freshKey = `${prefix}{${fresh}}:initiator`;
  await store.saveRound(fresh, 'initiator', state(1), { params, fsmIdHash: 'aa' });
  await redis.undoRound!(2, freshKey, `${freshKey}:rounds`, 1, encodeState(state(1)));
  t.equal(await store.load(fresh, 'initiator'), null, "a channel's first round undone leaves no record");
  t.same(await store.history(fresh, 'initiator'), []);
});

t.test("the watchtower's record scripts: an action sent again after its master went away is kept once; a drop takes its tx's", async (t) => {
  const redis = new Redis(REDIS_URL);
  t.teardown(() => redis.quit());
  for (const [name, numberOfKeys, lua] of SCRIPTS) redis.defineCommand(name, { numberOfKeys, lua } as { numberOfKeys: number; lua: string });
  const scripts = redis as unknown as Record<string, (...args: string[]) => Promise<number>>;
  const list = `${prefix}{${newChannelId()}}:initiator:watchtower`;
  const item = (txHash: string) => JSON.stringify({ action: 'slash', txHash, signedTx: `tx_${txHash}`, onchainRound: 1, round: 2, height: 3 });

  await scripts.addWatchtowerAction!(list, item('th_1'), '');
  await scripts.addWatchtowerAction!(list, item('th_1'), '1');
  t.same(await redis.lrange(list, 0, -1), [item('th_1')], 'sent again, its first attempt already here: recorded once');
  await scripts.addWatchtowerAction!(list, item('th_2'), '1');
  t.same(await redis.lrange(list, 0, -1), [item('th_1'), item('th_2')], 'sent again, its first attempt lost: recorded, in order');
  await scripts.addWatchtowerAction!(list, item('th_1'), '');
  t.equal(await scripts.dropWatchtowerAction!(list, 'th_1'), 2, "a drop takes every action of its tx");
  t.same(await redis.lrange(list, 0, -1), [item('th_2')], 'and only those');
  t.equal(await scripts.dropWatchtowerAction!(list, 'th_9'), 0, 'a tx with no action: nothing');
});

t.test('a single Redis with a replica and REDIS_MIN_REPLICAS=1: a round counts once the replica has it, and is undone when it cannot', async (t) => {
  const master = await startRedisServer();
  t.teardown(() => master.stop());
  const replica = await startRedisServer(['--replicaof', '127.0.0.1', String(master.port)]);
  t.teardown(() => replica.stop());
  const onReplica = new Redis(replica.port, '127.0.0.1');
  t.teardown(() => onReplica.quit());
  // the replica is counted by the master once it has acknowledged the end of its first sync
  const onMaster = new Redis(master.port, '127.0.0.1');
  t.teardown(() => onMaster.quit());
  for (let i = 0; i < 100 && Number(await onMaster.call('WAIT', 1, 100)) < 1; i++) await onMaster.set(`${prefix}ping`, String(i));

  const refused = await RedisStore.connect({ url: master.url, keyPrefix: prefix, replicas: { minReplicas: 2, waitMs: 200 } }).catch((err: Error) => err);
  t.ok(refused instanceof StoreUnavailableError, 'two replicas asked of a Redis with one: refused');
  t.equal((refused as Error).message, `REDIS_MIN_REPLICAS=2: the Redis at ${master.url} has 1 replica connected, so no write could be confirmed; must be at most the replicas it has (or auto)`);
  const auto = await RedisStore.connect({ url: master.url, keyPrefix: prefix });
  t.equal(auto.minReplicas, 0, 'auto on a single Redis: 0 (the service follows no failover of it)');
  await auto.close();

  const store = await RedisStore.connect({ url: master.url, keyPrefix: prefix, replicas: { minReplicas: 1, waitMs: 200 } });
  t.teardown(() => store.close());
  const channelId = newChannelId();
  const key = `${prefix}{${channelId}}:initiator`;
  t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }), 'saved');
  t.equal(await store.saveRound(channelId, 'initiator', state(2)), 'saved');
  t.equal(await onReplica.hget(key, 'round'), '2', 'the replica has the round the moment it counts as saved');

  replica.pause();
  const failed = await store.saveRound(channelId, 'initiator', state(3)).catch((err: Error) => err);
  const fsmHashFailed = await store.setFsmIdHash(channelId, 'initiator', 'bb').catch((err: Error) => err);
  const proposalFailed = await store.saveProposal(channelId, 'initiator', { round: 3, updates: [] }).catch((err: Error) => err);
  replica.resume();
  t.ok(fsmHashFailed instanceof ReplicaShortfallError, 'a new fsm_id hash fails too');
  t.equal((await store.load(channelId, 'initiator'))?.fsmIdHash, 'aa', 'and the old one is back: the old fsm_id still works');
  t.ok(proposalFailed instanceof ReplicaShortfallError, 'so does a proposal kept for a remote peer (it is then not sent)');
  t.ok(failed instanceof ReplicaShortfallError, 'with the replica stopped, the write fails');
  t.match((failed as Error).message, /^the write reached 0 of the 1 replicas REDIS_MIN_REPLICAS asks for within 200 ms; it was undone and counts as failed/);
  t.equal((await store.load(channelId, 'initiator'))?.state.round, 2, 'and is undone on the master');
  t.same((await store.history(channelId, 'initiator')).map((s) => s.round), [1, 2]);
  let again: unknown;
  for (let i = 0; i < 40 && again !== 'saved'; i++) again = await store.saveRound(channelId, 'initiator', state(3)).catch((err: Error) => err.message);
  t.equal(again, 'saved', 'the replica back, round 3 is written');
  t.equal(await onReplica.hget(key, 'round'), '3');
  t.same((await store.history(channelId, 'initiator')).map((s) => s.round), [1, 2, 3], 'each round once');
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
