/**
 * Where each participant's client is attached, for instances sharing one Redis (or Redis Cluster): the
 * watchtower of the instance watching a channel (lib/watchtower.ts) may not be the one hosting its
 * FSMs, and must know whether a client is there to answer a solo close itself.
 *
 * * **The record**: `<prefix>{ch_…}:<role>:client` (the channel's hash tag, beside the FSM's lease)
 *   holds `<instance>|<incarnation>` while a client is attached to the FSM at that instance. Written
 *   when a client attaches, deleted (only if it is still that instance's) when it goes. It has no
 *   expiry and is renewed by nobody: a channel whose client stays attached for days, its FSM asleep,
 *   costs nothing per channel.
 * * **Its liveness**: `<prefix>{clients:<instance>}` holds the incarnation (a random id made at each
 *   start) of the process now running as `<instance>`, expiring unless renewed on the lease timer: one
 *   key per instance, not per channel. A record counts only while its instance vouches for it with the
 *   same incarnation, so an instance that died leaves no "attached" behind once its key runs out, and a
 *   process restarted under the same name (a respawned worker) does not vouch for its predecessor's
 *   records. A clean stop withdraws the key at once.
 *
 * A record found stale is deleted as it is read (if unchanged): a dead instance's records would
 * otherwise stay until the participant's client attached again somewhere.
 */
import type { Cluster, Redis } from 'ioredis';
import type { ChannelId, Role } from '../../fsm/types.js';
import { DELETE_IF_HOLDS } from './redis-scripts.js';

export interface ClientAttachments {
  /** A client is attached to the FSM at `holder` (`<instance>|<incarnation>`). */
  attached(channelId: ChannelId, role: Role, holder: string): Promise<void>;
  /** It is no longer, unless another holder wrote the record since. */
  detached(channelId: ChannelId, role: Role, holder: string): Promise<void>;
  /**
   * `instance` runs as `incarnation` for the next `ttlMs` (renewed by calling again). False when it
   * did not until now (the first call, or it lapsed: its records may have been taken for stale and deleted).
   */
  vouch(instance: string, incarnation: string, ttlMs: number): Promise<boolean>;
  /** A clean stop: its records count no more, unless a newer process vouches under the name since. */
  withdraw(instance: string, incarnation: string): Promise<void>;
  /** The live instance a client of this participant is attached at, or null when none is. */
  attachedAt(channelId: ChannelId, role: Role): Promise<string | null>;
}

/** Sets KEYS[1] to ARGV[1] for ARGV[2] ms; 1 if it held ARGV[1] already. */
const VOUCH = `
local was = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if was == ARGV[1] then return 1 end
return 0
`;

type WithScripts = (Redis | Cluster) & {
  deleteAttachmentIf(key: string, value: string): Promise<number>;
  vouchAttachments(key: string, incarnation: string, ttlMs: number): Promise<number>;
};

/** `<instance>|<incarnation>`: instance names never hold `|` (lease owners may not). */
export function holderOf(instance: string, incarnation: string): string {
  return `${instance}|${incarnation}`;
}

export class RedisAttachments implements ClientAttachments {
  private readonly redis: WithScripts;

  constructor(redis: Redis | Cluster, private readonly prefix: string, private readonly recordKey: (channelId: ChannelId, role: Role) => string) {
    redis.defineCommand('deleteAttachmentIf', { numberOfKeys: 1, lua: DELETE_IF_HOLDS });
    redis.defineCommand('vouchAttachments', { numberOfKeys: 1, lua: VOUCH });
    this.redis = redis as WithScripts;
  }

  private key(channelId: ChannelId, role: Role): string {
    return `${this.recordKey(channelId, role)}:client`;
  }

  private livenessKey(instance: string): string {
    return `${this.prefix}{clients:${instance}}`;
  }

  async attached(channelId: ChannelId, role: Role, holder: string): Promise<void> {
    await this.redis.set(this.key(channelId, role), holder);
  }

  async detached(channelId: ChannelId, role: Role, holder: string): Promise<void> {
    await this.redis.deleteAttachmentIf(this.key(channelId, role), holder);
  }

  async vouch(instance: string, incarnation: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.vouchAttachments(this.livenessKey(instance), incarnation, ttlMs)) === 1;
  }

  async withdraw(instance: string, incarnation: string): Promise<void> {
    await this.redis.deleteAttachmentIf(this.livenessKey(instance), incarnation);
  }

  async attachedAt(channelId: ChannelId, role: Role): Promise<string | null> {
    const key = this.key(channelId, role);
    const holder = await this.redis.get(key);
    if (!holder) return null;
    const bar = holder.lastIndexOf('|');
    const instance = holder.slice(0, bar);
    if (bar > 0 && (await this.redis.get(this.livenessKey(instance))) === holder.slice(bar + 1)) return instance;
    await this.redis.deleteAttachmentIf(key, holder);
    return null;
  }
}
