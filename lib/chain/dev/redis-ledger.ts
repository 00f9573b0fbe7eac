/**
 * The dev chain's ledger in Redis, on a connection of its own: a string for the height and one hash
 * per kind of record, all under `<keyPrefix>{devchain}:` so a Redis Cluster keeps them in one slot
 * (a block is one MULTI, which a cluster allows only within a slot).
 *
 * Durable against a crash of this process; against a crash of Redis itself only as far as Redis's
 * own persistence (appendonly, fsync policy) is configured.
 */
import { Redis, type Cluster } from 'ioredis';
import { connectCluster } from '../../store/redis-cluster.js';
import type { AccountId, ChannelId, EncodedTx } from '../../../fsm/types.js';
import type { ChainAccount, ChannelObject } from '../types.js';
import {
  decodeAccount, decodeChannel, decodeHeight, decodeMined, decodeSignedTx,
  encodeAccount, encodeChannel, encodeHeight, encodeMined,
} from './ledger-codec.js';
import {
  conflictMessage, LedgerConflictError, type BlockDelta, type DevChainLedger, type DevChainSnapshot, type MinedRecord,
} from './ledger.js';

export interface RedisLedgerOptions {
  url: string;
  /** host:port,…: on Redis Cluster instead of the Redis at url */
  clusterNodes?: string;
  keyPrefix: string;
  commandTimeoutMs?: number;
}

export class RedisLedger implements DevChainLedger {
  private readonly keys: Record<'height' | 'accounts' | 'channels' | 'lastTx' | 'mined' | 'failed' | 'pool', string>;

  private constructor(private readonly redis: Redis | Cluster, prefix: string) {
    const base = `${prefix}{devchain}:`;
    this.keys = {
      height: `${base}height`, accounts: `${base}accounts`, channels: `${base}channels`, lastTx: `${base}last-tx`,
      mined: `${base}mined`, failed: `${base}failed`, pool: `${base}pool`,
    };
  }

  /** Connects, or fails with one clear error when Redis does not answer. */
  static async connect(options: RedisLedgerOptions): Promise<RedisLedger> {
    if (options.clusterNodes) {
      const cluster = await connectCluster(options.clusterNodes, options).catch((err: Error) => {
        throw new Error(`dev chain ledger cannot reach Redis Cluster: ${err.message}`);
      });
      return new RedisLedger(cluster, options.keyPrefix);
    }
    const redis = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    redis.on('error', () => { /* reported through failed commands; keeps ioredis from printing */ });
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw new Error(`dev chain ledger cannot reach Redis: ${(err as Error).message}`);
    }
    return new RedisLedger(redis, options.keyPrefix);
  }

  async load(): Promise<DevChainSnapshot | null> {
    const k = this.keys;
    // one MULTI: a consistent view even if something were writing
    const replies = await this.redis.multi()
      .get(k.height).hgetall(k.accounts).hgetall(k.channels).hgetall(k.lastTx)
      .hgetall(k.mined).hgetall(k.failed).hgetall(k.pool)
      .exec();
    if (!replies) throw new Error('dev chain ledger: load was aborted');
    const [height, accounts, channels, lastTx, mined, failed, pool] = replies.map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [string | null, ...Array<Record<string, string>>];
    if (height === null) return null;
    return {
      height: decodeHeight(height),
      accounts: decoded<AccountId, ChainAccount>(accounts!, decodeAccount),
      channels: decoded<ChannelId, ChannelObject>(channels!, decodeChannel),
      lastChannelTx: decoded<ChannelId, EncodedTx>(lastTx!, (v) => decodeSignedTx(v, 'last channel tx')),
      mined: decoded<string, MinedRecord>(mined!, decodeMined),
      failed: decoded<string, string>(failed!, (v) => v),
      pool: decoded<string, EncodedTx>(pool!, (v) => decodeSignedTx(v, 'pending tx')),
    };
  }

  async addPending(hash: string, signedTx: EncodedTx): Promise<void> {
    await this.redis.hset(this.keys.pool, hash, signedTx);
  }

  async commitBlock(delta: BlockDelta): Promise<void> {
    const k = this.keys;
    // WATCH the height: if anyone else moves it between the check and EXEC, the block is not written
    await this.redis.watch(k.height);
    const current = await this.redis.get(k.height);
    const stored = current === null ? null : decodeHeight(current);
    if (stored !== (delta.height === 0 ? null : delta.height - 1)) {
      await this.redis.unwatch();
      throw new LedgerConflictError(conflictMessage(stored, delta));
    }
    const multi = this.redis.multi().set(k.height, encodeHeight(delta.height));
    const hset = (key: string, entries: Iterable<[string, string]>) => {
      const flat = [...entries].flat();
      if (flat.length) multi.hset(key, ...flat);
    };
    hset(k.accounts, [...delta.accounts].map(([id, a]) => [id, encodeAccount(a)]));
    hset(k.channels, [...delta.channels].filter(([, c]) => c).map(([id, c]) => [id, encodeChannel(c!)]));
    const closed = [...delta.channels].filter(([, c]) => !c).map(([id]) => id);
    if (closed.length) multi.hdel(k.channels, ...closed);
    hset(k.lastTx, delta.lastChannelTx);
    hset(k.mined, [...delta.mined].map(([hash, m]) => [hash, encodeMined(m)]));
    hset(k.failed, delta.failed);
    if (delta.poolRemoved.length) multi.hdel(k.pool, ...delta.poolRemoved);
    const replies = await multi.exec();
    if (!replies) {
      const now = await this.redis.get(k.height);
      throw new LedgerConflictError(conflictMessage(now === null ? null : decodeHeight(now), delta));
    }
    for (const [err] of replies) if (err) throw err;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function decoded<K extends string, V>(hash: Record<string, string>, decode: (value: string) => V): Map<K, V> {
  const out = new Map<K, V>();
  for (const [key, value] of Object.entries(hash)) out.set(key as K, decode(value));
  return out;
}
