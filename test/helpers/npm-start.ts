/**
 * `npm start` exactly as an operator (or an orchestrator) runs it: npm's own process, in the test's
 * process group, signalled by npm's pid. What it printed is kept apart per stream, so a test can
 * count the lines on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package-root.js';
import { ensureBuilt } from './build.js';
import { freePort } from './free-port.js';
import { untapped } from './untapped.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** milliseconds from `since` (default: spawn) to the exit */
  afterMs: number;
}

export interface NpmStart {
  /** npm's pid: the one an orchestrator signals */
  pid: number;
  wsPort: number;
  httpPort: number;
  dataDir: string;
  stdout(): string;
  stderr(): string;
  /** resolves when npm exited, with the time since `since()` was last called */
  exited: Promise<Exit>;
  /** marks the moment the exit time is measured from */
  since(): void;
  /** resolves once the node API and the channel port both answer; rejects if the process exits first */
  answering(): Promise<void>;
  /** whether npm has exited */
  gone(): boolean;
  /** SIGKILL to npm and the service under it, for a test's teardown (npm does not forward SIGKILL) */
  kill(): void;
}

/** The pids whose parent is `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((name) => {
    try {
      // the field after the parenthesised command name, which may itself hold spaces
      const ppid = Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      return ppid === pid ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Starts `npm start` on free ports and a fresh DATA_DIR; `env` adds to or overrides that. */
export async function npmStart(env: Record<string, string> = {}): Promise<NpmStart> {
  await ensureBuilt();
  const [wsPort, httpPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), 'aesc-start-'));
  const child = spawn(...untapped('npm', ['start', '--silent']), {
    cwd: PACKAGE_ROOT,
    env: {
      ...process.env, WS_PORT: String(wsPort), HTTP_PORT: String(httpPort), OPS_PORT: '0', DATA_DIR: dataDir, REDIS_URL: '',
      LOG_LEVEL: 'warn', BLOCK_INTERVAL_MS: '100', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  let from = performance.now();
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, afterMs: performance.now() - from }));
  });
  let gone = false;
  void exited.then(() => { gone = true; });
  return {
    pid: child.pid!,
    wsPort,
    httpPort,
    dataDir,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    since() { from = performance.now(); },
    gone: () => gone,
    kill() {
      if (gone) return;
      for (const pid of childrenOf(child.pid!)) process.kill(pid, 'SIGKILL');
      process.kill(child.pid!, 'SIGKILL');
    },
    async answering() {
      for (;;) {
        if (gone) throw new Error(`npm start exited before it answered:\n${stdout}${stderr}`);
        const up = await fetch(`http://127.0.0.1:${httpPort}/v3/status`).then((r) => r.ok, () => false) && await accepts(wsPort);
        if (up) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}
