/**
 * The figures a test run reports at its end (kills survived, fuzz frames tried, rounds lost): each test
 * adds its own to a file, and test/summary.ts prints the totals after tap is done.
 */
import { appendFileSync, mkdirSync } from 'node:fs';

export const SUMMARY_FILE = new URL('../../.test-summary/figures.jsonl', import.meta.url);

export function recordSummary(name: string, value: number): void {
  mkdirSync(new URL('.', SUMMARY_FILE), { recursive: true });
  appendFileSync(SUMMARY_FILE, `${JSON.stringify({ name, value })}\n`);
}
