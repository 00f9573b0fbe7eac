/**
 * `npm run bench`: how fast the service is on this machine, and how far from what the machine allows.
 *
 * The service runs as its own process (what `npm start` runs) on a real Redis; a second process of
 * clients opens channels through it and signs every round with real ed25519 keys over real
 * WebSockets, in the JSON-RPC envelope. Each figure is the median of several runs, with their range.
 * The results are printed and written into BENCHMARKS.md between its result markers.
 *
 * BENCH_RUNS (default 5) sets the runs; BENCH_CHANNELS=1000,10000 the memory steps; BENCH_ONLY=throughput
 * (or memory, or peer: sequential transfers across two services next to in-process, test/bench/peer-link.ts)
 * runs one phase; BENCH_PROFILE=dir has the service (and the clients, in dir/clients) write V8 CPU
 * profiles there; BENCH_TAIL_FILE=path writes each paced transfer's due time and latency to
 * path.<run>.json, for test/bench/tail.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { AccountMemory, buildTx, Tag } from '../../lib/sdk.js';
import { Redis } from 'ioredis';
import { freePort } from '../helpers/free-port.js';
import { startServiceProcess, type ProcessOptions, type ServiceProcess } from '../helpers/process-service.js';
import { GENESIS_SECRET, REDIS_URL } from '../helpers/service.js';
import { testStorage, type StoreKind } from '../helpers/storage.js';
import type { ChannelSpec, Participant } from './bench-client.js';
import type { ClientCommand, ClientReply } from './client-process.js';
import { fsmPairTransfers } from './fsm-pair.js';
import { inspectorUrls, liveHeapBytes } from './inspector.js';
import { peerLinkTransfers, type PeerLinkFigures } from './peer-link.js';
import { waitsWhereSlow, watchRunQueue } from './run-queue.js';
import { ed25519Signs, ed25519Verifies, redisWrites, wsEchoRoundTrips } from './limits.js';
import { figure, percentile, show, type Figure } from './stats.js';

const NETWORK_ID = 'ae_dev';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MEMORY_STEPS = (process.env.BENCH_CHANNELS ?? '1000,10000').split(',').map(Number);
const AGGREGATE_CHANNELS = 100;
/** channels opened with their clients staying, to see what a connected pair adds */
const CONNECTED_CHANNELS = 1000;
/** channels opened before the memory baseline is taken */
const WARM_UP_CHANNELS = 100;
/** the service's per-update work, counted in its code: what each transfer costs at the limits */
const PER_TRANSFER = { verifies: 2, redisWrites: 2, clientRoundTrips: 3, signs: 2 };
/**
 * initiators opening at once when building up the memory steps (each opens its channels one by one):
 * resident memory is a high-water mark, and a bigger opening storm leaves a higher one behind
 */
const OPENING_INITIATORS = 100;
const SERVICE_ENV: Record<string, string> = {
  BLOCK_INTERVAL_MS: '100', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error', MAX_CONNECTIONS_PER_ADDRESS: '100000',
};
const SERVICE_NODE_ARGS = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [])];

const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function repeat(runs: number, measure: () => Promise<number> | number): Promise<Figure> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  return figure(values);
}

// --- the client process ---

class Clients {
  readonly child: ChildProcess;

  constructor() {
    const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}/clients`] : [];
    this.child = fork(new URL('./client-process.ts', import.meta.url).pathname, { execArgv: [...profile, '--import', 'tsx'] });
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

// --- what the processes use ---

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process and its children (WORKERS > 1: its workers) have used so far, in ms. */
function processCpuMs(pid: number): number {
  const ownMs = (of: number) => {
    try {
      const fields = readFileSync(`/proc/${of}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return 0; // gone meanwhile
    }
  };
  return ownMs(pid) + childrenOf(pid).reduce((sum, child) => sum + ownMs(child), 0);
}

/** The pids whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((name) => {
    try {
      return Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)![1]);
  return 1000 * (seconds('used_cpu_user') + seconds('used_cpu_sys'));
}

interface CpuPerTransfer { service: number; clients: number; redis: number }

/** Runs a load and says what it cost each process per transfer, in µs of CPU. */
async function withCpu(service: ServiceProcess, clients: Clients, redis: Redis, load: () => Promise<{ transfers?: number }>) {
  const before = { service: processCpuMs(service.pid), clients: processCpuMs(clients.child.pid!), redis: await redisCpuMs(redis) };
  const result = await load();
  const perTransfer = (now: number, then: number) => (1000 * (now - then)) / result.transfers!;
  const cpu: CpuPerTransfer = {
    service: perTransfer(processCpuMs(service.pid), before.service),
    clients: perTransfer(processCpuMs(clients.child.pid!), before.clients),
    redis: perTransfer(await redisCpuMs(redis), before.redis),
  };
  return { result, cpu };
}

/** Resident memory of a process and its children (WORKERS > 1: the primary and its workers). */
function residentKb(pid: number): number {
  const ownKb = (of: number) => {
    try {
      return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${of}/status`, 'utf8'))![1]);
    } catch {
      return 0; // gone meanwhile
    }
  };
  return ownKb(pid) + childrenOf(pid).reduce((sum, child) => sum + ownKb(child), 0);
}

/** what config/default.json sets: an idle channel's FSMs sleep after this long */
const HIBERNATE_AFTER_MS = 5000;

/** What the service holds, looked at once it has been quiet long enough for idle FSMs to sleep. */
interface MemoryLook {
  /** resident memory before a collection: the high-water mark of what came before */
  highWaterKb: number;
  /** the live heap after a full collection */
  heapKb: number;
  /** resident memory after that collection, a few looks */
  residentKb: Figure;
}

async function settledMemory(pid: number, liveHeapKb: () => Promise<number>): Promise<MemoryLook> {
  await sleep(HIBERNATE_AFTER_MS + 2000);
  const highWaterKb = residentKb(pid);
  const heapKb = await liveHeapKb();
  await sleep(1000);
  return { highWaterKb, heapKb, residentKb: await repeat(RUNS, async () => { await sleep(300); return residentKb(pid); }) };
}

/** BENCH_STORE=embedded measures the service on its embedded store; Redis is the default here, as before. */
const BENCH_STORE: StoreKind = process.env.BENCH_STORE === 'embedded' ? 'embedded' : 'redis';

/** WORKERS=2 npm run bench: the service as that many workers (on Redis only) */
const WORKERS = Number(process.env.WORKERS ?? 1);

async function startService(extra: Record<string, string> = {}, reuse?: ProcessOptions['reuse'], nodeArgs: string[] = []) {
  const opsPort = WORKERS > 1 ? await freePort() : 0;
  const service = await startServiceProcess({
    direct: true, built: false, nodeArgs: [...SERVICE_NODE_ARGS, ...nodeArgs], env: { ...SERVICE_ENV, OPS_PORT: String(opsPort), ...extra }, storage: testStorage(BENCH_STORE), ...(reuse && { reuse }),
    startTimeoutMs: 180_000,
  });
  // the port answers once one worker listens: wait for all, or the first would get every socket
  while (WORKERS > 1) {
    const health = await fetch(`http://127.0.0.1:${opsPort}/health`).then((r) => r.json() as Promise<{ workers_up: number }>, () => ({ workers_up: 0 }));
    if (health.workers_up === WORKERS) break;
    await sleep(200);
  }
  return service;
}

// --- the phases ---

interface Results {
  machine: Record<string, string>;
  limits: { verifies: Figure; signs: Figure; redisWrites: Figure; wsRoundTrips: Figure; fsmPair: Figure; fsmUs: Figure };
  /** share of CPU time the hypervisor took from this machine during the run */
  stolen: number;
  sequential: { rate: Figure; cpu: Record<keyof CpuPerTransfer, Figure> };
  aggregate: { rate: Figure; cpu: Record<keyof CpuPerTransfer, Figure> };
  latency: {
    rate: number; p50: Figure; p99: Figure; serviceP50: Figure; serviceP99: Figure;
    /** the service thread's wait for a core, ms per 100 ms window: where the slowest 2 % were due, and the run's median window */
    waitWhereSlowMs: Figure; waitMedianMs: Figure;
  };
  memory: Array<{ channels: number; kbPerChannel: Figure; heapKbPerChannel: Figure; highWaterKbPerChannel: Figure; residentMb: Figure }>;
  baselineMb: Figure;
  connectedKb: Figure;
  connectedHeapKb: Figure;
  startup: { channels: number; listeningMs: Figure; readyMs: Figure } | null;
  /** one channel's participants on two services (the peer link) next to both on one, measured alike */
  peer: PeerLinkFigures;
}

/** transfers per run of the peer-link phase: sequential, so a few hundred take seconds */
const PEER_TRANSFERS = Number(process.env.PEER_BENCH_TRANSFERS ?? 300);

async function peerLink(): Promise<Pick<Results, 'peer'>> {
  log(`\nacross two services: ${RUNS} runs of ${PEER_TRANSFERS} sequential transfers, in-process and across, alternating`);
  const peer = await peerLinkTransfers(RUNS, PEER_TRANSFERS, log);
  log(`in-process ${show(peer.inProcess)}/s, ${show(peer.inProcessCpuUs)} µs of service CPU each; across two services ${show(peer.across)}/s, ${show(peer.acrossCpuUs)} µs; ratio ${(peer.across.median / peer.inProcess.median).toFixed(2)}`);
  return { peer };
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
  log('limits: ed25519, Redis, WebSocket echo, the FSM pair alone');
  const pairs: Array<{ perSecond: number; fsmUs: number }> = [];
  for (let i = 0; i < RUNS; i++) pairs.push(await fsmPairTransfers());
  const result = {
    verifies: await repeat(RUNS, () => ed25519Verifies()),
    signs: await repeat(RUNS, () => ed25519Signs()),
    redisWrites: await repeat(RUNS, () => redisWrites(REDIS_URL, `aesc-bench:${process.pid}:`)),
    wsRoundTrips: await repeat(RUNS, () => wsEchoRoundTrips()),
    fsmPair: figure(pairs.map((p) => p.perSecond)),
    fsmUs: figure(pairs.map((p) => p.fsmUs)),
  };
  log(`  verifies/s ${show(result.verifies)}, signs/s ${show(result.signs)}, Redis writes/s ${show(result.redisWrites)}, WebSocket round trips/s ${show(result.wsRoundTrips)}`);
  log(`  FSM pair alone: ${show(result.fsmPair)} transfers/s, ${show(result.fsmUs)} µs of FSM work each`);
  return result;
}

/** CPU ticks in all and stolen by the hypervisor, from /proc/stat. */
function cpuTicks(): { total: number; steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
}

async function throughput(): Promise<Pick<Results, 'sequential' | 'aggregate' | 'latency'>> {
  const service = await startService();
  const clients = new Clients();
  const redis = new Redis(REDIS_URL);
  try {
    const accounts = await fundedAccounts(service.nodeUrl, 2 * AGGREGATE_CHANNELS);
    await clients.run({ cmd: 'open', url: service.channelUrl, networkId: NETWORK_ID, specs: channelSpecs(accounts, AGGREGATE_CHANNELS), keepConnected: true });
    log(`opened ${AGGREGATE_CHANNELS} channels; warming up`);
    await clients.run({ cmd: 'aggregate', channels: AGGREGATE_CHANNELS, durationMs: 2000 });

    const perSecond = (r: { transfers?: number; elapsedMs?: number }) => (r.transfers! * 1000) / r.elapsedMs!;
    const measure = async (command: ClientCommand) => {
      const rates: number[] = [];
      const cpus: CpuPerTransfer[] = [];
      for (let i = 0; i < RUNS; i++) {
        const { result, cpu } = await withCpu(service, clients, redis, () => clients.run(command));
        rates.push(perSecond(result));
        cpus.push(cpu);
      }
      const cpu = { service: figure(cpus.map((c) => c.service)), clients: figure(cpus.map((c) => c.clients)), redis: figure(cpus.map((c) => c.redis)) };
      return { rate: figure(rates), cpu };
    };
    const cpuLine = (c: Results['sequential']['cpu']) => `CPU per transfer: service ${show(c.service)} µs, clients ${show(c.clients)} µs, Redis ${show(c.redis)} µs`;
    const sequential = await measure({ cmd: 'sequential', durationMs: 2000 });
    log(`sequential transfers/s on one channel: ${show(sequential.rate)}; ${cpuLine(sequential.cpu)}`);
    const aggregate = await measure({ cmd: 'aggregate', channels: AGGREGATE_CHANNELS, durationMs: 3000 });
    log(`aggregate transfers/s over ${AGGREGATE_CHANNELS} channels: ${show(aggregate.rate)}; ${cpuLine(aggregate.cpu)}`);

    const rate = Math.round(aggregate.rate.median / 2);
    const runs: Array<{ totalUs: number[]; serviceUs: number[]; waits: ReturnType<typeof waitsWhereSlow> }> = [];
    for (let i = 0; i < RUNS; i++) {
      const runQueue = watchRunQueue(service.pid);
      const r = await clients.run({ cmd: 'paced', channels: AGGREGATE_CHANNELS, perSecond: rate, durationMs: 3000 });
      const waits = waitsWhereSlow(runQueue.stop(), r.dueMs!, r.serviceUs!);
      runs.push({ totalUs: r.totalUs!, serviceUs: r.serviceUs!, waits });
      // when the slow ones happen: test/bench/tail.ts reads it
      if (process.env.BENCH_TAIL_FILE) writeFileSync(`${process.env.BENCH_TAIL_FILE}.${i}.json`, JSON.stringify({ dueMs: r.dueMs, totalUs: r.totalUs, serviceUs: r.serviceUs }));
    }
    const ms = (values: number[], p: number) => percentile(values, p) / 1000;
    const latency = {
      rate,
      p50: figure(runs.map((r) => ms(r.totalUs, 50))),
      p99: figure(runs.map((r) => ms(r.totalUs, 99))),
      serviceP50: figure(runs.map((r) => ms(r.serviceUs, 50))),
      serviceP99: figure(runs.map((r) => ms(r.serviceUs, 99))),
      waitWhereSlowMs: figure(runs.map((r) => r.waits.whereSlowMs)),
      waitMedianMs: figure(runs.map((r) => r.waits.medianMs)),
    };
    log(`latency at ${rate}/s: p50 ${show(latency.p50, 2)} ms, p99 ${show(latency.p99, 2)} ms; in the service p50 ${show(latency.serviceP50, 2)} ms, p99 ${show(latency.serviceP99, 2)} ms`
      + `; the service's thread waited for a core ${show(latency.waitWhereSlowMs, 1)} ms per 100 ms where the slowest 2 % were due, ${show(latency.waitMedianMs, 1)} in the median 100 ms`);
    await clients.run({ cmd: 'closeAll' });
    return { sequential, aggregate, latency };
  } finally {
    await redis.quit();
    clients.stop();
    await service.stop();
  }
}

/**
 * Memory per idle open channel, then the start-up time of a service that finds them all in Redis.
 * The steps' clients leave once their channel is open (the FSMs stay up, waiting for a reconnect, and
 * fall asleep when idle): this machine allows 20,000 open files per process, and two sockets per
 * channel would pass it at 10,000. What a connected pair of clients adds is measured after the steps,
 * on channels opened with their clients staying.
 */
async function memoryAndStartup(): Promise<Pick<Results, 'memory' | 'baselineMb' | 'connectedKb' | 'connectedHeapKb' | 'startup'>> {
  // with its inspector open, to ask for its live heap (it costs nothing while nobody is attached)
  let service: ServiceProcess & { wsPort: number; httpPort: number } = await startService({}, undefined, ['--inspect=127.0.0.1:0']);
  // every process's: with WORKERS > 1 the workers hold the channels, and each has an inspector of its own
  const liveHeapKb = async () => (await Promise.all(inspectorUrls(service.output()).map(liveHeapBytes))).reduce((a, b) => a + b, 0) / 1024;
  const clients = new Clients();
  const memory: Results['memory'] = [];
  let startup: Results['startup'] = null;
  try {
    const accounts = await fundedAccounts(service.nodeUrl, 2 * Math.min(OPENING_INITIATORS, Math.max(...MEMORY_STEPS, CONNECTED_CHANNELS)));
    const open = async (count: number, keepConnected: boolean) => {
      const started = performance.now();
      await clients.run({ cmd: 'open', url: service.channelUrl, networkId: NETWORK_ID, specs: channelSpecs(accounts, count), keepConnected });
      log(`opened ${count} channels${keepConnected ? ' (clients staying)' : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    };
    // the baseline is a service that has opened channels before: its code loaded and compiled
    await open(WARM_UP_CHANNELS, false);
    const baseline = await settledMemory(service.pid, liveHeapKb);
    const perChannel = (now: MemoryLook, before: MemoryLook, channels: number) => ({
      kbPerChannel: figure([now.residentKb.median, now.residentKb.min, now.residentKb.max].map((kb) => (kb - before.residentKb.median) / channels)),
      heapKbPerChannel: figure([(now.heapKb - before.heapKb) / channels]),
      highWaterKbPerChannel: figure([(now.highWaterKb - before.highWaterKb) / channels]),
    });
    let opened = 0;
    let last = baseline;
    for (const target of MEMORY_STEPS) {
      await open(target - opened, false);
      opened = target;
      last = await settledMemory(service.pid, liveHeapKb);
      const step = { channels: target, ...perChannel(last, baseline, target), residentMb: figure([last.residentKb.median / 1024]) };
      memory.push(step);
      log(`${target} channels: ${show(step.kbPerChannel, 1)} KB each resident after a full GC (${show(step.highWaterKbPerChannel, 1)} before it), ${show(step.heapKbPerChannel, 1)} KB live heap; ${show(step.residentMb)} MB resident in all`);
    }
    await open(CONNECTED_CHANNELS, true);
    const connected = perChannel(await settledMemory(service.pid, liveHeapKb), last, CONNECTED_CHANNELS);
    const connectedKb = connected.kbPerChannel;
    const connectedHeapKb = connected.heapKbPerChannel;
    log(`${CONNECTED_CHANNELS} more with both clients connected: ${show(connectedKb, 1)} KB each resident, ${show(connectedHeapKb, 1)} KB live heap`);
    opened += CONNECTED_CHANNELS + WARM_UP_CHANNELS;
    await clients.run({ cmd: 'closeAll' });

    // start-up: the same ports and Redis prefix, all channels persisted
    const reuse = { wsPort: service.wsPort, httpPort: service.httpPort, storage: service.storage };
    const listening: number[] = [];
    const ready: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await service.terminate();
      service = await startService({ LOG_LEVEL: 'info' }, reuse);
      listening.push(service.startedMs);
      ready.push(await service.printed('service started'));
    }
    startup = { channels: opened, listeningMs: figure(listening), readyMs: figure(ready) };
    log(`start-up with ${opened} channels: listening ${show(startup.listeningMs)} ms, ready ${show(startup.readyMs)} ms`);
    return { memory, baselineMb: figure([baseline.residentKb.median / 1024]), connectedKb, connectedHeapKb, startup };
  } finally {
    clients.stop();
    await service.terminate();
    await service.storage.cleanup();
  }
}

// --- the report ---

function report(r: Results): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const pct = (x: number) => `${Math.round(100 * x)} %`;
  const l = r.limits;
  // one transfer after another: its unavoidable costs add up on its critical path
  // (the FSM work includes the two verifies)
  const floorMs = 1000 * (PER_TRANSFER.signs / l.signs.median + PER_TRANSFER.redisWrites / l.redisWrites.median
    + PER_TRANSFER.clientRoundTrips / l.wsRoundTrips.median) + l.fsmUs.median / 1000;
  const floorRate = 1000 / floorMs;
  // many channels at once: the service is one thread, so its CPU per transfer bounds the rate
  const serviceCeiling = 1e6 / r.aggregate.cpu.service.median;
  const fsmCeiling = 1e6 / l.fsmUs.median;
  const cpuRow = (label: string, f: Results['sequential']) =>
    `| CPU per transfer (${label}): service · clients · Redis, µs | ${show(f.cpu.service)} · ${show(f.cpu.clients)} · ${show(f.cpu.redis)} | | |`;
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\`: ${RUNS} runs each, the median with the range of the runs in brackets.`,
    '',
    '**Machine**: ' + Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join('; ')
      + `. Service, clients and Redis share it; the hypervisor took ${pct(r.stolen)} of its CPU time during the run.`,
    '',
    '| limit, measured in the same run | per second |',
    '| --- | --- |',
    `| ed25519 verify, libsodium (as the service verifies), one core | ${show(l.verifies)} |`,
    `| ed25519 sign, node:crypto, one core | ${show(l.signs)} |`,
    `| Redis write, awaited one by one | ${show(l.redisWrites)} |`,
    `| WebSocket echo round trip, one socket, across processes | ${show(l.wsRoundTrips)} |`,
    `| the FSM pair alone: both xstate FSMs and their tx work, no I/O (test/bench/fsm-pair.ts) | ${show(l.fsmPair)} transfers (${show(l.fsmUs)} µs of FSM work each) |`,
    '',
    `A transfer needs ${PER_TRANSFER.verifies} signature verifies and ${PER_TRANSFER.redisWrites} Redis writes (one per participant, each before its side moves on), ${PER_TRANSFER.signs} client signatures, ${PER_TRANSFER.clientRoundTrips} client round trips on its critical path, and the FSM work above (which includes the verifies). Those alone, one after another, take ${floorMs.toFixed(2)} ms: the floor for sequential transfers is ${n(floorRate)}/s. With many channels the service's one thread is the bound: at its measured ${n(r.aggregate.cpu.service.median)} µs of CPU per transfer it cannot pass ${n(serviceCeiling)}/s, and the FSM work alone caps it at ${n(fsmCeiling)}/s.`,
    '',
    `Memory is resident set size (RSS) once the idle FSMs have fallen asleep and a full garbage collection has run (asked of the service through its inspector), so that what opening the channels left as garbage does not count; the RSS just before that collection is the high-water mark, and the live heap after it is what the channels themselves keep. The baseline is a service that has opened and left ${WARM_UP_CHANNELS} channels; the channels of each step are on top of those. Their clients leave once the channel is open (the FSMs stay, waiting for a reconnect, and sleep when idle): two sockets per channel at 10,000 would pass this machine's 20,000 open files per process.`,
    '',
    '| figure | result | target | against its bound |',
    '| --- | --- | --- | --- |',
    `| sequential transfers/s, one channel | ${show(r.sequential.rate)} | ≥ 1,000 | ${pct(r.sequential.rate.median / floorRate)} of the floor (${n(floorRate)}/s) |`,
    cpuRow('sequential', r.sequential),
    `| aggregate transfers/s, ${AGGREGATE_CHANNELS} channels | ${show(r.aggregate.rate)} | ≥ 2,000 | ${pct(r.aggregate.rate.median / serviceCeiling)} of one service thread (${n(serviceCeiling)}/s); ${pct(r.aggregate.rate.median / fsmCeiling)} of the FSM-work ceiling (${n(fsmCeiling)}/s) |`,
    cpuRow(`${AGGREGATE_CHANNELS} channels`, r.aggregate),
    `| latency at ${n(r.latency.rate)}/s (half load): p50, ms | ${show(r.latency.p50, 2)} | | |`,
    `| latency at half load: p99, ms | ${show(r.latency.p99, 2)} | | |`,
    `| of which not in the clients' signing: p50, ms | ${show(r.latency.serviceP50, 2)} | | |`,
    `| of which not in the clients' signing: p99, ms | ${show(r.latency.serviceP99, 2)} | < 5 | |`,
    `| the service's thread waiting for a core (kernel schedstat), ms per 100 ms: where the slowest 2 % were due · the run's median | ${show(r.latency.waitWhereSlowMs, 1)} · ${show(r.latency.waitMedianMs, 1)} | | |`,
    `| resident memory of the baseline (${WARM_UP_CHANNELS} channels opened and left), MB | ${show(r.baselineMb)} | | |`,
    ...r.memory.flatMap((m) => [
      `| resident memory per idle open channel at ${n(m.channels)} channels, KB | ${show(m.kbPerChannel, 1)} | ${m.channels >= 10_000 ? '≤ 20' : ''} | ${show(m.residentMb)} MB in all |`,
      `| of which live heap · resident before the collection (high water), KB | ${show(m.heapKbPerChannel, 1)} · ${show(m.highWaterKbPerChannel, 1)} | | |`,
    ]),
    `| more per idle channel whose two clients stay connected, KB: resident · live heap | ${show(r.connectedKb, 1)} · ${show(r.connectedHeapKb, 1)} | | |`,
    `| sequential transfers/s, one channel, its participants on two services (the peer link over Noise, loopback) | ${show(r.peer.across)} | | ${(r.peer.across.median / r.peer.inProcess.median).toFixed(2)} × the same on one service, measured alike in the same run: ${show(r.peer.inProcess)}/s |`,
    `| CPU of the two service processes per transfer (peer link · in-process), µs | ${show(r.peer.acrossCpuUs)} · ${show(r.peer.inProcessCpuUs)} | | |`,
    ...(r.startup ? [
      `| start-up with ${n(r.startup.channels)} persisted channels: listening, ms | ${show(r.startup.listeningMs)} | | |`,
      `| start-up with ${n(r.startup.channels)} persisted channels: every channel looked at, ms | ${show(r.startup.readyMs)} | < 5,000 | |`,
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
  // one phase alone prints its figures and leaves BENCHMARKS.md as it is
  if (process.env.BENCH_ONLY === 'throughput') return void (await throughput());
  if (process.env.BENCH_ONLY === 'memory') return void (await memoryAndStartup());
  if (process.env.BENCH_ONLY === 'peer') return void (await peerLink());
  const ticks = cpuTicks();
  const partial = {
    machine: await machine(),
    limits: await limits(),
    ...(await throughput()),
    ...(await memoryAndStartup()),
    ...(await peerLink()),
  };
  const after = cpuTicks();
  const results: Results = { ...partial, stolen: (after.steal - ticks.steal) / (after.total - ticks.total) };
  const text = report(results);
  log(`\n${text}\n`);
  writeReport(text);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
