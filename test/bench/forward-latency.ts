/**
 * What forwarding adds to a transfer: two service instances as processes on one Redis (a key prefix of
 * their own), one channel whose FSMs instance A hosts. Its two clients transfer back and forth, one at
 * a time, connected to A directly, then reestablished at B (served by A through B), alternating passes
 * in the same run; each transfer is timed from the proposal leaving its client to both clients being
 * told it is co-signed (so a forwarded transfer crosses the relay several times: the sign requests,
 * the signatures, the two updates). Prints figures, asserts nothing.
 * Run: npm run --silent build && npx tsx test/bench/forward-latency.ts   (BENCH_TRANSFERS=200 BENCH_PASSES=3)
 */
import { readFileSync } from 'node:fs';
import type { Test } from 'tap';
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { channelQuery } from '../helpers/channel.js';
import { TestClient } from '../helpers/client.js';
import { externalChain } from '../helpers/external-chain.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from '../helpers/service.js';
import { testStorage } from '../helpers/storage.js';
import { track, type Pair, type Role } from '../helpers/tracked-pair.js';

const TRANSFERS = Number(process.env.BENCH_TRANSFERS ?? 200);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const ROLES = ['initiator', 'responder'] as const;

const teardowns: Array<() => unknown> = [];
const storage = testStorage('redis');
try {
  const { url: chainUrl } = await externalChain({ teardown: (fn: () => unknown) => teardowns.push(fn) } as unknown as Test);
  const env = (instance: string) => ({ ...storage.env, REDIS_CLUSTER_NODES: '', CHAIN_NODE_URL: chainUrl, WATCHTOWER: 'false', INSTANCE_ID: instance });
  const [a, b] = await Promise.all(['bench-a', 'bench-b'].map((id) => startServiceProcess({ direct: true, built: true, storage, env: env(id) })));
  teardowns.push(() => a!.kill(), () => b!.kill());
  const [initiator, responder] = await fundFromGenesis(genesisSdk(chainUrl), 2) as [AccountMemory, AccountMemory];
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const query = channelQuery(initiator, responder, port);
  const pair = { port, accounts: { initiator, responder }, clients: {}, fsmIds: {}, reported: { initiator: 0, responder: 0 } } as unknown as Pair;
  track(pair, 'initiator', await TestClient.connect(a!.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', initiator));
  track(pair, 'responder', await TestClient.connect(a!.channelUrl, { ...query, role: 'responder' }, 'json-rpc', responder));
  const open = await pair.clients.initiator.nextMethod('channels.info', 'open', 30_000);
  await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 30_000)));
  pair.id = open.frame.params.channel_id;

  /** Both clients reconnect at `service` (their FSMs stay at A). */
  async function connectAt(service: ServiceProcess): Promise<void> {
    for (const role of ROLES) {
      pair.clients[role].close();
      await pair.clients[role].closedAndDone();
      const client = await TestClient.connect(service.channelUrl, {
        role, port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds[role], ...(role === 'initiator' && { host: 'localhost' }),
      }, 'json-rpc', pair.accounts[role]);
      await client.nextMethod('channels.info', 'fsm_up', 20_000);
      track(pair, role, client);
    }
  }

  /** Microseconds per transfer, each timed alone. */
  async function transfers(n: number): Promise<number[]> {
    const times: number[] = [];
    for (let k = 0; k < n; k++) {
      const [from, to]: [Role, Role] = k % 2 ? ['responder', 'initiator'] : ['initiator', 'responder'];
      const started = performance.now();
      pair.clients[from].send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount: 1 });
      const answers = await Promise.all(ROLES.map((role) => pair.clients[role].next((m) => ['channels.update', 'channels.conflict', 'error'].includes(m.method), 20_000)));
      if (answers.some((m) => m.method !== 'channels.update')) throw new Error(`a transfer was refused: ${JSON.stringify(answers.map((m) => m.frame))}`);
      times.push((performance.now() - started) * 1000);
    }
    return times;
  }

  /** CPU time a process has used, in µs (/proc: clock ticks of 10 ms, so only long passes tell). */
  const cpuOf = (pid: number) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  };
  const cpu: Record<'direct' | 'forwarded', { a: number; b: number }> = { direct: { a: 0, b: 0 }, forwarded: { a: 0, b: 0 } };
  const quantile = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
  const all: Record<'direct' | 'forwarded', number[]> = { direct: [], forwarded: [] };
  await transfers(20); // warm-up
  console.log(`${TRANSFERS} transfers per pass, one at a time, both clients at A (direct) or at B relayed to A (forwarded)`);
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const [kind, at] of [['direct', a!], ['forwarded', b!]] as const) {
      await connectAt(at);
      await transfers(10);
      const before = { a: cpuOf(a!.pid), b: cpuOf(b!.pid) };
      const times = await transfers(TRANSFERS);
      cpu[kind].a += cpuOf(a!.pid) - before.a;
      cpu[kind].b += cpuOf(b!.pid) - before.b;
      all[kind].push(...times);
      console.log(`pass ${pass} ${kind.padEnd(9)}: median ${Math.round(quantile(times, 0.5))} µs, p90 ${Math.round(quantile(times, 0.9))} µs`);
    }
  }
  const [d, f] = [quantile(all.direct, 0.5), quantile(all.forwarded, 0.5)];
  console.log(`overall median: direct ${Math.round(d)} µs, forwarded ${Math.round(f)} µs: +${Math.round(f - d)} µs per transfer (×${(f / d).toFixed(2)})`);
  console.log(`overall p90: direct ${Math.round(quantile(all.direct, 0.9))} µs, forwarded ${Math.round(quantile(all.forwarded, 0.9))} µs`);
  const perTransfer = (us: number) => Math.round(us / (TRANSFERS * PASSES));
  console.log(`CPU per transfer: direct A ${perTransfer(cpu.direct.a)} µs (B ${perTransfer(cpu.direct.b)} µs idle); `
    + `forwarded A ${perTransfer(cpu.forwarded.a)} µs + B relaying ${perTransfer(cpu.forwarded.b)} µs`);
  for (const role of ROLES) pair.clients[role].close();
} finally {
  for (const fn of teardowns.reverse()) await Promise.resolve().then(fn).catch(() => undefined);
  await storage.cleanup();
}
