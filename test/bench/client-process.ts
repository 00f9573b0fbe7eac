/**
 * The bench's client process: it opens channels through the service and drives transfers on them, as
 * the parent process (test/bench/bench.ts) tells it over IPC, and reports raw figures back.
 */
import { BenchChannel, type ChannelSpec } from './bench-client.js';

export type ClientCommand =
  | { cmd: 'open'; url: string; networkId: string; specs: ChannelSpec[]; keepConnected: boolean }
  | { cmd: 'sequential'; durationMs: number }
  | { cmd: 'aggregate'; channels: number; durationMs: number }
  | { cmd: 'paced'; channels: number; perSecond: number; durationMs: number }
  | { cmd: 'closeAll' };

export type ClientReply =
  | { ok: true; opened?: number; transfers?: number; elapsedMs?: number; totalUs?: number[]; serviceUs?: number[]; dueMs?: number[] }
  | { ok: false; error: string };

const channels: BenchChannel[] = [];
const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens channels, one initiator's after another (each create tx takes that account's next nonce). */
async function open(url: string, networkId: string, specs: ChannelSpec[], keepConnected: boolean): Promise<ClientReply> {
  const byInitiator = new Map<string, ChannelSpec[]>();
  for (const spec of specs) byInitiator.set(spec.initiator.address, [...(byInitiator.get(spec.initiator.address) ?? []), spec]);
  let opened = 0;
  await Promise.all([...byInitiator.values()].map(async (own) => {
    for (const spec of own) {
      const channel = await BenchChannel.open(url, spec, networkId);
      opened += 1;
      if (keepConnected) channels.push(channel);
      else await channel.close(); // the FSMs stay up for a reconnect; the process runs out of sockets otherwise
    }
  }));
  return { ok: true, opened };
}

/** Transfers back to back on each channel until the time is up; every channel runs at once. */
async function saturate(count: number, durationMs: number): Promise<ClientReply> {
  const started = now();
  const deadline = started + durationMs;
  let transfers = 0;
  await Promise.all(channels.slice(0, count).map(async (channel) => {
    while (now() < deadline) {
      await channel.transfer();
      transfers += 1;
    }
  }));
  return { ok: true, transfers, elapsedMs: now() - started };
}

/**
 * Transfers at a set total rate spread over the channels, each channel on its own schedule with a
 * random phase. Latency counts from the scheduled start, so a late start is not hidden.
 */
async function paced(count: number, perSecond: number, durationMs: number): Promise<ClientReply> {
  const intervalMs = (1000 * count) / perSecond;
  const totalUs: number[] = [];
  const serviceUs: number[] = [];
  const dueMs: number[] = [];
  const started = now();
  await Promise.all(channels.slice(0, count).map(async (channel) => {
    let due = started + Math.random() * intervalMs;
    while (due < started + durationMs) {
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      const late = Math.max(0, now() - due) * 1000;
      const { totalNs, clientNs } = await channel.transfer();
      totalUs.push(Number(totalNs) / 1000 + late);
      serviceUs.push(Number(totalNs - clientNs) / 1000);
      dueMs.push(due - started);
      due += intervalMs;
    }
  }));
  return { ok: true, transfers: totalUs.length, elapsedMs: now() - started, totalUs, serviceUs, dueMs };
}

async function handle(command: ClientCommand): Promise<ClientReply> {
  switch (command.cmd) {
    case 'open': return open(command.url, command.networkId, command.specs, command.keepConnected);
    case 'sequential': return saturate(1, command.durationMs);
    case 'aggregate': return saturate(command.channels, command.durationMs);
    case 'paced': return paced(command.channels, command.perSecond, command.durationMs);
    case 'closeAll':
      await Promise.all(channels.splice(0).map((c) => c.close()));
      return { ok: true };
  }
}

process.on('message', (command: ClientCommand) => {
  handle(command).then(
    (reply) => process.send!(reply),
    (err: Error) => process.send!({ ok: false, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
