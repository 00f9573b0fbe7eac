/**
 * What service instances sharing one Redis (or Redis Cluster) need to share out the watchtower
 * (lib/watchtower.ts, lib/watchtower/sharing.ts) between them:
 *
 * * **who is alive**: one sorted set, `<prefix>{instances}`, of instance ids scored by when each one's
 *   heartbeat runs out, in Redis's own clock (`TIME` inside the script), so the machines' clocks do not
 *   matter. An instance renews its entry on a timer; one that dies drops out when its time is up; one
 *   that stops cleanly removes itself at once. The entries that ran out are dropped by the next heartbeat.
 * * **which channels are new**: every channel's first write adds it to `<prefix>{joined}:ids` under the
 *   next number of `<prefix>{joined}:seq` (one script, so numbers follow the order of the writes), so an
 *   instance learns of the channels stored by other instances since its last look without reading the
 *   whole channel index. Only the newest `JOINED_KEPT` are kept; a reader further behind reads the index.
 * * **who answers a solo close**: a claim per channel and on-chain round being answered,
 *   `<prefix>{ch_…}:watchtower:slash:<round>` (the channel's hash tag, so its Cluster slot): `SET NX` with
 *   an expiry, `claimed|<instance>` until the tx is posted, then `posted|<instance>|<tx hash>` for longer.
 *   Only the claimant posts; a claimant that dies before posting blocks nobody past the expiry.
 *
 * Every command touches one key (or keys sharing one hash tag), so any Cluster will do.
 */
import { Cluster, type Redis } from 'ioredis';
import type { ChannelId } from '../../fsm/types.js';
import { ReplicatedWrites } from './replicated-writes.js';
import { DELETE_IF_HOLDS } from './redis-scripts.js';

/** How many of the newest channels the join feed keeps. */
export const JOINED_KEPT = 100_000;
/** How many channel ids one read of the join feed or the index returns at most. */
const PAGE = 1000;

const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
`;

const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`;

const JOIN = `
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return seq
`;

/** The ids after `after` (and the lowest number kept, to tell whether some were dropped before being read). */
const JOINED_SINCE = `
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
return {oldest[2] or false, ids}
`;

const MARK_POSTED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

const TAKE_OVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

type WithScripts = (Redis | Cluster) & {
  heartbeatInstance(key: string, id: string, ttlMs: number): Promise<number>;
  liveInstances(key: string): Promise<string[]>;
  joinedSince(seq: string, ids: string, after: number, limit: number): Promise<[string | null, string[]]>;
  markSlashPosted(key: string, claimed: string, posted: string, ttlMs: number): Promise<number>;
  releaseSlashClaim(key: string, claimed: string): Promise<number>;
  takeOverSlashClaim(key: string, holder: string, claimed: string, ttlMs: number): Promise<number>;
};

export interface JoinedChannels {
  ids: ChannelId[];
  /** the number to read on from next time */
  seq: number;
  /** channels were dropped from the feed before this reader saw them: read the whole index instead */
  missed: boolean;
}

/** Whether this instance won the claim, and who holds it otherwise (`claimed|…` or `posted|…`). */
export type ClaimResult = { won: true } | { won: false; holder: string | null };

export class RedisWatchShare {
  private readonly redis: WithScripts;
  private readonly instancesKey: string;
  private readonly seqKey: string;
  private readonly joinedKey: string;

  /**
   * `kept`: how many of the newest channels the join feed keeps (JOINED_KEPT; smaller in tests);
   * `writes`: the store's replicated writes, which a join goes through (by default they wait for no replica)
   */
  constructor(redis: Redis | Cluster, private readonly prefix: string, private readonly kept = JOINED_KEPT,
    private readonly writes = new ReplicatedWrites(redis, { minReplicas: 0, waitMs: 0, retryMs: 0 }, redis instanceof Cluster)) {
    redis.defineCommand('heartbeatInstance', { numberOfKeys: 1, lua: HEARTBEAT });
    redis.defineCommand('liveInstances', { numberOfKeys: 1, lua: LIVE });
    redis.defineCommand('joinedSince', { numberOfKeys: 2, lua: JOINED_SINCE });
    redis.defineCommand('markSlashPosted', { numberOfKeys: 1, lua: MARK_POSTED });
    redis.defineCommand('releaseSlashClaim', { numberOfKeys: 1, lua: DELETE_IF_HOLDS });
    redis.defineCommand('takeOverSlashClaim', { numberOfKeys: 1, lua: TAKE_OVER });
    this.redis = redis as WithScripts;
    this.instancesKey = `${prefix}{instances}`;
    this.seqKey = `${prefix}{joined}:seq`;
    this.joinedKey = `${prefix}{joined}:ids`;
  }

  /** `id` is alive for the next `ttlMs` (renewed by calling again). */
  async heartbeat(id: string, ttlMs: number): Promise<void> {
    await this.redis.heartbeatInstance(this.instancesKey, id, ttlMs);
  }

  /** The instances whose heartbeat has not run out, sorted. */
  async live(): Promise<string[]> {
    return (await this.redis.liveInstances(this.instancesKey)).sort();
  }

  /** A clean stop: the others take this instance's channels over at their next look, without waiting. */
  async leave(id: string): Promise<void> {
    await this.redis.zrem(this.instancesKey, id);
  }

  /**
   * A channel was stored for the first time (RedisStore.saveRound). On as many replicas as its first
   * round: lost in a failover, its number would go to the next channel, and the channel would be watched
   * by nobody until the live set changes. (Sent once per channel: EVAL, not a script defined on every master.)
   */
  async joined(channelId: ChannelId): Promise<void> {
    await this.writes.run({
      key: this.seqKey, send: (node) => node.eval(JOIN, 2, this.seqKey, this.joinedKey, channelId, this.kept), wrote: () => true,
    });
  }

  /** The feed's newest number now: a reader that reads the whole index next starts following from here. */
  async joinedSeq(): Promise<number> {
    return Number((await this.redis.get(this.seqKey)) ?? 0);
  }

  /** The channels stored since number `after`, all of them (a page at a time). */
  async joinedSince(after: number): Promise<JoinedChannels> {
    const ids: ChannelId[] = [];
    let seq = after;
    let missed = false;
    for (;;) {
      const [oldest, page] = await this.redis.joinedSince(this.seqKey, this.joinedKey, seq, PAGE);
      // numbers are consecutive at the low end: a gap below the oldest kept means some were dropped unread
      if (seq === after && after > 0 && oldest !== null && Number(oldest) > after + 1) missed = true;
      for (let i = 0; i < page.length; i += 2) ids.push(page[i] as ChannelId);
      if (page.length) seq = Number(page[page.length - 1]);
      if (page.length < 2 * PAGE) return { ids, seq, missed };
    }
  }

  /** Every channel id in the store's index, a page at a time (SSCAN: never all of a million in one reply). */
  async *allChannels(): AsyncGenerator<ChannelId[]> {
    let cursor = '0';
    do {
      const [next, ids] = await this.redis.sscan(`${this.prefix}channels`, cursor, 'COUNT', PAGE);
      cursor = next;
      if (ids.length) yield ids as ChannelId[];
    } while (cursor !== '0');
  }

  private claimKey(channelId: ChannelId, onchainRound: number): string {
    return `${this.prefix}{${channelId}}:watchtower:slash:${onchainRound}`;
  }

  /** Claims the answer to the channel's close on `onchainRound` for `owner`, for `ttlMs`, unless someone holds it. */
  async claim(channelId: ChannelId, onchainRound: number, owner: string, ttlMs: number): Promise<ClaimResult> {
    const key = this.claimKey(channelId, onchainRound);
    if ((await this.redis.set(key, `claimed|${owner}`, 'PX', ttlMs, 'NX')) === 'OK') return { won: true };
    return { won: false, holder: await this.redis.get(key) };
  }

  /** The claimant posted `txHash`: the claim now says so, for `ttlMs` (false if the claim was no longer ours). */
  async posted(channelId: ChannelId, onchainRound: number, owner: string, txHash: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.markSlashPosted(this.claimKey(channelId, onchainRound), `claimed|${owner}`, `posted|${owner}|${txHash}`, ttlMs)) === 1;
  }

  /**
   * Claims the answer from `holder` (exactly the value `claim` reported): a posted tx the chain dropped
   * answered nothing. False when the claim changed meanwhile (another took it over first).
   */
  async takeOver(channelId: ChannelId, onchainRound: number, holder: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.takeOverSlashClaim(this.claimKey(channelId, onchainRound), holder, `claimed|${owner}`, ttlMs)) === 1;
  }

  /** The claimant could not post: another (or itself, later) may try at once. */
  async release(channelId: ChannelId, onchainRound: number, owner: string): Promise<void> {
    await this.redis.releaseSlashClaim(this.claimKey(channelId, onchainRound), `claimed|${owner}`);
  }
}
