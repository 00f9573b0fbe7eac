/**
 * How fast each store takes co-signed rounds: one channel's rounds awaited one by one (the latency a
 * single channel sees), and 100 channels writing a round each in the same event-loop turn (what a
 * busy service does; LMDB puts them in one commit and one fsync, ioredis in one pipeline).
 * Then a transfer's writes when both FSMs live in this process: each participant's round on its own
 * (two writes, one after the other, as the acknowledger and then the proposer persist) against both
 * in one `saveRoundForBoth`, with this process's CPU (and Redis's) per transfer; on Redis also with
 * each write carrying its FSM's lease, which the write's script checks (lib/store/lease.ts).
 * Prints figures, asserts nothing. Run: npx tsx test/lib/store-bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { openEmbedded } from '../../lib/store/embedded.js';
import { LmdbStore } from '../../lib/store/lmdb-store.js';
import { RedisStore } from '../../lib/store/redis-store.js';
import type { ChannelId, Role } from '../../fsm/types.js';
import type { Lease, LeaseStore } from '../../lib/store/lease.js';
import type { ChannelStore } from '../../lib/store/store.js';
import { REDIS_URL } from '../helpers/storage.js';
import { newChannelId, params, state } from '../helpers/store-conformance.js';

const ONE_BY_ONE = Number(process.env.BENCH_ROUNDS ?? 2000);
const CHANNELS = 100;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 50);

async function oneByOne(store: ChannelStore): Promise<string> {
  const channelId = newChannelId();
  await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' });
  const start = process.hrtime.bigint();
  for (let round = 2; round < ONE_BY_ONE + 2; round++) await store.saveRound(channelId, 'initiator', state(round));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return `${fmt(ONE_BY_ONE / seconds)} rounds/s awaited one by one (${(seconds / ONE_BY_ONE * 1e3).toFixed(3)} ms each)`;
}

async function concurrently(store: ChannelStore): Promise<string> {
  const channels = Array.from({ length: CHANNELS }, newChannelId);
  await Promise.all(channels.map((id) => store.saveRound(id, 'initiator', state(1), { params, fsmIdHash: 'aa' })));
  const start = process.hrtime.bigint();
  for (let round = 2; round < BATCHES + 2; round++) {
    const results = await Promise.all(channels.map((id) => store.saveRound(id, 'initiator', state(round))));
    if (results.some((r) => r !== 'saved')) throw new Error('a round was refused');
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return `${fmt(CHANNELS * BATCHES / seconds)} rounds/s with ${CHANNELS} channels at once `
    + `(${(seconds / BATCHES * 1e3).toFixed(2)} ms per batch of ${CHANNELS})`;
}

/**
 * Transfers over CHANNELS channels at once: each side's write on its own, or both in one call; with
 * `leases`, each write carries its FSM's lease and the script checks it (several instances on one Redis).
 */
async function transfers(store: ChannelStore, both: boolean, redisCpuMs: () => Promise<number>, leases?: LeaseStore): Promise<string> {
  const channels = Array.from({ length: CHANNELS }, newChannelId);
  const held = new Map<string, Lease>();
  for (const role of ['initiator', 'responder'] as const) {
    await Promise.all(channels.map(async (id) => {
      const acquired = await leases?.acquire(id, role, 'bench', 600_000);
      if (acquired?.ok) held.set(`${id}:${role}`, acquired.lease);
      return store.saveRound(id, role, state(1), { params, fsmIdHash: 'aa' }, held.get(`${id}:${role}`));
    }));
  }
  const leaseOf = (id: ChannelId, role: Role) => held.get(`${id}:${role}`) ?? null;
  const write = async (id: ChannelId, round: number) => {
    if (both) return void (await store.saveRoundForBoth(id, state(round), { initiator: leaseOf(id, 'initiator'), responder: leaseOf(id, 'responder') }));
    await store.saveRound(id, 'responder', state(round), undefined, leaseOf(id, 'responder'));
    await store.saveRound(id, 'initiator', state(round), undefined, leaseOf(id, 'initiator'));
  };
  const cpu = process.cpuUsage();
  const redisBefore = await redisCpuMs();
  const start = process.hrtime.bigint();
  for (let round = 2; round < BATCHES + 2; round++) await Promise.all(channels.map((id) => write(id, round)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const count = CHANNELS * BATCHES;
  const redisUs = ((await redisCpuMs()) - redisBefore) * 1000 / count;
  return `${both ? 'one write for both' : 'a write per side  '}${leases ? ' (lease checked)' : ''}: ${fmt(count / seconds)} transfers/s, `
    + `${((used.user + used.system) / count).toFixed(1)} µs of this process's CPU and ${redisUs.toFixed(1)} µs of Redis's per transfer`;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

const dir = mkdtempSync(join(tmpdir(), 'aesc-store-bench-'));
const prefix = `aesc-bench:${randomBytes(6).toString('hex')}:`;
try {
  const db = await openEmbedded(dir);
  const lmdb = new LmdbStore(db);
  console.log(`LMDB  (${dir}, fsync on every commit)`);
  console.log(`  ${await oneByOne(lmdb)}`);
  console.log(`  ${await concurrently(lmdb)}`);
  for (const both of [false, true, false, true]) console.log(`  ${await transfers(lmdb, both, async () => 0)}`);
  await lmdb.close();
  await db.close();

  const redis = await RedisStore.connect({ url: REDIS_URL, keyPrefix: prefix });
  const admin = new Redis(REDIS_URL);
  const [, aof] = (await admin.config('GET', 'appendonly')) as [string, string];
  const [, fsync] = (await admin.config('GET', 'appendfsync')) as [string, string];
  console.log(`Redis (${REDIS_URL}, appendonly ${aof}, appendfsync ${fsync})`);
  console.log(`  ${await oneByOne(redis)}`);
  console.log(`  ${await concurrently(redis)}`);
  const redisCpuMs = async () => {
    const info = await admin.info('cpu');
    const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return 1000 * (seconds('used_cpu_user') + seconds('used_cpu_sys'));
  };
  for (const both of [false, true, false, true]) console.log(`  ${await transfers(redis, both, redisCpuMs)}`);
  for (const both of [false, true, false, true]) console.log(`  ${await transfers(redis, both, redisCpuMs, redis.leases)}`);
  await redis.close();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
