/**
 * A server that starts and stops like one. An orchestrator signals the pid it started, which is npm's:
 * SIGTERM (or a terminal's SIGINT) sent there must reach the service, which finishes its writes, closes
 * its sockets and exits 0 within the 10 s an orchestrator grants before SIGKILL. A backend that embeds
 * the service and stops it must see its own process end by itself: nothing of the service may keep
 * the event loop alive.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { npmStart } from './helpers/npm-start.js';
import { REDIS_URL } from './helpers/storage.js';
import { untapped } from './helpers/untapped.js';

/** what the issue (and an orchestrator's SIGKILL) allows from the signal to the exit */
const STOP_BOUND_MS = 10_000;

/** A connection that sends nothing: the service must close it itself, not wait for it. */
function idleSocket(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, closed: new Promise((ok) => socket.once('close', () => ok())) }));
    socket.once('error', reject);
  });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} to the pid npm start has stops the service, which exits 0`, async (t) => {
    const service = await npmStart();
    t.teardown(() => {
      service.kill();
      rmSync(service.dataDir, { recursive: true, force: true });
    });
    await service.answering();
    const idle = await Promise.all([idleSocket(service.wsPort), idleSocket(service.httpPort)]);
    for (const { socket } of idle) socket.on('error', () => undefined);

    service.since();
    process.kill(service.pid, signal);
    const exit = await service.exited;
    t.equal(exit.code, 0, `npm start exits 0:\n${service.stderr()}`);
    t.ok(exit.afterMs < STOP_BOUND_MS, `within ${STOP_BOUND_MS / 1000} s (took ${Math.round(exit.afterMs)} ms)`);
    await Promise.all(idle.map(({ closed }) => closed));
    t.pass('the sockets clients held were closed by the service');
    t.match(service.stdout(), `"message":"${signal}: stopping"`, 'the signal reached the service itself (npm forwarded it to node), said as a JSON log line');
    t.notOk(await new Promise((resolve) => {
      const probe = connect(service.wsPort, '127.0.0.1', () => { probe.destroy(); resolve(true); });
      probe.once('error', () => resolve(false));
    }), 'nothing listens on the channel port any more: node is gone, not just npm');
  });
}

t.test('a second signal while stopping does not cut the stop short', async (t) => {
  // what a terminal's Ctrl-C does: npm and node both get SIGINT, and npm forwards its own too
  const service = await npmStart();
  t.teardown(() => {
    service.kill();
    rmSync(service.dataDir, { recursive: true, force: true });
  });
  await service.answering();
  service.since();
  process.kill(service.pid, 'SIGINT');
  process.kill(service.pid, 'SIGINT');
  const exit = await service.exited;
  t.equal(exit.code, 0, service.stderr());
  t.ok(exit.afterMs < STOP_BOUND_MS, `within ${STOP_BOUND_MS / 1000} s`);
});

for (const store of ['embedded', 'redis'] as const) {
  t.test(`embedded use (${store} store): after stop() the embedder's process ends by itself`, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aesc-embed-'));
    const keyPrefix = `aesc-test:embed-${process.pid}-${Date.now()}:`;
    t.teardown(async () => {
      rmSync(dataDir, { recursive: true, force: true });
      if (store !== 'redis') return;
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    });
    const child = spawn(...untapped(process.execPath, ['--import', 'tsx', 'test/helpers/embedder.ts']), {
      cwd: PACKAGE_ROOT,
      env: {
        ...process.env, DATA_DIR: dataDir, REDIS_URL: store === 'redis' ? REDIS_URL : '', REDIS_KEY_PREFIX: keyPrefix,
        BLOCK_INTERVAL_MS: '100', LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    let stoppedAt = 0;
    child.stdout.on('data', () => { if (!stoppedAt && stdout.includes('"stopped"')) stoppedAt = performance.now(); });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    t.equal(code, 0, stderr);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { left: string[] };
    t.same(report.left, [], 'nothing of the service keeps the event loop alive after stop()');
    t.ok(performance.now() - stoppedAt < STOP_BOUND_MS, 'the process ended by itself after stop()');
  });
}
