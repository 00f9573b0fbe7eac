/**
 * Start-up checks: a setting that cannot work stops the service before it serves anything, with exit
 * code 1 and exactly one line on stderr that names the setting, the bad value (never a secret) and what
 * is allowed; never a stack trace. Each store and chain failure is named for what it is: wrong password,
 * no password, unknown host, nothing listening, no such database, a node that does not answer or is on
 * another network.
 *
 * lib/main.ts prints an error of three kinds as that one line (a ConfigError, a StoreUnavailableError, a
 * DataDirLockedError) and anything else with its stack, as the bug it is. So one refusal of each kind
 * goes through the front door (`npm start`, its exit code and its stderr), and every other setting is
 * checked in this process, through the start-up main.ts runs (`startService(loadConfig(env))`): it must
 * fail with one of those three kinds and a one-line message. (A process start costs seconds of CPU.)
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../lib/config.js';
import { silentLogger } from '../lib/log.js';
import { startService } from '../lib/service.js';
import { DataDirLockedError } from '../lib/store/embedded.js';
import { StoreUnavailableError } from '../lib/store/store.js';
import { npmStart } from './helpers/npm-start.js';
import { freePort } from './helpers/free-port.js';
import { startRedisServer } from './helpers/redis-server.js';
import { startTestService, testConfig } from './helpers/service.js';
import { REDIS_URL, testStorage } from './helpers/storage.js';

/** Starts `npm start` with `env`, which must refuse to start with one line matching `line`. */
async function refused(t: Test, env: Record<string, string>, line: RegExp): Promise<string> {
  const service = await npmStart(env);
  // should this one start after all, it must not outlive the test
  t.teardown(() => service.kill());
  const exit = await service.exited;
  rmSync(service.dataDir, { recursive: true, force: true });
  const stderr = service.stderr();
  t.equal(exit.code, 1, 'exit code 1');
  const lines = stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `exactly one line on stderr:\n${stderr}`);
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
  t.match(lines[0] ?? '', line);
  return lines[0] ?? '';
}

/** The errors lib/main.ts prints as one line (anything else is printed with its stack). */
const ONE_LINE = [ConfigError, StoreUnavailableError, DataDirLockedError];

/**
 * Runs the start-up `npm start` runs, in this process, with `env` on top of what npmStart gives
 * (its own DATA_DIR, no Redis, free ports); it must fail as `npm start` refuses: with the line main.ts
 * would print matching `line`.
 */
async function refusedInProcess(t: Test, env: Record<string, string>, line: RegExp): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'aesc-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const settings = { WS_PORT: '0', HTTP_PORT: '0', OPS_PORT: '0', DATA_DIR: dataDir, REDIS_URL: '', LOG_LEVEL: 'warn', BLOCK_INTERVAL_MS: '100', ...env };
  const failure = await Promise.resolve()
    .then(() => startService(loadConfig(settings), { log: silentLogger() }))
    .then(async (service) => { await service.stop(); return new Error('it started'); }, (err: unknown) => err as Error);
  t.ok(ONE_LINE.some((kind) => failure instanceof kind), 'refused as a setting that cannot work, not as a bug', { found: failure.stack });
  const shown = `aesc-service: ${failure.message}`;
  t.notMatch(shown, /\n/, 'one line');
  t.match(shown, line);
  return shown;
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

t.test('through npm start: a bad value is one line on stderr and exit code 1', async (t) => {
  await refused(t, { WS_PORT: '-1' }, /^aesc-service: WS_PORT=-1: must be an integer >= 0 and <= 65535$/);
});

t.test('every config value is checked, and named by its environment variable', async (t) => {
  await refusedInProcess(t, { LOG_LEVEL: 'loud' }, /^aesc-service: LOG_LEVEL=loud: must be one of error, warn, info, http, verbose, debug, silly$/);
  await refusedInProcess(t, { REDIS_URL, REDIS_KEY_PREFIX: '' }, /^aesc-service: REDIS_KEY_PREFIX="": must be 1 to 64 characters$/);
  // a directory inside a plain file cannot exist (not /proc: node's recursive mkdir spins forever there)
  const file = join(mkdtempSync(join(tmpdir(), 'aesc-file-')), 'plain-file');
  writeFileSync(file, '');
  t.teardown(() => rmSync(join(file, '..'), { recursive: true, force: true }));
  await refusedInProcess(t, { DATA_DIR: join(file, 'data') }, /^aesc-service: DATA_DIR=\/.+\/plain-file\/data: cannot be used \(ENOTDIR.+\); must be a directory/);
});

t.test('a watchtower key must decode, and is never printed', async (t) => {
  // the genesis key with its last character changed: the right shape, a wrong checksum
  const key = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmg';
  const line = await refusedInProcess(t, { WATCHTOWER_SECRET_KEY: key }, /^aesc-service: WATCHTOWER_SECRET_KEY=<hidden>: does not decode \(.+\); must be .*sk_/);
  t.notMatch(line, key.slice(3, 20), 'the key itself stays secret');
  await refusedInProcess(t, { WATCHTOWER_SECRET_KEY: 'ak_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf' }, /^aesc-service: WATCHTOWER_SECRET_KEY=<hidden>: must be /);
});

t.test('a port already in use is named, WS_PORT or HTTP_PORT', async (t) => {
  for (const name of ['WS_PORT', 'HTTP_PORT']) {
    const port = await freePort();
    const server = await occupy(port);
    try {
      await refusedInProcess(t, { [name]: String(port) }, new RegExp(`^aesc-service: ${name}=${port}: 127\\.0\\.0\\.1:${port} is already in use; must be a free port`));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }
});

t.test('Redis: a database the server does not have is refused, not silently database 0', async (t) => {
  await refusedInProcess(t, { REDIS_URL: 'redis://127.0.0.1:6379/99', REDIS_KEY_PREFIX: 'aesc-test:db99:' },
    /^aesc-service: REDIS_URL=redis:\/\/127\.0\.0\.1:6379\/99: this Redis has no database 99; must name one of its databases 0 to \d+$/);
});

t.test('Redis: wrong password, no password, unknown host and nothing listening are told apart', async (t) => {
  const password = 'right-horse-battery';
  const redis = await startRedisServer(['--requirepass', password], { password });
  t.teardown(() => redis.stop());
  // through npm start: a store that cannot be used is one line too, and the password is in neither stream
  const service = await npmStart({ REDIS_URL: `redis://:wrong-password@127.0.0.1:${redis.port}` });
  t.teardown(() => service.kill());
  const exit = await service.exited;
  rmSync(service.dataDir, { recursive: true, force: true });
  t.equal(exit.code, 1, 'exit code 1');
  const lines = service.stderr().split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `exactly one line on stderr:\n${service.stderr()}`);
  t.match(lines[0] ?? '', /^aesc-service: REDIS_URL=redis:\/\/\*\*\*@127\.0\.0\.1:\d+: Redis refused the user name or password \(WRONGPASS\); must carry/);
  t.notMatch(service.stderr() + service.stdout(), 'wrong-password', 'the password is not printed');

  await refusedInProcess(t, { REDIS_URL: redis.url }, /^aesc-service: REDIS_URL=redis:\/\/127\.0\.0\.1:\d+: this Redis needs a password and the URL has none/);
  await refusedInProcess(t, { REDIS_URL: 'redis://no-such-host.invalid:6379' },
    /^aesc-service: REDIS_URL=redis:\/\/no-such-host\.invalid:6379: unknown host no-such-host\.invalid \(.+\); must name a host that resolves$/);
  const nothing = await freePort();
  await refusedInProcess(t, { REDIS_URL: `redis://127.0.0.1:${nothing}` },
    new RegExp(`^aesc-service: REDIS_URL=redis://127\\.0\\.0\\.1:${nothing}: cannot reach Redis at 127\\.0\\.0\\.1:${nothing} \\(ECONNREFUSED\\); must be`));
});

t.test('an external node that does not answer, or is on another network, is refused', async (t) => {
  const nothing = await freePort();
  await refusedInProcess(t, { CHAIN_NODE_URL: `http://127.0.0.1:${nothing}` },
    new RegExp(`^aesc-service: CHAIN_NODE_URL=http://127\\.0\\.0\\.1:${nothing}: no node answers there \\(ECONNREFUSED\\); must be`));

  // a real node API to point at: another service's dev chain, on ae_dev
  const node = await startTestService();
  t.teardown(async () => { await node.stop(); await node.cleanup(); });
  await refusedInProcess(t, { CHAIN_NODE_URL: node.nodeUrl, NETWORK_ID: 'ae_other' },
    /^aesc-service: NETWORK_ID=ae_other: the node at CHAIN_NODE_URL=http:\/\/127\.0\.0\.1:\d+ is on network ae_dev; must be ae_dev/);
});

t.test('a second service on the same DATA_DIR is refused with one line, and the first goes on', async (t) => {
  const first = await startTestService({}, testConfig({}, testStorage('embedded')));
  t.teardown(async () => { await first.stop(); await first.cleanup(); });
  // through npm start: the lock is held by another process, as in production
  await refused(t, { DATA_DIR: first.config.dataDir }, /^aesc-service: DATA_DIR .+ is in use by another running service; stop it or choose another DATA_DIR$/);
  const status = await fetch(`${first.nodeUrl}/v3/status`);
  t.equal(status.status, 200, 'the first one still serves');
});
