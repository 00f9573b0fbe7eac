/**
 * What idle channels cost Redis in lease scripts: the service on a private redis-server (so no other
 * client's scripts are counted), N channels opened by real clients and left idle, then, over a window
 * of several renewal periods, how many lease scripts the service sent (counted at the client:
 * acquire, renew, resume, release) and how many scripts Redis ran (INFO commandstats, evalsha), per
 * second and scaled to 10,000 idle channels.
 *
 * Two variants in the same run, on the same machine:
 * * awake (HIBERNATE_AFTER_MS=0): no FSM sleeps, so every hosted FSM's lease is renewed every
 *   LEASE_RENEW_MS. That is what every idle FSM cost before sleeping FSMs let their leases go (they
 *   were renewed asleep or not), so it stands for "before";
 * * asleep (HIBERNATE_AFTER_MS=500): idle FSMs sleep and release their leases ("after").
 * Then it wakes a tenth of the sleeping channels with one transfer each and counts the lease scripts
 * that cost (taking two leases back, letting them go when they sleep again).
 *
 * Prints figures, asserts nothing. Run: npx tsx test/lib/lease-idle-bench.ts (BENCH_CHANNELS, default 100;
 * BENCH_WINDOW_MS, default 10000).
 */
import { Redis } from 'ioredis';
import { RedisLeases } from '../../lib/store/lease.js';
import { openChannel, type OpenedChannel } from '../helpers/channel.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { startTestService, testConfig, type TestService } from '../helpers/service.js';
import { testStorage } from '../helpers/storage.js';

const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 100);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 10_000);
const LEASE = { ttlMs: 10_000, renewMs: 2_500 }; // the defaults (config/default.json)
const BATCH = 10;

// the service's lease scripts, counted where they are sent
const sent = { acquire: 0, renew: 0, resume: 0, release: 0 };
for (const method of Object.keys(sent) as Array<keyof typeof sent>) {
  const original = RedisLeases.prototype[method] as (...args: unknown[]) => Promise<unknown>;
  (RedisLeases.prototype as unknown as Record<string, unknown>)[method] = function (this: RedisLeases, ...args: unknown[]) {
    sent[method]++;
    return original.apply(this, args);
  };
}
const sentNow = () => ({ ...sent });
const diff = (after: typeof sent, before: typeof sent) => Object.fromEntries(Object.keys(sent).map((k) => [k, after[k as keyof typeof sent] - before[k as keyof typeof sent]])) as typeof sent;
const total = (counts: typeof sent) => Object.values(counts).reduce((a, b) => a + b, 0);

const server = await startRedisServer();
const admin = new Redis(server.url);
const evalshaCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(String(await admin.info('commandstats')))?.[1] ?? 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function openChannels(service: TestService): Promise<OpenedChannel[]> {
  // the genesis account funds one spend at a time (its nonce); the channels open side by side
  const fund = service.fundedAccounts.bind(service);
  let funding: Promise<unknown> = Promise.resolve();
  service.fundedAccounts = (count, amount) => {
    const next = funding.then(() => fund(count, amount));
    funding = next.catch(() => undefined);
    return next;
  };
  const channels: OpenedChannel[] = [];
  for (let i = 0; i < CHANNELS; i += BATCH) {
    channels.push(...await Promise.all(Array.from({ length: Math.min(BATCH, CHANNELS - i) }, () => openChannel(service, 'json-rpc'))));
  }
  return channels;
}

/** Lease scripts sent and run per second over the window, with the channels idle. */
async function idleWindow(): Promise<{ sent: typeof sent; perSecond: number; redisPerSecond: number }> {
  const before = sentNow();
  const ran = await evalshaCalls();
  const started = performance.now();
  await sleep(WINDOW_MS);
  const seconds = (performance.now() - started) / 1000;
  const counts = diff(sentNow(), before);
  return { sent: counts, perSecond: total(counts) / seconds, redisPerSecond: ((await evalshaCalls()) - ran) / seconds };
}

const per10k = (perSecond: number) => Math.round((perSecond * 10_000) / CHANNELS).toLocaleString('en');
const leaseKeys = async () => (await admin.keys('*:lease')).length;

try {
  console.log(`${CHANNELS} idle channels (${2 * CHANNELS} FSMs), both participants' FSMs in one service, lease ${LEASE.ttlMs} ms renewed every ${LEASE.renewMs} ms, window ${WINDOW_MS} ms`);
  const results: Record<string, { perSecond: number; redisPerSecond: number }> = {};
  for (const [name, hibernateAfterMs] of [['awake (before: every hosted FSM renewed)', 0], ['asleep (after: sleeping FSMs let their leases go)', 500]] as const) {
    const storage = testStorage('redis', server.url);
    const service = await startTestService({}, testConfig({ limits: { hibernateAfterMs }, lease: { ...LEASE, instanceId: '' }, chain: { blockIntervalMs: 50 } }, storage));
    const channels = await openChannels(service);
    // every FSM asleep, or (awake) long enough for the same settling
    for (let tries = 0; tries < 100 && hibernateAfterMs > 0 && service.registry.all().some((s) => !s.asleep); tries++) await sleep(100);
    await sleep(2_000);
    const window = await idleWindow();
    results[name] = window;
    console.log(`${name}: ${await leaseKeys()} lease keys in Redis; ${window.perSecond.toFixed(1)} lease scripts/s sent (${JSON.stringify(window.sent)}), `
      + `${window.redisPerSecond.toFixed(1)} scripts/s run by Redis; per 10,000 idle channels: ${per10k(window.perSecond)}/s`);

    if (hibernateAfterMs > 0) {
      // wake a tenth of them with one transfer each: what a sleeping channel's wake costs in lease scripts
      const woken = channels.slice(0, Math.max(1, Math.floor(CHANNELS / 10)));
      const before = sentNow();
      await Promise.all(woken.map(async (ch) => {
        ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
        await Promise.all([ch.initiator.nextMethod('channels.update', undefined, 30_000), ch.responder.nextMethod('channels.update', undefined, 30_000)]);
      }));
      for (let tries = 0; tries < 100 && service.registry.all().some((s) => !s.asleep); tries++) await sleep(100);
      const counts = diff(sentNow(), before);
      console.log(`waking ${woken.length} sleeping channels with one transfer each, and their sleeping again: ${(total(counts) / woken.length).toFixed(1)} lease scripts per channel (${JSON.stringify(counts)})`);
    }
    for (const ch of channels) { ch.initiator.close(); ch.responder.close(); }
    await service.stop();
    await admin.flushall();
  }
  const [awake, asleep] = Object.values(results) as Array<{ perSecond: number }>;
  console.log(`per 10,000 idle channels: ${per10k(awake!.perSecond)} lease scripts/s before, ${per10k(asleep!.perSecond)}/s after`);
} finally {
  admin.disconnect();
  await server.stop();
}
