/**
 * Start-up checks, through the front door (`npm start`): a setting that cannot work stops the service
 * before it serves anything, with exit code 1 and exactly one line on stderr that names the setting,
 * the bad value (never a secret) and what is allowed; never a stack trace. Each store and chain
 * failure is named for what it is: wrong password, no password, unknown host, nothing listening, no
 * such database, a node that does not answer or is on another network.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { npmStart } from './helpers/npm-start.js';
import { freePort } from './helpers/free-port.js';
import { startRedisServer } from './helpers/redis-server.js';
import { REDIS_URL } from './helpers/storage.js';

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

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

t.test('every config value is checked, and named by its environment variable', async (t) => {
  await refused(t, { WS_PORT: '-1' }, /^aesc-service: WS_PORT=-1: must be an integer >= 0 and <= 65535$/);
  await refused(t, { LOG_LEVEL: 'loud' }, /^aesc-service: LOG_LEVEL=loud: must be one of error, warn, info, http, verbose, debug, silly$/);
  await refused(t, { REDIS_URL, REDIS_KEY_PREFIX: '' }, /^aesc-service: REDIS_KEY_PREFIX="": must be 1 to 64 characters$/);
  // a directory inside a plain file cannot exist (not /proc: node's recursive mkdir spins forever there)
  const file = join(mkdtempSync(join(tmpdir(), 'aesc-file-')), 'plain-file');
  writeFileSync(file, '');
  t.teardown(() => rmSync(join(file, '..'), { recursive: true, force: true }));
  await refused(t, { DATA_DIR: join(file, 'data') }, /^aesc-service: DATA_DIR=\/.+\/plain-file\/data: cannot be used \(ENOTDIR.+\); must be a directory/);
});

t.test('a watchtower key must decode, and is never printed', async (t) => {
  // the genesis key with its last character changed: the right shape, a wrong checksum
  const key = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmg';
  const line = await refused(t, { WATCHTOWER_SECRET_KEY: key }, /^aesc-service: WATCHTOWER_SECRET_KEY=<hidden>: does not decode \(.+\); must be .*sk_/);
  t.notMatch(line, key.slice(3, 20), 'the key itself stays secret');
  await refused(t, { WATCHTOWER_SECRET_KEY: 'ak_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf' }, /^aesc-service: WATCHTOWER_SECRET_KEY=<hidden>: must be /);
});

t.test('a port already in use is named, WS_PORT or HTTP_PORT', async (t) => {
  for (const name of ['WS_PORT', 'HTTP_PORT']) {
    const port = await freePort();
    const server = await occupy(port);
    try {
      await refused(t, { [name]: String(port) }, new RegExp(`^aesc-service: ${name}=${port}: 127\\.0\\.0\\.1:${port} is already in use; must be a free port`));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }
});

t.test('Redis: a database the server does not have is refused, not silently database 0', async (t) => {
  await refused(t, { REDIS_URL: 'redis://127.0.0.1:6379/99', REDIS_KEY_PREFIX: 'aesc-test:db99:' },
    /^aesc-service: REDIS_URL=redis:\/\/127\.0\.0\.1:6379\/99: this Redis has no database 99; must name one of its databases 0 to \d+$/);
});

t.test('Redis: wrong password, no password, unknown host and nothing listening are told apart', async (t) => {
  const password = 'right-horse-battery';
  const redis = await startRedisServer(['--requirepass', password], { password });
  t.teardown(() => redis.stop());
  const wrong = await refused(t, { REDIS_URL: `redis://:wrong-password@127.0.0.1:${redis.port}` },
    /^aesc-service: REDIS_URL=redis:\/\/\*\*\*@127\.0\.0\.1:\d+: Redis refused the user name or password \(WRONGPASS\); must carry/);
  t.notMatch(wrong, 'wrong-password', 'the password is not printed');
  await refused(t, { REDIS_URL: redis.url }, /^aesc-service: REDIS_URL=redis:\/\/127\.0\.0\.1:\d+: this Redis needs a password and the URL has none/);
  await refused(t, { REDIS_URL: 'redis://no-such-host.invalid:6379' },
    /^aesc-service: REDIS_URL=redis:\/\/no-such-host\.invalid:6379: unknown host no-such-host\.invalid \(.+\); must name a host that resolves$/);
  const nothing = await freePort();
  await refused(t, { REDIS_URL: `redis://127.0.0.1:${nothing}` },
    new RegExp(`^aesc-service: REDIS_URL=redis://127\\.0\\.0\\.1:${nothing}: cannot reach Redis at 127\\.0\\.0\\.1:${nothing} \\(ECONNREFUSED\\); must be`));
});

t.test('an external node that does not answer, or is on another network, is refused', async (t) => {
  const nothing = await freePort();
  await refused(t, { CHAIN_NODE_URL: `http://127.0.0.1:${nothing}` },
    new RegExp(`^aesc-service: CHAIN_NODE_URL=http://127\\.0\\.0\\.1:${nothing}: no node answers there \\(ECONNREFUSED\\); must be`));

  // a real node API to point at: another service's dev chain, on ae_dev
  const node = await npmStart();
  t.teardown(async () => {
    process.kill(node.pid, 'SIGTERM');
    await node.exited;
    rmSync(node.dataDir, { recursive: true, force: true });
  });
  await node.answering();
  await refused(t, { CHAIN_NODE_URL: `http://127.0.0.1:${node.httpPort}`, NETWORK_ID: 'ae_other' },
    /^aesc-service: NETWORK_ID=ae_other: the node at CHAIN_NODE_URL=http:\/\/127\.0\.0\.1:\d+ is on network ae_dev; must be ae_dev/);
});

t.test('a second service on the same DATA_DIR is refused with one line, and the first goes on', async (t) => {
  const first = await npmStart();
  t.teardown(() => first.kill());
  await first.answering();
  await refused(t, { DATA_DIR: first.dataDir }, /^aesc-service: DATA_DIR .+ is in use by another running service; stop it or choose another DATA_DIR$/);
  const status = await fetch(`http://127.0.0.1:${first.httpPort}/v3/status`);
  t.equal(status.status, 200, 'the first one still serves');
});
