/**
 * Leases: which process owns a participant's FSM when several share one Redis (or Redis Cluster).
 *
 * Each participant of a channel has a lease key, `<prefix>{ch}:<role>:lease`, holding `<token>|<owner>`
 * and expiring after the lease time unless its owner renews it, and a fencing counter,
 * `<prefix>{ch}:<role>:fence`, that only goes up: every acquisition takes the next token. Both share
 * the channel's hash tag with its records, so the round-writing scripts (redis-store.ts) check the
 * lease in the same atomic step as the write, on the one Cluster node holding the channel.
 *
 * A write carrying a lease is refused ('fenced') unless that lease is the one in the store, or the
 * store holds none and the fencing counter is still at its token (the lease ran out and nobody took
 * the FSM since). So once another process has acquired the FSM (a new token), a process that lost it,
 * paused or cut off, can never write a round of it again, whatever its clocks say.
 *
 * The embedded store is one process's alone (its directory is locked): it has no leases.
 */
import type { Cluster, Redis } from 'ioredis';
import type { ChannelId, Role } from '../../fsm/types.js';
import { DELETE_IF_HOLDS } from './redis-scripts.js';

/** A participant's FSM held by this process: what every write of it carries. */
export interface Lease {
  channelId: ChannelId;
  role: Role;
  /** the fencing token: higher than any earlier holder's */
  token: number;
  /** `<token>|<owner>`, as stored */
  value: string;
}

/** A sleeping FSM's lease taken back: with the round its record holds (0: none stored). */
export type Resumed = { ok: true; round: number } | { ok: false };

export type Acquired = { ok: true; lease: Lease } | { ok: false; owner: string; remainingMs: number };

export interface LeaseStore {
  /**
   * Takes the FSM's lease for `owner` with a new fencing token, unless another owner's lease is live
   * (then who holds it and for how much longer). The same owner takes its own lease again at once:
   * a restarted process finds its predecessor's leases under its name.
   */
  acquire(channelId: ChannelId, role: Role, owner: string, ttlMs: number): Promise<Acquired>;
  /** Extends the lease (taking it back if it ran out and nobody took it since); false once another holds it. */
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  /** Lets the lease go at once (the FSM stopped here cleanly, or fell asleep), if it is still ours. */
  release(lease: Lease): Promise<void>;
  /**
   * Takes back a lease let go when its FSM fell asleep, if nobody took the FSM since (the fencing
   * counter is still at its token: then nobody else can have written it either), and says which round
   * the FSM's record holds, in the same atomic step; `{ ok: false }` once another holder took it.
   */
  resume(lease: Lease, ttlMs: number): Promise<Resumed>;
  /** How long the FSM's lease runs unless renewed (0: nobody holds it). */
  remainingMs(channelId: ChannelId, role: Role): Promise<number>;
}

/** The Lua check the write scripts run first: 1 when `value`/`token` may write, 0 when fenced. */
export const MAY_WRITE = `
local function may_write(lease_key, fence_key, value, token)
  if value == '' then return true end
  local held = redis.call('GET', lease_key)
  if held == value then return true end
  return held == false and redis.call('GET', fence_key) == token
end
`;

const ACQUIRE = `
local held = redis.call('GET', KEYS[1])
if held then
  local holder = string.sub(held, string.find(held, '|', 1, true) + 1)
  if holder ~= ARGV[1] then return {0, holder, redis.call('PTTL', KEYS[1])} end
end
local token = redis.call('INCR', KEYS[2])
local value = token .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value, token}
`;

const RENEW = `
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] or (held == false and redis.call('GET', KEYS[2]) == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
`;

/** RENEW that also answers the record's round (KEYS[3]): a sleeping FSM checks its snapshot against it. */
const RESUME = `
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] or (held == false and redis.call('GET', KEYS[2]) == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return {1, tonumber(redis.call('HGET', KEYS[3], 'round') or '0')}
end
return {0, 0}
`;

type RedisWithLeases = (Redis | Cluster) & {
  acquireLease(lease: string, fence: string, owner: string, ttlMs: number): Promise<[number, string, number]>;
  renewLease(lease: string, fence: string, value: string, token: string, ttlMs: number): Promise<number>;
  releaseLease(lease: string, value: string): Promise<number>;
  resumeLease(lease: string, fence: string, record: string, value: string, token: string, ttlMs: number): Promise<[number, number]>;
};

/** The lease and fencing keys of a participant's record key (`<prefix>{ch}:<role>`). */
export function leaseKeys(recordKey: string): { lease: string; fence: string } {
  return { lease: `${recordKey}:lease`, fence: `${recordKey}:fence` };
}

export class RedisLeases implements LeaseStore {
  private readonly redis: RedisWithLeases;

  constructor(redis: Redis | Cluster, private readonly recordKey: (channelId: ChannelId, role: Role) => string) {
    redis.defineCommand('acquireLease', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('renewLease', { numberOfKeys: 2, lua: RENEW });
    redis.defineCommand('releaseLease', { numberOfKeys: 1, lua: DELETE_IF_HOLDS });
    redis.defineCommand('resumeLease', { numberOfKeys: 3, lua: RESUME });
    this.redis = redis as RedisWithLeases;
  }

  async acquire(channelId: ChannelId, role: Role, owner: string, ttlMs: number): Promise<Acquired> {
    if (owner.includes('|')) throw new Error('a lease owner must not contain |');
    const { lease, fence } = leaseKeys(this.recordKey(channelId, role));
    const [ok, value, extra] = await this.redis.acquireLease(lease, fence, owner, ttlMs);
    if (ok !== 1) return { ok: false, owner: value, remainingMs: Math.max(0, Number(extra)) };
    return { ok: true, lease: { channelId, role, token: Number(extra), value } };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const keys = leaseKeys(this.recordKey(lease.channelId, lease.role));
    return (await this.redis.renewLease(keys.lease, keys.fence, lease.value, String(lease.token), ttlMs)) === 1;
  }

  async release(lease: Lease): Promise<void> {
    await this.redis.releaseLease(leaseKeys(this.recordKey(lease.channelId, lease.role)).lease, lease.value);
  }

  async resume(lease: Lease, ttlMs: number): Promise<Resumed> {
    const record = this.recordKey(lease.channelId, lease.role);
    const keys = leaseKeys(record);
    const [ok, round] = await this.redis.resumeLease(keys.lease, keys.fence, record, lease.value, String(lease.token), ttlMs);
    return ok === 1 ? { ok: true, round: Number(round) } : { ok: false };
  }

  async remainingMs(channelId: ChannelId, role: Role): Promise<number> {
    return Math.max(0, await this.redis.pttl(leaseKeys(this.recordKey(channelId, role)).lease));
  }
}
