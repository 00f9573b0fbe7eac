/**
 * The JSON lines an example process prints (its results, not its log lines), as they come, and its
 * exit code at the end; its stderr is shown when it fails.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface JsonLines {
  next(): Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
}

/** `wanted` picks the result lines out of everything the process prints on stdout. */
export function jsonLines(child: ChildProcess, wanted: (line: string) => boolean): JsonLines {
  const queue: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!wanted(line)) return;
    const wake = waiting.shift();
    if (wake) wake(line);
    else queue.push(line);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    if (code) process.stderr.write(stderr);
    resolve(code);
  }));
  return {
    next: () => new Promise((resolve, reject) => {
      const line = queue.shift();
      if (line) return resolve(JSON.parse(line));
      waiting.push((l) => resolve(JSON.parse(l)));
      void exit.then((code) => reject(new Error(`exited ${code} before printing: ${stderr.slice(-2000)}`)));
    }),
    exit,
  };
}
