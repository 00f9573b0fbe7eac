/**
 * What waiting for a replica (REDIS_MIN_REPLICAS=1: WAIT after each co-signed write) costs per
 * transfer, on a private six-node Redis Cluster (3 masters, 3 replicas, all on this machine): the same
 * transfers (one `saveRoundForBoth` each, as when both FSMs live in one process) through a store that
 * waits for no replica and one that waits for one, alternating, in one run, so the ratio compares like
 * with like. One channel's transfers awaited one by one (the latency a channel sees) and CHANNELS
 * channels at once (a busy service: the writes of one event-loop turn share one WAIT per master).
 * Prints figures, asserts nothing. Run: npx tsx test/lib/replica-wait-bench.ts
 */
import { randomBytes } from 'node:crypto';
import { RedisStore } from '../../lib/store/redis-store.js';
import type { ChannelId } from '../../fsm/types.js';
import { startRedisCluster } from '../helpers/redis-cluster.js';
import { newChannelId, params, state } from '../helpers/store-conformance.js';

const ONE_BY_ONE = Number(process.env.BENCH_ROUNDS ?? 1000);
const CHANNELS = 100;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 30);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function opened(store: RedisStore, count: number): Promise<ChannelId[]> {
  const channels = Array.from({ length: count }, newChannelId);
  await Promise.all(channels.flatMap((id) => (['initiator', 'responder'] as const).map((role) => store.saveRound(id, role, state(1), { params, fsmIdHash: 'aa' }))));
  return channels;
}

/** ms per transfer, one channel, each awaited before the next */
async function oneByOne(store: RedisStore): Promise<number> {
  const [channelId] = await opened(store, 1);
  const start = process.hrtime.bigint();
  for (let round = 2; round < ONE_BY_ONE + 2; round++) await store.saveRoundForBoth(channelId!, state(round));
  return Number(process.hrtime.bigint() - start) / 1e6 / ONE_BY_ONE;
}

/** transfers/s and µs of this process's CPU per transfer, CHANNELS channels at once */
async function concurrently(store: RedisStore): Promise<{ rate: number; cpuUs: number }> {
  const channels = await opened(store, CHANNELS);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let round = 2; round < BATCHES + 2; round++) {
    const results = await Promise.all(channels.map((id) => store.saveRoundForBoth(id, state(round))));
    if (results.some((r) => r.initiator !== 'saved' || r.responder !== 'saved')) throw new Error('a round was refused');
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { rate: CHANNELS * BATCHES / seconds, cpuUs: (used.user + used.system) / (CHANNELS * BATCHES) };
}

const cluster = await startRedisCluster();
try {
  const prefix = `aesc-bench:${randomBytes(6).toString('hex')}:`;
  const stores = {
    0: await RedisStore.connectCluster({ nodes: cluster.nodes, keyPrefix: prefix, replicas: { minReplicas: 0, waitMs: 1000 } }),
    1: await RedisStore.connectCluster({ nodes: cluster.nodes, keyPrefix: prefix, replicas: { minReplicas: 1, waitMs: 1000 } }),
  };
  const figures = { 0: { latency: [] as number[], rate: [] as number[], cpu: [] as number[] }, 1: { latency: [] as number[], rate: [] as number[], cpu: [] as number[] } };
  for (let run = 0; run < RUNS; run++) {
    for (const replicas of [0, 1] as const) {
      figures[replicas].latency.push(await oneByOne(stores[replicas]));
      const { rate, cpuUs } = await concurrently(stores[replicas]);
      figures[replicas].rate.push(rate);
      figures[replicas].cpu.push(cpuUs);
    }
  }
  console.log(`Redis Cluster on this machine (3 masters, 3 replicas), one saveRoundForBoth per transfer, median of ${RUNS} alternating runs`);
  for (const replicas of [0, 1] as const) {
    const f = figures[replicas];
    console.log(`  REDIS_MIN_REPLICAS=${replicas}: ${median(f.latency).toFixed(3)} ms per transfer awaited one by one; `
      + `${fmt(median(f.rate))} transfers/s with ${CHANNELS} channels at once, ${median(f.cpu).toFixed(1)} µs of this process's CPU each`);
  }
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  console.log(`  waiting for a replica: ${ratio(figures[1].latency, figures[0].latency)}× the latency one by one, `
    + `${ratio(figures[1].rate, figures[0].rate)}× the throughput with ${CHANNELS} channels, ${ratio(figures[1].cpu, figures[0].cpu)}× the CPU here per transfer`);
  await stores[0].close();
  await stores[1].close();
} finally {
  await cluster.stop();
}
