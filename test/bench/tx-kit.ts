/**
 * The tx and crypto work of a transfer alone: what the FSM pair of test/bench/fsm-pair.ts asks its kit
 * for (building each round's tx, its state hash, checking every signature), recorded once and replayed
 * in fresh processes with nothing else running, so the kit's share of a transfer's CPU is measured apart
 * from xstate's. The replay compares every answer with the recorded one: a faster kit must give the
 * same bytes.
 *
 *   tsx test/bench/tx-kit.ts                 records 6 s of transfers, replays them 5 times (BENCH_RUNS)
 *   tsx test/bench/tx-kit.ts record FILE     records only
 *   tsx test/bench/tx-kit.ts replay FILE [KIT_MODULE]
 *                                            replays once with the kit of KIT_MODULE (another checkout's
 *                                            lib/tx/channel-kit.ts, to compare before and after)
 *   tsx test/bench/tx-kit.ts compare FILE KIT_MODULE_A KIT_MODULE_B
 *                                            replays with both kits in one process, in alternating slices
 *                                            of a few transfers, so both see the same load on a shared
 *                                            machine: the fairest before/after ratio
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TxKit } from '../../fsm/types.js';
import { createTxKit } from '../../lib/tx/channel-kit.js';
import { fsmPairTransfers, NETWORK_ID } from './fsm-pair.js';
import { median } from './stats.js';

interface Call { method: keyof TxKit; args: unknown[]; result: unknown }
interface Recording { calls: Call[] }

const json = {
  stringify: (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v)),
  parse: (text: string) => JSON.parse(text, (_k, v: unknown) => (
    v !== null && typeof v === 'object' && '$bigint' in v ? BigInt((v as { $bigint: string }).$bigint) : v)) as unknown,
};

/** A kit that notes every call and its answer, passing them through to `inner`. */
function recordingKit(inner: TxKit, calls: Call[]): TxKit {
  const kit = {} as Record<keyof TxKit, unknown>;
  for (const method of Object.keys(inner) as Array<keyof TxKit>) {
    kit[method] = (...args: unknown[]) => {
      const result = (inner[method] as (...a: unknown[]) => unknown)(...args);
      calls.push({ method, args: json.parse(json.stringify(args)) as unknown[], result: json.parse(json.stringify(result)) });
      return result;
    };
  }
  return kit as unknown as TxKit;
}

async function record(file: string, ms: number): Promise<void> {
  const calls: Call[] = [];
  await fsmPairTransfers(ms, recordingKit(createTxKit(NETWORK_ID), calls));
  writeFileSync(file, json.stringify({ calls } satisfies Recording));
}

/**
 * µs of kit CPU per transfer over the second half of the recording (the first half warms the JIT up),
 * and how many answers differ from the recorded ones.
 */
async function replay(file: string, kitModule?: string): Promise<{ us: number; mismatches: number; transfers: number }> {
  const { calls } = json.parse(readFileSync(file, 'utf8')) as Recording;
  const kit = await loadKit(kitModule);
  const results = new Array<unknown>(calls.length);
  const run = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const { method, args } = calls[i]!;
      results[i] = (kit[method] as (...a: unknown[]) => unknown)(...args);
    }
  };
  const half = Math.floor(calls.length / 2);
  run(0, half);
  // CPU time, not wall time: on a shared machine the wall clock also counts the waits for a core
  const started = process.cpuUsage();
  run(half, calls.length);
  const spent = process.cpuUsage(started);
  // each transfer builds its round once on either side
  const transfers = calls.slice(half).filter((c) => c.method === 'roundTx').length / 2;
  const mismatches = calls.filter((c, i) => json.stringify(c.result) !== json.stringify(results[i])).length;
  return { us: (spent.user + spent.system) / transfers, mismatches, transfers };
}

async function loadKit(kitModule?: string): Promise<TxKit> {
  const make = kitModule ? ((await import(pathToFileURL(kitModule).href)) as { createTxKit: typeof createTxKit }).createTxKit : createTxKit;
  return make(NETWORK_ID);
}

/** Both kits over the same calls, alternating slices; µs of CPU per transfer of each. */
async function compare(file: string, moduleA: string, moduleB: string): Promise<{ a: number; b: number; ratio: number; mismatches: number }> {
  const { calls } = json.parse(readFileSync(file, 'utf8')) as Recording;
  const kits = [await loadKit(moduleA), await loadKit(moduleB)];
  const spentUs = [0, 0];
  let mismatches = 0;
  const half = Math.floor(calls.length / 2);
  const SLICE = 50;
  for (let from = 0; from < calls.length; from += SLICE) {
    const to = Math.min(from + SLICE, calls.length);
    // which kit goes first alternates too, so neither always runs on the other's warm caches
    for (const k of (from / SLICE) % 2 ? [1, 0] : [0, 1]) {
      const kit = kits[k]!;
      const started = process.cpuUsage();
      const results = calls.slice(from, to).map(({ method, args }) => (kit[method] as (...a: unknown[]) => unknown)(...args));
      const spent = process.cpuUsage(started);
      if (from >= half) spentUs[k]! += spent.user + spent.system;
      mismatches += results.filter((r, i) => json.stringify(r) !== json.stringify(calls[from + i]!.result)).length;
    }
  }
  const transfers = calls.slice(half - (half % SLICE)).filter((c) => c.method === 'roundTx').length / 2;
  const [a, b] = spentUs.map((us) => us / transfers) as [number, number];
  return { a, b, ratio: b / a, mismatches };
}

const [mode, file, kitModule, otherModule] = process.argv.slice(2);
if (mode === 'compare') {
  console.log(JSON.stringify(await compare(file!, kitModule!, otherModule!)));
} else if (mode === 'record') {
  await record(file!, Number(process.env.BENCH_MS ?? 6000));
} else if (mode === 'replay') {
  console.log(JSON.stringify(await replay(file!, kitModule)));
} else {
  const dir = mkdtempSync(join(tmpdir(), 'tx-kit-'));
  const recording = join(dir, 'calls.json');
  const self = fileURLToPath(import.meta.url);
  const run = (...args: string[]) => execFileSync(process.execPath, [...process.execArgv, self, ...args], { encoding: 'utf8' });
  try {
    run('record', recording);
    const runs = Array.from({ length: Number(process.env.BENCH_RUNS ?? 5) }, () => JSON.parse(run('replay', recording)) as { us: number; mismatches: number; transfers: number });
    console.log(`tx kit: ${median(runs.map((r) => r.us)).toFixed(1)} µs of CPU per transfer (median of ${runs.length} replays of ${runs[0]!.transfers} transfers after as many to warm up; runs ${runs.map((r) => r.us.toFixed(1)).join(', ')})`);
    const mismatches = Math.max(...runs.map((r) => r.mismatches));
    if (mismatches) {
      console.error(`${mismatches} answers differ from the recorded ones`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
