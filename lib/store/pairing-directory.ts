/**
 * Where waiting responders can be found by instances other than their own: several service processes
 * (WORKERS, or machines) on one Redis each hold the responders whose sockets they accepted, and an
 * initiator that lands elsewhere looks its responder up here and dials the peer address found
 * (lib/channel/instance-pairing.ts).
 *
 * One sorted set per pairing key (`<prefix>{pairing:<key>}`, its own hash tag: every command here
 * touches one key, so any slot of a cluster will do). Members are peer addresses (`host:port`), scored
 * by the time they expire: an instance renews its entries while its responders wait, and the entries of
 * one that died stop being found after the time-to-live, with nothing to clean up.
 */
import { Redis, type Cluster } from 'ioredis';
import { connectCluster } from './redis-cluster.js';

export interface PairingDirectory {
  /** `address` holds a responder waiting under `key` for the next `ttlMs` (renewed by calling again) */
  register(key: string, address: string, ttlMs: number): Promise<void>;
  /** it no longer does */
  unregister(key: string, address: string): Promise<void>;
  /** the addresses holding a responder under `key` now, freshest first */
  lookup(key: string): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Drops the expired members, adds or renews one, and makes the set itself expire with its last
 * member: a short-lived entry must not cut a longer one's life short.
 */
const REGISTER = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`;

type WithRegister = (Redis | Cluster) & { registerPairing(key: string, now: number, expires: number, address: string): Promise<number> };

export class RedisPairingDirectory implements PairingDirectory {
  private readonly redis: WithRegister;

  private constructor(redis: Redis | Cluster, private readonly prefix: string) {
    redis.defineCommand('registerPairing', { numberOfKeys: 1, lua: REGISTER });
    this.redis = redis as WithRegister;
  }

  /** Its connection, for the instance directory to share (closed with this one). */
  get connection(): Redis | Cluster {
    return this.redis;
  }

  /** On a connection of its own, so its polls never queue behind a burst of round writes. */
  static async connect(options: { url: string; clusterNodes?: string; keyPrefix: string }): Promise<RedisPairingDirectory> {
    if (options.clusterNodes) return new RedisPairingDirectory(await connectCluster(options.clusterNodes), options.keyPrefix);
    const redis = new Redis(options.url, {
      lazyConnect: true, enableAutoPipelining: true, maxRetriesPerRequest: 1, commandTimeout: 5000,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    redis.on('error', () => { /* reported through failed commands; keeps ioredis from printing */ });
    await redis.connect();
    return new RedisPairingDirectory(redis, options.keyPrefix);
  }

  private key(key: string): string {
    return `${this.prefix}{pairing:${key}}`;
  }

  async register(key: string, address: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    await this.redis.registerPairing(this.key(key), now, now + ttlMs, address);
  }

  async unregister(key: string, address: string): Promise<void> {
    await this.redis.zrem(this.key(key), address);
  }

  async lookup(key: string): Promise<string[]> {
    return this.redis.zrevrangebyscore(this.key(key), '+inf', Date.now());
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
