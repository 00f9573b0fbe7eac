/**
 * The live sessions, and the pairing of an initiator with the responder it names. A responder waits
 * on its port (several may wait on one port, told apart by responder id); an initiator whose host and
 * port point at this service is paired with it in-process. Whichever arrives first waits.
 */
import type { ChannelId, Role } from '../../fsm/types.js';
import type { Session } from './session.js';

/**
 * A new channel's participants find each other by port and responder; a channel that exists by its
 * id alone, so that a reestablish without `port` (the node takes the channel's stored one) pairs too.
 */
const pairingKey = (s: Session) => (s.pairing.channelId ? `channel|${s.pairing.channelId}` : `${s.pairing.port}|${s.pairing.responderId}|new`);

export class Registry {
  private readonly waiting = new Map<string, Session[]>();
  private readonly live = new Set<Session>();

  get size(): number {
    return this.live.size;
  }

  /** Starts tracking a session and pairs it with a waiting peer, or makes it wait for one. */
  add(session: Session): void {
    this.live.add(session);
    this.offer(session);
  }

  /** The live session of one participant of a channel, if any. */
  find(channelId: ChannelId, role: Role): Session | undefined {
    for (const s of this.live) if (s.role === role && s.channelId === channelId && !s.isStopped) return s;
    return undefined;
  }

  /**
   * A session is gone: forget it and tell its peer. After a leave the peer already knows; a peer
   * that lives on (a keep_running responder) waits again for its initiator to come back.
   */
  remove(session: Session, why: string): void {
    this.live.delete(session);
    this.unwait(session);
    const peer = session.peer;
    session.peer = null;
    if (!peer) return;
    peer.peer = null;
    // after the peer messages already on their way, like a link that closes behind its last frame
    setImmediate(() => {
      if (why !== 'leave') peer.send({ type: 'PEER.DISCONNECTED' });
      if (!peer.isStopped && peer.channelId && this.live.has(peer)) {
        peer.pairing.channelId = peer.channelId;
        this.offer(peer);
      }
    });
  }

  private offer(session: Session): void {
    const key = pairingKey(session);
    const queue = this.waiting.get(key) ?? [];
    const match = queue.find((other) => other.role !== session.role && !other.isStopped);
    if (!match) {
      queue.push(session);
      this.waiting.set(key, queue);
      return;
    }
    this.unwait(match);
    session.peer = match;
    match.peer = session;
    match.send({ type: 'PEER.CONNECTED' });
    session.send({ type: 'PEER.CONNECTED' });
  }

  private unwait(session: Session): void {
    const key = pairingKey(session);
    const queue = this.waiting.get(key)?.filter((s) => s !== session) ?? [];
    if (queue.length) this.waiting.set(key, queue);
    else this.waiting.delete(key);
  }

  /** Sessions still running, for shutdown. */
  all(): Session[] {
    return [...this.live];
  }
}
