/**
 * The peer link to participants on other services, joined to the sessions here (the node's model:
 * each participant's FSM in its own node, the two talking over Noise; docs/peer-protocol.md).
 *
 * - An initiator whose `host` is not this service (PEER_HOST, the loopback names when that is
 *   loopback or a wildcard, PEER_SELF_HOSTS) dials host:port with retries; the link then stands as
 *   its `peer` and it hears PEER.CONNECTED, as from a local responder.
 * - A responder waiting here makes its port listened on. A session from another service names its
 *   channel with its first message: `channel_open` (responder key and port) or `channel_reestablish`
 *   (channel id and port); anything else first is the node's protocol_error and ends the session.
 * - A link that drops: both FSMs hear PEER.DISCONNECTED (not after a leave, which the peer knows of);
 *   the initiator's service redials, and its FSM reestablishes over the new link; the responder
 *   waits again for its channel's reestablish.
 */
import type { PeerMessage } from '../../fsm/types.js';
import type { Logger } from '../log.js';
import { dial, DialError, type DialOptions } from '../peer/dialer.js';
import { PeerLink, type MessageWire } from '../peer/link.js';
import { PeerListeners, type ListenerOptions } from '../peer/listener.js';
import type { NoiseSession } from '../peer/noise-session.js';
import { PeerPins, type PinChain } from './peer-pins.js';
import type { Registry, RemotePairing, WantedResponder } from './registry.js';
import type { Session } from './session.js';

export interface PeerLinksDeps {
  registry: Registry;
  log: Logger;
  /** the hosts that name this service (lib/config.ts selfHosts) */
  selfHosts: Set<string>;
  listen: ListenerOptions;
  dial: DialOptions;
  /** a new wire for each link (lib/peer/wire.ts's PeerWire) */
  newWire(): MessageWire;
  /** where the pins of the peer's proposals are looked up (peer-pins.ts) */
  chain: PinChain;
}

/** Which waiting responder a first message asks for, or why it names none (the node's locate_fsm/3). */
export function wantedBy(first: PeerMessage, port: number): WantedResponder | { refused: string } {
  if (first.type === 'channel_open') return { port, responderId: first.params.responderId };
  if (first.type === 'channel_reestablish') return { port, channelId: first.channelId };
  return { refused: `protocol_error: a session must begin with channel_open or channel_reestablish, not ${first.type}` };
}

export class PeerLinks implements RemotePairing {
  private readonly listeners: PeerListeners;
  private readonly dials = new Map<Session, AbortController>();
  /** responders waiting, and the port each holds open */
  private readonly held = new Map<Session, number>();
  private readonly links = new Set<PeerLink>();
  /**
   * An initiator's links in a row that closed before the peer said anything (no responder waits
   * there yet, say): each counts as a failed attempt and the next waits, so that a refusing peer
   * is not dialled in a tight loop, and the dial gives up after as many as a dial may try.
   */
  private readonly emptyLinks = new Map<Session, number>();
  private readonly redials = new Map<Session, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly deps: PeerLinksDeps) {
    this.listeners = new PeerListeners(deps.listen, {
      onSession: (port, session, first) => this.arrived(port, session, first),
      onListenError: (port, error) => deps.log.warn('cannot listen for peers: responders on this port pair in-process only', {
        port, host: deps.listen.host, error: error.code ?? error.message,
      }),
      onRejected: (port, why) => deps.log.info('peer session refused', { port, why }),
    });
  }

  isRemote(session: Session): boolean {
    const host = session.pairing.host;
    return !!host && !this.deps.selfHosts.has(host.toLowerCase());
  }

  dial(session: Session): void {
    if (this.closed || this.dials.has(session) || session.peer) return;
    const { host, port } = { host: session.pairing.host!, port: session.pairing.port };
    const abort = new AbortController();
    this.dials.set(session, abort);
    const log = session.log;
    dial(host, port, this.deps.dial, abort.signal, (attempt, err) => log.debug('peer dial failed', { host, port, attempt, error: err.message })).then(
      (noise) => {
        this.dials.delete(session);
        if (session.isStopped || session.peer || this.closed) return noise.close();
        log.info('peer link up', { host, port, side: 'initiator' });
        this.link(session, noise, this.deps.newWire());
        session.send({ type: 'PEER.CONNECTED' });
      },
      (err: Error) => {
        if (this.dials.get(session) === abort) this.dials.delete(session);
        if (err instanceof DialError && err.code === 'aborted') return;
        // the node's initiator gives up with connect_timeout; here the FSM hears its peer is gone
        log.warn('peer unreachable: connect_timeout', { host, port, error: err.message });
        session.send({ type: 'PEER.DISCONNECTED' });
      },
    );
  }

  waiting(session: Session): void {
    if (this.held.has(session)) return;
    this.held.set(session, session.pairing.port);
    this.listeners.hold(session.pairing.port);
  }

  unwaiting(session: Session): void {
    const port = this.held.get(session);
    if (port === undefined) return;
    this.held.delete(session);
    this.listeners.release(port);
  }

  gone(session: Session): void {
    this.dials.get(session)?.abort();
    this.dials.delete(session);
    clearTimeout(this.redials.get(session));
    this.redials.delete(session);
    this.emptyLinks.delete(session);
    this.unwaiting(session);
  }

  /** The ports listened on now. */
  listeningPorts(): number[] {
    return this.listeners.listeningPorts();
  }

  /** Stops dialling and listening, and cuts every link (the service is stopping). */
  async close(): Promise<void> {
    this.closed = true;
    for (const abort of this.dials.values()) abort.abort();
    this.dials.clear();
    for (const timer of this.redials.values()) clearTimeout(timer);
    this.redials.clear();
    for (const link of this.links) link.cut('service stopping');
    await this.listeners.close();
  }

  /** A session from another service named its channel: find the responder it asks for. */
  private arrived(port: number, noise: NoiseSession, first: Uint8Array): void {
    const wire = this.deps.newWire();
    const decoded = wire.decode(first);
    if ('refusal' in decoded) {
      this.deps.log.info('peer session refused', { port, why: `${decoded.refusal.reason}: ${decoded.refusal.detail}` });
      return noise.destroy(decoded.refusal.reason);
    }
    const wanted = wantedBy(decoded.message, port);
    if ('refused' in wanted) {
      this.deps.log.info('peer session refused', { port, why: wanted.refused });
      return noise.destroy('protocol_error');
    }
    const session = this.deps.registry.takeResponder(wanted);
    if (!session) {
      this.deps.log.info('peer session refused', { port, why: `no responder waits for this ${decoded.message.type}` });
      return noise.destroy('no such responder');
    }
    session.log.info('peer link up', { port, side: 'responder', address: noise.remoteAddress });
    const link = this.link(session, noise, wire);
    session.send({ type: 'PEER.CONNECTED' });
    link.start(decoded.message);
  }

  /** Puts a link in place as the session's peer; the initiator's starts reading at once. */
  private link(session: Session, noise: NoiseSession, wire: MessageWire): PeerLink {
    // a pinned proposal's block is looked up on our chain first, the messages kept in order
    const pins = new PeerPins(this.deps.chain, (message) => { if (session.peer === link) session.receivePeer(message); });
    const link: PeerLink = new PeerLink(noise, wire, {
      message: (message) => pins.push(message),
      refused: (refusal) => session.log.warn('peer message refused', { reason: refusal.reason, detail: refusal.detail }),
      closed: ({ left, why }) => this.dropped(session, link, left, why),
    });
    this.links.add(link);
    session.peer = link;
    if (session.role === 'initiator') link.start();
    return link;
  }

  private dropped(session: Session, link: PeerLink, left: boolean, why: string): void {
    this.links.delete(link);
    if (session.peer !== link) return; // our FSM ended first: nothing to tell it
    session.peer = null;
    session.log.info('peer link closed', { why, left });
    if (session.isStopped || this.closed) return;
    if (session.role === 'responder') {
      if (!left) session.send({ type: 'PEER.DISCONNECTED' });
      this.deps.registry.waitAgain(session);
      return;
    }
    const empty = link.received === 0 ? (this.emptyLinks.get(session) ?? 0) + 1 : 0;
    this.emptyLinks.set(session, empty);
    const givesUp = empty >= this.deps.dial.attempts;
    if (givesUp) session.log.warn('peer refuses every link: connect_timeout', { host: session.pairing.host, port: session.pairing.port, links: empty });
    if (!left) session.send({ type: 'PEER.DISCONNECTED', ...(!givesUp && { redial: true }) });
    // the initiator's FSM waits to reestablish only when its channel exists; else it died of the drop
    if (givesUp || session.isStopped || session.stateName !== 'reestablishing') return;
    if (empty === 0) return this.dial(session);
    this.redials.set(session, setTimeout(() => {
      this.redials.delete(session);
      if (!session.isStopped) this.dial(session);
    }, this.deps.dial.retryDelayMs));
  }
}
