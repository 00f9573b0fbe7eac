/**
 * Pairing across instances of one service: several processes (WORKERS) or machines on one Redis,
 * each hosting the FSMs of the sockets it accepted. Two participants that land on the same instance
 * pair in-process, as always (the registry looks there first); otherwise they meet through the store:
 *
 * - A responder that waits here is listened for on an internal port of this instance (one per
 *   responder port, picked by the system, so that workers sharing the WebSocket port never share it)
 *   and registered in the store's pairing directory under its pairing key (port and responder, or the
 *   channel id), with a time-to-live renewed while it waits: the entries of an instance that died stop
 *   being found once it runs out.
 * - An initiator that waits here (no responder here) looks its key up every LOOKUP_EVERY_MS; when
 *   another instance holds it, the initiator leaves the waiting and dials that instance's internal
 *   port over the peer link between services (lib/channel/peer-links.ts: the node's protocol over
 *   Noise). That instance's listener hands the session to its PeerLinks with the responder's port, so
 *   the responder is found as for a peer from another service.
 *
 * Everything else (an initiator naming another service's host; the public listener on a responder's
 * port) is PeerLinks's, unchanged. See docs/scaling.md.
 */
import type { Logger } from '../log.js';
import { PeerListeners, type ListenerOptions } from '../peer/listener.js';
import type { PairingDirectory } from '../store/pairing-directory.js';
import { connect, type NoiseSession } from '../peer/noise-session.js';
import { splice } from '../peer/relay.js';
import type { PeerLinks } from './peer-links.js';
import { pairingKey, wantedKey, type Registry, type RemotePairing, type WantedResponder } from './registry.js';
import type { Session } from './session.js';

/** How long an entry is found after its last renewal: an instance that died is forgotten this soon. */
const ENTRY_TTL_MS = 10_000;
/** How often the entries of the responders waiting here are renewed. */
const RENEW_EVERY_MS = 3_000;
/** How often a waiting initiator looks for its responder at the other instances. */
const LOOKUP_EVERY_MS = 200;

export interface InstancePairingDeps {
  registry: Registry;
  peers: PeerLinks;
  directory: PairingDirectory;
  log: Logger;
  /** PEER_HOST and the peer limits: where the internal ports listen */
  listen: ListenerOptions;
  /** the host other instances dial for this one's internal ports */
  advertiseHost: string;
  /** the peer link's connect and handshake timeouts, for relaying to another instance */
  dial: { connectTimeoutMs: number; handshakeTimeoutMs: number; maxMessage: number };
}

interface Held {
  key: string;
  port: number;
}

export class InstancePairing implements RemotePairing {
  private readonly internal: PeerListeners;
  private readonly held = new Map<Session, Held>();
  private readonly seeking = new Map<Session, NodeJS.Timeout | null>();
  private readonly renewal: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly deps: InstancePairingDeps) {
    this.internal = new PeerListeners({ ...deps.listen, ephemeral: true }, {
      onSession: (port, noise, first) => deps.peers.arrived(port, noise, first),
      onListening: (port) => this.registerPort(port),
      onListenError: (port, error) => deps.log.warn('cannot listen for other instances: responders on this port pair on this instance only', {
        port, host: deps.listen.host, error: error.code ?? error.message,
      }),
      onRejected: (port, why) => deps.log.info('instance peer session refused', { port, why }),
    });
    this.renewal = setInterval(() => this.renewAll(), RENEW_EVERY_MS);
    this.renewal.unref();
    deps.peers.relayVia((wanted, noise, first) => this.relay(wanted, noise, first));
  }

  /**
   * A session at a public peer port of this instance asks for a responder waiting at another one (a
   * worker of this machine, say, since one worker holds the port): it is relayed to that instance's
   * internal port, first message and all, over a session of our own (lib/peer/relay.ts). False when
   * no other instance has it either.
   */
  async relay(wanted: WantedResponder, inbound: NoiseSession, first: Uint8Array): Promise<boolean> {
    if (this.closed) return false;
    const own = this.ownAddresses();
    const found = (await this.deps.directory.lookup(wantedKey(wanted))).find((address) => !own.has(address));
    if (!found) return false;
    const { host, port } = splitAddress(found);
    const outbound = await connect(host, port, this.deps.dial);
    try {
      outbound.send(first);
    } catch (err) {
      outbound.destroy('relay: could not pass the first message');
      throw err;
    }
    splice(inbound, outbound);
    this.deps.log.info('peer session relayed to another instance', { port: wanted.port, address: found });
    return true;
  }

  isRemote(session: Session): boolean {
    return this.deps.peers.isRemote(session);
  }

  dial(session: Session): void {
    this.deps.peers.dial(session);
  }

  waiting(session: Session): void {
    this.deps.peers.waiting(session);
    if (this.closed) return;
    if (session.role === 'initiator') {
      if (!this.seeking.has(session)) this.seek(session);
      return;
    }
    if (this.held.has(session)) return;
    const held = { key: pairingKey(session), port: session.pairing.port };
    this.held.set(session, held);
    this.internal.hold(held.port);
    // already listened on for another responder: register now; else once it listens
    if (this.internal.boundPort(held.port) !== null) this.register(held);
  }

  unwaiting(session: Session): void {
    this.deps.peers.unwaiting(session);
    this.stopSeeking(session);
    const held = this.held.get(session);
    if (!held) return;
    this.held.delete(session);
    const address = this.addressOf(held.port);
    this.internal.release(held.port);
    // another responder here under the same key keeps the entry
    if (!address || [...this.held.values()].some((h) => h.key === held.key && h.port === held.port)) return;
    this.deps.directory.unregister(held.key, address).catch((err: Error) => this.deps.log.debug('pairing directory: unregister failed', { error: err.message }));
  }

  gone(session: Session): void {
    this.unwaiting(session);
    this.deps.peers.gone(session);
  }

  /** Stops looking and listening, and takes this instance's entries out of the directory. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.renewal);
    for (const timer of this.seeking.values()) clearTimeout(timer ?? undefined);
    this.seeking.clear();
    const entries = [...this.held.values()].map((h) => [h.key, this.addressOf(h.port)] as const);
    this.held.clear();
    await Promise.all(entries.map(([key, address]) => address && this.deps.directory.unregister(key, address).catch(() => undefined)));
    await this.internal.close();
  }

  /** The directory addresses of this instance's own internal ports. */
  private ownAddresses(): Set<string | null> {
    return new Set([...this.held.values()].map((h) => this.addressOf(h.port)));
  }

  private addressOf(port: number): string | null {
    const bound = this.internal.boundPort(port);
    if (bound === null) return null;
    const host = this.deps.advertiseHost.includes(':') ? `[${this.deps.advertiseHost}]` : this.deps.advertiseHost;
    return `${host}:${bound}`;
  }

  private register(held: Held): void {
    const address = this.addressOf(held.port);
    if (!address) return;
    this.deps.directory.register(held.key, address, ENTRY_TTL_MS)
      .catch((err: Error) => this.deps.log.warn('pairing directory: register failed; retried on the next renewal', { error: err.message }));
  }

  private registerPort(port: number): void {
    for (const held of new Set([...this.held.values()].filter((h) => h.port === port).map((h) => h.key))) this.register({ key: held, port });
  }

  private renewAll(): void {
    const unique = new Map<string, Held>();
    for (const held of this.held.values()) unique.set(`${held.port} ${held.key}`, held);
    for (const held of unique.values()) this.register(held);
  }

  /** One look for the initiator's responder at the other instances; again later while it waits. */
  private seek(session: Session): void {
    this.seeking.set(session, null);
    const key = pairingKey(session);
    const own = this.ownAddresses();
    this.deps.directory.lookup(key).then(
      (addresses) => {
        if (!this.seeking.has(session)) return;
        const found = addresses.find((address) => !own.has(address));
        if (found && this.deps.registry.claim(session)) {
          this.stopSeeking(session);
          session.log.info('responder found at another instance', { address: found });
          this.deps.peers.dial(session, splitAddress(found));
          return;
        }
        this.again(session);
      },
      (err: Error) => {
        session.log.debug('pairing directory: lookup failed', { error: err.message });
        this.again(session);
      },
    );
  }

  private again(session: Session): void {
    if (!this.seeking.has(session) || this.closed) return;
    const timer = setTimeout(() => { if (this.seeking.has(session)) this.seek(session); }, LOOKUP_EVERY_MS);
    timer.unref();
    this.seeking.set(session, timer);
  }

  private stopSeeking(session: Session): void {
    if (!this.seeking.has(session)) return;
    clearTimeout(this.seeking.get(session) ?? undefined);
    this.seeking.delete(session);
  }
}

/** `host:port` or `[v6]:port`, as the directory holds it. */
function splitAddress(address: string): { host: string; port: number } {
  const cut = address.lastIndexOf(':');
  return { host: address.slice(0, cut).replace(/^\[|\]$/g, ''), port: Number(address.slice(cut + 1)) };
}
