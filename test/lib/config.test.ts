/**
 * Configuration and the front door: defaults, environment overrides, validation, and the one-line
 * exit when Redis cannot be reached.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { ConfigError, loadConfig } from '../../lib/config.js';

t.test('defaults, overridden by the environment', async (t) => {
  const defaults = loadConfig({});
  t.equal(defaults.ws.port, 3014);
  t.equal(defaults.http.port, 3013);
  t.equal(defaults.networkId, 'ae_dev');
  t.equal(defaults.redis.url, 'redis://127.0.0.1:6379');
  const custom = loadConfig({ WS_PORT: '4014', REDIS_URL: 'redis://127.0.0.1:6379/3', NETWORK_ID: 'my_net', LOG_LEVEL: 'debug' });
  t.equal(custom.ws.port, 4014);
  t.equal(custom.redis.url, 'redis://127.0.0.1:6379/3');
  t.equal(custom.networkId, 'my_net');
  t.equal(custom.logLevel, 'debug');
});

t.test('bad values stop the service with a reason', async (t) => {
  t.throws(() => loadConfig({ WS_PORT: 'many' }), ConfigError);
  t.throws(() => loadConfig({ WS_PORT: '70000' }), /ws\/port/);
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /logLevel/);
  t.throws(() => loadConfig({ REDIS_URL: 'http://x' }), /redis\/url/);
});

t.test('npm start without a reachable Redis exits with one clear line', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'lib/main.ts'], {
    env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', WS_PORT: '0', HTTP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.equal(code, 1);
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, stderr);
  t.match(lines[0], /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
});
