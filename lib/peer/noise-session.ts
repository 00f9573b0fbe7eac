/**
 * A Noise_NN_25519_ChaChaPoly_BLAKE2b session over TCP, framed as the node's channel sessions are
 * (aeternity/aeternity apps/aechannel/src/aesc_session_noise.erl over aeternity/enoise):
 *
 * - every Noise message, handshake and transport alike, goes on the wire as a 2-byte big-endian
 *   length followed by that many bytes (enoise.erl gen_tcp_snd_msg/gen_tcp_rcv_msg,
 *   enoise_connection.erl handle_send/handle_data);
 * - the handshake is NN with an empty prologue and empty payloads (aesc_session_noise noise_defaults/0
 *   sets only `noise`; enoise:do_handshake writes `<<>>`), so message 1 is the initiator's 32-byte
 *   ephemeral key and message 2 the responder's key plus the 16-byte tag of an empty payload;
 * - transport messages are ChaChaPoly with empty associated data and nonces counting from 0.
 *
 * The cryptography is the `noise-protocol` package's (libsodium); this module only frames, bounds
 * and times. Anything a peer sends that does not fit ends the session with a NoiseSessionError.
 */
import net from 'node:net';
import noise, { type HandshakeState, type Split } from 'noise-protocol';
import cipherFactory from 'noise-protocol/cipher.js';
import cipherStateFactory from 'noise-protocol/cipher-state.js';

export const NOISE_PROTOCOL = 'Noise_NN_25519_ChaChaPoly_BLAKE2b';
const MACLEN = 16;
/** The 2-byte length prefix caps every frame; Noise itself caps messages at 65535 bytes too. */
export const MAX_FRAME = 0xffff;
export const MAX_PLAINTEXT = MAX_FRAME - MACLEN;
const DH_LEN = 32;
/** NN message 1 is `e` (32 bytes) and message 2 `e, ee` plus an encrypted payload (>= 48 bytes). */
const HANDSHAKE_FRAME_LIMIT = 1024;

const cipherState = cipherStateFactory({ cipher: cipherFactory() });

export type NoiseErrorCode =
  | 'handshake_timeout' | 'handshake_failed' | 'frame_too_large' | 'decrypt_failed'
  | 'message_too_large' | 'closed' | 'connect_failed';

export class NoiseSessionError extends Error {
  override readonly name = 'NoiseSessionError';
  constructor(readonly code: NoiseErrorCode, message: string) {
    super(message);
  }
}

export interface NoiseSessionOptions {
  /** A peer that has not finished the handshake by then is dropped. The node's enoise waits forever. */
  handshakeTimeoutMs?: number;
  /** Largest plaintext accepted or sent, at most MAX_PLAINTEXT; a bigger frame ends the session. */
  maxMessage?: number;
  /** Must equal the peer's; the node uses none (empty). */
  prologue?: Uint8Array;
}

const DEFAULTS = { handshakeTimeoutMs: 10_000, maxMessage: MAX_PLAINTEXT, prologue: new Uint8Array(0) };

/**
 * Splits the TCP byte stream into length-prefixed frames. It refuses a frame longer than `limit`
 * as soon as its prefix arrives, so a peer cannot make us buffer more than one allowed frame.
 */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Buffer | undefined {
    if (this.buf.length < 2) return undefined;
    const len = this.buf.readUInt16BE(0);
    if (len > this.limit) throw new NoiseSessionError('frame_too_large', `frame of ${len} bytes exceeds ${this.limit}`);
    if (this.buf.length < 2 + len) return undefined;
    const frame = this.buf.subarray(2, 2 + len);
    this.buf = this.buf.subarray(2 + len);
    return frame;
  }
}

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, 2);
  return out;
}

/** The two transport cipher states by direction: `send` encrypts what we write, `recv` what we read. */
interface TransportKeys { send: Uint8Array; recv: Uint8Array }

/**
 * noise-protocol names its split by who wrote the last handshake message (that side's `tx` is k1),
 * not by role; the Noise spec and the node's enoise (enoise_hs_state:finalize/1) give k1 to the
 * initiator's sending direction. In NN the responder writes last, so both roles swap the names.
 * test/lib/peer-noise-vectors.test.ts pins this against enoise's own test vector.
 */
function nnTransportKeys(split: Split): TransportKeys {
  return { send: split.rx, recv: split.tx };
}

type MessageHandler = (message: Buffer) => void;
type CloseHandler = (error?: NoiseSessionError) => void;

/** An established session: send() and onMessage() carry plaintexts, one per Noise message. */
export class NoiseSession {
  private messageHandler: MessageHandler | undefined;
  private closeHandlers: CloseHandler[] = [];
  private queued: Buffer[] = [];
  private closed: { error?: NoiseSessionError } | undefined;
  /** close() was called: nothing more may be sent, though the socket is still flushing. */
  private ending = false;

  /** @internal built by handshake() once the split is done */
  constructor(
    private readonly socket: net.Socket,
    private readonly keys: TransportKeys,
    private readonly reader: FrameReader,
    private readonly maxMessage: number,
  ) {
    reader.limit = maxMessage + MACLEN;
    socket.on('data', (chunk: Buffer) => this.drain(chunk));
    socket.on('close', () => this.finish());
    socket.on('error', (e) => this.finish(new NoiseSessionError('closed', `socket error: ${e.message}`)));
  }

  /** Messages read but not yet handed to a handler (none once onMessage() is set). */
  get queuedMessages(): number {
    return this.queued.length;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /**
   * TCP keepalive after `idleMs` without traffic: a peer whose machine vanished (no FIN, no RST) is
   * noticed by the kernel's probes (their interval and count are the system's) and the socket errors.
   * Probes are TCP segments without data: nothing changes on the node's wire.
   */
  keepAlive(idleMs: number): void {
    this.socket.setKeepAlive(true, idleMs);
  }

  /** Bytes that arrived with the last handshake frame are decrypted here before any new data. */
  start(): void {
    this.drain(Buffer.alloc(0));
  }

  send(plaintext: Uint8Array): void {
    if (this.closed || this.ending) throw new NoiseSessionError('closed', 'session is closed');
    if (plaintext.length > this.maxMessage) {
      throw new NoiseSessionError('message_too_large', `message of ${plaintext.length} bytes exceeds ${this.maxMessage}`);
    }
    const out = Buffer.allocUnsafe(plaintext.length + MACLEN);
    cipherState.encryptWithAd(this.keys.send, out, new Uint8Array(0), plaintext);
    this.socket.write(frame(out));
  }

  /**
   * Messages that arrived before a handler was set are delivered to it at once, in order. Until
   * then the socket is paused, so a peer cannot make us queue more than one TCP read's worth.
   */
  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
    const queued = this.queued;
    this.queued = [];
    for (const m of queued) if (!this.closed) this.deliver(handler, m);
    if (!this.closed) {
      this.socket.resume();
      this.drain(Buffer.alloc(0));
    }
  }

  /**
   * Takes the handler away: what arrives from now on queues (and the socket pauses) until the next
   * onMessage(). For handing a session from one reader to another across an await.
   */
  pauseMessages(): void {
    this.messageHandler = undefined;
  }

  onClose(handler: CloseHandler): void {
    if (this.closed) queueMicrotask(() => handler(this.closed?.error));
    else this.closeHandlers.push(handler);
  }

  /** Ends the session at once, nothing flushed: the peer broke the protocol. */
  destroy(why: string): void {
    this.finish(new NoiseSessionError('closed', why));
  }

  /** Half-closes after what was sent is flushed, as enoise:close does. */
  close(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.socket.end();
  }

  private drain(chunk: Buffer): void {
    if (this.closed) return;
    try {
      if (chunk.length > 0) this.reader.push(chunk);
      for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) {
        if (f.length < MACLEN) throw new NoiseSessionError('decrypt_failed', `transport frame of ${f.length} bytes is shorter than its tag`);
        const out = Buffer.allocUnsafe(f.length - MACLEN);
        try {
          cipherState.decryptWithAd(this.keys.recv, out, new Uint8Array(0), f);
        } catch {
          throw new NoiseSessionError('decrypt_failed', 'transport message failed authentication');
        }
        if (this.messageHandler) {
          this.deliver(this.messageHandler, out);
        } else {
          this.queued.push(out);
          this.socket.pause();
        }
        if (this.closed) return;
      }
    } catch (e) {
      this.finish(e instanceof NoiseSessionError ? e : new NoiseSessionError('closed', String(e)));
    }
  }

  /**
   * A handler that throws ends the session with its error rather than escaping into the socket's
   * event loop, where it would take the process down; the integrator sees it in onClose.
   */
  private deliver(handler: MessageHandler, message: Buffer): void {
    try {
      handler(message);
    } catch (e) {
      this.finish(new NoiseSessionError('closed', `message handler threw: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  /** Once only: the first cause wins, the socket goes, the close handlers hear it. */
  private finish(error?: NoiseSessionError): void {
    if (this.closed) return;
    this.closed = error ? { error } : {};
    this.socket.destroy();
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const h of handlers) h(error);
  }
}

/**
 * Runs the NN handshake on a connected socket. The initiator writes message 1 and reads message 2;
 * the responder the other way round. Rejects with a NoiseSessionError and destroys the socket on a
 * timeout, a malformed or unauthenticated handshake message, or the peer hanging up.
 */
export function handshake(socket: net.Socket, initiator: boolean, options: NoiseSessionOptions = {}): Promise<NoiseSession> {
  const opts = { ...DEFAULTS, ...options };
  const maxMessage = Math.min(opts.maxMessage, MAX_PLAINTEXT);
  const reader = new FrameReader(HANDSHAKE_FRAME_LIMIT);
  let hs: HandshakeState | undefined = noise.initialize('NN', initiator, opts.prologue);

  return new Promise<NoiseSession>((resolve, reject) => {
    const timer = setTimeout(() => fail(new NoiseSessionError('handshake_timeout', `no handshake within ${opts.handshakeTimeoutMs} ms`)), opts.handshakeTimeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (hs) noise.destroy(hs);
      hs = undefined;
    };
    const fail = (e: NoiseSessionError): void => {
      cleanup();
      socket.destroy();
      reject(e);
    };
    const done = (split: Split): void => {
      cleanup();
      const session = new NoiseSession(socket, nnTransportKeys(split), reader, maxMessage);
      resolve(session);
      // After the caller's continuation has run (and could set a handler), not before.
      setImmediate(() => session.start());
    };
    const write = (): Split | undefined => {
      const out = new Uint8Array(2 * DH_LEN + MACLEN);
      const split = noise.writeMessage(hs!, new Uint8Array(0), out);
      socket.write(frame(out.subarray(0, noise.writeMessage.bytes)));
      return split;
    };
    const read = (message: Buffer): Split | undefined => {
      if (message.length < DH_LEN) {
        throw new NoiseSessionError('handshake_failed', `handshake message of ${message.length} bytes is shorter than a key`);
      }
      try {
        return noise.readMessage(hs!, message, new Uint8Array(message.length));
      } catch {
        throw new NoiseSessionError('handshake_failed', 'handshake message failed authentication');
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk);
        const message = reader.next();
        if (message === undefined || !hs) return;
        const split = read(message);
        if (split) return done(split); // initiator: message 2 read, done
        done(write()!); // responder: message 1 read, message 2 written, done
      } catch (e) {
        fail(e instanceof NoiseSessionError ? e : new NoiseSessionError('handshake_failed', String(e)));
      }
    };
    const onClose = (): void => fail(new NoiseSessionError('handshake_failed', 'peer closed during the handshake'));
    const onError = (e: Error): void => fail(new NoiseSessionError('handshake_failed', `socket error: ${e.message}`));

    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    if (initiator) write();
  });
}

/** The initiator's side: dial host:port and run the handshake (aesc_session_noise establish/connect). */
export function connect(host: string, port: number, options: NoiseSessionOptions & { connectTimeoutMs?: number } = {}): Promise<NoiseSession> {
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NoiseSessionError('connect_failed', `no TCP connection to ${host}:${port} within ${options.connectTimeoutMs ?? 3000} ms`));
    }, options.connectTimeoutMs ?? 3000); // the node's per-attempt connect timeout is 3 s
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new NoiseSessionError('connect_failed', `cannot connect to ${host}:${port}: ${e.message}`));
    });
  }).then((socket) => handshake(socket, true, options));
}

/** The responder's side, for a socket a net.Server accepted (aesc_session_noise establish/accept). */
export function accept(socket: net.Socket, options: NoiseSessionOptions = {}): Promise<NoiseSession> {
  socket.setNoDelay(true);
  return handshake(socket, false, options);
}
