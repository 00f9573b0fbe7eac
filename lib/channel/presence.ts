/**
 * Tells the instances sharing a Redis where each participant's client is attached (the record and its
 * liveness: lib/store/attachments.ts), so that the watchtower of whichever instance watches a channel
 * leaves a solo close to a client attached at another instance, as it does to one attached here, and
 * answers at once when none is attached anywhere.
 *
 * The record is written when a client attaches to an FSM whose channel exists and whose participant
 * named a delegate (a watchtower acts for no other), and deleted when it goes
 * or the FSM stops here: one write per attach and per detach, nothing while the client stays, however
 * long, and whether its FSM is awake or asleep (a sleeping FSM lets its lease go, but not its client).
 * This instance vouches for its records on the lease timer, with an incarnation made at start-up:
 * once it dies, or stops cleanly, none of them counts any more.
 *
 * A write that fails is tried again on the timer: a "gone" left unwritten would make the watchtower
 * leave a close to a client that is not there. If this instance's vouching lapsed (Redis unreachable, or
 * the process paused, past the lease time), a watchtower may have deleted its records as stale: they are
 * written again.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelId, Role } from '../../fsm/types.js';
import type { Logger } from '../log.js';
import { holderOf, type ClientAttachments } from '../store/attachments.js';

/** What presence needs of a session. */
export interface Present {
  readonly role: Role;
  readonly channelId: ChannelId | null;
  readonly attached: boolean;
  readonly isStopped: boolean;
  /** the delegates this participant named: a watchtower acts only for a participant that named it */
  readonly delegates: readonly string[];
}

export interface PresenceOptions {
  attachments: ClientAttachments;
  /** this process's name (INSTANCE_ID), as the watchtower and the leases know it */
  instance: string;
  /** how long a vouch lasts (LEASE_TTL_MS) and how often it is renewed (LEASE_RENEW_MS) */
  ttlMs: number;
  everyMs: number;
  log: Logger;
}

/**
 * A participant's record as last asked for by the session that owns it here: written (attached) or
 * deleted, and the writes under way, in order. Kept per participant, not per session: a session that
 * stopped and the one that reestablished after it write one record, so their writes go one after another.
 */
interface Shown {
  session: Present;
  channelId: ChannelId;
  attached: boolean;
  writes: Promise<void>;
  /** the last write failed: it is tried again on the timer */
  failed: boolean;
}

export class ClientPresence {
  private readonly holder: string;
  private readonly incarnation = randomBytes(8).toString('hex');
  /** `<channel>|<role>` → its record, while written or while its deletion is not yet done */
  private readonly shown = new Map<string, Shown>();
  private readonly timer: NodeJS.Timeout;
  private vouching = false;
  private closed = false;

  private constructor(private readonly options: PresenceOptions) {
    this.holder = holderOf(options.instance, this.incarnation);
    this.timer = setInterval(() => void this.renew(), options.everyMs);
    this.timer.unref();
  }

  /** Vouches once before any record is written, so none is ever taken for stale while this instance runs. */
  static async start(options: PresenceOptions): Promise<ClientPresence> {
    const presence = new ClientPresence(options);
    try {
      await options.attachments.vouch(options.instance, presence.incarnation, options.ttlMs);
    } catch (err) {
      await presence.close();
      throw err;
    }
    return presence;
  }

  /** The session's client attached or went, its channel came to exist, or it stopped: the record follows. */
  changed(session: Present): void {
    const channelId = session.channelId;
    // nobody answers for a participant that named no delegate: where its client is matters to no one
    if (this.closed || channelId === null || session.delegates.length === 0) return;
    const attached = !session.isStopped && session.attached;
    const key = `${channelId}|${session.role}`;
    const shown = this.shown.get(key);
    if (!shown) {
      if (attached) this.write(key, { session, channelId, attached, writes: Promise.resolve(), failed: false });
      return;
    }
    // a stopped session's going does not delete the record of the one that took its place here
    if (shown.session !== session && !attached) return;
    if (shown.session === session && shown.attached === attached && !shown.failed) return;
    shown.session = session;
    shown.attached = attached;
    this.write(key, shown);
  }

  private write(key: string, shown: Shown): void {
    const { attachments, log } = this.options;
    this.shown.set(key, shown);
    shown.failed = false;
    const attached = shown.attached;
    const role = shown.session.role;
    shown.writes = shown.writes.then(async () => {
      try {
        if (attached) await attachments.attached(shown.channelId, role, this.holder);
        else await attachments.detached(shown.channelId, role, this.holder);
        shown.failed = false;
        if (!attached && !shown.attached && this.shown.get(key) === shown) this.shown.delete(key);
      } catch (err) {
        shown.failed = true;
        log.warn('could not record where a client is attached; tried again shortly', { channel_id: shown.channelId, role, error: (err as Error).message });
      }
    });
  }

  /** Renews the vouch; writes again what failed, and every record if the vouch had lapsed. */
  private async renew(): Promise<void> {
    if (this.vouching || this.closed) return;
    this.vouching = true;
    try {
      const { attachments, instance, ttlMs } = this.options;
      const continued = await attachments.vouch(instance, this.incarnation, ttlMs);
      for (const [key, shown] of this.shown) {
        if (shown.failed || (!continued && shown.attached)) this.write(key, shown);
      }
    } catch (err) {
      this.options.log.warn('could not renew this instance\'s client attachments; retried shortly', { error: (err as Error).message });
    } finally {
      this.vouching = false;
    }
  }

  /** A clean stop: none of this process's records counts any more (they are not deleted one by one). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.shown.clear();
    await this.options.attachments.withdraw(this.options.instance, this.incarnation).catch(() => undefined);
  }
}
