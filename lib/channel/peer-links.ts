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
 * - A link that drops while an FSM does without its peer (a mutual close on its way on chain, a
 *   dispute: states that ignore PEER.DISCONNECTED) leaves that FSM parked: nothing is dialled or
 *   listened for, since it would not use a link. If it comes back to `open` (the close tx rejected
 *   on chain), it hears the disconnect then, and the initiator's service redials, the responder
 *   waits for the reestablish, as after any drop. An FSM that ends is forgotten.
 * - A responder's port stays listened on while its link stands, so that a link whose far end went
 *   without our side hearing of it (a partition swallowed the close) is replaced by the peer's next
 *   channel_reestablish, which proves itself by naming our latest off-chain state (supersede()),
 *   instead of standing until keepalive notices, minutes later, with every redial refused.
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
import { readSignedTx, TX_TAG } from '../peer/tx-facts.js';
import { decode } from '../tx/encoding.js';

export interface PeerLinksDeps {
  registry: Registry;
  log: Logger;
  /** the hosts that name this service (lib/config.ts selfHosts) */
  selfHosts: Set<string>;
  listen: ListenerOptions;
  dial: DialOptions;
  /** PEER_REPLY_TIMEOUT_MS: a link silent this long while we await the peer's reply is cut (lib/peer/link.ts) */
  replyTimeoutMs?: number;
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

/**
 * The FSM's states that go on without the peer and ignore PEER.DISCONNECTED: a mutual close on its
 * way on chain (`closing`), a dispute (`channel_closing`, `channel_closed`). The node's FSM keeps its
 * state on a disconnect too while its channel status is `closing` (aesc_fsm handle_common_event_).
 */
const WITHOUT_PEER = new Set(['closing', 'channel_closing', 'channel_closed']);
const doesWithoutPeer = (session: Session) => !session.isStopped && WITHOUT_PEER.has(session.stateName);

/**
 * Where a session from another service that no responder here takes may go instead: another
 * instance's responder (InstancePairing.relay). True when it took the session.
 */
export type RelayElsewhere = (wanted: WantedResponder, noise: NoiseSession, first: Uint8Array) => Promise<boolean>;

export class PeerLinks implements RemotePairing {
  private readonly listeners: PeerListeners;
  private readonly dials = new Map<Session, AbortController>();
  /** responders waiting, and the port each holds open */
  private readonly held = new Map<Session, number>();
  private readonly links = new Set<PeerLink>();
  /** the public port each responder's link came in on, listened on while the link stands */
  private readonly linkPorts = new Map<PeerLink, number>();
  /**
   * An initiator's links in a row that closed before the peer said anything (no responder waits
   * there yet, say): each counts as a failed attempt and the next waits, so that a refusing peer
   * is not dialled in a tight loop, and the dial gives up after as many as a dial may try.
   */
  private readonly emptyLinks = new Map<Session, number>();
  private readonly redials = new Map<Session, NodeJS.Timeout>();
  /**
   * initiators dialled at another instance of this service (found in the store, not named by their
   * `host`): after a drop they wait again, to find their responder wherever it is by then
   */
  private readonly via = new Map<Session, { host: string; port: number }>();
  /** FSMs whose link dropped while they did without their peer: looked at until they need it again or end */
  private readonly parked = new Map<Session, NodeJS.Timeout>();
  private closed = false;
  private relayElsewhere: RelayElsewhere | null = null;

  constructor(private readonly deps: PeerLinksDeps) {
    this.listeners = new PeerListeners(deps.listen, {
      // only sessions at the public ports are relayed on: one relay at most, never a loop
      onSession: (port, session, first) => this.arrived(port, session, first, true),
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

  /** Dials the initiator's responder: at its `host` and `port`, or at `via` (another instance's address). */
  dial(session: Session, via?: { host: string; port: number }): void {
    if (this.closed || this.dials.has(session) || session.peer) return;
    if (via) this.via.set(session, via);
    const { host, port } = this.via.get(session) ?? { host: session.pairing.host!, port: session.pairing.port };
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
    if (session.role !== 'responder' || this.held.has(session)) return;
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
    clearInterval(this.parked.get(session));
    this.parked.delete(session);
    this.emptyLinks.delete(session);
    this.via.delete(session);
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
    for (const timer of this.parked.values()) clearInterval(timer);
    this.parked.clear();
    for (const link of this.links) link.cut('service stopping');
    await this.listeners.close();
  }

  /** Sessions no responder here takes may be relayed to another instance's (several instances on one store). */
  relayVia(relay: RelayElsewhere): void {
    this.relayElsewhere = relay;
  }

  /**
   * A session from another service (or instance) named its channel: find the responder it asks for,
   * here or, if `relayable` and none waits here, at another instance.
   */
  arrived(port: number, noise: NoiseSession, first: Uint8Array, relayable = false): void {
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
    const session = this.deps.registry.takeResponder(wanted) ?? this.supersede(wanted, decoded.message);
    if (!session) {
      const refuse = () => {
        this.deps.log.info('peer session refused', { port, why: `no responder waits for this ${decoded.message.type}` });
        noise.destroy('no such responder');
      };
      if (!relayable || !this.relayElsewhere) return refuse();
      this.relayElsewhere(wanted, noise, first).then((relayed) => { if (!relayed) refuse(); }, (err: Error) => {
        this.deps.log.warn('peer session could not be relayed to another instance', { port, error: err.message });
        refuse();
      });
      return;
    }
    session.log.info('peer link up', { port, side: 'responder', address: noise.remoteAddress });
    const link = this.link(session, noise, wire);
    this.linkPorts.set(link, port);
    this.listeners.hold(port);
    session.send({ type: 'PEER.CONNECTED' });
    link.start(decoded.message);
  }

  /**
   * A channel_reestablish for a responder whose link still stands here: the peer's end went (a
   * partition swallowed the close, its service restarted) and ours has not heard, which only
   * keepalive would tell, minutes later. Noise NN authenticates nobody, so the new session must prove
   * it speaks for the peer: it names our latest round and its state hash, and that round is an off-chain round
   * past any the chain has shown (only the two participants' services hold one; a create, deposit or
   * withdraw tx, or a round a snapshot or solo close posted, is public). Then the old link is cut as
   * a drop (the FSM hears PEER.DISCONNECTED and waits again) and the new session takes its place.
   * Anything else is refused, as before: a stranger cannot knock a live link down.
   */
  private supersede(wanted: WantedResponder, first: PeerMessage): Session | null {
    if (first.type !== 'channel_reestablish' || !('channelId' in wanted)) return null;
    const session = this.deps.registry.find(wanted.channelId, 'responder');
    const link = session?.peer;
    if (!session || !(link instanceof PeerLink) || this.linkPorts.get(link) !== wanted.port) return null;
    const context = session.context();
    const latest = context.state;
    if (!latest || first.round !== latest.round || first.stateHash !== latest.stateHash || latest.round <= context.reportedChainRound) return null;
    if (readSignedTx(decode(latest.signedTx))?.tag !== TX_TAG.offchain) return null;
    session.log.warn('the peer reestablished over a new link while the old one stood: the old link is cut', { port: wanted.port, round: latest.round });
    link.cut('superseded: the peer reestablished over a new link');
    return this.deps.registry.takeResponder(wanted);
  }

  /** Puts a link in place as the session's peer; the initiator's starts reading at once. */
  private link(session: Session, noise: NoiseSession, wire: MessageWire): PeerLink {
    // a pinned proposal's block is looked up on our chain first, the messages kept in order
    const pins = new PeerPins(this.deps.chain, (message) => { if (session.peer === link) session.receivePeer(message); });
    const link: PeerLink = new PeerLink(noise, wire, {
      message: (message) => pins.push(message),
      refused: (refusal) => session.log.warn('peer message refused', { reason: refusal.reason, detail: refusal.detail }),
      closed: ({ left, why, stalled }) => {
        // a stall is news for the operator (a hung peer or network); a close is routine
        if (stalled) session.log.warn('peer link stalled: cut', { why, host: session.pairing.host, port: session.pairing.port });
        this.dropped(session, link, left, why);
      },
    }, { replyTimeoutMs: this.deps.replyTimeoutMs });
    this.links.add(link);
    session.peer = link;
    if (session.role === 'initiator') link.start();
    return link;
  }

  /**
   * An FSM that ignored its link's drop is looked at every PEER_REDIAL_DELAY_MS (no FSM event tells
   * the service of a state change, and this is rare): back in `open` it needs its peer again, and is
   * told of the drop now, as if the link had just gone; ended, it is forgotten (gone() clears it).
   */
  private park(session: Session): void {
    if (this.parked.has(session)) return;
    session.log.info('peer link gone while the FSM does without it: parked', { state: session.stateName });
    const timer = setInterval(() => {
      if (session.isStopped || this.closed || session.peer) return this.unpark(session);
      if (doesWithoutPeer(session)) return;
      this.unpark(session);
      session.log.info('FSM needs its peer again: reestablishing the link', { state: session.stateName });
      if (session.role === 'responder') {
        session.send({ type: 'PEER.DISCONNECTED' });
        this.deps.registry.waitAgain(session);
        return;
      }
      session.send({ type: 'PEER.DISCONNECTED', redial: true });
      if (!session.isStopped && session.stateName === 'reestablishing') this.redial(session);
    }, Math.max(this.deps.dial.retryDelayMs, 50));
    timer.unref();
    this.parked.set(session, timer);
  }

  private unpark(session: Session): void {
    clearInterval(this.parked.get(session));
    this.parked.delete(session);
  }

  private dropped(session: Session, link: PeerLink, left: boolean, why: string): void {
    const port = this.linkPorts.get(link);
    this.linkPorts.delete(link);
    try {
      this.afterDrop(session, link, left, why);
    } finally {
      // after the responder waits again (holding the port itself): the listener never closes in between
      if (port !== undefined) this.listeners.release(port);
    }
  }

  private afterDrop(session: Session, link: PeerLink, left: boolean, why: string): void {
    this.links.delete(link);
    if (session.peer !== link) return; // our FSM ended first: nothing to tell it
    session.peer = null;
    session.log.info('peer link closed', { why, left });
    if (session.isStopped || this.closed) return;
    if (session.role === 'responder') {
      if (!left) session.send({ type: 'PEER.DISCONNECTED' });
      if (!left && doesWithoutPeer(session)) return this.park(session);
      this.deps.registry.waitAgain(session);
      return;
    }
    const empty = link.received === 0 ? (this.emptyLinks.get(session) ?? 0) + 1 : 0;
    this.emptyLinks.set(session, empty);
    const givesUp = empty >= this.deps.dial.attempts;
    if (givesUp) session.log.warn('peer refuses every link: connect_timeout', { host: session.pairing.host, port: session.pairing.port, links: empty });
    if (!left) session.send({ type: 'PEER.DISCONNECTED', ...(!givesUp && { redial: true }) });
    if (!givesUp && !left && doesWithoutPeer(session)) return this.park(session);
    // the initiator's FSM waits to reestablish only when its channel exists; else it died of the drop
    if (givesUp || session.isStopped || session.stateName !== 'reestablishing') return;
    if (empty === 0) return this.redial(session);
    this.redials.set(session, setTimeout(() => {
      this.redials.delete(session);
      if (!session.isStopped) this.redial(session);
    }, this.deps.dial.retryDelayMs));
  }

  /** Dials again where the host names; one dialled at another instance looks for its responder anew. */
  private redial(session: Session): void {
    if (!this.via.delete(session)) return this.dial(session);
    this.deps.registry.waitAgain(session);
  }
}
