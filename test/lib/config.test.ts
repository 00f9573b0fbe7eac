/**
 * Configuration and the front door: defaults, environment overrides, validation that names the
 * environment variable, the value and what is allowed, and the one-line exit when Redis cannot be
 * reached. (test/startup-checks.test.ts checks every refusal through `npm start`.)
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { ensureBuilt } from '../helpers/build.js';
import { untapped } from '../helpers/untapped.js';

t.test('defaults, overridden by the environment', async (t) => {
  const defaults = loadConfig({});
  t.equal(defaults.ws.port, 3014);
  t.equal(defaults.http.port, 3013);
  t.equal(defaults.networkId, 'ae_dev');
  t.equal(defaults.redis.url, '', 'no Redis: the embedded store');
  t.equal(defaults.dataDir, './data');
  const custom = loadConfig({ WS_PORT: '4014', REDIS_URL: 'redis://127.0.0.1:6379/3', NETWORK_ID: 'my_net', LOG_LEVEL: 'debug' });
  t.equal(custom.ws.port, 4014);
  t.equal(custom.redis.url, 'redis://127.0.0.1:6379/3');
  t.equal(custom.networkId, 'my_net');
  t.equal(custom.logLevel, 'debug');
});

t.test('bad values stop the service with a reason naming the variable, the value and what is allowed', async (t) => {
  t.throws(() => loadConfig({ WS_PORT: 'many' }), ConfigError);
  t.throws(() => loadConfig({ WS_PORT: '-1' }), { message: 'WS_PORT=-1: must be an integer >= 0 and <= 65535' });
  t.throws(() => loadConfig({ WS_PORT: '70000' }), { message: 'WS_PORT=70000: must be an integer >= 0 and <= 65535' });
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), { message: 'LOG_LEVEL=loud: must be one of error, warn, info, http, verbose, debug, silly' });
  t.throws(() => loadConfig({ REDIS_URL: 'http://x' }), /^REDIS_URL=http:\/\/x: must be empty \(the embedded store in DATA_DIR\) or a redis:\/\/ or rediss:\/\/ URL$/);
  t.throws(() => loadConfig({ WATCHTOWER: 'yes' }), { message: 'WATCHTOWER=yes: must be true or false' });
  t.throws(() => loadConfig({}, { ws: { port: -5 } }), { message: 'WS_PORT=-5: must be an integer >= 0 and <= 65535' }, 'embedders\' overrides too');
});

t.test('an empty variable is a value: an empty REDIS_URL is the embedded store, an empty prefix is refused', async (t) => {
  t.equal(loadConfig({ REDIS_URL: '' }).redis.url, '');
  t.throws(() => loadConfig({ REDIS_KEY_PREFIX: '' }), { message: 'REDIS_KEY_PREFIX="": must be 1 to 64 characters' });
  t.throws(() => loadConfig({ DATA_DIR: '' }), { message: 'DATA_DIR="": must not be empty' });
  t.throws(() => loadConfig({ WS_PORT: '' }), /^WS_PORT="": must be an integer/);
});

t.test('secrets stay out of the message', async (t) => {
  t.throws(() => loadConfig({ REDIS_URL: 'http://user:hunter2@x' }), /^REDIS_URL=http:\/\/\*\*\*@x: /);
  const key = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmg'; // the genesis key, one character off
  t.throws(() => loadConfig({ WATCHTOWER_SECRET_KEY: key }), /^WATCHTOWER_SECRET_KEY=<hidden>: does not decode \(Invalid checksum\); must be /);
  const good = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';
  t.equal(loadConfig({ WATCHTOWER_SECRET_KEY: good }).watchtower.secretKey, good, 'a good key passes');
});

t.test('npm start without a reachable Redis exits with one clear line', async (t) => {
  // the build, as npm start runs it (built here if a source is newer): tsx would cost the start ~1.5 s more CPU
  await ensureBuilt();
  const child = spawn(...untapped(process.execPath, ['dist/lib/main.js']), {
    env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', WS_PORT: '0', HTTP_PORT: '0', OPS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.equal(code, 1);
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, stderr);
  t.match(lines[0], /^aesc-service: REDIS_URL=redis:\/\/127\.0\.0\.1:1: cannot reach Redis at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});

t.test('lease settings: the times in range, renewals at least twice per lease time, an instance id of plain characters', async (t) => {
  t.same(loadConfig({ LEASE_TTL_MS: '4000', LEASE_RENEW_MS: '2000', INSTANCE_ID: 'host-a:3014' }).lease, { ttlMs: 4000, renewMs: 2000, instanceId: 'host-a:3014' });
  t.throws(() => loadConfig({ LEASE_TTL_MS: '500' }), { message: 'LEASE_TTL_MS=500: must be an integer >= 1000 and <= 3600000' });
  t.throws(() => loadConfig({ LEASE_RENEW_MS: '50' }), { message: 'LEASE_RENEW_MS=50: must be an integer >= 100 and <= 1800000' });
  t.throws(() => loadConfig({ LEASE_TTL_MS: '4000', LEASE_RENEW_MS: '2001' }), {
    message: 'LEASE_RENEW_MS=2001: must be at most half of LEASE_TTL_MS=4000 (a lease renewed less often runs out between renewals)',
  });
  t.throws(() => loadConfig({ INSTANCE_ID: 'a|b' }), { message: 'INSTANCE_ID=a|b: must be empty (the host name and WS_PORT) or up to 200 of A-Z a-z 0-9 . _ : @ -' });
});
