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
   * report); `why`: what ended it, for the log.
   */
  closed(info: { left: boolean; why: string }): void;
}

export class PeerLink {
  readonly remote = true;
  private ended = false;
  private left = false;
  /** messages received from the peer: a link that never carried one was not really established */
  received = 0;

  constructor(
    private readonly session: NoiseSession,
    private readonly wire: MessageWire,
    private readonly events: LinkEvents,
  ) {}

  /**
   * Starts reading, once the caller has put the link in place: `first` is what the peer sent first,
   * already read (the responder's side locates its FSM by it), delivered before anything after it.
   */
  start(first?: PeerMessage): void {
    this.session.onClose((err?: NoiseSessionError) => this.end(err ? `${err.code}: ${err.message}` : 'closed by the peer'));
    if (first) this.deliver(first);
    this.session.onMessage((bytes) => {
      if (this.ended) return;
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

  private deliver(message: PeerMessage): void {
    if (this.ended) return;
    this.received++;
    if (message.type === 'leave_ack') this.left = true;
    this.events.message(message);
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.events.closed({ left: this.left, why });
  }
}
