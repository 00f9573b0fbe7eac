/**
 * The live sessions, and the pairing of an initiator with the responder it names. A responder waits
 * on its port (several may wait on one port, told apart by responder id); an initiator whose host and
 * port point at this service is paired with it in-process. Whichever arrives first waits.
 *
 * A participant on another service is reached through `remote` (lib/channel/peer-links.ts): an
 * initiator whose host is not this service is dialled out; a responder waiting here also listens on
 * its port, and a session from another service takes it with its first message.
 */
import type { ChannelId, Role } from '../../fsm/types.js';
import type { PeerLink } from '../peer/link.js';
import type { Session } from './session.js';

/** What the registry asks of the peer link to other services. */
export interface RemotePairing {
  /** whether this session's peer is on another service (an initiator naming another host) */
  isRemote(session: Session): boolean;
  /** an initiator whose responder is elsewhere: dial it */
  dial(session: Session): void;
  /**
   * a session waits for its peer here (a responder: listen on its port; an initiator: look for its
   * responder at other instances), or no longer does
   */
  waiting(session: Session): void;
  unwaiting(session: Session): void;
  /** the session is gone: stop dialling for it */
  gone(session: Session): void;
}

/** Which responder a session from another service asks for with its first message. */
export type WantedResponder = { port: number; responderId: string } | { port: number; channelId: ChannelId };

/**
 * A new channel's participants find each other by port and responder; a channel that exists by its
 * id alone, so that a reestablish without `port` (the node takes the channel's stored one) pairs too.
 */
/** The pairing key of the responder a session from another service asks for (as pairingKey names it). */
export const wantedKey = (wanted: WantedResponder) => ('channelId' in wanted ? `channel|${wanted.channelId}` : `${wanted.port}|${wanted.responderId}|new`);

export const pairingKey = (s: Session) => (s.pairing.channelId ? `channel|${s.pairing.channelId}` : `${s.pairing.port}|${s.pairing.responderId}|new`);

const isLink = (peer: Session | PeerLink): peer is PeerLink => 'remote' in peer;

export class Registry {
  private readonly waiting = new Map<string, Session[]>();
  private readonly live = new Set<Session>();
  private remote: RemotePairing | null = null;

  get size(): number {
    return this.live.size;
  }

  /** Set once by the service, before any session: without it every peer is in-process. */
  connectRemote(remote: RemotePairing): void {
    this.remote = remote;
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
   * that lives on (a keep_running responder) waits again for its initiator to come back. A link to
   * another service closes behind the messages already on their way.
   */
  remove(session: Session, why: string): void {
    this.live.delete(session);
    this.unwait(session);
    this.remote?.gone(session);
    const peer = session.peer;
    session.peer = null;
    if (!peer) return;
    if (isLink(peer)) {
      setImmediate(() => peer.close(`our FSM ended (${why})`));
      return;
    }
    peer.peer = null;
    // after the peer messages already on their way, like a link that closes behind its last frame
    setImmediate(() => {
      if (why !== 'leave') peer.send({ type: 'PEER.DISCONNECTED' });
      this.waitAgain(peer);
    });
  }

  /** A peer that lives on after its link went waits again for its initiator to come back. */
  waitAgain(session: Session): void {
    if (!session.isStopped && session.channelId && this.live.has(session) && !session.peer) {
      session.pairing.channelId = session.channelId;
      this.offer(session);
    }
  }

  /**
   * The waiting responder a session from another service asks for, taken out of the waiting (null
   * when none waits: the node's locate_fsm fails). Its port must be the one the session came in on.
   */
  takeResponder(wanted: WantedResponder): Session | null {
    const key = wantedKey(wanted);
    const match = this.waiting.get(key)?.find((s) => s.role === 'responder' && !s.isStopped && s.pairing.port === wanted.port);
    if (!match) return null;
    this.unwait(match);
    return match;
  }

  private offer(session: Session): void {
    if (session.role === 'initiator' && this.remote?.isRemote(session)) {
      this.remote.dial(session);
      return;
    }
    const key = pairingKey(session);
    const queue = this.waiting.get(key) ?? [];
    const match = queue.find((other) => other.role !== session.role && !other.isStopped);
    if (!match) {
      queue.push(session);
      this.waiting.set(key, queue);
      this.remote?.waiting(session);
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
    const before = this.waiting.get(key);
    if (!before?.includes(session)) return;
    const queue = before.filter((s) => s !== session);
    if (queue.length) this.waiting.set(key, queue);
    else this.waiting.delete(key);
    this.remote?.unwaiting(session);
  }

  /**
   * Takes a waiting initiator out of the waiting, to link it with a responder found at another
   * instance; false when it no longer waits (paired here meanwhile, or gone).
   */
  claim(session: Session): boolean {
    if (session.isStopped || session.peer || !this.waiting.get(pairingKey(session))?.includes(session)) return false;
    this.unwait(session);
    return true;
  }

  /** Sessions still running, for shutdown. */
  all(): Session[] {
    return [...this.live];
  }
}
