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

export class ChannelWatcher {
  private readonly followed = new Map<ChannelId, Followed>();
  private readonly unsubscribe: () => void;
  private checking: Promise<void> = Promise.resolve();

  constructor(private readonly chain: Chain) {
    this.unsubscribe = chain.onBlock(() => {
      // one look at a time, in block order
      this.checking = this.checking.then(() => this.check()).catch(() => undefined);
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

  private async check(): Promise<void> {
    for (const [id, entry] of [...this.followed]) {
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

  close(): void {
    this.unsubscribe();
    this.followed.clear();
  }
}
