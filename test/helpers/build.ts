/**
 * `npm start` runs the build in dist/, so a test that starts it must not run an older build than the
 * sources it tests. `npm test` builds first, and a test compiled into dist/test runs on that build
 * itself; a test file run alone from its source (`npx tap --node-arg=--import=tsx test/x.test.ts`)
 * builds here when a source is newer than the last build. Test files run in parallel: one builds, the
 * others wait for it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT as ROOT } from '../../lib/package-root.js';
import { untapped } from './untapped.js';

/** written by every build that changed something (tsconfig.build.json's tsBuildInfoFile), touched here after every build */
const BUILD_INFO = join(ROOT, 'dist', '.tsbuildinfo');
/** mkdir is atomic: whoever makes it builds */
const LOCK = join(ROOT, 'node_modules', '.cache', 'aesc-build.lock');
/** a lock this old was left by a build that died */
const STALE_LOCK_MS = 120_000;

let checked: Promise<void> | undefined;

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, mtime(path));
  }
  return newest;
}

function stale(): boolean {
  const sources = Math.max(newestSource(join(ROOT, 'lib')), newestSource(join(ROOT, 'fsm')), mtime(join(ROOT, 'tsconfig.build.json')));
  return mtime(BUILD_INFO) < sources || mtime(join(ROOT, 'dist', 'lib', 'main.js')) === 0;
}

async function lock(): Promise<void> {
  mkdirSync(join(LOCK, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      return;
    } catch {
      if (Date.now() - mtime(LOCK) > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function build(): Promise<void> {
  if (!stale()) return;
  await lock();
  try {
    if (!stale()) return; // another test file built it while this one waited
    await new Promise<void>((resolve) => {
      // tsc writes the JavaScript even when a file has type errors (`npm test` type-checks on its own);
      // what it says goes to stderr so a failed start can be understood
      execFile(...untapped('npm', ['run', 'build', '--silent']), { cwd: ROOT }, (err, stdout) => {
        if (err) process.stderr.write(`npm run build: ${stdout}`);
        resolve();
      });
    });
    // an incremental build that found nothing to change leaves its build info as old as it was
    const now = new Date();
    if (mtime(BUILD_INFO)) utimesSync(BUILD_INFO, now, now);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Builds dist/ unless it is newer than every source; once per test process. */
export function ensureBuilt(): Promise<void> {
  checked ??= build();
  return checked;
}
