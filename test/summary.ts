/**
 * Prints what the test run measured, summed over its tests (run by `npm test` after tap), then starts
 * the next run's count afresh.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { SUMMARY_FILE } from './helpers/summary.js';

const totals = new Map<string, number>([['kills survived', 0], ['fuzz frames tried', 0], ['rounds lost', 0]]);
if (existsSync(SUMMARY_FILE)) {
  for (const line of readFileSync(SUMMARY_FILE, 'utf8').split('\n').filter(Boolean)) {
    const { name, value } = JSON.parse(line) as { name: string; value: number };
    totals.set(name, (totals.get(name) ?? 0) + value);
  }
  rmSync(SUMMARY_FILE);
}
process.stdout.write('\nsummary of this test run\n');
for (const [name, value] of totals) process.stdout.write(`  ${name}: ${value}\n`);
if ((totals.get('rounds lost') ?? 0) > 0) {
  process.stdout.write('rounds were lost\n');
  process.exit(1);
}
