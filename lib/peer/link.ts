/**
 * One established link to the peer's FSM on another service: the FSM's peer messages go out encoded
 * by the link's wire (the node's messages, lib/peer/wire.ts) over its Noise session, and what arrives
 * is decoded and handed on. It stands where a local peer Session stands (`session.peer`): the effect
 * interpreter calls `receivePeer(message)` for each message our FSM sends.
 *
 * A message that does not decode (`protocol_error`) ends the link, as the node's session dies on it
 * (aesc_session_noise re-raises): the FSMs then see the peer disconnect. One that decodes but that the
 * wire refuses (a replayed ack, a wrong chain hash or channel id) is dropped, as the node discards it,
 * and reported; nothing reached an FSM. Nothing the peer sends can throw out of here.
 *
 * Liveness (docs/peer-protocol.md, "A stalled link"): the node's wire has no keepalive message, and a
 * link may hang with its TCP connection open (a peer or a middlebox that stopped passing bytes). So
 * the link keeps a reply watchdog: once our FSM sends a message the peer must answer (an update and
 * its kinds, channel_open, funding_created, channel_reestablish, leave), the peer has `replyTimeoutMs`
 * to send anything at all; if nothing arrives the link is cut, as if the connection had dropped, and
 * the FSMs recover as from a drop. An idle link is watched by TCP keepalive instead (the peer's
 * machine gone): nothing on the wire changes, so a node peer sees no difference.
 */
import type { PeerMessage } from '../../fsm/types.js';
import type { NoiseSession, NoiseSessionError } from './noise-session.js';

/** What lib/peer/wire.ts's PeerWire offers: one per link, stateful. */
export interface MessageWire {
  encode(message: PeerMessage): Uint8Array;
  decode(bytes: Uint8Array): { message: PeerMessage } | { refusal: { reason: string; detail: string } };
}

export interface LinkEvents {
  /** a message from the peer, decoded */
  message(message: PeerMessage): void;
  /** a message the wire refused and dropped (the link goes on) */
  refused?(refusal: { reason: string; detail: string }): void;
  /**
   * The link is gone. `left`: a leave was acknowledged over it, so the peer knows (no disconnect to
   * report); `why`: what ended it, for the log; `stalled`: the reply watchdog cut it.
   */
  closed(info: { left: boolean; why: string; stalled: boolean }): void;
}

/** Our messages the peer's FSM answers (an ack or an error; a channel_accept, funding_signed, leave_ack). */
export function awaitsReply(message: PeerMessage): boolean {
  switch (message.type) {
    case 'update': case 'channel_open': case 'funding_created': case 'channel_reestablish': case 'leave': return true;
    default: return false;
  }
}

export interface LinkOptions {
  /**
   * How long the peer may stay silent while we await its reply before the link is declared dead
   * (PEER_REPLY_TIMEOUT_MS); also the idle time before TCP keepalive probes. Absent: no watchdog.
   */
  replyTimeoutMs?: number;
}

export class PeerLink {
  readonly remote = true;
  private ended = false;
  private left = false;
  private stalled = false;
  /** set while we await a reply and the peer has said nothing since the message that asked for it */
  private watchdog: NodeJS.Timeout | undefined;
  /** messages received from the peer: a link that never carried one was not really established */
  received = 0;

  constructor(
    private readonly session: NoiseSession,
    private readonly wire: MessageWire,
    private readonly events: LinkEvents,
    private readonly options: LinkOptions = {},
  ) {
    if (options.replyTimeoutMs) session.keepAlive(options.replyTimeoutMs);
  }

  /**
   * Starts reading, once the caller has put the link in place: `first` is what the peer sent first,
   * already read (the responder's side locates its FSM by it), delivered before anything after it.
   */
  start(first?: PeerMessage): void {
    this.session.onClose((err?: NoiseSessionError) => this.end(err ? `${err.code}: ${err.message}` : 'closed by the peer'));
    if (first) this.deliver(first);
    this.session.onMessage((bytes) => {
      if (this.ended) return;
      // bytes passed, even if the wire refuses them: the link is not stalled
      this.disarmWatchdog();
      const decoded = this.wire.decode(bytes);
      if ('refusal' in decoded) {
        if (decoded.refusal.reason === 'protocol_error') return this.cut(`refused a message: ${decoded.refusal.reason} (${decoded.refusal.detail})`);
        return this.events.refused?.(decoded.refusal);
      }
      this.deliver(decoded.message);
    });
  }

  get remoteAddress(): string | undefined {
    return this.session.remoteAddress;
  }

  /** Our FSM's message for the peer. */
  receivePeer(message: PeerMessage): void {
    if (this.ended) return;
    if (message.type === 'leave_ack') this.left = true;
    try {
      this.session.send(this.wire.encode(message));
      if (awaitsReply(message)) this.armWatchdog();
    } catch (err) {
      // too large, or the socket went: the link is no good any more
      this.cut(`could not send ${message.type}: ${(err as Error).message}`);
    }
  }

  /** Ends the link at once, nothing flushed: the peer broke the protocol. */
  cut(why: string): void {
    this.session.destroy(why);
    this.end(why);
  }

  /** Ends the link after what was sent (our FSM is done, or the peer misbehaved). */
  close(why = 'closed by us'): void {
    this.session.close();
    this.end(why);
  }

  /**
   * The peer must say something within the timeout. A second question while the first is unanswered
   * keeps the first deadline: the peer owes us an answer since then.
   */
  private armWatchdog(): void {
    const ms = this.options.replyTimeoutMs;
    if (!ms || this.watchdog) return;
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      this.stalled = true;
      this.cut(`stalled: no reply from the peer within ${ms} ms (PEER_REPLY_TIMEOUT_MS)`);
    }, ms);
    this.watchdog.unref();
  }

  private disarmWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private deliver(message: PeerMessage): void {
    if (this.ended) return;
    // anything at all from the peer shows the link passes bytes: the reply itself may take the FSM's time
    this.disarmWatchdog();
    this.received++;
    if (message.type === 'leave_ack') this.left = true;
    this.events.message(message);
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.disarmWatchdog();
    this.events.closed({ left: this.left, why, stalled: this.stalled });
  }
}
