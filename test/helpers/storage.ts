/**
 * Where a test's service keeps its data: the embedded store in a temp directory of its own (the
 * product's default, and the tests' unless TEST_STORE=redis), or the shared test Redis under a key
 * prefix of its own, so runs cannot collide. A test can open the same storage itself to look at what
 * the service wrote (after the service stopped, for the embedded store: it is locked while in use).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/log.js';
import { openStore, type OpenedStore } from '../../lib/store/open-store.js';

export type StoreKind = 'embedded' | 'redis';

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const DEFAULT_STORE: StoreKind = process.env.TEST_STORE === 'redis' ? 'redis' : 'embedded';

export interface TestStorage {
  kind: StoreKind;
  dataDir: string;
  redis: { url: string; keyPrefix: string };
  /** the same as environment variables, for a service started as its own process */
  env: Record<string, string>;
  /** opens the store as the service does (the embedded one only while no service holds it) */
  open(): Promise<OpenedStore>;
  /** deletes everything the test's services wrote */
  cleanup(): Promise<void>;
}

/** New storage of a kind: a fresh temp directory, or a fresh key prefix in the test Redis. */
export function testStorage(kind: StoreKind = DEFAULT_STORE, redisUrl = REDIS_URL): TestStorage {
  const keyPrefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
  if (kind === 'redis') return storageAt(join(tmpdir(), 'aesc-test-unused'), { url: redisUrl, keyPrefix });
  return storageAt(mkdtempSync(join(tmpdir(), 'aesc-test-')), { url: '', keyPrefix });
}

/** The storage a service config names: Redis when it has a URL, else its data directory. */
export function storageAt(dataDir: string, redis: { url: string; keyPrefix: string }): TestStorage {
  const kind: StoreKind = redis.url ? 'redis' : 'embedded';
  return {
    kind,
    dataDir,
    redis,
    env: kind === 'redis' ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: redis.keyPrefix, DATA_DIR: dataDir } : { REDIS_URL: '', DATA_DIR: dataDir },
    open: () => openStore(loadConfig({}, { dataDir, redis }), silentLogger()),
    async cleanup() {
      if (kind === 'embedded') {
        rmSync(dataDir, { recursive: true, force: true });
        return;
      }
      const client = new Redis(redis.url);
      const keys = await client.keys(`${redis.keyPrefix}*`);
      if (keys.length) await client.del(...keys);
      await client.quit();
    },
  };
}
