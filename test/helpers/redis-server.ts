/**
 * A private redis-server for one test (a password, CONFIG renamed away as on managed Redis, disk
 * persistence on): its own free port and directory, stopped and removed by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface PrivateRedis {
  port: number;
  /** redis://127.0.0.1:port (add the password yourself) */
  url: string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no shutdown, nothing flushed (stop() still removes its directory) */
  kill(): Promise<void>;
  /** after kill(): the same server again, on its port and directory (a cluster node finds its nodes.conf there) */
  restart(): Promise<void>;
  /** SIGSTOP: alive but silent, as a hung or cut-off node; resume() sends SIGCONT */
  pause(): void;
  resume(): void;
}

/**
 * Starts one with `args` added to its command line (`--requirepass`, `--rename-command`, …); by
 * default it keeps nothing on disk, as the shared test Redis.
 */
export async function startRedisServer(args: string[] = [], options: { password?: string; port?: number } = {}): Promise<PrivateRedis> {
  const port = options.port ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aesc-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let output = '';
  let child: ChildProcess;
  let exited: Promise<void>;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGCONT');
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const started = child;
    exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
    // up when it answers a PING (NOAUTH counts: it answered)
    for (let tries = 0; ; tries++) {
      const client = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, password: options.password });
      client.on('error', () => undefined);
      const answered = await client.connect().then(() => client.ping()).then(() => true, (err: Error) => /NOAUTH|WRONGPASS/.test(err.message));
      client.disconnect();
      if (answered) break;
      if (child.exitCode !== null || tries > 250) {
        await stop();
        throw new Error(`redis-server did not start:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await start();
  const kill = async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  };
  return {
    port, url, stop, kill,
    restart: start,
    pause: () => { child.kill('SIGSTOP'); },
    resume: () => { child.kill('SIGCONT'); },
  };
}
