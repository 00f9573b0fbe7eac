/**
 * The Redis store. Keys are hash-tagged by channel id (`{ch_…}`) so a Redis Cluster keeps a channel's
 * keys in one slot: `<prefix>{ch}:<role>` is a hash (round, state, params, fsm) and
 * `<prefix>{ch}:<role>:rounds` a stream of every co-signed round, with the round as the entry id.
 */
import { Redis } from 'ioredis';
import type { ChannelId, ChannelParams, CoSignedState, OperationKind, Role } from '../../fsm/types.js';
import { decodeOnchain, decodeParams, decodeState, encodeParams, encodeState } from './records.js';
import { StoreUnavailableError, type ChannelStore, type SaveResult, type StoredChannel, type WatchtowerAction } from './store.js';

/**
 * Rounds only go up: the write happens only if the new round is above the stored one, in one atomic
 * step with the history entry. Returns 1 when written, 0 when stale.
 */
const SAVE_ROUND = `
local current = tonumber(redis.call('HGET', KEYS[1], 'round') or '0')
local round = tonumber(ARGV[1])
if round <= current then return 0 end
redis.call('HSET', KEYS[1], 'round', ARGV[1], 'state', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'params', ARGV[3], 'fsm', ARGV[4]) end
redis.call('XADD', KEYS[2], ARGV[1] .. '-1', 'state', ARGV[2])
return 1
`;

type RedisWithScript = Redis & {
  saveRound(key: string, rounds: string, round: number, state: string, params: string, fsm: string): Promise<number>;
};

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** how long one command may take before it counts as a failure */
  commandTimeoutMs?: number;
}

export class RedisStore implements ChannelStore {
  private readonly redis: RedisWithScript;

  private constructor(redis: Redis, private readonly prefix: string) {
    redis.defineCommand('saveRound', { numberOfKeys: 2, lua: SAVE_ROUND });
    this.redis = redis as RedisWithScript;
  }

  /** Connects, or fails with one clear error when Redis does not answer. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const redis = new Redis(options.url, {
      lazyConnect: true,
      // the writes of many channels in one tick go out in one write (and are read by Redis in one go)
      enableAutoPipelining: true,
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
      throw new StoreUnavailableError(`cannot reach Redis at ${redactUrl(options.url)}: ${(err as Error).message}`);
    }
    return new RedisStore(redis, options.keyPrefix);
  }

  private key(channelId: ChannelId, role: Role): string {
    return `${this.prefix}{${channelId}}:${role}`;
  }

  async saveRound(channelId: ChannelId, role: Role, state: CoSignedState, first?: { params: ChannelParams; fsmIdHash: string }): Promise<SaveResult> {
    const key = this.key(channelId, role);
    const written = await this.redis.saveRound(
      key, `${key}:rounds`, state.round, encodeState(state), first ? encodeParams(first.params) : '', first?.fsmIdHash ?? '',
    );
    // the index is one key for all channels, so it cannot share the script's slot in a cluster
    if (written === 1 && first) await this.redis.sadd(`${this.prefix}channels`, channelId);
    return written === 1 ? 'saved' : 'stale';
  }

  async channelIds(): Promise<ChannelId[]> {
    return (await this.redis.smembers(`${this.prefix}channels`)) as ChannelId[];
  }

  async addWatchtowerAction(channelId: ChannelId, role: Role, action: WatchtowerAction): Promise<void> {
    await this.redis.rpush(`${this.key(channelId, role)}:watchtower`, JSON.stringify(action));
  }

  async takeWatchtowerActions(channelId: ChannelId, role: Role): Promise<WatchtowerAction[]> {
    const key = `${this.key(channelId, role)}:watchtower`;
    const [[, items]] = (await this.redis.multi().lrange(key, 0, -1).del(key).exec()) as [[Error | null, string[]]];
    return items.map((item) => JSON.parse(item) as WatchtowerAction);
  }

  async serviceValue(name: string, create: () => string): Promise<string> {
    const key = `${this.prefix}service:${name}`;
    await this.redis.set(key, create(), 'NX');
    return (await this.redis.get(key))!;
  }

  async load(channelId: ChannelId, role: Role): Promise<StoredChannel | null> {
    const record = await this.redis.hgetall(this.key(channelId, role));
    if (!record.state || !record.params || !record.fsm) return null;
    return {
      channelId, role, params: decodeParams(record.params), state: decodeState(record.state), fsmIdHash: record.fsm,
      onchain: record.onchain ? decodeOnchain(record.onchain) : null,
      closed: record.closed === '1',
    };
  }

  async saveOnchain(channelId: ChannelId, role: Role, kind: OperationKind, state: CoSignedState): Promise<void> {
    await this.redis.hset(this.key(channelId, role), 'onchain', JSON.stringify({ kind, state: JSON.parse(encodeState(state)) }));
  }

  async forgetOnchain(channelId: ChannelId, role: Role): Promise<void> {
    await this.redis.hdel(this.key(channelId, role), 'onchain');
  }

  async markClosed(channelId: ChannelId, role: Role): Promise<void> {
    await this.redis.hset(this.key(channelId, role), 'closed', '1');
  }

  async setFsmIdHash(channelId: ChannelId, role: Role, fsmIdHash: string): Promise<void> {
    await this.redis.hset(this.key(channelId, role), 'fsm', fsmIdHash);
  }

  async history(channelId: ChannelId, role: Role): Promise<CoSignedState[]> {
    const entries = await this.redis.xrange(`${this.key(channelId, role)}:rounds`, '-', '+');
    return entries.map(([, fields]) => decodeState(fields[1]!));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
