/**
 * Forwarding between instances of one service on one Redis: a client that reestablishes at an instance
 * while another live instance holds its FSM's lease is served by that owner, through this one.
 *
 * - Every instance listens on an internal port of its own (PEER_HOST, a port the system picks, so
 *   workers sharing the public WebSocket port never share it) and advertises `host:port` in the store's
 *   instance directory under its lease owner name, renewed while it runs.
 * - Admission refuses the reestablish with `OwnedElsewhere` naming the owner (after the fsm_id was
 *   checked against the store: only a client that proves its FSM is forwarded). The socket server
 *   then opens a WebSocket to the owner's internal port with the client's path and query, and relays
 *   frames both ways untouched (either envelope, text or binary), with the frames that arrived
 *   meanwhile first, in order.
 * - The internal port takes only connections that show the instances' shared secret (made once and kept
 *   in the store, never logged), and marks them forwarded: an instance never forwards a forwarded
 *   connection again (one hop), so two instances that disagree about the owner cannot loop; the
 *   client is refused instead and reestablishes again.
 * - An owner that cannot be reached (it died and its lease has not run out yet, or it is paused) is
 *   today's refusal, `fsm_owned_elsewhere`, saying why: the client retries, and once the lease runs out
 *   the instance it reaches takes the FSM over.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from '../log.js';
import type { InstanceDirectory } from '../store/instance-directory.js';

/** The header forwarded connections show the internal port: the secret the instances share. */
export const FORWARD_SECRET_HEADER = 'x-aesc-forward-secret';
/** The client's own address, as the forwarding instance saw it (for the per-address limit). */
export const FORWARDED_FOR_HEADER = 'x-aesc-forwarded-for';

/** How long an instance's address is found after its last renewal: a dead one is forgotten this soon. */
export const ADDRESS_TTL_MS = 10_000;
/** How often an instance renews its address. */
const ADVERTISE_EVERY_MS = 3_000;
/**
 * Bytes sent one way and not yet written out at which the sending side is paused (its socket stops
 * being read, so TCP pushes back on its peer), and below which it is resumed.
 */
const PAUSE_ABOVE_BYTES = 1 << 20;
const RESUME_BELOW_BYTES = 1 << 18;

export interface ForwardingOptions {
  /** the secret every instance on the store shows the others' internal ports */
  secret: string;
  directory: Pick<InstanceDirectory, 'addressOf'>;
  /** how long reaching the owner may take before the client is refused */
  connectTimeoutMs: number;
}

/** Whether an upgrade request on the internal port shows the instances' secret. */
export function showsSecret(req: IncomingMessage, secret: string): boolean {
  const shown = req.headers[FORWARD_SECRET_HEADER];
  if (typeof shown !== 'string') return false;
  const a = Buffer.from(shown);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether the instance that forwarded `socket` here still relays it: a ping it answers. An instance
 * that gave up waiting for the handshake (this one was paused, or slow) has dropped the connection,
 * but its request may still be read here later, from the listen queue; admitted, it would hand the
 * FSM a dead client in place of the live one. A pong proves the forwarder saw the handshake complete.
 */
export function forwarderStillThere(socket: WebSocket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (there: boolean) => {
      clearTimeout(timer);
      socket.off('pong', onPong);
      socket.off('close', onClose);
      resolve(there);
    };
    const onPong = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => {
      done(false);
      socket.terminate();
    }, timeoutMs);
    socket.once('pong', onPong);
    socket.once('close', onClose);
    socket.ping();
  });
}

/** Why the owner could not be reached, or the open relay to it. */
export type Forwarded = { ok: true; relay: Relay } | { ok: false; why: string };

/**
 * Opens a connection to `owner` for `client`, with the client's path and query (`url`). Resolves once
 * it is open (the relay is then running) or has failed (nothing was sent to the client).
 */
export async function forward(client: WebSocket, url: string, owner: string, clientAddress: string, options: ForwardingOptions): Promise<Forwarded> {
  let address: string | null;
  try {
    address = await options.directory.addressOf(owner);
  } catch (err) {
    return { ok: false, why: `its address could not be looked up (${(err as Error).message})` };
  }
  if (!address) return { ok: false, why: 'it advertises no address (it stopped or died)' };
  let upstream: WebSocket;
  try {
    upstream = new WebSocket(`ws://${address}${url}`, {
      headers: { [FORWARD_SECRET_HEADER]: options.secret, [FORWARDED_FOR_HEADER]: clientAddress },
      handshakeTimeout: options.connectTimeoutMs,
      perMessageDeflate: false,
    });
  } catch {
    // ws's words would quote the URL, and with it the fsm_id
    return { ok: false, why: `its advertised address ${JSON.stringify(address.slice(0, 100))} is not a host:port` };
  }
  return new Promise((resolve) => {
    let settled = false;
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return upstream.terminate();
      settled = true;
      // the code (ECONNREFUSED, …) or ws's words (a timeout, an HTTP status): never the URL, which holds the fsm_id
      resolve({ ok: false, why: `it could not be reached at ${address} (${err.code ?? err.message})` });
    });
    upstream.once('open', () => {
      settled = true;
      resolve({ ok: true, relay: new Relay(client, upstream) });
    });
  });
}

/**
 * Frames both ways between a client's socket and the owner's, untouched. Each direction is paused
 * while too much of it waits to be written out; either side closing closes the other with the same
 * code and reason (an abnormal end, such as the owner dying, ends the other abruptly too).
 */
export class Relay {
  private toUpstream = 0;
  private toClient = 0;
  /** settles once the owner's socket has closed (whichever side closed first) */
  readonly ended: Promise<void>;

  constructor(private readonly client: WebSocket, private readonly upstream: WebSocket) {
    upstream.on('message', (data, isBinary) => this.pass(data, isBinary, upstream, client, 'toClient'));
    this.ended = new Promise((resolve) => upstream.once('close', (code, reason) => {
      closeLike(client, code, reason);
      resolve();
    }));
  }

  /** A frame from the client (or one that waited while the relay opened). */
  fromClient(data: RawData, isBinary: boolean): void {
    this.pass(data, isBinary, this.client, this.upstream, 'toUpstream');
  }

  /** The client's socket closed: so does the owner's. */
  clientClosed(code: number, reason: Buffer): void {
    closeLike(this.upstream, code, reason);
  }

  private pass(data: RawData, isBinary: boolean, from: WebSocket, to: WebSocket, queue: 'toUpstream' | 'toClient'): void {
    if (to.readyState !== WebSocket.OPEN) return;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    this[queue] += size;
    to.send(data, { binary: isBinary }, () => {
      this[queue] -= size;
      if (from.isPaused && this[queue] < RESUME_BELOW_BYTES) from.resume();
    });
    if (!from.isPaused && this[queue] > PAUSE_ABOVE_BYTES) from.pause();
  }
}

/** Closes `socket` as its counterpart was: the same code and reason, or abruptly for an abnormal end. */
function closeLike(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === WebSocket.CLOSED) return;
  if (code === 1005) socket.close();
  else if (sendable(code)) socket.close(code, reason);
  else socket.terminate();
}

/** Close codes a close frame may carry (RFC 6455 7.4: 1004, 1005, 1006 and 1015 never travel). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * Keeps this instance's internal address in the directory while it runs; the returned stop takes it
 * out (a clean stop: forwarders are refused at once rather than failing to connect).
 */
export async function advertise(
  directory: Pick<InstanceDirectory, 'advertise' | 'withdraw'>, instance: string, address: string, log: Logger,
): Promise<() => Promise<void>> {
  await directory.advertise(instance, address, ADDRESS_TTL_MS);
  const timer = setInterval(() => {
    directory.advertise(instance, address, ADDRESS_TTL_MS)
      .catch((err: Error) => log.warn('instance directory: could not renew this instance\'s address; retried shortly', { error: err.message }));
  }, ADVERTISE_EVERY_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await directory.withdraw(instance, address).catch(() => undefined);
  };
}
