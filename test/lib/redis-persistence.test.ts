/**
 * A Redis that keeps nothing on disk loses every channel when it restarts: the store says so when it
 * connects. On managed Redis, where CONFIG is not allowed, it says it could not check.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import winston from 'winston';
import { RedisStore } from '../../lib/store/redis-store.js';
import { startRedisServer } from '../helpers/redis-server.js';
/** the shared test Redis */
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** A real winston logger whose lines land in `lines` instead of stdout. */
function capturingLogger(): { log: winston.Logger; lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: string; message: string });
      done();
    },
  });
  const log = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  return { log, lines };
}

async function warningsOn(url: string): Promise<string[]> {
  const { log, lines } = capturingLogger();
  const store = await RedisStore.connect({ url, keyPrefix: 'aesc-test:persistence:', log });
  await store.close();
  return lines.filter((l) => l.level === 'warn').map((l) => l.message);
}

t.test('the test Redis (save "" and appendonly no) gets the warning', async (t) => {
  const warnings = await warningsOn(REDIS_URL);
  t.equal(warnings.length, 1, warnings.join('\n'));
  t.match(warnings[0], /keeps nothing on disk .*a restart of it loses every channel/);
});

t.test('a Redis with an append-only file gets none', async (t) => {
  const redis = await startRedisServer(['--appendonly', 'yes']);
  t.teardown(() => redis.stop());
  t.same(await warningsOn(redis.url), []);
});

t.test('a Redis with RDB snapshots gets none', async (t) => {
  const redis = await startRedisServer(['--save', '3600 1']);
  t.teardown(() => redis.stop());
  t.same(await warningsOn(redis.url), []);
});

t.test('a Redis that does not allow CONFIG (managed Redis) gets "could not be checked"', async (t) => {
  const redis = await startRedisServer(['--rename-command', 'CONFIG', '']);
  t.teardown(() => redis.stop());
  const warnings = await warningsOn(redis.url);
  t.equal(warnings.length, 1, warnings.join('\n'));
  t.match(warnings[0], /persistence could not be checked/);
});
