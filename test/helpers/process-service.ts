/**
 * The service started the way the README starts it (`npm start`), as its own process: free ports,
 * storage of its own (test/helpers/storage.ts), fast dev-chain blocks. For the tests that must see
 * the real front door.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { PACKAGE_ROOT } from '../../lib/package-root.js';
import { freePort } from './free-port.js';
import { ensureBuilt } from './build.js';
import { testStorage, type TestStorage } from './storage.js';
import { untapped } from './untapped.js';

export interface ServiceProcess {
  channelUrl: string;
  nodeUrl: string;
  storage: TestStorage;
  /** the process id (the service's own when started `direct`, npm's otherwise) */
  pid: number;
  /** milliseconds from spawn until both ports answered */
  startedMs: number;
  /** milliseconds from spawn until the service printed `text` (waits for it) */
  printed(text: string, timeoutMs?: number): Promise<number>;
  /** everything it printed so far, stdout and stderr */
  output(): string;
  /** SIGTERM, and the exit code */
  terminate(): Promise<number | null>;
  /** SIGKILL, no questions asked */
  kill(): Promise<void>;
  /** ends the process if it still runs and deletes what it stored */
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}


export interface ProcessOptions {
  env?: Record<string, string>;
  /** the ports and storage of an earlier run, to restart "the same" service */
  reuse?: { wsPort: number; httpPort: number; storage: TestStorage };
  /** storage for a new service (default: a new one of the tests' default kind) */
  storage?: TestStorage;
  /**
   * run the service with node, without npm around it: signals and the exit code are the service's own
   */
  direct?: boolean;
  /**
   * with `direct`: run the build (dist/lib/main.js, built first if a source is newer) with plain node,
   * the default; `false` runs the sources through tsx instead (what the bench measures). A start from
   * the build costs about half the CPU (2.1 s against 4.2 s here), and the tests start many
   */
  built?: boolean;
  /** more node options when `direct` (a CPU profile, say) */
  nodeArgs?: string[];
  /** how long to wait for both ports to answer (default 30 s; several workers on a loaded machine take longer) */
  startTimeoutMs?: number;
}

/** what each service this test file started printed, kept for a failing file's report */
const started: Array<{ pid: number; output: () => string }> = [];
const KEPT_CHARS = 6_000;

/**
 * When the test file fails, the end of what each service it started printed goes to stderr (tap shows
 * it, CI keeps it): a failure that only happens now and then can then be read after the fact. Set up at
 * the first start, by when tap's own exit handler, which sets the exit code, is in place.
 */
function keepOutputOfAFailure(): void {
  if (started.length > 0) return;
  process.on('exit', (code) => {
    if (code === 0) return;
    for (const service of started) {
      const output = service.output();
      if (output) process.stderr.write(`# service ${service.pid} printed (its last ${KEPT_CHARS} characters):\n${output.slice(-KEPT_CHARS)}\n`);
    }
  });
}

export async function startServiceProcess(options: ProcessOptions = {}): Promise<ServiceProcess & { wsPort: number; httpPort: number }> {
  const { env = {}, reuse, direct = false, built = direct, nodeArgs = [] } = options;
  const storage = reuse?.storage ?? options.storage ?? testStorage();
  const [wsPort, httpPort] = reuse ? [reuse.wsPort, reuse.httpPort] : [await freePort(), await freePort()];
  // `npm start` runs dist/: build it first if a source is newer
  if (!direct || built) await ensureBuilt();
  const main = built ? ['dist/lib/main.js'] : ['--import', 'tsx', 'lib/main.ts'];
  const [command, args] = direct ? [process.execPath, [...nodeArgs, ...main]] : ['npm', ['start', '--silent']];
  const child: ChildProcess = spawn(...untapped(command, args), {
    cwd: PACKAGE_ROOT,
    env: {
      ...process.env, WS_PORT: String(wsPort), HTTP_PORT: String(httpPort), OPS_PORT: '0', ...storage.env,
      BLOCK_INTERVAL_MS: '100', LOG_LEVEL: process.env.TEST_LOG ?? 'warn', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so stop() ends npm and the service under it
  });
  const spawned = performance.now();
  let output = '';
  /** when the output reached each length, to say when a line was printed */
  const arrivals: Array<{ end: number; at: number }> = [];
  const lineWaiters = new Set<() => void>();
  const collect = (d: Buffer) => {
    output += d.toString();
    arrivals.push({ end: output.length, at: performance.now() });
    if (process.env.TEST_LOG) process.stderr.write(d);
    for (const wake of [...lineWaiters]) wake();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  keepOutputOfAFailure();
  started.push({ pid: child.pid!, output: () => output });

  // up when both ports answer (the node API is the external node's when CHAIN_NODE_URL names one); the
  // WebSocket port first: a refused connect costs next to nothing, a status request to a node that is
  // up already (an external one) costs both processes a request every try
  const nodeUrl = env.CHAIN_NODE_URL || `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const up = await accepts(wsPort) && await fetch(`${nodeUrl}/v3/status`).then((r) => r.ok, () => false);
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const startedMs = performance.now() - spawned;
  return {
    pid: child.pid!,
    startedMs,
    output: () => output,
    printed(text, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { lineWaiters.delete(check); reject(new Error(`the service never printed ${text}`)); }, timeoutMs);
        const check = () => {
          const index = output.indexOf(text);
          if (index < 0) return;
          lineWaiters.delete(check);
          clearTimeout(timer);
          resolve(arrivals.find((a) => a.end >= index + text.length)!.at - spawned);
        };
        lineWaiters.add(check);
        check();
      });
    },
    wsPort,
    httpPort,
    channelUrl: `ws://127.0.0.1:${wsPort}/channel`,
    nodeUrl,
    storage,
    async terminate() {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
      await exited;
      await storage.cleanup();
    },
  };
}
