/**
 * The Redis store. Keys are hash-tagged by channel id (`{ch_…}`) so a Redis Cluster keeps a channel's
 * keys in one slot: `<prefix>{ch}:<role>` is a hash (round, state, params, fsm, onchain, closed, proposal) and
 * `<prefix>{ch}:<role>:rounds` a stream of every co-signed round, with the round as the entry id.
 * The paywall's records are redis-payments.ts's.
 */
import { Redis, type Cluster } from 'ioredis';
import type { ChannelId, ChannelParams, CoSignedState, OperationKind, ProposalRecord, Role } from '../../fsm/types.js';
import type { Logger } from '../log.js';
import { connectCluster } from './redis-cluster.js';
import { checkDatabase, checkPersistence, connectFailure, databaseOf, refusal } from './redis-checks.js';
import { leaseKeys, MAY_WRITE, RedisLeases, type Lease } from './lease.js';
import { RedisPayments } from './redis-payments.js';
import { RedisWatchShare } from './watch-share.js';
import { decodeOnchain, decodeProposal, encodeOnchain, encodeProposal, decodeParams, decodeState, encodeParams, encodeState } from './records.js';
import { LeaseLostError, StoreUnavailableError, type ChannelStore, type SaveResult, type StoredChannel, type WatchtowerAction } from './store.js';

/**
 * Rounds only go up: the write happens only if the new round is above the stored one, in one atomic
 * step with the history entry, and only by the FSM's lease holder (lease.ts; ARGV[5] empty: no lease
 * is checked). KEYS: the record, its history, its lease and fencing counter. Returns 1 when written,
 * 0 when stale, -1 when fenced.
 */
const SAVE_ROUND = `${MAY_WRITE}
if not may_write(KEYS[3], KEYS[4], ARGV[5], ARGV[6]) then return -1 end
local current = tonumber(redis.call('HGET', KEYS[1], 'round') or '0')
local round = tonumber(ARGV[1])
if round <= current then return 0 end
redis.call('HSET', KEYS[1], 'round', ARGV[1], 'state', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'params', ARGV[3], 'fsm', ARGV[4]) end
redis.call('XADD', KEYS[2], ARGV[1] .. '-1', 'state', ARGV[2])
return 1
`;

/**
 * SAVE_ROUND for both participants in one call: KEYS are the initiator's hash, stream, lease and
 * fencing counter, then the responder's (all in the channel's slot); ARGV[3..6] the two leases and
 * tokens. Returns {initiator, responder}, 1 when written, 0 when stale, -1 when fenced.
 */
const SAVE_ROUND_FOR_BOTH = `${MAY_WRITE}
local results = {}
for i = 1, 5, 4 do
  local current = tonumber(redis.call('HGET', KEYS[i], 'round') or '0')
  local side = (i == 1) and 1 or 2
  if not may_write(KEYS[i + 2], KEYS[i + 3], ARGV[1 + 2 * side], ARGV[2 + 2 * side]) then
    results[#results + 1] = -1
  elseif tonumber(ARGV[1]) <= current then
    results[#results + 1] = 0
  else
    redis.call('HSET', KEYS[i], 'round', ARGV[1], 'state', ARGV[2])
    redis.call('XADD', KEYS[i + 1], ARGV[1] .. '-1', 'state', ARGV[2])
    results[#results + 1] = 1
  end
end
return results
`;

/** A co-signed on-chain tx is kept by the FSM's lease holder only (see SAVE_ROUND). Returns 1, or -1 when fenced. */
const SAVE_ONCHAIN = `${MAY_WRITE}
if not may_write(KEYS[2], KEYS[3], ARGV[2], ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], 'onchain', ARGV[1])
return 1
`;

const saveResult = (written: number): SaveResult => (written === 1 ? 'saved' : written === 0 ? 'stale' : 'fenced');

/** How long close() waits for Redis to answer QUIT and close the connection. */
const CLOSE_WAIT_MS = 1_000;

type RedisWithScript = (Redis | Cluster) & {
  saveRound(key: string, rounds: string, lease: string, fence: string, round: number, state: string, params: string, fsm: string, leaseValue: string, token: string): Promise<number>;
  saveRoundForBoth(...args: Array<string | number>): Promise<[number, number]>;
  saveOnchain(key: string, lease: string, fence: string, onchain: string, leaseValue: string, token: string): Promise<number>;
};

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** how long one command may take before it counts as a failure */
  commandTimeoutMs?: number;
  /** where to warn about a Redis that keeps nothing on disk (no warning without it) */
  log?: Logger;
  /** the URL's name in error messages, as the operator set it (REDIS_URL unless told) */
  setting?: string;
}

export class RedisStore implements ChannelStore {
  private readonly redis: RedisWithScript;
  readonly payments: RedisPayments;
  /** which process owns each participant's FSM, checked by every round and on-chain write */
  readonly leases: RedisLeases;
  /** how instances sharing this Redis share out the watchtower: who is alive, which channels are new, who answers a close */
  readonly watchShare: RedisWatchShare;

  private constructor(redis: Redis | Cluster, private readonly prefix: string) {
    redis.defineCommand('saveRound', { numberOfKeys: 4, lua: SAVE_ROUND });
    redis.defineCommand('saveRoundForBoth', { numberOfKeys: 8, lua: SAVE_ROUND_FOR_BOTH });
    redis.defineCommand('saveOnchain', { numberOfKeys: 3, lua: SAVE_ONCHAIN });
    this.redis = redis as RedisWithScript;
    this.payments = new RedisPayments(redis, prefix);
    this.leases = new RedisLeases(redis, (channelId, role) => this.key(channelId, role));
    this.watchShare = new RedisWatchShare(redis, prefix);
  }

  /**
   * Connects, or fails with one line saying what is wrong (unreachable, unknown host, wrong or missing
   * password, no such database); warns when this Redis would lose everything on a restart.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const { url, setting = 'REDIS_URL' } = options;
    const db = databaseOf(url);
    if (db === null) throw refusal(setting, url, 'the path after host:port must be a database number (redis://host:6379/2) or nothing');
    const redis = new Redis(url, {
      lazyConnect: true,
      // the writes of many channels in one tick go out in one write (and are read by Redis in one go)
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    // while connecting they say why it failed; later, failed commands report them
    const errors: Error[] = [];
    const collect = (err: Error) => { errors.push(err); };
    redis.on('error', collect);
    redis.on('error', () => { /* keeps ioredis from printing */ });
    try {
      try {
        await redis.connect();
        await redis.ping();
      } catch (err) {
        throw connectFailure(setting, url, errors, err as Error);
      }
      await checkDatabase(redis, setting, url, db);
      redis.off('error', collect);
      await checkPersistence(redis, options.log, url);
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    return new RedisStore(redis, options.keyPrefix);
  }

  /**
   * The same store on a Redis Cluster (REDIS_CLUSTER_NODES), or one line saying why not. Each
   * channel's keys share a hash tag, so its script and MULTI run on the one node owning its slot.
   */
  static async connectCluster(options: { nodes: string; keyPrefix: string; commandTimeoutMs?: number; log?: Logger }): Promise<RedisStore> {
    const cluster = await connectCluster(options.nodes, options);
    await checkPersistence(cluster, options.log, options.nodes);
    return new RedisStore(cluster, options.keyPrefix);
  }

  private key(channelId: ChannelId, role: Role): string {
    return `${this.prefix}{${channelId}}:${role}`;
  }

  async saveRound(channelId: ChannelId, role: Role, state: CoSignedState, first?: { params: ChannelParams; fsmIdHash: string }, lease?: Lease | null): Promise<SaveResult> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const written = await this.redis.saveRound(
      key, `${key}:rounds`, leaseKey, fence, state.round, encodeState(state), first ? encodeParams(first.params) : '', first?.fsmIdHash ?? '',
      lease?.value ?? '', lease ? String(lease.token) : '',
    );
    // the index is one key for all channels, so it cannot share the script's slot in a cluster; the join
    // feed tells the other instances' watchtowers of the new channel without reading the whole index
    if (written === 1 && first) await Promise.all([this.redis.sadd(`${this.prefix}channels`, channelId), this.watchShare.joined(channelId)]);
    return saveResult(written);
  }

  async saveRoundForBoth(channelId: ChannelId, state: CoSignedState, leases?: Record<Role, Lease | null>): Promise<Record<Role, SaveResult>> {
    const keys = (['initiator', 'responder'] as const).flatMap((role) => {
      const key = this.key(channelId, role);
      const { lease, fence } = leaseKeys(key);
      return [key, `${key}:rounds`, lease, fence];
    });
    const held = (['initiator', 'responder'] as const).flatMap((role) => [leases?.[role]?.value ?? '', leases?.[role] ? String(leases[role]!.token) : '']);
    const [i, r] = await this.redis.saveRoundForBoth(...keys, state.round, encodeState(state), ...held);
    return { initiator: saveResult(i), responder: saveResult(r) };
  }

  async channelIds(): Promise<ChannelId[]> {
    return (await this.redis.smembers(`${this.prefix}channels`)) as ChannelId[];
  }

  async addWatchtowerAction(channelId: ChannelId, role: Role, action: WatchtowerAction): Promise<void> {
    await this.redis.rpush(`${this.key(channelId, role)}:watchtower`, JSON.stringify(action));
  }

  async dropWatchtowerAction(channelId: ChannelId, role: Role, txHash: string): Promise<void> {
    const key = `${this.key(channelId, role)}:watchtower`;
    for (const item of await this.redis.lrange(key, 0, -1)) {
      if ((JSON.parse(item) as WatchtowerAction).txHash === txHash) await this.redis.lrem(key, 0, item);
    }
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
      proposal: record.proposal ? decodeProposal(record.proposal) : null,
    };
  }

  async saveProposal(channelId: ChannelId, role: Role, proposal: ProposalRecord): Promise<void> {
    await this.redis.hset(this.key(channelId, role), 'proposal', encodeProposal(proposal));
  }

  async saveOnchain(channelId: ChannelId, role: Role, kind: OperationKind, state: CoSignedState, lease?: Lease | null): Promise<void> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const written = await this.redis.saveOnchain(key, leaseKey, fence, encodeOnchain(kind, state), lease?.value ?? '', lease ? String(lease.token) : '');
    if (written !== 1) throw new LeaseLostError(`${role} of ${channelId}: another process holds this FSM now (its lease was taken over); the on-chain tx is not kept`);
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

  async history(channelId: ChannelId, role: Role, fromRound = 0): Promise<CoSignedState[]> {
    const entries = await this.redis.xrange(`${this.key(channelId, role)}:rounds`, fromRound > 0 ? String(fromRound) : '-', '+');
    return entries.map(([, fields]) => decodeState(fields[1]!));
  }

  /**
   * Resolves once the connection is gone, not merely asked to go: an embedder's process then has
   * nothing of ours left to keep it alive.
   */
  async close(): Promise<void> {
    const connected = ['connecting', 'connect', 'ready'].includes(this.redis.status);
    const ended = connected ? new Promise<void>((resolve) => this.redis.once('end', () => resolve())) : Promise.resolve();
    await this.redis.quit().catch(() => this.redis.disconnect());
    // a Redis that stopped answering mid-QUIT must not hold the shutdown: its socket is cut instead
    let cut: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => { cut = setTimeout(resolve, CLOSE_WAIT_MS); })]);
    clearTimeout(cut);
    if (this.redis.status !== 'end') this.redis.disconnect();
  }
}
