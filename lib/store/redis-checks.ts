/**
 * What RedisStore.connect makes sure of before the service relies on a Redis, each refusal one line
 * that names the setting, its value (without the password) and what would work: the database number in
 * the URL exists (ioredis otherwise stays on database 0 without a word), the password is right, the host
 * is known and answers. And a warning when that Redis keeps nothing on disk.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact.js';
import { StoreUnavailableError } from './store.js';

/** The database number a Redis URL names (`redis://host:6379/2` → 2; none → 0), or null if it is not one. */
export function databaseOf(url: string): number | null {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return null;
  }
  if (path === '' || path === '/') return 0;
  return /^\/\d{1,9}$/.test(path) ? Number(path.slice(1)) : null;
}

/** `REDIS_URL=redis://***@host:6379/2: <why>; <what would work>`, as one refusal. */
export function refusal(setting: string, url: string, why: string): StoreUnavailableError {
  return new StoreUnavailableError(`${setting}=${redactUrl(url)}: ${why}`);
}

/**
 * Why connecting failed, from the errors ioredis emitted on the way (its connect() itself only says
 * "Connection is closed"): wrong password, no password, unknown host, nothing listening, not a Redis.
 */
export function connectFailure(setting: string, url: string, errors: Error[], failure: Error): StoreUnavailableError {
  const host = hostOf(url);
  for (const err of [...errors, failure]) {
    const { code } = err as NodeJS.ErrnoException;
    const message = err.message ?? '';
    if (/^WRONGPASS|invalid password/i.test(message)) {
      return refusal(setting, url, 'Redis refused the user name or password (WRONGPASS); must carry this Redis\'s password (redis://:password@host:port)');
    }
    if (/^NOAUTH/.test(message)) {
      return refusal(setting, url, 'this Redis needs a password and the URL has none; must carry it (redis://:password@host:port)');
    }
    if (code === 'ENOTFOUND') return refusal(setting, url, `unknown host ${host.name} (no such DNS name); must name a host that resolves`);
    if (code === 'EAI_AGAIN') return refusal(setting, url, `unknown host ${host.name} (its DNS lookup failed); must name a host that resolves`);
    if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /connect ETIMEDOUT/.test(message)) {
      return refusal(setting, url, `cannot reach Redis at ${host.address} (${code ?? 'timed out'}); must be the URL of a running Redis`);
    }
    if (/Unknown RESP type|Protocol error/i.test(message)) {
      return refusal(setting, url, `what answers at ${host.address} is not Redis; must be the URL of a running Redis`);
    }
  }
  return refusal(setting, url, `cannot reach Redis at ${host.address} (${(errors.at(-1) ?? failure).message}); must be the URL of a running Redis`);
}

/**
 * SELECT the URL's database ourselves: when the database does not exist, ioredis's own SELECT fails
 * silently and every key would land in database 0, next to whatever else lives there.
 */
export async function checkDatabase(redis: Redis, setting: string, url: string, db: number): Promise<void> {
  if (db === 0) return;
  try {
    await redis.select(db);
  } catch (err) {
    const message = (err as Error).message;
    if (!/out of range|invalid DB index/i.test(message)) throw refusal(setting, url, `SELECT ${db} failed (${message}); must name a database this Redis has`);
    const count = await databaseCount(redis);
    const allowed = count === null ? 'a database this Redis has' : `one of its databases 0 to ${count - 1}`;
    throw refusal(setting, url, `this Redis has no database ${db}; must name ${allowed}`);
  }
}

async function databaseCount(redis: Redis): Promise<number | null> {
  try {
    const [, count] = (await redis.config('GET', 'databases')) as [string, string];
    return Number(count) || null;
  } catch {
    return null; // CONFIG is not allowed on managed Redis
  }
}

/**
 * Every co-signed round the service acknowledges must survive a restart of the store. A Redis with
 * neither RDB snapshots nor an append-only file forgets them all when it restarts: say so loudly.
 */
export async function checkPersistence(redis: Redis | Cluster, log: Logger | undefined, url: string): Promise<void> {
  if (!log) return;
  let save: string | undefined;
  let appendonly: string | undefined;
  try {
    [, save] = (await redis.config('GET', 'save')) as [string, string];
    [, appendonly] = (await redis.config('GET', 'appendonly')) as [string, string];
  } catch (err) {
    log.warn('Redis persistence could not be checked (CONFIG GET is not allowed here): make sure it keeps RDB snapshots or an '
      + 'append-only file, or a restart of it loses every channel', { redis_url: redactUrl(url), reason: (err as Error).message });
    return;
  }
  if (save === '' && appendonly === 'no') {
    log.warn('this Redis keeps nothing on disk (save "" and appendonly no): a restart of it loses every channel; '
      + 'turn on appendonly (or RDB snapshots)', { redis_url: redactUrl(url) });
  }
}

function hostOf(url: string): { name: string; address: string } {
  try {
    const { hostname, port } = new URL(url);
    return { name: hostname, address: `${hostname}:${port || '6379'}` };
  } catch {
    return { name: url, address: url };
  }
}
