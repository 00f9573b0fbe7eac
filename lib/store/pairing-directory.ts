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

export class RedisPairingDirectory implements PairingDirectory {
  private constructor(private readonly redis: Redis | Cluster, private readonly prefix: string) {}

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
    const k = this.key(key);
    // the expired members go with each write, and the set itself once its last member would have
    await this.redis.multi().zremrangebyscore(k, '-inf', now).zadd(k, now + ttlMs, address).pexpire(k, ttlMs).exec();
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
