/**
 * Follows channel objects on chain, block by block, and says when one changed while active, started
 * solo-closing (or its lock was reset by a slash), or disappeared (settled or closed mutually).
 */
import type { ChannelId, EncodedTx, OnchainChannel } from '../../fsm/types.js';
import type { Chain, ChannelObject } from './types.js';

export interface ChannelChange {
  kind: 'changed' | 'closing' | 'closed';
  /** the channel as it is now (null once gone) */
  channel: ChannelObject | null;
  /** the tx that changed it, when the chain can say */
  tx: EncodedTx | null;
}

type Listener = (change: ChannelChange) => void;

interface Followed {
  last: ChannelObject | null | undefined;
  listeners: Set<Listener>;
  /** the channel was seen, then went: should it come back (a fork undid its close), that is a change */
  gone?: boolean;
}

/** What the FSM needs to know of a channel on chain, or null if the chain has no such channel. */
export async function onchainChannel(chain: Chain, id: ChannelId): Promise<OnchainChannel | null> {
  const [channel, height] = await Promise.all([chain.channel(id), chain.height()]);
  if (!channel) return null;
  return { round: channel.round, lockedUntil: channel.lockedUntil, initiatorAmount: channel.initiatorAmount, responderAmount: channel.responderAmount, height };
}

/** How a channel object moved between two looks at it; null when nothing a participant cares about changed. */
export function classify(before: ChannelObject | null | undefined, after: ChannelObject | null): ChannelChange['kind'] | null {
  if (before === undefined) return null; // first look: nothing to compare yet
  if (!after) return before ? 'closed' : null;
  if (!before) return after.lockedUntil !== 0 ? 'closing' : null;
  if (after.lockedUntil !== 0 && (after.lockedUntil !== before.lockedUntil || after.round !== before.round)) return 'closing';
  if (after.lockedUntil === 0 && (after.round !== before.round || after.channelAmount !== before.channelAmount || after.stateHash !== before.stateHash)) {
    return 'changed';
  }
  return null;
}

/** More generations than this since the last look, and every followed channel is looked at instead. */
const MAX_GENERATIONS_PER_LOOK = 20;
/** Every so many blocks every followed channel is looked at anyway: a fork may have undone a tx already seen. */
const FULL_LOOK_EVERY = 20;

/**
 * One watcher per service, shared by every FSM and the watchtower. Per block it asks the chain which
 * channels the new generations' txs touched (a request per generation and per micro block, however many
 * channels it follows) and reads only those; a chain that cannot say gets a read per channel.
 */
export class ChannelWatcher {
  private readonly followed = new Map<ChannelId, Followed>();
  private readonly unsubscribe: () => void;
  private checking: Promise<void> = Promise.resolve();
  /** the last generation scanned and the micro blocks of it seen: the top generation may still grow */
  private scanned: { height: number; blocks: Set<string> } | null = null;
  private blocksSinceFullLook = 0;

  constructor(private readonly chain: Chain) {
    this.unsubscribe = chain.onBlock((height) => {
      // one look at a time, in block order
      this.checking = this.checking.then(() => this.check(height)).catch(() => undefined);
    });
  }

  /** Starts following a channel; the returned function stops this listener. */
  follow(id: ChannelId, listener: Listener): () => void {
    let entry = this.followed.get(id);
    if (!entry) {
      entry = { last: undefined, listeners: new Set() };
      this.followed.set(id, entry);
      const first = entry;
      void this.chain.channel(id).then((channel) => { if (first.last === undefined) first.last = channel; });
    }
    entry.listeners.add(listener);
    return () => {
      const current = this.followed.get(id);
      current?.listeners.delete(listener);
      if (current && current.listeners.size === 0) this.followed.delete(id);
    };
  }

  private async check(height: number): Promise<void> {
    if (this.followed.size === 0) {
      this.scanned = null; // nothing to compare with: the next look starts afresh
      return;
    }
    const touched = await this.touchedSince(height);
    try {
      await this.look(touched);
    } catch (err) {
      this.scanned = null; // channels the scan named were not all read: the next look reads every one
      throw err;
    }
  }

  private async look(touched: Set<ChannelId> | null): Promise<void> {
    for (const [id, entry] of [...this.followed]) {
      if (touched && entry.last !== undefined && !touched.has(id)) continue;
      const now = await this.chain.channel(id);
      let kind = classify(entry.last, now);
      if (entry.last === undefined) { entry.last = now; continue; }
      if (entry.gone && now && now.lockedUntil === 0) kind = 'changed';
      if (kind === 'closed') entry.gone = true;
      else if (now) entry.gone = false;
      entry.last = now;
      if (!kind) continue;
      const tx = await this.chain.channelTx(id);
      for (const listener of [...entry.listeners]) listener({ kind, channel: now, tx });
    }
  }

  /** The channels txs touched since the last look, or null when every followed channel must be read. */
  private async touchedSince(height: number): Promise<Set<ChannelId> | null> {
    const generationChannels = this.chain.generationChannels?.bind(this.chain);
    if (!generationChannels) return null;
    const last = this.scanned;
    this.scanned = null; // until this look has succeeded
    try {
      this.blocksSinceFullLook += 1;
      if (!last || height - last.height > MAX_GENERATIONS_PER_LOOK || this.blocksSinceFullLook >= FULL_LOOK_EVERY) {
        // a full look now: only micro blocks added to this generation after it are news next time
        const top = await generationChannels(height);
        if (top) this.scanned = { height, blocks: new Set(top.keys()) };
        this.blocksSinceFullLook = 0;
        return null;
      }
      const touched = new Set<ChannelId>();
      for (let generation = last.height; generation <= height; generation += 1) {
        const blocks = await generationChannels(generation);
        if (!blocks) return null;
        const seen = generation === last.height ? last.blocks : null;
        for (const [hash, ids] of blocks) if (!seen?.has(hash)) for (const id of ids) touched.add(id);
        if (generation === height) this.scanned = { height, blocks: new Set(blocks.keys()) };
      }
      return touched;
    } catch {
      return null; // the chain did not answer: read every channel (which may fail too, and is retried next block)
    }
  }

  close(): void {
    this.unsubscribe();
    this.followed.clear();
  }
}
