/**
 * The FSM pair of two checkouts (test/bench/fsm-pair.ts) in one process, taking turns, so both see
 * the same load on a shared machine: the fairest before/after ratio of the FSM work per transfer.
 *
 *   tsx test/bench/fsm-pair-compare.ts BEFORE_DIR AFTER_DIR [TURNS] [TURN_MS]
 *
 * Each directory is a checkout whose test/bench/fsm-pair.ts exports `fsmPairTransfers` returning
 * `cpuUs` (copy this checkout's fsm-pair.ts into an older one: only the harness, not what it measures).
 * Two turns each warm the JIT up first. Prints each side's median CPU µs per transfer over the turns, after / before
 * of those medians, and the median of each turn's after / before (turnRatio).
 */
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';
import { median } from './stats.js';

type Pair = (ms?: number) => Promise<{ perSecond: number; fsmUs: number; cpuUs: number }>;

const [before, after, turns = '6', turnMs = '1500'] = process.argv.slice(2);
if (!before || !after) throw new Error('usage: fsm-pair-compare.ts BEFORE_DIR AFTER_DIR [TURNS] [TURN_MS]');
const load = async (dir: string) => ((await import(pathToFileURL(join(resolve(dir), 'test/bench/fsm-pair.ts')).href)) as { fsmPairTransfers: Pair }).fsmPairTransfers;
const pairs = [await load(before), await load(after)];
// two turns each first, not counted: the JIT is still compiling both
for (let turn = 0; turn < 2; turn++) for (const pair of pairs) await pair(Number(turnMs));
const cpu: number[][] = [[], []];
for (let turn = 0; turn < Number(turns); turn++) {
  // which goes first alternates, so neither always runs right after the other's garbage
  for (const k of turn % 2 ? [1, 0] : [0, 1]) cpu[k]!.push((await pairs[k]!(Number(turnMs))).cpuUs);
}
const [b, a] = cpu.map((c) => median(c)) as [number, number];
// the load moves by the second: each turn's ratio to the other's turn next to it says more than the medians
const turnRatios = cpu[1]!.map((us, i) => us / cpu[0]![i]!);
console.log(JSON.stringify({
  beforeUs: +b.toFixed(1), afterUs: +a.toFixed(1), ratio: +(a / b).toFixed(3), turnRatio: +median(turnRatios).toFixed(3),
  before: cpu[0]!.map(Math.round), after: cpu[1]!.map(Math.round),
}));
