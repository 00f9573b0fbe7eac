/**
 * The responder's side of the peer link: one TCP listener per port, open while at least one responder
 * waits on that port (the node's aesc_listeners: one listener per port, shared by every responder FSM
 * waiting on it), closed when none waits. Each accepted socket gets the Noise handshake and must then
 * name its channel with its first message, both within the handshake timeout; the session and that
 * first message go to `onSession`, which locates the FSM (or refuses) — this module knows nothing
 * of channels.
 *
 * Untrusted input is bounded here: sessions per port (handshakes included), frame size (the Noise
 * session's maxMessage), and time to the first message. A listen that fails (EADDRINUSE, EACCES) is
 * reported to `onListenError` and retried when the next responder waits on the port: the responders
 * can still pair in-process, so it breaks nothing local.
 */
import net from 'node:net';
import { accept, NoiseSessionError, type NoiseSession } from './noise-session.js';

export interface ListenerOptions {
  /** PEER_HOST */
  host: string;
  maxSessionsPerPort: number;
  /** handshake and first message, each */
  handshakeTimeoutMs: number;
  /** largest plaintext a peer may send */
  maxMessage: number;
  /**
   * listen for each port on a port the system picks instead (an instance's internal listeners, found
   * through the store: lib/channel/instance-pairing.ts); `boundPort` says which
   */
  ephemeral?: boolean;
}

export interface ListenerEvents {
  /** a session named its channel with `first`; the callee owns the session from now on */
  onSession(port: number, session: NoiseSession, first: Uint8Array): void;
  /** the port could not be listened on (its code: EADDRINUSE, EACCES, …) */
  onListenError(port: number, error: NodeJS.ErrnoException): void;
  /** a session ended before naming its channel: refused, a bad handshake, a stall */
  onRejected?(port: number, why: string): void;
  /** the port is listened on now (at `bound`, which differs from `port` when ephemeral) */
  onListening?(port: number, bound: number): void;
}

interface PortListener {
  server: net.Server;
  /** responders waiting on the port */
  holders: number;
  /** sockets accepted and not yet closed, handshakes included */
  sessions: number;
  state: 'starting' | 'listening' | 'failed' | 'closing';
}

export class PeerListeners {
  private readonly ports = new Map<number, PortListener>();
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  constructor(private readonly options: ListenerOptions, private readonly events: ListenerEvents) {}

  /** A responder waits on `port`: listen there if nothing does yet (or the last attempt failed). */
  hold(port: number): void {
    if (this.closed) return;
    const existing = this.ports.get(port);
    if (existing && existing.state !== 'failed' && existing.state !== 'closing') {
      existing.holders++;
      return;
    }
    const holders = (existing?.holders ?? 0) + 1;
    const entry: PortListener = { server: net.createServer({ pauseOnConnect: false }), holders, sessions: existing?.sessions ?? 0, state: 'starting' };
    this.ports.set(port, entry);
    entry.server.on('connection', (socket) => this.connection(port, entry, socket));
    entry.server.once('error', (error: NodeJS.ErrnoException) => {
      if (entry.state !== 'starting') return;
      entry.state = 'failed';
      this.events.onListenError(port, error);
    });
    // exclusive: a cluster worker binds its own socket, never one shared through the primary
    entry.server.listen({ port: this.options.ephemeral ? 0 : port, host: this.options.host, exclusive: true }, () => {
      if (entry.state !== 'starting') return;
      entry.state = 'listening';
      if (entry.holders === 0) this.shut(port, entry);
      else this.events.onListening?.(port, (entry.server.address() as net.AddressInfo).port);
    });
  }

  /** A responder no longer waits on `port` (paired, or gone): the last one closes the listener. */
  release(port: number): void {
    const entry = this.ports.get(port);
    if (!entry || entry.holders === 0) return;
    entry.holders--;
    if (entry.holders > 0) return;
    if (entry.state === 'listening' || entry.state === 'failed') this.shut(port, entry);
    // still starting: shut once it listens
  }

  /** Whether `port` is listened on now (for the ops side and the tests). */
  listening(port: number): boolean {
    return this.ports.get(port)?.state === 'listening';
  }

  /** Where `port` is listened on now (itself, or the one picked for it when ephemeral), if it is. */
  boundPort(port: number): number | null {
    const entry = this.ports.get(port);
    return entry?.state === 'listening' ? (entry.server.address() as net.AddressInfo).port : null;
  }

  /** The ports listened on now. */
  listeningPorts(): number[] {
    return [...this.ports].filter(([, e]) => e.state === 'listening').map(([p]) => p);
  }

  /** Stops listening everywhere and cuts every session not yet handed over. */
  async close(): Promise<void> {
    this.closed = true;
    const done = [...this.ports].map(([port, entry]) => this.shut(port, entry));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(done);
  }

  private shut(port: number, entry: PortListener): Promise<void> {
    if (this.ports.get(port) === entry) this.ports.delete(port);
    const wasListening = entry.state === 'listening';
    entry.state = 'closing';
    if (!wasListening) return Promise.resolve();
    // the sessions already accepted live on: closing a listener ends no link
    return new Promise((resolve) => entry.server.close(() => resolve()));
  }

  private connection(port: number, entry: PortListener, socket: net.Socket): void {
    // counted against the port's current listener, whichever listener accepted it
    const counter = this.ports.get(port) ?? entry;
    if (this.closed || counter.sessions >= this.options.maxSessionsPerPort) {
      socket.destroy();
      this.events.onRejected?.(port, this.closed ? 'stopping' : `more than ${this.options.maxSessionsPerPort} sessions on the port`);
      return;
    }
    counter.sessions++;
    this.sockets.add(socket);
    socket.once('close', () => {
      counter.sessions--;
      this.sockets.delete(socket);
    });
    socket.on('error', () => undefined); // a reset by the peer: 'close' follows
    const { handshakeTimeoutMs, maxMessage } = this.options;
    accept(socket, { handshakeTimeoutMs, maxMessage }).then(
      (session) => this.firstMessage(port, socket, session),
      (err: NoiseSessionError) => this.events.onRejected?.(port, `${err.code}: ${err.message}`),
    );
  }

  /** The session names its channel with its first message, in time, or is cut. */
  private firstMessage(port: number, socket: net.Socket, session: NoiseSession): void {
    let named = false;
    const timer = setTimeout(() => {
      if (named) return;
      named = true;
      session.close();
      socket.destroy();
      this.events.onRejected?.(port, `no first message within ${this.options.handshakeTimeoutMs} ms`);
    }, this.options.handshakeTimeoutMs);
    session.onClose((err) => {
      clearTimeout(timer);
      if (named) return;
      named = true;
      this.events.onRejected?.(port, err ? `${err.code}: ${err.message}` : 'closed before its first message');
    });
    session.onMessage((first) => {
      if (named) return;
      named = true;
      clearTimeout(timer);
      // the callee sets its own handler; until then later messages queue in the session
      session.pauseMessages();
      this.sockets.delete(socket);
      this.events.onSession(port, session, first);
    });
  }
}
