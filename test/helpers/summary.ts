/**
 * The figures a test run reports at its end (kills survived, fuzz frames tried, rounds lost): each test
 * adds its own to a file, and test/summary.ts prints the totals after tap is done.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { packagePath } from '../../lib/package-root.js';

export const SUMMARY_FILE = packagePath('.test-summary', 'figures.jsonl');

export function recordSummary(name: string, value: number): void {
  mkdirSync(dirname(SUMMARY_FILE), { recursive: true });
  appendFileSync(SUMMARY_FILE, `${JSON.stringify({ name, value })}\n`);
}
