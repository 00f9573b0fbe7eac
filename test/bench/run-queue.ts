/**
 * How long a process's main thread waited for a core while it had work, from the kernel's scheduler
 * statistics (`/proc/<pid>/task/<pid>/schedstat`: ns on a CPU, ns runnable but waiting on a run
 * queue), sampled every few ms into 100 ms windows. On a 2-core machine shared by the service, the
 * clients and Redis, a transfer can be slow because the service was not running at all, which no
 * change to its code shows; this tells those transfers apart: they were due in a window where the
 * service's thread waited.
 */
import { readFileSync } from 'node:fs';
import { median, percentile } from './stats.js';

export const WINDOW_MS = 100;
const SAMPLE_MS = 5;

export interface RunQueueWindow {
  /** ms the thread ran in this window */
  runMs: number;
  /** ms it was runnable but waited for a core */
  waitMs: number;
}

/** Samples `pid`'s main thread from now until `stop()`, which returns the windows from the start. */
export function watchRunQueue(pid: number): { stop(): RunQueueWindow[] } {
  const started = performance.now();
  const read = (): [number, number, number] => {
    const [runNs, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return [performance.now() - started, runNs! / 1e6, waitNs! / 1e6];
  };
  const samples = [read()];
  const timer = setInterval(() => samples.push(read()), SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      samples.push(read());
      const windows: RunQueueWindow[] = [];
      for (let i = 1; i < samples.length; i++) {
        const [at, run, wait] = samples[i]!;
        const [, runBefore, waitBefore] = samples[i - 1]!;
        const w = (windows[Math.floor(at / WINDOW_MS)] ??= { runMs: 0, waitMs: 0 });
        w.runMs += run - runBefore;
        w.waitMs += wait - waitBefore;
      }
      return Array.from(windows, (w) => w ?? { runMs: 0, waitMs: 0 });
    },
  };
}

/**
 * The thread's wait for a core in the windows the slowest `share` of the transfers (by `latencyUs`) were
 * due in (the median over those transfers), next to the median window of the whole run, in ms per
 * window: a tail the scheduler makes shows as far more waiting where it falls than elsewhere. `dueMs`
 * counts from the start of the same run as the windows (the client process's clock, a message hop
 * later: well within a window).
 */
export function waitsWhereSlow(windows: RunQueueWindow[], dueMs: number[], latencyUs: number[], share = 0.02): { whereSlowMs: number; medianMs: number } {
  const slowFrom = percentile(latencyUs, 100 * (1 - share));
  const waitAt = (ms: number) => windows[Math.floor(ms / WINDOW_MS)]?.waitMs ?? 0;
  const whereSlow = dueMs.filter((_, i) => latencyUs[i]! >= slowFrom).map(waitAt);
  return { whereSlowMs: median(whereSlow), medianMs: median(windows.map((w) => w.waitMs)) };
}
