/**
 * Reads what `BENCH_TAIL_FILE=<path> npm run bench` wrote for one paced run (<path>.<run>.json: each
 * transfer's due time and latency) and prints the percentiles of the service's share, and when the
 * slowest 2 % were due, in 100 ms windows: a tail spread over the run is noise in every transfer, one
 * gathered in a few windows is a burst or a stall at those times (BENCHMARKS.md, "Where p99 comes from").
 *
 *   npx tsx test/bench/tail.ts /tmp/tail.0.json
 */
import { readFileSync } from 'node:fs';

interface TailFile { dueMs: number[]; totalUs: number[]; serviceUs: number[] }

const file = process.argv[2];
if (!file) throw new Error('usage: tsx test/bench/tail.ts <BENCH_TAIL_FILE>.<run>.json');
const run = JSON.parse(readFileSync(file, 'utf8')) as TailFile;
const sorted = [...run.serviceUs].sort((a, b) => a - b);
const at = (p: number) => sorted[Math.floor((p / 100) * (sorted.length - 1))]!;
const ms = (us: number) => (us / 1000).toFixed(2);
process.stdout.write(`${sorted.length} transfers; in the service, ms: p50 ${ms(at(50))}, p90 ${ms(at(90))}, p95 ${ms(at(95))}, p99 ${ms(at(99))}, p99.9 ${ms(at(99.9))}, max ${ms(at(100))}\n`);

const slow = at(98);
const windows = new Map<number, number>();
run.dueMs.forEach((due, i) => {
  if (run.serviceUs[i]! < slow) return;
  const window = Math.floor(due / 100);
  windows.set(window, (windows.get(window) ?? 0) + 1);
});
const listed = [...windows].sort(([a], [b]) => a - b).map(([w, n]) => `${w * 100}-${w * 100 + 100} ms: ${n}`);
process.stdout.write(`the slowest 2 % (${ms(slow)} ms and more), by when they were due:\n  ${listed.join('\n  ')}\n`);
