/**
 * `npm start` (`exec node dist/lib/main.js`): the service on config/default.json plus environment.
 *
 * A setting that cannot work stops it with one line on stderr and exit code 1 (and the same as a JSON
 * log line on stdout, where every other line is). SIGTERM or SIGINT stops it gracefully and it exits
 * 0: npm forwards both to its child, and `exec` made this process that child.
 */
import cluster from 'node:cluster';
import { startPrimary, WorkerStartError } from './cluster/primary.js';
import { announceWorker, workerIndex } from './cluster/worker.js';
import { ConfigError, loadConfig, workerCount } from './config.js';
import { createLogger } from './log.js';
import { startService } from './service.js';
import { DataDirLockedError } from './store/embedded.js';
import { StoreUnavailableError } from './store/store.js';

/**
 * A stop still under way after this long ends the process anyway (exit 1): orchestrators send SIGKILL
 * 10 s after SIGTERM, and a word on stderr beats a silent kill.
 */
const STOP_DEADLINE_MS = 9_000;

/** the service, or with WORKERS > 1 in the primary its workers and what they share */
let service: { stop(): Promise<void> } | null = null;
let stopping = false;

/** A log line written before (or after) the logger: JSON on stdout like every other line. */
function logLine(level: 'info' | 'error', message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ level, message, ...fields, timestamp: new Date().toISOString() })}\n`);
}

function fail(message: string, fields: Record<string, unknown> = {}): never {
  logLine('error', `aesc-service: ${message}`, { fatal: true, ...fields });
  // and one line for the operator at the terminal
  process.stderr.write(`aesc-service: ${message}\n`);
  process.exit(1);
}

async function stop(running: { stop(): Promise<void> }): Promise<void> {
  try {
    await running.stop();
  } catch (err) {
    fail(`stopping failed: ${(err as Error).message}`);
  }
  process.exit(0);
}

function onSignal(signal: NodeJS.Signals): void {
  // npm forwards the signal it got, and a terminal's Ctrl-C reaches npm and this process both: the
  // second one must not cut short the stop the first one began
  if (stopping) return;
  stopping = true;
  logLine('info', `${signal}: stopping`, { signal });
  setTimeout(() => fail(`stopping took longer than ${STOP_DEADLINE_MS / 1000} s; exiting anyway`), STOP_DEADLINE_MS).unref();
  // a signal during start-up stops the service as soon as it is up
  if (service) void stop(service);
}

async function main(): Promise<void> {
  // from the first moment: node's default for these signals is to die on the spot, writes or not
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', (err) => fail(`uncaught exception: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (reason) => fail(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`));
  const config = loadConfig();
  if (workerCount(config) > 1 && cluster.isPrimary) {
    service = await startPrimary(config, createLogger(config.logLevel));
  } else {
    const worker = workerIndex();
    // every line of a worker says which one: the same channel may have its two FSMs in two of them
    const log = worker === null ? undefined : createLogger(config.logLevel).child({ worker });
    const running = await startService(config, { log });
    service = running;
    if (worker !== null) announceWorker(running);
  }
  if (stopping) await stop(service);
}

main().catch((err: unknown) => {
  // the operator's mistakes are one line; anything else is a bug, and its stack is wanted
  if (err instanceof ConfigError || err instanceof StoreUnavailableError || err instanceof DataDirLockedError || err instanceof WorkerStartError) fail(err.message);
  fail(`failed to start: ${(err as Error).stack ?? String(err)}`);
});
