/**
 * Sequential transfers per second on one channel whose two participants are on two services
 * (separate processes, each on Redis under its own prefix, the peer link over Noise on loopback),
 * next to the same on one service (in-process pairing), measured alike: same processes, same
 * clients, same channel size.
 *
 * The clients are the bench's (bench-client.ts): they sign each request at once with node:crypto
 * ed25519 (signer.ts). The test suite's client signs through the aepp-sdk, about 30 ms a signature,
 * two per transfer: with it both figures were about 14/s, the clients' cost, and the link's cost
 * did not show.
 *
 * `npm run bench` runs it as one of its sections (BENCH_ONLY=peer alone); `npx tsx
 * test/bench/peer-link.ts` runs it by itself. PEER_BENCH_TRANSFERS (default 300) sets the transfers
 * per run.
 */
import { readFileSync } from 'node:fs';
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { channelQuery } from '../helpers/channel.js';
import { externalChain } from '../helpers/external-chain.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from '../helpers/service.js';
import { testStorage } from '../helpers/storage.js';
import { BenchClient } from './bench-client.js';
import { figure, type Figure } from './stats.js';

const NETWORK_ID = 'ae_dev';
/** u64 on the node's wire (channel_open): a channel across services stays under 2^64 aettos */
const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
const A_HOST = '127.0.0.2';
const B_HOST = '127.0.0.3';

export interface PeerLinkFigures {
  inProcess: Figure;
  across: Figure;
  /**
   * CPU of both service processes per transfer, µs (user + system), less what they spend idle (chain
   * polls, measured before the runs), so that what one service idles through is not counted
   */
  inProcessCpuUs: Figure;
  acrossCpuUs: Figure;
  transfers: number;
}

/** CPU time (user + system) a process has used so far, in ms (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const participant = (account: AccountMemory) => ({ address: account.address, secretKey: account.secretKey });

/**
 * Opens a channel, the responder on A, the initiator on `initiatorUrl` naming `host`, then times
 * `transfers` sequential transfers: each waits for both clients' `channels.update` before the next.
 */
async function transfersPerSecond(
  a: ServiceProcess, initiatorUrl: string, host: string, accounts: AccountMemory[], port: number, transfers: number, pids: number[],
  idleCpuPerMs: number,
): Promise<{ rate: number; cpuUs: number }> {
  const [x, y] = accounts as [AccountMemory, AccountMemory];
  const query = channelQuery(x, y, port, AMOUNTS);
  const responder = BenchClient.connect(a.channelUrl, { ...query, role: 'responder' }, participant(y), NETWORK_ID);
  const responderUp = responder.next('channels.info', 'fsm_up');
  const responderOpen = responder.next('channels.update');
  await responderUp;
  const initiator = BenchClient.connect(initiatorUrl, { ...query, role: 'initiator', host }, participant(x), NETWORK_ID);
  await Promise.all([initiator.next('channels.update'), responderOpen]);
  const cpu = () => pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  const cpuBefore = cpu();
  const started = performance.now();
  for (let i = 0; i < transfers; i++) {
    const done = Promise.all([initiator.next('channels.update'), responder.next('channels.update')]);
    initiator.send('channels.update.new', { from: x.address, to: y.address, amount: 1 });
    await done;
  }
  const rate = transfers / ((performance.now() - started) / 1000);
  const ms = performance.now() - started;
  const cpuUs = ((cpu() - cpuBefore - idleCpuPerMs * ms) * 1000) / transfers;
  await Promise.all([initiator.close(), responder.close()]);
  return { rate, cpuUs };
}

/** `runs` runs of each, alternating, so that a load on the machine falls on both alike. */
export async function peerLinkTransfers(runs: number, transfers: number, log: (line: string) => void = () => undefined): Promise<PeerLinkFigures> {
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (fn: () => unknown) => teardowns.push(fn) } as unknown as Parameters<typeof externalChain>[0];
  const services: ServiceProcess[] = [];
  try {
    const { url } = await externalChain(t);
    const env = (host: string) => ({ CHAIN_NODE_URL: url, PEER_HOST: host, LOG_LEVEL: 'error', BLOCK_INTERVAL_MS: '100' });
    const a = await startServiceProcess({ direct: true, storage: testStorage('redis'), env: env(A_HOST) });
    services.push(a);
    const b = await startServiceProcess({ direct: true, storage: testStorage('redis'), env: env(B_HOST) });
    services.push(b);
    const sdk = genesisSdk(url);
    let port = 52_000 + Math.floor(Math.random() * 5_000);
    const pids = [a.pid, b.pid];
    // what the two services spend doing nothing (following the chain), per ms of wall time
    const idleBefore = pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
    const idleStarted = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idleCpuPerMs = (pids.reduce((sum, pid) => sum + processCpuMs(pid), 0) - idleBefore) / (performance.now() - idleStarted);
    log(`  idle: the two services use ${(idleCpuPerMs * 1000).toFixed(0)} ms of CPU a second`);
    const inProcess: Array<{ rate: number; cpuUs: number }> = [];
    const across: Array<{ rate: number; cpuUs: number }> = [];
    for (let run = 0; run < runs; run++) {
      const local = await transfersPerSecond(a, a.channelUrl, 'localhost', await fundFromGenesis(sdk, 2), port++, transfers, pids, idleCpuPerMs);
      inProcess.push(local);
      const remote = await transfersPerSecond(a, b.channelUrl, A_HOST, await fundFromGenesis(sdk, 2), port++, transfers, pids, idleCpuPerMs);
      across.push(remote);
      log(`  run ${run + 1}: in-process ${local.rate.toFixed(0)}/s (${local.cpuUs.toFixed(0)} µs of service CPU each), across two services ${remote.rate.toFixed(0)}/s (${remote.cpuUs.toFixed(0)} µs)`);
    }
    return {
      inProcess: figure(inProcess.map((r) => r.rate)), across: figure(across.map((r) => r.rate)),
      inProcessCpuUs: figure(inProcess.map((r) => r.cpuUs)), acrossCpuUs: figure(across.map((r) => r.cpuUs)), transfers,
    };
  } finally {
    for (const s of services) await s.stop();
    for (const fn of teardowns.reverse()) await fn();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const transfers = Number(process.env.PEER_BENCH_TRANSFERS ?? 300);
  const r = await peerLinkTransfers(Number(process.env.BENCH_RUNS ?? 3), transfers, (line) => console.log(line));
  console.log(`in-process (both on one service): ${r.inProcess.median.toFixed(0)}/s, ${r.inProcessCpuUs.median.toFixed(0)} µs of service CPU each; `
    + `across two services (peer link): ${r.across.median.toFixed(0)}/s, ${r.acrossCpuUs.median.toFixed(0)} µs; ratio ${(r.across.median / r.inProcess.median).toFixed(2)}`);
}
