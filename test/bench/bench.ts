/**
 * `npm run bench`: how fast the service is on this machine, and how far from what the machine allows.
 *
 * The service runs as its own process (what `npm start` runs) on a real Redis; a second process of
 * clients opens channels through it and signs every round with real ed25519 keys over real
 * WebSockets, in the JSON-RPC envelope. Each figure is the median of several runs, with their range.
 * The results are printed and written into BENCHMARKS.md between its result markers.
 *
 * BENCH_RUNS (default 5) sets the runs; BENCH_CHANNELS=1000,10000 the memory steps.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { AccountMemory, buildTx, Tag } from '@aeternity/aepp-sdk';
import { Redis } from 'ioredis';
import { startServiceProcess, type ProcessOptions, type ServiceProcess } from '../helpers/process-service.js';
import { GENESIS_SECRET, REDIS_URL } from '../helpers/service.js';
import type { ChannelSpec, Participant } from './bench-client.js';
import type { ClientCommand, ClientReply } from './client-process.js';
import { ed25519Signs, ed25519Verifies, redisWrites, wsEchoRoundTrips } from './limits.js';
import { figure, percentile, show, type Figure } from './stats.js';

const NETWORK_ID = 'ae_dev';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MEMORY_STEPS = (process.env.BENCH_CHANNELS ?? '1000,10000').split(',').map(Number);
const AGGREGATE_CHANNELS = 100;
/** the service's per-update work, counted in its code: what each transfer costs at the limits */
const PER_TRANSFER = { verifies: 2, redisWrites: 2, clientRoundTrips: 3, signs: 2 };
/** initiators opening at once when building up the memory steps (each opens its channels one by one) */
const OPENING_INITIATORS = 500;
const SERVICE_ENV = { BLOCK_INTERVAL_MS: '100', LOG_LEVEL: 'error', MAX_CONNECTIONS_PER_ADDRESS: '100000' };

const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function repeat(runs: number, measure: () => Promise<number> | number): Promise<Figure> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  return figure(values);
}

// --- the client process ---

class Clients {
  private readonly child: ChildProcess;

  constructor() {
    this.child = fork(new URL('./client-process.ts', import.meta.url).pathname, { execArgv: ['--import', 'tsx'] });
  }

  run(command: ClientCommand): Promise<Extract<ClientReply, { ok: true }>> {
    return new Promise((resolve, reject) => {
      this.child.once('message', (reply: ClientReply) => (reply.ok ? resolve(reply) : reject(new Error(reply.error))));
      this.child.send(command);
    });
  }

  stop(): void {
    this.child.disconnect();
  }
}

// --- the chain: accounts funded from genesis in one go ---

async function nodeJson(url: string, init?: RequestInit): Promise<any> {
  const response = await fetch(url, init);
  const body = await response.json();
  if (!response.ok) throw new Error(`${url}: ${JSON.stringify(body)}`);
  return body;
}

/** Fresh accounts, funded by spends from the dev-mode genesis account posted all at once. */
async function fundedAccounts(nodeUrl: string, count: number): Promise<Participant[]> {
  const genesis = new AccountMemory(GENESIS_SECRET as `sk_${string}`);
  const { next_nonce: first } = await nodeJson(`${nodeUrl}/v3/accounts/${genesis.address}/next-nonce`);
  const accounts = Array.from({ length: count }, () => AccountMemory.generate());
  let lastHash = '';
  for (const [i, account] of accounts.entries()) {
    const tx = buildTx({ tag: Tag.SpendTx, senderId: genesis.address, recipientId: account.address, amount: (10n ** 25n).toString(), nonce: first + i, ttl: 0 });
    const signed = await genesis.signTransaction(tx, { networkId: NETWORK_ID });
    ({ tx_hash: lastHash } = await nodeJson(`${nodeUrl}/v3/transactions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tx: signed }),
    }));
  }
  while ((await nodeJson(`${nodeUrl}/v3/transactions/${lastHash}`)).block_height < 1) await sleep(50);
  return accounts.map((a) => ({ address: a.address, secretKey: a.secretKey }));
}

let nextPort = 1;
/** `count` channels between `initiators` and as many responders, each initiator in turn. */
function channelSpecs(accounts: Participant[], count: number): ChannelSpec[] {
  const half = accounts.length / 2;
  return Array.from({ length: count }, (_, i) => ({ initiator: accounts[i % half]!, responder: accounts[half + (i % half)]!, port: nextPort++ }));
}

// --- what the process uses ---

function residentKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

/** Resident memory once the service has been quiet for a while: the median of a few looks. */
async function settledResidentKb(pid: number): Promise<Figure> {
  await sleep(2000);
  return repeat(RUNS, async () => { await sleep(300); return residentKb(pid); });
}

function startService(extra: Record<string, string> = {}, reuse?: ProcessOptions['reuse']) {
  return startServiceProcess({ direct: true, env: { ...SERVICE_ENV, ...extra }, ...(reuse && { reuse }) });
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}

// --- the phases ---

interface Results {
  machine: Record<string, string>;
  limits: { verifies: Figure; signs: Figure; redisWrites: Figure; wsRoundTrips: Figure };
  sequential: Figure;
  aggregate: Figure;
  latency: { rate: number; p50: Figure; p99: Figure; serviceP50: Figure; serviceP99: Figure };
  memory: Array<{ channels: number; kbPerChannel: Figure; residentMb: Figure }>;
  baselineMb: Figure;
  startup: { channels: number; listeningMs: Figure; readyMs: Figure } | null;
}

async function machine(): Promise<Record<string, string>> {
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('server');
  await redis.quit();
  return {
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    os: `Linux ${release()}`,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
  };
}

async function limits(): Promise<Results['limits']> {
  log('limits: ed25519, Redis, WebSocket echo');
  return {
    verifies: await repeat(RUNS, () => ed25519Verifies()),
    signs: await repeat(RUNS, () => ed25519Signs()),
    redisWrites: await repeat(RUNS, () => redisWrites(REDIS_URL, `aesc-bench:${process.pid}:`)),
    wsRoundTrips: await repeat(RUNS, () => wsEchoRoundTrips()),
  };
}

async function throughput(): Promise<Pick<Results, 'sequential' | 'aggregate' | 'latency'>> {
  const service = await startService();
  const clients = new Clients();
  try {
    const accounts = await fundedAccounts(service.nodeUrl, 2 * AGGREGATE_CHANNELS);
    await clients.run({ cmd: 'open', url: service.channelUrl, networkId: NETWORK_ID, specs: channelSpecs(accounts, AGGREGATE_CHANNELS), keepConnected: true });
    log(`opened ${AGGREGATE_CHANNELS} channels; warming up`);
    await clients.run({ cmd: 'aggregate', channels: AGGREGATE_CHANNELS, durationMs: 2000 });

    const perSecond = (r: { transfers?: number; elapsedMs?: number }) => (r.transfers! * 1000) / r.elapsedMs!;
    const sequential = await repeat(RUNS, async () => perSecond(await clients.run({ cmd: 'sequential', durationMs: 2000 })));
    log(`sequential transfers/s on one channel: ${show(sequential)}`);
    const aggregate = await repeat(RUNS, async () => perSecond(await clients.run({ cmd: 'aggregate', channels: AGGREGATE_CHANNELS, durationMs: 3000 })));
    log(`aggregate transfers/s over ${AGGREGATE_CHANNELS} channels: ${show(aggregate)}`);

    const rate = Math.round(aggregate.median / 2);
    const runs: Array<{ totalUs: number[]; serviceUs: number[] }> = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await clients.run({ cmd: 'paced', channels: AGGREGATE_CHANNELS, perSecond: rate, durationMs: 3000 });
      runs.push({ totalUs: r.totalUs!, serviceUs: r.serviceUs! });
    }
    const ms = (values: number[], p: number) => percentile(values, p) / 1000;
    const latency = {
      rate,
      p50: figure(runs.map((r) => ms(r.totalUs, 50))),
      p99: figure(runs.map((r) => ms(r.totalUs, 99))),
      serviceP50: figure(runs.map((r) => ms(r.serviceUs, 50))),
      serviceP99: figure(runs.map((r) => ms(r.serviceUs, 99))),
    };
    log(`latency at ${rate}/s: p50 ${show(latency.p50, 2)} ms, p99 ${show(latency.p99, 2)} ms; in the service p50 ${show(latency.serviceP50, 2)} ms, p99 ${show(latency.serviceP99, 2)} ms`);
    await clients.run({ cmd: 'closeAll' });
    return { sequential, aggregate, latency };
  } finally {
    clients.stop();
    await service.stop();
  }
}

/**
 * Memory per idle open channel, then the start-up time of a service that finds them all in Redis.
 * The first step's clients stay connected; beyond it each channel's clients leave once it is open
 * (their FSMs stay up, waiting for a reconnect), as this machine allows 20,000 open files per process
 * and two sockets per channel would pass it at 10,000.
 */
async function memoryAndStartup(): Promise<Pick<Results, 'memory' | 'baselineMb' | 'startup'>> {
  let service: ServiceProcess & { wsPort: number; httpPort: number } = await startService();
  const clients = new Clients();
  const memory: Results['memory'] = [];
  let startup: Results['startup'] = null;
  try {
    const baseline = await settledResidentKb(service.pid);
    const accounts = await fundedAccounts(service.nodeUrl, 2 * Math.min(OPENING_INITIATORS, Math.max(...MEMORY_STEPS)));
    let open = 0;
    for (const [step, target] of MEMORY_STEPS.entries()) {
      const started = performance.now();
      await clients.run({ cmd: 'open', url: service.channelUrl, networkId: NETWORK_ID, specs: channelSpecs(accounts, target - open), keepConnected: step === 0 });
      log(`opened ${target - open} channels in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      open = target;
      const resident = await settledResidentKb(service.pid);
      const kbPerChannel = figure([resident.median, resident.min, resident.max].map((kb) => (kb - baseline.median) / target));
      memory.push({ channels: target, kbPerChannel, residentMb: figure([resident.median, resident.min, resident.max].map((kb) => kb / 1024)) });
      log(`${target} channels: ${show(kbPerChannel, 1)} KB each, ${show(memory.at(-1)!.residentMb)} MB resident`);
    }
    await clients.run({ cmd: 'closeAll' });

    // start-up: the same ports and Redis prefix, all channels persisted
    const reuse = { wsPort: service.wsPort, httpPort: service.httpPort, prefix: service.prefix };
    const listening: number[] = [];
    const ready: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await service.terminate();
      service = await startService({ LOG_LEVEL: 'info' }, reuse);
      listening.push(service.startedMs);
      ready.push(await service.printed('service started'));
    }
    startup = { channels: open, listeningMs: figure(listening), readyMs: figure(ready) };
    log(`start-up with ${open} channels: listening ${show(startup.listeningMs)} ms, ready ${show(startup.readyMs)} ms`);
    return { memory, baselineMb: figure([baseline.median / 1024]), startup };
  } finally {
    clients.stop();
    await service.terminate();
    await deleteKeys(service.prefix);
  }
}

// --- the report ---

function report(r: Results): string {
  const perTransferCeiling = {
    verify: r.limits.verifies.median / PER_TRANSFER.verifies,
    redis: r.limits.redisWrites.median / PER_TRANSFER.redisWrites,
    ws: r.limits.wsRoundTrips.median / PER_TRANSFER.clientRoundTrips,
  };
  // one transfer after another: its serial costs add up
  const serialMs = 1000 * (PER_TRANSFER.verifies / r.limits.verifies.median + PER_TRANSFER.signs / r.limits.signs.median
    + PER_TRANSFER.redisWrites / r.limits.redisWrites.median + PER_TRANSFER.clientRoundTrips / r.limits.wsRoundTrips.median);
  const pct = (x: number) => `${Math.round(100 * x)} %`;
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` (${RUNS} runs each; median, with the range of the runs in brackets).`,
    '',
    '**Machine**: ' + Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join('; ') + '. Service, clients and Redis share it.',
    '',
    '| limit (one core, nothing else in the way) | per second |',
    '| --- | --- |',
    `| ed25519 verify, node:crypto | ${show(r.limits.verifies)} |`,
    `| ed25519 sign, node:crypto | ${show(r.limits.signs)} |`,
    `| Redis write, awaited one by one | ${show(r.limits.redisWrites)} |`,
    `| WebSocket echo round trip, one socket, across processes | ${show(r.limits.wsRoundTrips)} |`,
    '',
    `A transfer costs the service ${PER_TRANSFER.verifies} signature verifies and ${PER_TRANSFER.redisWrites} Redis writes (one per participant), the clients ${PER_TRANSFER.signs} signatures, and ${PER_TRANSFER.clientRoundTrips} client round trips on its critical path. Done one after another with nothing else, those alone take ${serialMs.toFixed(2)} ms: at most ${n(1000 / serialMs)} sequential transfers/s.`,
    '',
    '| figure | result | target | bound by |',
    '| --- | --- | --- | --- |',
    `| sequential transfers/s, one channel | ${show(r.sequential)} | ≥ 1,000 | ${pct(r.sequential.median / (1000 / serialMs))} of the serial floor (${n(1000 / serialMs)}/s) |`,
    `| aggregate transfers/s, ${AGGREGATE_CHANNELS} channels | ${show(r.aggregate)} | ≥ 2,000 | ${pct(r.aggregate.median / perTransferCeiling.verify)} of the one-core verify ceiling (${n(perTransferCeiling.verify)}/s); Redis ceiling ${n(perTransferCeiling.redis)}/s |`,
    `| latency p50 at ${n(r.latency.rate)}/s (half load), ms | ${show(r.latency.p50, 2)} | | |`,
    `| latency p99 at half load, ms | ${show(r.latency.p99, 2)} | | |`,
    `| of which in the service (not signing), p50, ms | ${show(r.latency.serviceP50, 2)} | | |`,
    `| of which in the service (not signing), p99, ms | ${show(r.latency.serviceP99, 2)} | < 5 | |`,
    `| resident memory, no channels, MB | ${show(r.baselineMb)} | | |`,
    ...r.memory.map((m) => `| resident memory per idle open channel at ${n(m.channels)} channels, KB | ${show(m.kbPerChannel, 1)} | ${m.channels >= 10_000 ? '≤ 20' : ''} | ${show(m.residentMb)} MB in all |`),
    ...(r.startup ? [
      `| start-up with ${n(r.startup.channels)} persisted channels: listening, ms | ${show(r.startup.listeningMs)} | | |`,
      `| start-up with ${n(r.startup.channels)} persisted channels: watchtower caught up, ms | ${show(r.startup.readyMs)} | < 5,000 | |`,
    ] : []),
  ];
  return lines.join('\n');
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

function writeReport(text: string): void {
  const path = new URL('../../BENCHMARKS.md', import.meta.url).pathname;
  let doc: string;
  try {
    doc = readFileSync(path, 'utf8');
  } catch {
    doc = `# Benchmarks\n\n${START}\n${END}\n`;
  }
  const [before, rest] = doc.split(START);
  const after = rest?.split(END)[1] ?? '\n';
  writeFileSync(path, `${before}${START}\n${text}\n${END}${after}`);
  log(`written into ${path}`);
}

async function main(): Promise<void> {
  const results: Results = {
    machine: await machine(),
    limits: await limits(),
    ...(await throughput()),
    ...(await memoryAndStartup()),
  };
  const text = report(results);
  log(`\n${text}\n`);
  writeReport(text);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
