/**
 * Which channels this instance's watchtower watches, and who may answer a solo close.
 *
 * Alone (the embedded store: one process), every channel is this instance's, and a close is answered
 * once per process. Sharing a Redis with other instances (WORKERS, machines), each instance heartbeats
 * its id (lib/store/watch-share.ts) on the lease timer (`LEASE_RENEW_MS`, alive for `LEASE_TTL_MS`),
 * reads the live set on the same timer, and watches the channels rendezvous hashing gives it over the
 * live set (rendezvous.ts): each channel by exactly one live instance, with nothing per channel to renew.
 * When an instance dies its channels go to the survivors once its heartbeat runs out, as its FSMs'
 * leases do; when one stops cleanly it leaves the set at once.
 *
 * Views of the live set differ for a moment while it changes (each instance reads it on its own
 * timer), so two instances may briefly both watch a channel, or neither: the claim of each answer
 * (one `SET NX` in Redis) keeps two from posting, and the next look after a death fills the gap.
 */
import type { ChannelId } from '../../fsm/types.js';
import type { Logger } from '../log.js';
import type { RedisWatchShare } from '../store/watch-share.js';
import { Rendezvous } from './rendezvous.js';

/** How long a claim lasts once its tx is posted: others leave the close alone while the tx is on its way. */
export const POSTED_CLAIM_MS = 10 * 60_000;

export interface SlashClaims {
  /** Whether this instance may answer the channel's close on `onchainRound` (and who holds it if not). */
  claim(channelId: ChannelId, onchainRound: number): Promise<{ won: boolean; holder?: string | null }>;
  /** The answer is posted. */
  posted(channelId: ChannelId, onchainRound: number, txHash: string): Promise<void>;
  /** The answer could not be posted: it may be tried again (by anyone). */
  release(channelId: ChannelId, onchainRound: number): Promise<void>;
  /** Takes the claim from `holder` (as `claim` reported it), whose posted tx the chain dropped. */
  takeOver(channelId: ChannelId, onchainRound: number, holder: string): Promise<boolean>;
}

/** The tx hash a claim says was posted (`posted|<instance>|<tx hash>`), or null while it is only claimed. */
export function postedTxOf(holder: string | null | undefined): string | null {
  return holder?.startsWith('posted|') ? holder.slice(holder.lastIndexOf('|') + 1) : null;
}

/** What changed at a look: the channels now this instance's that it may not follow yet. */
export interface Changes {
  /** the live set changed: drop what is no longer ours, and read the whole index for what now is */
  membersChanged: boolean;
  /** channels other instances stored since the last look */
  joined: ChannelId[];
  /** the join feed dropped some before this instance read them: read the whole index */
  missed: boolean;
}

export interface WatchScope {
  readonly instanceId: string | null;
  /** the live instances (just this one when alone) */
  readonly members: readonly string[];
  mine(channelId: ChannelId): boolean;
  /** every stored channel, a page at a time */
  allChannels(): AsyncIterable<ChannelId[]>;
  readonly claims: SlashClaims;
  /** Starts looking (alone: nothing to look at); `onChanges` is called after every look that found something. */
  start(onChanges: (changes: Changes) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/** One instance alone: every channel is its own; a close is answered once in this process. */
export class AloneScope implements WatchScope {
  readonly instanceId = null;
  readonly members = [] as const;
  /** `channel:round` → the claim's value, as the shared claims keep it */
  private readonly answered = new Map<string, string>();

  constructor(private readonly channelIds: () => Promise<ChannelId[]>) {}

  mine(): boolean {
    return true;
  }

  async *allChannels(): AsyncIterable<ChannelId[]> {
    yield await this.channelIds();
  }

  readonly claims: SlashClaims = {
    claim: async (id, round) => {
      const key = `${id}:${round}`;
      const holder = this.answered.get(key);
      if (holder !== undefined) return { won: false, holder };
      this.answered.set(key, 'claimed|');
      return { won: true };
    },
    posted: async (id, round, txHash) => { this.answered.set(`${id}:${round}`, `posted||${txHash}`); },
    release: async (id, round) => { this.answered.delete(`${id}:${round}`); },
    takeOver: async (id, round, holder) => {
      const key = `${id}:${round}`;
      if (this.answered.get(key) !== holder) return false;
      this.answered.set(key, 'claimed|');
      return true;
    },
  };

  async start(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface SharedScopeOptions {
  share: RedisWatchShare;
  instanceId: string;
  /** how long a heartbeat (and a claim not yet posted) lasts: LEASE_TTL_MS */
  ttlMs: number;
  /** how often to heartbeat and look: LEASE_RENEW_MS */
  everyMs: number;
  log: Logger;
}

/** Instances sharing one Redis: each channel is watched by the live instance rendezvous hashing picks. */
export class SharedScope implements WatchScope {
  readonly instanceId: string;
  private ring: Rendezvous;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private looking = false;
  private beating = false;
  private closed = false;
  /** the live set changed and the channels were not all taken up or let go yet */
  private changeDue = false;

  constructor(private readonly options: SharedScopeOptions) {
    this.instanceId = options.instanceId;
    this.ring = new Rendezvous([options.instanceId]);
  }

  get members(): readonly string[] {
    return this.ring.members;
  }

  mine(channelId: ChannelId): boolean {
    return this.ring.ownerOf(channelId) === this.instanceId;
  }

  allChannels(): AsyncIterable<ChannelId[]> {
    return this.options.share.allChannels();
  }

  readonly claims: SlashClaims = {
    claim: (id, round) => this.options.share.claim(id, round, this.instanceId, this.options.ttlMs),
    posted: async (id, round, txHash) => {
      if (!(await this.options.share.posted(id, round, this.instanceId, txHash, POSTED_CLAIM_MS))) {
        this.options.log.warn('watchtower claim ran out before its tx was posted', { channel_id: id, onchain_round: round });
      }
    },
    release: (id, round) => this.options.share.release(id, round, this.instanceId),
    takeOver: (id, round, holder) => this.options.share.takeOver(id, round, holder, this.instanceId, this.options.ttlMs),
  };

  /**
   * Joins the live set and reads it, so the first look at the index already shares it out; the join
   * feed is followed from before that look, so a channel stored meanwhile is seen by one or the other.
   */
  async start(onChanges: (changes: Changes) => Promise<void>): Promise<void> {
    const { share, instanceId, ttlMs, everyMs } = this.options;
    await share.heartbeat(instanceId, ttlMs);
    this.seq = await share.joinedSeq();
    this.ring = new Rendezvous([...(await share.live()), instanceId]);
    this.options.log.info('watchtower shares channels with the live instances', { instance_id: instanceId, instances: this.ring.members });
    // the heartbeat apart from the look: reading a million channel ids after a change must not stop it
    this.timer = setInterval(() => { void this.beat(); void this.look(onChanges); }, everyMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    if (this.beating || this.closed) return;
    this.beating = true;
    try {
      await this.options.share.heartbeat(this.instanceId, this.options.ttlMs);
    } catch (err) {
      this.options.log.warn('watchtower heartbeat failed', { error: (err as Error).message });
    } finally {
      this.beating = false;
    }
  }

  private async look(onChanges: (changes: Changes) => Promise<void>): Promise<void> {
    if (this.looking || this.closed) return;
    this.looking = true;
    const { share, instanceId, log } = this.options;
    try {
      // this instance is alive whatever the set says: it may have been paused past its heartbeat
      const ring = new Rendezvous([...(await share.live()), instanceId]);
      const joined = await share.joinedSince(this.seq);
      // a change whose handling failed last time is handled again
      const membersChanged = !ring.sameAs(this.ring) || this.changeDue;
      if (!ring.sameAs(this.ring)) {
        log.info('watchtower instances changed', { instance_id: instanceId, instances: ring.members, before: this.ring.members });
      }
      this.ring = ring;
      this.changeDue = membersChanged;
      if (membersChanged || joined.ids.length || joined.missed) await onChanges({ membersChanged, joined: joined.ids, missed: joined.missed });
      this.changeDue = false;
      this.seq = joined.seq;
    } catch (err) {
      // the last known set stays: a Redis that does not answer must not make this instance drop its channels
      log.warn('watchtower could not look at the live instances', { error: (err as Error).message });
    } finally {
      this.looking = false;
    }
  }

  /** A clean stop: out of the live set at once, so the others take its channels over at their next look. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.options.share.leave(this.instanceId).catch(() => undefined);
  }
}
