/**
 * The Noise session over real TCP on 127.0.0.1: the node's framing (a 2-byte big-endian length
 * before every Noise message, enoise.erl / enoise_connection.erl), NN with an empty prologue and
 * empty handshake payloads (aesc_session_noise.erl noise_defaults/0), and what happens to peers
 * that send garbage, stall, or send frames that are too big.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import noise from 'noise-protocol';
import cipherFactory from 'noise-protocol/cipher.js';
import cipherStateFactory from 'noise-protocol/cipher-state.js';
import {
  accept, connect, frame, MAX_PLAINTEXT, NoiseSession, NoiseSessionError, type NoiseSessionOptions,
} from '../../lib/peer/noise-session.js';
import { decode, encode } from '../../lib/peer/codec.js';

const cipherState = cipherStateFactory({ cipher: cipherFactory() });

/** A server whose every accepted socket goes to `onSocket`; closed at the end of the test. */
async function server(t: Test, onSocket: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

/** A responder server: resolves with the first session (or rejection) it accepts. */
async function responder(t: Test, opts: NoiseSessionOptions = {}) {
  let settle!: (p: Promise<NoiseSession>) => void;
  const first = new Promise<Promise<NoiseSession>>((r) => { settle = r; });
  const port = await server(t, (s) => settle(accept(s, opts)));
  return { port, session: () => first.then((p) => p) };
}

/** A plain TCP peer that buffers everything it receives, so tests can read exact byte counts. */
class RawPeer {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => { this.buf = Buffer.concat([this.buf, c]); this.waiter?.(); });
    socket.on('close', () => { this.ended = true; this.waiter?.(); });
    socket.on('error', () => {});
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }

  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`closed after ${this.buf.length} of ${n} bytes`);
      await new Promise<void>((r) => { this.waiter = r; });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  closed(): Promise<void> {
    return this.ended ? Promise.resolve() : new Promise((r) => this.socket.once('close', () => r()));
  }
}

async function rawClient(t: Test, port: number): Promise<RawPeer> {
  const s = net.connect({ host: '127.0.0.1', port });
  const peer = new RawPeer(s);
  t.teardown(() => { s.destroy(); });
  await new Promise<void>((r) => s.once('connect', () => r()));
  return peer;
}

const closed = (s: NoiseSession): Promise<NoiseSessionError | undefined> => new Promise((r) => s.onClose(r));
const nextMessage = (s: NoiseSession): Promise<Buffer> => new Promise((r) => s.onMessage(r));
const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof NoiseSessionError ? e.code : `foreign: ${String(e)}`;
  }
};

/** The initiator's half of the handshake done by hand with noise-protocol, framing written out. */
async function handRolledInitiator(t: Test, port: number) {
  const s = await rawClient(t, port);
  const hs = noise.initialize('NN', true, new Uint8Array(0));
  const m1 = new Uint8Array(32);
  noise.writeMessage(hs, new Uint8Array(0), m1);
  t.equal(noise.writeMessage.bytes, 32, 'NN message 1 is the 32-byte ephemeral key');
  s.write(Buffer.concat([Buffer.from([0x00, 0x20]), m1]));
  const head = await s.read(2);
  t.equal(head.toString('hex'), '0030', 'message 2 is framed with length 48: key + tag of the empty payload');
  const m2 = await s.read(48);
  const split = noise.readMessage(hs, m2, new Uint8Array(48))!;
  t.ok(split, 'the handshake completes in two messages');
  // As the Noise spec and enoise orient them: the initiator sends with k1, which noise-protocol
  // names `rx` here (see peer-noise-vectors.test.ts).
  return { s, keys: { send: split.rx, recv: split.tx } };
}

t.test('handshake and messages both ways', async (t) => {
  const r = await responder(t);
  const client = await connect('127.0.0.1', r.port);
  const srv = await r.session();
  t.teardown(() => { client.close(); srv.close(); });

  const atServer = nextMessage(srv);
  client.send(Buffer.from('ping'));
  t.equal((await atServer).toString(), 'ping');

  // A codec message and the largest allowed plaintext go through intact.
  const msg = encode({ type: 'update_error', channel_id: new Uint8Array(32).fill(7), round: 3, error_code: 2 });
  const big = randomBytes(MAX_PLAINTEXT);
  const got: Buffer[] = [];
  const two = new Promise<void>((res) => client.onMessage((m) => { got.push(m); if (got.length === 2) res(); }));
  srv.send(msg);
  srv.send(big);
  await two;
  t.same(decode(got[0]!), decode(msg));
  t.ok(got[1]!.equals(big), 'a 65519-byte message arrives whole');

  const clientClosed = closed(client);
  srv.close();
  t.equal(await clientClosed, undefined, 'a clean close carries no error');
  t.equal(await codeOf(Promise.resolve().then(() => client.send(Buffer.from('x')))), 'closed');
  t.equal(await codeOf(Promise.resolve().then(() => srv.send(Buffer.from('x')))), 'closed', 'nor after our own close()');
});

t.test('a message handler that throws ends the session with its error', async (t) => {
  const r = await responder(t);
  const client = await connect('127.0.0.1', r.port);
  const srv = await r.session();
  t.teardown(() => client.close());
  const end = closed(srv);
  srv.onMessage(() => { throw new Error('integrator bug'); });
  client.send(Buffer.from('x'));
  const err = await end;
  t.equal(err?.code, 'closed');
  t.match(err?.message, /integrator bug/);
});

t.test('messages sent right after the handshake are not lost before a handler is set', async (t) => {
  const port = await server(t, (s) => {
    void accept(s).then((sn) => { sn.send(Buffer.from('one')); sn.send(Buffer.from('two')); });
  });
  const client = await connect('127.0.0.1', port);
  t.teardown(() => client.close());
  await new Promise((r) => setTimeout(r, 50));
  const got: string[] = [];
  await new Promise<void>((res) => client.onMessage((m) => { got.push(m.toString()); if (got.length === 2) res(); }));
  t.same(got, ['one', 'two']);
});

t.test('without a handler the session stops reading: a flooding peer cannot fill memory', async (t) => {
  const r = await responder(t);
  const client = await connect('127.0.0.1', r.port);
  const srv = await r.session();
  t.teardown(() => { client.close(); srv.close(); });
  const chunk = new Uint8Array(60_000);
  for (let i = 0; i < 200; i++) client.send(chunk); // 12 MB the server does not ask for
  await new Promise((res) => setTimeout(res, 200));
  const queued = srv.queuedMessages;
  t.ok(queued > 0 && queued < 200, `${queued} of 200 messages read while no one listens`);
  let n = 0;
  await new Promise<void>((res) => srv.onMessage(() => { if (++n === 200) res(); }));
  t.equal(n, 200, 'all of them arrive once a handler is set');
});

t.test('on the wire: the initiator starts with a 2-byte length 32 and its ephemeral key', async (t) => {
  let first!: (b: Buffer) => void;
  const bytes = new Promise<Buffer>((r) => { first = r; });
  const port = await server(t, (s) => { void new RawPeer(s).read(34).then(first, () => {}); });
  const dial = connect('127.0.0.1', port, { handshakeTimeoutMs: 300 });
  const wire = await bytes;
  t.equal(wire.subarray(0, 2).toString('hex'), '0020', 'enoise gen_tcp_snd_msg: <<Len:16, Msg/binary>>, Len = 32');
  t.not(wire.subarray(2).toString('hex'), '00'.repeat(32), 'followed by a key');
  t.equal(await codeOf(dial), 'handshake_timeout', 'a responder that never answers times the dial out');
});

t.test('a hand-rolled node-style initiator talks to our responder, transport frames included', async (t) => {
  const r = await responder(t);
  const { s, keys } = await handRolledInitiator(t, r.port);
  const srv = await r.session();
  t.teardown(() => srv.close());

  // Transport: <<byte_size(Ciphertext):16, Ciphertext>> (enoise_connection handle_send), empty AD.
  const ct = new Uint8Array(5 + 16);
  cipherState.encryptWithAd(keys.send, ct, new Uint8Array(0), Buffer.from('hello'));
  const atServer = nextMessage(srv);
  s.write(Buffer.concat([Buffer.from([0x00, 21]), ct]));
  t.equal((await atServer).toString(), 'hello');

  srv.send(Buffer.from('back'));
  const head = await s.read(2);
  t.equal(head.readUInt16BE(0), 4 + 16, 'reply framed with the ciphertext length');
  const body = await s.read(20);
  const pt = new Uint8Array(4);
  cipherState.decryptWithAd(keys.recv, pt, new Uint8Array(0), body);
  t.equal(Buffer.from(pt).toString(), 'back');
});

t.test('a garbage peer gets a clean handshake error, never a crash', async (t) => {
  for (const garbage of [
    Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5]), // a frame too short for a key
    Buffer.from([0xff, 0xff, 0, 0]), // a length prefix far over any handshake message
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), // 'GE' = 0x4745 = 18245 bytes announced
  ]) {
    const r = await responder(t, { handshakeTimeoutMs: 1000 });
    const s = await rawClient(t, r.port);
    s.write(garbage);
    const code = await codeOf(r.session());
    t.ok(['handshake_failed', 'frame_too_large'].includes(code), `${garbage.subarray(0, 4).toString('hex')}: ${code}`);
  }
  // A responder sending 48 random bytes as message 2 fails the initiator's authentication.
  const port = await server(t, (s) => { void new RawPeer(s).read(34).then(() => s.write(frame(randomBytes(48))), () => {}); });
  t.equal(await codeOf(connect('127.0.0.1', port)), 'handshake_failed');
});

t.test('a wrong handshake: different prologues do not agree', async (t) => {
  const r = await responder(t, { prologue: Buffer.from('aesc') });
  const dial = codeOf(connect('127.0.0.1', r.port));
  t.equal(await dial, 'handshake_failed', 'the initiator cannot authenticate message 2');
  const code = await codeOf(r.session());
  t.ok(code === 'resolved' || code === 'handshake_failed', 'the responder sees the hang-up or thinks it is done');
});

t.test('garbage after the handshake closes the session with decrypt_failed', async (t) => {
  const r = await responder(t);
  const { s } = await handRolledInitiator(t, r.port);
  const srv = await r.session();
  const end = closed(srv);
  s.write(frame(randomBytes(40)));
  t.equal((await end)?.code, 'decrypt_failed');

  const r2 = await responder(t);
  const { s: s2 } = await handRolledInitiator(t, r2.port);
  const srv2 = await r2.session();
  const end2 = closed(srv2);
  s2.write(frame(randomBytes(3)));
  t.equal((await end2)?.code, 'decrypt_failed', 'a frame shorter than a tag');
});

t.test('a stalled peer is dropped at the handshake timeout', async (t) => {
  const r = await responder(t, { handshakeTimeoutMs: 200 });
  const s = await rawClient(t, r.port);
  t.equal(await codeOf(r.session()), 'handshake_timeout');
  await s.closed();
  t.pass('and its socket is closed');

  // Half a message 1 and then silence times out as well.
  const r2 = await responder(t, { handshakeTimeoutMs: 200 });
  const s2 = await rawClient(t, r2.port);
  s2.write(Buffer.from([0x00, 0x20, 1, 2, 3]));
  t.equal(await codeOf(r2.session()), 'handshake_timeout');
});

t.test('oversized frames and messages are refused', async (t) => {
  const r = await responder(t, { maxMessage: 1000 });
  const { s } = await handRolledInitiator(t, r.port);
  const srv = await r.session();
  const end = closed(srv);
  // Only the prefix is sent: the session must refuse before waiting for 65535 bytes.
  s.write(Buffer.from([0xff, 0xff]));
  t.equal((await end)?.code, 'frame_too_large');

  const r2 = await responder(t, { maxMessage: 1000 });
  const client = await connect('127.0.0.1', r2.port, { maxMessage: 1000 });
  t.teardown(() => client.close());
  t.throws(() => client.send(new Uint8Array(1001)), { code: 'message_too_large' });
  const srv2 = await r2.session();
  const got = nextMessage(srv2);
  client.send(new Uint8Array(1000).fill(9));
  t.equal((await got).length, 1000, 'the limit itself passes');
});

t.test('connect to a port nothing listens on fails with connect_failed', async (t) => {
  const port = await server(t, () => {});
  const closedPort = await new Promise<number>((res) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => res(p));
    });
  });
  t.not(closedPort, port);
  t.equal(await codeOf(connect('127.0.0.1', closedPort)), 'connect_failed');
});

t.test('fuzz: random bytes before or after the handshake only ever end in a NoiseSessionError', async (t) => {
  // 'resolved': any 32+ framed bytes are a valid NN message 1 (every 32 bytes are some X25519 key);
  // NN authenticates no one, so the channel messages' signatures must.
  const allowedBefore = ['handshake_failed', 'frame_too_large', 'handshake_timeout', 'resolved'];
  for (let i = 0; i < 25; i++) {
    // Every other run is framed, so the bytes get past the length check into the Noise code.
    const raw = randomBytes(1 + Math.floor(Math.random() * 3000));
    const garbage = i % 2 ? raw : frame(raw.subarray(0, 1 + (i % 7) * 10));
    const r = await responder(t, { handshakeTimeoutMs: 150 });
    const s = await rawClient(t, r.port);
    s.write(garbage);
    const code = await codeOf(r.session().then((sn) => { sn.close(); }));
    t.ok(allowedBefore.includes(code), `before: ${garbage.length} bytes -> ${code}`);
  }
  for (let i = 0; i < 25; i++) {
    const raw = randomBytes(1 + Math.floor(Math.random() * 3000));
    const garbage = i % 2 ? raw : Buffer.concat([frame(raw.subarray(0, 2000)), raw]);
    const r = await responder(t, { maxMessage: 2000 });
    const { s } = await handRolledInitiator(t, r.port);
    const srv = await r.session();
    const end = closed(srv);
    srv.onMessage(() => t.fail('garbage must not decrypt'));
    s.write(garbage);
    s.socket.end();
    const err = await end;
    t.ok(err === undefined || ['decrypt_failed', 'frame_too_large'].includes(err.code), `after: ${garbage.length} bytes -> ${err?.code ?? 'peer closed'}`);
  }
});
