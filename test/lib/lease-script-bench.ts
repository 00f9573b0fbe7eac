/**
 * What the lease check costs Redis per round write: a private redis-server runs the round-writing
 * script without a lease (what a store no other instance shares would do) and with the lease checked,
 * and the renewal script, many times each, twice over, and Redis's own accounting (INFO commandstats)
 * says how many microseconds of its CPU each call took. A private server, so no other client's scripts
 * are counted.
 * Prints figures, asserts nothing. Run: npx tsx test/lib/lease-script-bench.ts
 */
import { Redis } from 'ioredis';
import type { ChannelId } from '../../fsm/types.js';
import { RedisStore } from '../../lib/store/redis-store.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { newChannelId, params, state } from '../helpers/store-conformance.js';

const WRITES = Number(process.env.BENCH_WRITES ?? 20_000);
const CHANNELS = 100;

const server = await startRedisServer();
const url = `redis://127.0.0.1:${server.port}`;
const admin = new Redis(url);
try {
  const usPerCall = async (label: string, run: () => Promise<void>) => {
    await admin.config('RESETSTAT');
    await run();
    const stats = String(await admin.info('commandstats'));
    const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(stats);
    console.log(`${label}: ${line?.[3]} µs of Redis's CPU per call (${line?.[1]} calls)`);
  };
  const rounds = Math.ceil(WRITES / CHANNELS);

  for (let pass = 0; pass < 3; pass++) await variants(url, usPerCall, rounds);
} finally {
  admin.disconnect();
  await server.stop();
}

async function variants(url: string, usPerCall: (label: string, run: () => Promise<void>) => Promise<void>, rounds: number): Promise<void> {
  const store = await RedisStore.connect({ url, keyPrefix: 'bench:' });
  const channels: ChannelId[] = Array.from({ length: CHANNELS }, newChannelId);
  await Promise.all(channels.map((id) => store.saveRound(id, 'initiator', state(1), { params, fsmIdHash: 'aa' })));
  await usPerCall('round write, no lease (no sharing)  ', async () => {
    for (let round = 2; round <= rounds + 1; round++) await Promise.all(channels.map((id) => store.saveRound(id, 'initiator', state(round))));
  });
  const leased = Array.from({ length: CHANNELS }, newChannelId);
  const leases = await Promise.all(leased.map(async (id) => {
    const acquired = await store.leases.acquire(id, 'initiator', 'bench', 600_000);
    if (!acquired.ok) throw new Error('no lease');
    await store.saveRound(id, 'initiator', state(1), { params, fsmIdHash: 'aa' }, acquired.lease);
    return acquired.lease;
  }));
  await usPerCall('round write, lease checked          ', async () => {
    for (let round = 2; round <= rounds + 1; round++) await Promise.all(leased.map((id, i) => store.saveRound(id, 'initiator', state(round), undefined, leases[i])));
  });
  await usPerCall('lease renewal                       ', async () => {
    for (let n = 0; n < rounds; n++) await Promise.all(leases.map((lease) => store.leases.renew(lease, 600_000)));
  });
  await store.close();
}
