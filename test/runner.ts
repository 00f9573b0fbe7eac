/**
 * Runs the compiled test files (`npm test`), `jobs` at a time (package.json's tap config), each as a
 * plain `node --enable-source-maps` process, as tap's runner would but without its process-info hook.
 * tap adds that hook to every test process, for coverage (off here), and there is no setting to leave
 * it out: it costs each test process about 0.45 s of CPU before its first test and slows every module
 * load after it (the 44 test/fsm and test/lib files: 0.7 of the CPU and 0.74 of the wall time without).
 *
 * The longest files start first, by their times in the last run (node_modules/.cache), so the run does
 * not end on one long file alone. A file passes when it exits 0 having printed its plan; a failing
 * file's whole output and stderr are printed as it ends, and named again at the end.
 *
 *   node dist/test/runner.js [file or directory ...]   (test/x.test.ts, dist/test/x.test.js, test/fsm)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT, packagePath } from '../lib/package-root.js';

const { jobs, timeout: timeoutSeconds } = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')).tap as { jobs: number; timeout: number };
/** Past tap's own timeout in the file (TAP_TIMEOUT, which prints what was still running): the process group is killed. */
const KILL_AFTER_MS = (timeoutSeconds + 30) * 1000;
const TIMES_FILE = packagePath('node_modules', '.cache', 'aesc-test-times.json');

interface Outcome { file: string; ok: boolean; reason: string; ms: number; assertions: number; output: string }

/** Every test file under dist/test (not its helpers), as `dist/test/…` paths. */
function allTestFiles(): string[] {
  return (readdirSync(packagePath('dist', 'test'), { recursive: true }) as string[])
    .filter((path) => path.endsWith('.test.js') && !path.startsWith('helpers/'))
    .map((path) => join('dist', 'test', path)).sort();
}

/** The files the arguments name: a test's source or build, or a directory of either. */
function selectFiles(args: string[]): string[] {
  const all = allTestFiles();
  if (args.length === 0) return all;
  const chosen = new Set<string>();
  for (const arg of args) {
    const wanted = arg.replace(/^\.\//, '').replace(/\/$/, '').replace(/^test\//, 'dist/test/').replace(/\.ts$/, '.js');
    const matching = all.filter((file) => file === wanted || file.startsWith(`${wanted}/`));
    if (matching.length === 0) {
      process.stderr.write(`no test file is ${arg} or under it (the tests run from dist/test: is it built?)\n`);
      process.exit(2);
    }
    for (const file of matching) chosen.add(file);
  }
  return [...chosen];
}

function readTimes(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(TIMES_FILE, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/** A test's source, as a developer names it: dist/test/x.test.js → test/x.test.ts. */
const sourceOf = (file: string) => file.replace(/^dist\//, '').replace(/\.js$/, '.ts');

/** The signal to a test file's process group: the file and whatever it started that is still running. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid) process.kill(-pid, signal);
  } catch { /* the group is gone */ }
}

/** The pids (and process groups) of the test files running now. */
const running = new Set<number>();

function runFile(file: string): Promise<Outcome> {
  const started = performance.now();
  // its own process group, so a file killed for time takes what it started with it
  const child = spawn(process.execPath, ['--enable-source-maps', file], {
    cwd: PACKAGE_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TAP_TIMEOUT: String(timeoutSeconds) },
  });
  running.add(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  let killed = false;
  const killer = setTimeout(() => { killed = true; signalGroup(child.pid, 'SIGKILL'); }, KILL_AFTER_MS);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      running.delete(child.pid!);
      // what it started and left running would go on taking CPU from the files after it, and hold its pipes open
      signalGroup(child.pid, 'SIGKILL');
      const finish = () => {
        clearTimeout(fallback);
        const planned = /^1\.\.\d+/m.test(stdout);
        const reason = killed ? `still running ${KILL_AFTER_MS / 1000} s after it started: killed`
          : signal ? `ended by ${signal}`
            : code !== 0 ? `exit code ${code}`
              : !planned ? 'exited 0 without a plan (1..N): its tests did not finish' : '';
        const total = /^# \{ total: (\d+)/m.exec(stdout);
        resolve({
          file, ok: reason === '', reason, ms: performance.now() - started, assertions: Number(total?.[1] ?? 0),
          output: stderr ? `${stdout}\n--- stderr of ${sourceOf(file)} ---\n${stderr}` : stdout,
        });
      };
      // the rest of its output; a process outside its group may still hold the pipes, so not for ever
      const fallback = setTimeout(() => { child.stdout!.destroy(); child.stderr!.destroy(); finish(); }, 5000);
      child.on('close', finish);
    });
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const files = selectFiles(process.argv.slice(2));
  const times = readTimes();
  // longest first; a file with no time yet (new, or no run on this checkout) in name order before them
  const queue = [...files].sort((a, b) => (times[b] ?? Infinity) - (times[a] ?? Infinity) || a.localeCompare(b));
  const started = performance.now();
  const outcomes: Outcome[] = [];
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopping = true;
      for (const pid of running) signalGroup(pid, signal);
    });
  }
  process.stdout.write(`${files.length} test files, ${Math.min(jobs, files.length)} at a time\n`);

  const worker = async () => {
    for (let file = queue.shift(); file && !stopping; file = queue.shift()) {
      const outcome = await runFile(file);
      outcomes.push(outcome);
      const counts = `${seconds(outcome.ms)}, ${outcome.assertions} assertion${outcome.assertions === 1 ? '' : 's'}`;
      if (outcome.ok) process.stdout.write(`ok ${outcomes.length} - ${sourceOf(file)} (${counts})\n`);
      else process.stdout.write(`not ok ${outcomes.length} - ${sourceOf(file)} (${counts}): ${outcome.reason}\n${outcome.output.replace(/^/gm, '    ')}\n`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));

  for (const { file, ms } of outcomes) times[file] = Math.round(ms);
  const existing = new Set(allTestFiles());
  mkdirSync(dirname(TIMES_FILE), { recursive: true });
  writeFileSync(TIMES_FILE, JSON.stringify(Object.fromEntries(Object.entries(times).filter(([file]) => existing.has(file)))));

  const failed = outcomes.filter((o) => !o.ok);
  const assertions = outcomes.reduce((sum, o) => sum + o.assertions, 0);
  const slowest = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 5).map((o) => `${sourceOf(o.file)} ${seconds(o.ms)}`);
  process.stdout.write(`\n${outcomes.length} of ${files.length} test files run in ${seconds(performance.now() - started)}, ${assertions} assertions\n`);
  process.stdout.write(`slowest: ${slowest.join(', ')}\n`);
  if (failed.length > 0) process.stdout.write(`${failed.length} failed:\n${failed.map((o) => `  ${sourceOf(o.file)}: ${o.reason}\n`).join('')}`);
  else if (outcomes.length === files.length) process.stdout.write('all passed\n');
  process.exitCode = failed.length > 0 || outcomes.length < files.length ? 1 : 0;
}

await main();
