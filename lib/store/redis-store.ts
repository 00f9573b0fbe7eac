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
import { PAYMENT_SCRIPTS, RedisPayments } from './redis-payments.js';
import { clusterDurability, singleDurability, type ReplicaSettings } from './redis-replicas.js';
import { ReplicatedWrites } from './replicated-writes.js';
import { redactUrl } from '../redact.js';
import { JOINED_KEPT, RedisWatchShare } from './watch-share.js';
import { RedisAttachments } from './attachments.js';
import { decodeOnchain, decodeProposal, encodeOnchain, encodeProposal, decodeParams, decodeState, encodeParams, encodeState } from './records.js';
import { LeaseLostError, StoreUnavailableError, type ChannelStore, type SaveResult, type StoredChannel, type WatchtowerAction } from './store.js';

/**
 * Rounds only go up: the write happens only if the new round is above the stored one, in one atomic
 * step with the history entry, and only by the FSM's lease holder (lease.ts; ARGV[5] empty: no lease
 * is checked). KEYS: the record, its history, its lease and fencing counter. Returns 1 when written,
 * 0 when stale, -1 when fenced.
 * ARGV[7] '1' marks a write sent again after its master went away (replicated-writes.ts): the very
 * round and state already stored are the first attempt's, which had reached the replica now promoted;
 * that counts as written (and the record is touched, so the WAIT after it covers it on this master).
 */
const SAVE_ROUND = `${MAY_WRITE}
if not may_write(KEYS[3], KEYS[4], ARGV[5], ARGV[6]) then return -1 end
local current = tonumber(redis.call('HGET', KEYS[1], 'round') or '0')
local round = tonumber(ARGV[1])
if ARGV[7] == '1' and round == current and redis.call('HGET', KEYS[1], 'state') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'round', ARGV[1])
  return 1
end
if round <= current then return 0 end
redis.call('HSET', KEYS[1], 'round', ARGV[1], 'state', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'params', ARGV[3], 'fsm', ARGV[4]) end
redis.call('XADD', KEYS[2], ARGV[1] .. '-1', 'state', ARGV[2])
return 1
`;

/**
 * SAVE_ROUND for both participants in one call: KEYS are the initiator's hash, stream, lease and
 * fencing counter, then the responder's (all in the channel's slot); ARGV[3..6] the two leases and
 * tokens, ARGV[7] the retry mark. Returns {initiator, responder}, 1 when written, 0 when stale, -1 when fenced.
 */
const SAVE_ROUND_FOR_BOTH = `${MAY_WRITE}
local results = {}
for i = 1, 5, 4 do
  local current = tonumber(redis.call('HGET', KEYS[i], 'round') or '0')
  local side = (i == 1) and 1 or 2
  if not may_write(KEYS[i + 2], KEYS[i + 3], ARGV[1 + 2 * side], ARGV[2 + 2 * side]) then
    results[#results + 1] = -1
  elseif ARGV[7] == '1' and tonumber(ARGV[1]) == current and redis.call('HGET', KEYS[i], 'state') == ARGV[2] then
    redis.call('HSET', KEYS[i], 'round', ARGV[1])
    results[#results + 1] = 1
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

/**
 * A co-signed on-chain tx is kept by the FSM's lease holder only (see SAVE_ROUND). Returns {1, the
 * record it replaced or ''} (for UNDO_ONCHAIN), or {-1} when fenced.
 */
const SAVE_ONCHAIN = `${MAY_WRITE}
if not may_write(KEYS[2], KEYS[3], ARGV[2], ARGV[3]) then return {-1} end
local before = redis.call('HGET', KEYS[1], 'onchain') or ''
redis.call('HSET', KEYS[1], 'onchain', ARGV[1])
return {1, before}
`;

/**
 * Takes back a round no replica confirmed (replicated-writes.ts), for each record and history in KEYS
 * (pairs), only while that record still holds this very round and state: the round was never released,
 * so the record goes back to the round before, its history entry goes, and the history's last id with
 * it (so the round can be written again). A channel's first round leaves no record at all.
 */
const UNDO_ROUND = `
for i = 1, #KEYS, 2 do
  if redis.call('HGET', KEYS[i], 'round') == ARGV[1] and redis.call('HGET', KEYS[i], 'state') == ARGV[2] then
    redis.call('XDEL', KEYS[i + 1], ARGV[1] .. '-1')
    local last = redis.call('XREVRANGE', KEYS[i + 1], '+', '-', 'COUNT', 1)
    if #last == 0 then
      redis.call('DEL', KEYS[i], KEYS[i + 1])
    else
      redis.call('XSETID', KEYS[i + 1], last[1][1])
      redis.call('HSET', KEYS[i], 'round', string.match(last[1][1], '^(%d+)'), 'state', last[1][2][2])
    end
  end
end
return 1
`;

/** Takes back an on-chain record no replica confirmed, while it is still this one: ARGV the record and the one it replaced. */
const UNDO_ONCHAIN = `
if redis.call('HGET', KEYS[1], 'onchain') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'onchain') else redis.call('HSET', KEYS[1], 'onchain', ARGV[2]) end
return 1
`;

/**
 * Replaces the fsm_id hash, by the lease holder only (KEYS the record, its lease and fencing counter;
 * ARGV the hash, the lease and token): {1, the hash it replaced (for UNDO_FSM_HASH)}, or {-1, ''} when fenced.
 */
const SET_FSM_HASH = `${MAY_WRITE}
if not may_write(KEYS[2], KEYS[3], ARGV[2], ARGV[3]) then return {-1, ''} end
local before = redis.call('HGET', KEYS[1], 'fsm') or ''
redis.call('HSET', KEYS[1], 'fsm', ARGV[1])
return {1, before}
`;

/**
 * The other writes an FSM host makes of its record (the proposal, forgetting an on-chain tx, marking
 * it closed), by the lease holder only, as SAVE_ROUND: KEYS the record, its lease and fencing counter;
 * ARGV 'hset' or 'hdel', the field, its value, the lease and token. 1, or -1 when fenced.
 */
const FENCED_FIELD = `${MAY_WRITE}
if not may_write(KEYS[2], KEYS[3], ARGV[4], ARGV[5]) then return -1 end
if ARGV[1] == 'hset' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) else redis.call('HDEL', KEYS[1], ARGV[2]) end
return 1
`;

/**
 * The watchtower's actions a returning client is told of, taken (and gone) by the FSM's lease holder
 * only: a host that lost the FSM must not swallow what the new host's client is to hear. KEYS the
 * list, the lease and fencing counter. {1, actions}, or {-1, {}} when fenced.
 */
const TAKE_WATCHTOWER_ACTIONS = `${MAY_WRITE}
if not may_write(KEYS[2], KEYS[3], ARGV[1], ARGV[2]) then return {-1, {}} end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return {1, items}
`;

/**
 * Records a watchtower action (KEYS[1] the list, ARGV[1] the action). ARGV[2] '1' marks a write sent
 * again after its master went away (replicated-writes.ts): the very action already in the list is the
 * first attempt's, which reached the replica now promoted; it is not added twice, but touched, so that
 * the WAIT after it covers it on this master.
 */
const ADD_WATCHTOWER_ACTION = `
if ARGV[2] == '1' then
  local at = redis.call('LPOS', KEYS[1], ARGV[1])
  if at then
    redis.call('LSET', KEYS[1], at, ARGV[1])
    return 1
  end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
`;

/** Takes the actions of the tx with hash ARGV[1] out of the list KEYS[1], in one step: how many went. */
const DROP_WATCHTOWER_ACTION = `
local dropped = 0
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if cjson.decode(item).txHash == ARGV[1] then dropped = dropped + redis.call('LREM', KEYS[1], 0, item) end
end
return dropped
`;

/** Puts the fsm_id hash a write replaced back, while the record still holds the one written (ARGV[1]). */
const UNDO_FSM_HASH = `
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'fsm') == ARGV[1] then redis.call('HSET', KEYS[1], 'fsm', ARGV[2]) end
return 1
`;

/**
 * The scripts the store runs on a master directly (replicated-writes.ts sends each write to its slot's
 * master): name, number of keys (undefined: the first argument says), Lua. Exported for the tests of
 * what a retried or undone write does, which no failure can be timed to show.
 */
export const SCRIPTS: Array<[string, number | undefined, string]> = [
  ['saveRound', 4, SAVE_ROUND],
  ['saveRoundForBoth', 8, SAVE_ROUND_FOR_BOTH],
  ['saveOnchain', 3, SAVE_ONCHAIN],
  ['undoRound', undefined, UNDO_ROUND], // the first argument says how many keys
  ['undoOnchain', 1, UNDO_ONCHAIN],
  ['setFsmHash', 3, SET_FSM_HASH],
  ['fencedField', 3, FENCED_FIELD],
  ['takeWatchtowerActions', 3, TAKE_WATCHTOWER_ACTIONS],
  ['undoFsmHash', 1, UNDO_FSM_HASH],
  ['addWatchtowerAction', 1, ADD_WATCHTOWER_ACTION],
  ['dropWatchtowerAction', 1, DROP_WATCHTOWER_ACTION],
  ...PAYMENT_SCRIPTS,
];

const saveResult = (written: number): SaveResult => (written === 1 ? 'saved' : written === 0 ? 'stale' : 'fenced');

/** How long close() waits for Redis to answer QUIT and close the connection. */
const CLOSE_WAIT_MS = 1_000;

type RedisWithScript = Redis & {
  saveRound(key: string, rounds: string, lease: string, fence: string, round: number, state: string, params: string, fsm: string, leaseValue: string, token: string, retry: string): Promise<number>;
  saveRoundForBoth(...args: Array<string | number>): Promise<[number, number]>;
  saveOnchain(key: string, lease: string, fence: string, onchain: string, leaseValue: string, token: string): Promise<[number, string?]>;
  undoRound(keyCount: number, ...args: Array<string | number>): Promise<number>;
  undoOnchain(key: string, onchain: string, before: string): Promise<number>;
  setFsmHash(key: string, lease: string, fence: string, fsmIdHash: string, leaseValue: string, token: string): Promise<[number, string]>;
  fencedField(key: string, lease: string, fence: string, op: 'hset' | 'hdel', field: string, value: string, leaseValue: string, token: string): Promise<number>;
  takeWatchtowerActions(list: string, lease: string, fence: string, leaseValue: string, token: string): Promise<[number, string[]]>;
  undoFsmHash(key: string, fsmIdHash: string, before: string): Promise<number>;
  addWatchtowerAction(list: string, action: string, retry: string): Promise<number>;
  dropWatchtowerAction(list: string, txHash: string): Promise<number>;
};

/** What a write's script gets of its lease: its value and token, or two empty strings (no lease checked). */
const held = (lease: Lease | null | undefined): [string, string] => (lease ? [lease.value, String(lease.token)] : ['', '']);

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** how long one command may take before it counts as a failure */
  commandTimeoutMs?: number;
  /** where to warn about a Redis that keeps nothing on disk (no warning without it) */
  log?: Logger;
  /** the URL's name in error messages, as the operator set it (REDIS_URL unless told) */
  setting?: string;
  /** REDIS_MIN_REPLICAS and REDIS_REPLICA_WAIT_MS (default: auto, 1000 ms) */
  replicas?: ReplicaSettings;
}

const DEFAULT_REPLICAS: ReplicaSettings = { minReplicas: 'auto', waitMs: 1000 };

/** The command timeout must outlast a WAIT, which holds the connection for up to its wait. */
const commandTimeout = (options: { commandTimeoutMs?: number; replicas?: ReplicaSettings }) =>
  Math.max(options.commandTimeoutMs ?? 5000, (options.replicas ?? DEFAULT_REPLICAS).waitMs + 2000);

export class RedisStore implements ChannelStore {
  private readonly redis: Redis | Cluster;
  readonly payments: RedisPayments;
  /** which process owns each participant's FSM, checked by every round and on-chain write */
  readonly leases: RedisLeases;
  /** the masters' connections the scripts are defined on */
  private readonly scripted = new WeakSet<Redis>();
  /** how instances sharing this Redis share out the watchtower: who is alive, which channels are new, who answers a close */
  readonly watchShare: RedisWatchShare;
  /** where each participant's client is attached, for the watchtower of another instance (attachments.ts) */
  readonly attachments: RedisAttachments;

  private constructor(redis: Redis | Cluster, private readonly prefix: string, private readonly writes: ReplicatedWrites) {
    this.redis = redis;
    this.payments = new RedisPayments(redis, prefix, writes, (node) => this.scripts(node));
    this.leases = new RedisLeases(redis, (channelId, role) => this.key(channelId, role));
    this.watchShare = new RedisWatchShare(redis, prefix, JOINED_KEPT, writes);
    this.attachments = new RedisAttachments(redis, prefix, (channelId, role) => this.key(channelId, role));
    // a single Redis's writes go on this very connection, which pipelines automatically: its scripts are
    // defined before any command is queued (one defined while a pipeline is being built made ioredis's
    // auto-pipeline hand back fewer results than it had callbacks, and throw, under the crash test)
    if (redis instanceof Redis) this.scripts(redis);
  }

  /** How many replicas each co-signed write waits for (0: none), as decided at start-up (redis-replicas.ts). */
  get minReplicas(): number {
    return this.writes.options.minReplicas;
  }

  /**
   * Connects, or fails with one line saying what is wrong (unreachable, unknown host, wrong or missing
   * password, no such database, fewer replicas than REDIS_MIN_REPLICAS); warns when this Redis would
   * lose everything on a restart.
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
      commandTimeout: commandTimeout(options),
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    // while connecting they say why it failed; later, failed commands report them
    const errors: Error[] = [];
    const collect = (err: Error) => { errors.push(err); };
    redis.on('error', collect);
    redis.on('error', () => { /* keeps ioredis from printing */ });
    let durability;
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
      durability = await singleDurability(redis, options.replicas ?? DEFAULT_REPLICAS, redactUrl(url));
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    return new RedisStore(redis, options.keyPrefix, new ReplicatedWrites(redis, durability, false));
  }

  /**
   * The same store on a Redis Cluster (REDIS_CLUSTER_NODES), or one line saying why not. Each
   * channel's keys share a hash tag, so its script and MULTI run on the one node owning its slot.
   */
  static async connectCluster(options: { nodes: string; keyPrefix: string; commandTimeoutMs?: number; log?: Logger; replicas?: ReplicaSettings }): Promise<RedisStore> {
    const cluster = await connectCluster(options.nodes, { commandTimeoutMs: commandTimeout(options) });
    let durability;
    try {
      await checkPersistence(cluster, options.log, options.nodes);
      durability = await clusterDurability(cluster, options.replicas ?? DEFAULT_REPLICAS, options.log);
    } catch (err) {
      cluster.disconnect();
      throw err;
    }
    return new RedisStore(cluster, options.keyPrefix, new ReplicatedWrites(cluster, durability, true));
  }

  /** `node` (a master's connection) with the store's scripts defined on it. */
  private scripts(node: Redis): RedisWithScript {
    if (!this.scripted.has(node)) {
      for (const [name, numberOfKeys, lua] of SCRIPTS) node.defineCommand(name, { numberOfKeys, lua } as { numberOfKeys: number; lua: string });
      this.scripted.add(node);
    }
    return node as RedisWithScript;
  }

  private key(channelId: ChannelId, role: Role): string {
    return `${this.prefix}{${channelId}}:${role}`;
  }

  async saveRound(channelId: ChannelId, role: Role, state: CoSignedState, first?: { params: ChannelParams; fsmIdHash: string }, lease?: Lease | null): Promise<SaveResult> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const encoded = encodeState(state);
    const written = await this.writes.run({
      key,
      send: (node, retry) => this.scripts(node).saveRound(
        key, `${key}:rounds`, leaseKey, fence, state.round, encoded, first ? encodeParams(first.params) : '', first?.fsmIdHash ?? '',
        ...held(lease), retry ? '1' : '',
      ),
      wrote: (result) => result === 1,
      undo: (node) => this.scripts(node).undoRound(2, key, `${key}:rounds`, state.round, encoded),
    });
    // the index is one key for all channels, so it cannot share the script's slot in a cluster; the join feed tells the other instances' watchtowers of the new channel without reading the whole index
    if (written === 1 && first) await Promise.all([this.addToIndex(channelId), this.watchShare.joined(channelId)]);
    return saveResult(written);
  }

  /** Lists a new channel (its first round is written), on as many replicas as its round. */
  private async addToIndex(channelId: ChannelId): Promise<void> {
    const key = `${this.prefix}channels`;
    await this.writes.run({ key, send: (node) => node.sadd(key, channelId), wrote: () => true });
  }

  async saveRoundForBoth(channelId: ChannelId, state: CoSignedState, leases?: Record<Role, Lease | null>): Promise<Record<Role, SaveResult>> {
    const records = (['initiator', 'responder'] as const).map((role) => this.key(channelId, role));
    const keys = records.flatMap((key) => {
      const { lease, fence } = leaseKeys(key);
      return [key, `${key}:rounds`, lease, fence];
    });
    const both = (['initiator', 'responder'] as const).flatMap((role) => held(leases?.[role]));
    const encoded = encodeState(state);
    const [i, r] = await this.writes.run({
      key: records[0]!,
      send: (node, retry) => this.scripts(node).saveRoundForBoth(...keys, state.round, encoded, ...both, retry ? '1' : ''),
      wrote: (results) => results.includes(1),
      // only the records this write changed: a side that had the round already keeps it
      undo: (node, results) => {
        const written = records.filter((_, side) => results[side] === 1).flatMap((key) => [key, `${key}:rounds`]);
        return this.scripts(node).undoRound(written.length, ...written, state.round, encoded);
      },
    });
    return { initiator: saveResult(i), responder: saveResult(r) };
  }

  async channelIds(): Promise<ChannelId[]> {
    return (await this.redis.smembers(`${this.prefix}channels`)) as ChannelId[];
  }

  /**
   * Not fenced: the watchtower is no FSM host. It acts for channels whether or not any instance hosts
   * their FSMs (most often for one whose client is away), holds no lease, and only appends: what it did
   * on chain happened, whoever hosts the FSM, and is for the client to hear from whichever host it returns to.
   * On as many replicas as a round (lost, the client would never hear of the slash); when they fall short
   * the action is taken back and the write fails, so the watchtower posts nothing and tries again later.
   */
  async addWatchtowerAction(channelId: ChannelId, role: Role, action: WatchtowerAction): Promise<void> {
    const key = `${this.key(channelId, role)}:watchtower`;
    const item = JSON.stringify(action);
    await this.writes.run({
      key,
      send: (node, retry) => this.scripts(node).addWatchtowerAction(key, item, retry ? '1' : ''),
      wrote: () => true,
      undo: (node) => node.lrem(key, -1, item),
    });
  }

  /** On as many replicas as a round: lost, the client would be told of a slash the chain refused or dropped. Not undone (the tx is gone either way). */
  async dropWatchtowerAction(channelId: ChannelId, role: Role, txHash: string): Promise<void> {
    const key = `${this.key(channelId, role)}:watchtower`;
    await this.writes.run({ key, send: (node) => this.scripts(node).dropWatchtowerAction(key, txHash), wrote: (dropped) => dropped > 0 });
  }

  /**
   * Needs no replica (a shortfall does not fail it): a failover that loses the take brings the actions
   * back, and the client is told of them again at its next reestablish (the same tx hashes), never not
   * at all. Failing it would need them put back, and would fail the reestablish over a notice.
   */
  async takeWatchtowerActions(channelId: ChannelId, role: Role, lease?: Lease | null): Promise<WatchtowerAction[]> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const [written, items] = await this.writes.run({
      key, send: (node) => this.scripts(node).takeWatchtowerActions(`${key}:watchtower`, leaseKey, fence, ...held(lease)), wrote: () => false,
    });
    if (written !== 1) throw this.fenced(channelId, role, "the watchtower's actions are left for its client there");
    return items.map((item) => JSON.parse(item) as WatchtowerAction);
  }

  /**
   * A write of one field of the FSM's record, by its lease holder only (FENCED_FIELD), on as many
   * replicas as a round. Not undone when they fall short: each of these writes only says what is true
   * already (a proposal never taken for anything else, a tx done with, a channel closed on chain), so it
   * stays on the master, and fails.
   */
  private async fencedField(channelId: ChannelId, role: Role, lease: Lease | null | undefined, op: 'hset' | 'hdel', field: string, value: string, what: string): Promise<void> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const written = await this.writes.run({
      key, send: (node) => this.scripts(node).fencedField(key, leaseKey, fence, op, field, value, ...held(lease)), wrote: (result) => result === 1,
    });
    if (written !== 1) throw this.fenced(channelId, role, what);
  }

  private fenced(channelId: ChannelId, role: Role, what: string): LeaseLostError {
    return new LeaseLostError(`${role} of ${channelId}: another process holds this FSM now (its lease was taken over); ${what}`);
  }

  /**
   * The first one made waits for as many replicas as a round: lost, the next instance would make
   * another (another watchtower key, which the channels opened meanwhile do not name). Not undone when
   * they fall short (another instance may have read it already): the start fails, and the next finds it.
   */
  async serviceValue(name: string, create: () => string): Promise<string> {
    const key = `${this.prefix}service:${name}`;
    const value = create();
    await this.writes.run({ key, send: (node) => node.set(key, value, 'NX'), wrote: (set) => set === 'OK' });
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

  /** On as many replicas as a round: a peer that co-signs the proposal may come back with only the tx. */
  async saveProposal(channelId: ChannelId, role: Role, proposal: ProposalRecord, lease?: Lease | null): Promise<void> {
    // not undone when the replicas fall short: a kept proposal the peer never got is never taken for anything
    await this.fencedField(channelId, role, lease, 'hset', 'proposal', encodeProposal(proposal), 'the proposal is not kept');
  }

  async saveOnchain(channelId: ChannelId, role: Role, kind: OperationKind, state: CoSignedState, lease?: Lease | null): Promise<void> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const onchain = encodeOnchain(kind, state);
    const [written] = await this.writes.run({
      key,
      send: (node) => this.scripts(node).saveOnchain(key, leaseKey, fence, onchain, ...held(lease)),
      wrote: ([result]) => result === 1,
      // (a retried write finds its own record as the one it replaced: undoing it then keeps it)
      undo: (node, [, before]) => this.scripts(node).undoOnchain(key, onchain, before ?? ''),
    });
    if (written !== 1) throw this.fenced(channelId, role, 'the on-chain tx is not kept');
  }

  /** On as many replicas as a round: lost, a done or refused operation's co-signed tx would be pending again. */
  async forgetOnchain(channelId: ChannelId, role: Role, lease?: Lease | null): Promise<void> {
    await this.fencedField(channelId, role, lease, 'hdel', 'onchain', '', 'the on-chain tx is not forgotten');
  }

  /** On as many replicas as a round: lost, a channel closed on chain would be open again in the store. */
  async markClosed(channelId: ChannelId, role: Role, lease?: Lease | null): Promise<void> {
    await this.fencedField(channelId, role, lease, 'hset', 'closed', '1', 'the channel is not marked closed');
  }

  /**
   * On as many replicas as a round: the client is given the new fsm_id next, and the old one stops
   * working. When the replicas fall short the old hash is put back, so the old fsm_id still works.
   */
  async setFsmIdHash(channelId: ChannelId, role: Role, fsmIdHash: string, lease?: Lease | null): Promise<void> {
    const key = this.key(channelId, role);
    const { lease: leaseKey, fence } = leaseKeys(key);
    const [written] = await this.writes.run({
      key,
      send: (node) => this.scripts(node).setFsmHash(key, leaseKey, fence, fsmIdHash, ...held(lease)),
      wrote: ([result]) => result === 1,
      undo: (node, [, before]) => this.scripts(node).undoFsmHash(key, fsmIdHash, before),
    });
    if (written !== 1) throw this.fenced(channelId, role, 'the new fsm_id is not stored');
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
