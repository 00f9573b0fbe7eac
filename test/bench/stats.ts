/** Medians, spreads and percentiles for the bench's figures. */

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: number[]) => percentile(values, 50);

/** A figure over several runs: its median and the range the runs covered. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function figure(values: number[]): Figure {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

/** "1,234 (1,200–1,250)" with the given number of decimals. */
export function show(f: Figure, decimals = 0): string {
  const n = (x: number) => x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  return f.runs > 1 ? `${n(f.median)} (${n(f.min)}–${n(f.max)})` : n(f.median);
}
