/**
 * The peer link's parts over real TCP on loopback: the per-port listeners (open while a responder
 * waits, shared, closed when none waits; a failed listen reported, not thrown), their limits
 * (sessions per port, handshake and first-message time, frame size), the dialer's retries and its
 * `connect_timeout`, which first messages locate a responder, the PEER_* settings, and a link
 * carrying messages both ways and ending on one the wire refuses.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { loadConfig, parsePortList, selfHosts } from '../../lib/config.js';
import { wantedBy } from '../../lib/channel/peer-links.js';
import { dial, DialError } from '../../lib/peer/dialer.js';
import { PeerLink, type MessageWire } from '../../lib/peer/link.js';
import { PeerListeners, type ListenerOptions } from '../../lib/peer/listener.js';
import { connect, frame, type NoiseSession } from '../../lib/peer/noise-session.js';
import type { PeerMessage } from '../../fsm/types.js';
import { freePort } from '../helpers/free-port.js';

const OPTIONS: ListenerOptions = { host: '127.0.0.1', maxSessionsPerPort: 2, handshakeTimeoutMs: 500, maxMessage: 2048 };
const DIAL = { connectTimeoutMs: 500, retryDelayMs: 20, attempts: 3, handshakeTimeoutMs: 500, maxMessage: 2048 };

/** A stand-in for lib/peer/wire.ts: JSON, refusing anything that is not an object with a type. */
const jsonWire = (): MessageWire => ({
  encode: (message) => Buffer.from(JSON.stringify(message)),
  decode(bytes) {
    try {
      const message = JSON.parse(Buffer.from(bytes).toString()) as PeerMessage;
      if (typeof message?.type !== 'string') return { refusal: { reason: 'unexpected_message', detail: 'no type' } };
      return { message };
    } catch {
      return { refusal: { reason: 'protocol_error', detail: 'not JSON' } };
    }
  },
});

/** Listeners whose sessions, refusals and listen errors the test reads. */
function listeners(t: Test, options: Partial<ListenerOptions> = {}) {
  const sessions: Array<{ port: number; session: NoiseSession; first: string }> = [];
  const rejected: string[] = [];
  const listenErrors: string[] = [];
  const wake = new Set<() => void>();
  const l = new PeerListeners({ ...OPTIONS, ...options }, {
    onSession: (port, session, first) => { sessions.push({ port, session, first: Buffer.from(first).toString() }); for (const w of wake) w(); },
    onListenError: (_port, error) => { listenErrors.push(error.code ?? error.message); for (const w of wake) w(); },
    onRejected: (_port, why) => { rejected.push(why); for (const w of wake) w(); },
  });
  t.teardown(() => l.close());
  const until = (done: () => boolean) => new Promise<void>((resolve) => {
    const check = () => { if (done()) { wake.delete(check); resolve(); } };
    wake.add(check);
    check();
  });
  return { l, sessions, rejected, listenErrors, until };
}

function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host }, () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const listening = async (l: PeerListeners, port: number) => { while (!l.listening(port)) await new Promise((r) => setTimeout(r, 5)); };

t.test('a port is listened on while a responder waits on it, shared, and closed when none waits', async (t) => {
  const { l } = listeners(t);
  const port = await freePort();
  t.notOk(await accepts(port), 'nothing listens before a responder waits');
  l.hold(port);
  l.hold(port);
  await listening(l, port);
  t.ok(await accepts(port), 'listening');
  l.release(port);
  t.ok(l.listening(port) && await accepts(port), 'still listening for the other responder');
  l.release(port);
  t.notOk(l.listening(port), 'closed when none waits');
  t.notOk(await accepts(port), 'nothing listens any more');
  l.release(port);
  t.same(l.listeningPorts(), [], 'a release too many changes nothing');
});

t.test('a port in use is reported, not thrown, and tried again for the next responder', async (t) => {
  const { l, listenErrors, until } = listeners(t);
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as net.AddressInfo).port;
  l.hold(port);
  await until(() => listenErrors.length === 1);
  t.same(listenErrors, ['EADDRINUSE']);
  t.notOk(l.listening(port));
  await new Promise((r) => busy.close(r));
  l.hold(port);
  await listening(l, port);
  t.pass('the next responder on the port gets it listened on');
});

t.test('a session that completes the handshake hands over its first message, and later ones queue for the next reader', async (t) => {
  const { l, sessions, until } = listeners(t);
  const port = await freePort();
  l.hold(port);
  await listening(l, port);
  const initiator = await connect('127.0.0.1', port);
  initiator.send(Buffer.from('first'));
  initiator.send(Buffer.from('second'));
  await until(() => sessions.length === 1);
  t.equal(sessions[0]!.first, 'first');
  await new Promise((r) => setTimeout(r, 50));
  const later: string[] = [];
  sessions[0]!.session.onMessage((m) => later.push(m.toString()));
  t.same(later, ['second'], 'nothing lost between the first message and the next reader');
  initiator.close();
});

t.test('hostile peers: garbage, a stall, an oversized frame, no first message, too many sessions', async (t) => {
  const { l, rejected, sessions, until } = listeners(t);
  const port = await freePort();
  l.hold(port);
  await listening(l, port);

  const garbage = net.connect({ port, host: '127.0.0.1' });
  garbage.on('error', () => {});
  garbage.write(frame(randomBytes(7)));
  await until(() => rejected.some((r) => r.startsWith('handshake_failed')));
  t.pass('a short handshake message is refused');

  const oversized = net.connect({ port, host: '127.0.0.1' });
  oversized.on('error', () => {});
  oversized.write(Buffer.from([0xff, 0xff]));
  await until(() => rejected.some((r) => r.startsWith('frame_too_large')));
  t.pass('a frame announced at 65535 bytes is refused at its prefix');

  const staller = net.connect({ port, host: '127.0.0.1' });
  staller.on('error', () => {});
  await until(() => rejected.some((r) => r.startsWith('handshake_timeout')));
  t.pass('a peer that never shakes hands is cut');

  const silent = await connect('127.0.0.1', port);
  await until(() => rejected.some((r) => r.startsWith('no first message')));
  t.pass('a peer that never names its channel is cut');
  silent.close();

  const big = await connect('127.0.0.1', port);
  const closedBig = new Promise<string | undefined>((r) => big.onClose((e) => r(e?.code)));
  const raw = Buffer.alloc(4000);
  // send() refuses plaintexts over its own maxMessage (65519 here): the listener's is 2048
  big.send(raw);
  await until(() => rejected.some((r) => r.startsWith('frame_too_large') && r.includes('2064')));
  t.pass('a transport frame over PEER_MAX_MESSAGE_BYTES is cut');
  await closedBig;

  // two sessions at once on this port at most: the third is cut before its handshake
  const a = await connect('127.0.0.1', port);
  const b = await connect('127.0.0.1', port);
  const third = connect('127.0.0.1', port);
  await t.rejects(third, { code: 'handshake_failed' }, 'the third session is cut');
  t.ok(rejected.some((r) => r.includes('more than 2 sessions')));
  a.close();
  b.close();
  t.equal(sessions.length, 0, 'no session got as far as naming a channel');
  for (const s of [garbage, oversized, staller]) s.destroy();
});

t.test('the dialer tries again until the responder listens, and gives up with connect_timeout', async (t) => {
  const { l } = listeners(t);
  const port = await freePort();
  const failures: number[] = [];
  const late = dial('127.0.0.1', port, { ...DIAL, attempts: 200, retryDelayMs: 10 }, undefined, (n) => failures.push(n));
  await new Promise((r) => setTimeout(r, 60));
  l.hold(port);
  const session = await late;
  t.ok(failures.length >= 1, `connected after ${failures.length} failed attempts`);
  session.close();
  l.release(port);

  const nowhere = await freePort();
  await t.rejects(dial('127.0.0.1', nowhere, DIAL), { name: 'DialError', code: 'connect_timeout', message: /after 3 attempts/ });
  const abort = new AbortController();
  const aborted = dial('127.0.0.1', nowhere, { ...DIAL, retryDelayMs: 60_000 }, abort.signal);
  setTimeout(() => abort.abort(), 20);
  await t.rejects(aborted, new DialError('aborted', `dial to 127.0.0.1:${nowhere} aborted`));
});

t.test('a session locates its responder by channel_open or channel_reestablish, anything else is a protocol_error', async (t) => {
  const params = { responderId: 'ak_responder' } as unknown as Extract<PeerMessage, { type: 'channel_open' }>['params'];
  t.same(wantedBy({ type: 'channel_open', params }, 3114), { port: 3114, responderId: 'ak_responder' });
  t.same(wantedBy({ type: 'channel_reestablish', channelId: 'ch_x' } as unknown as PeerMessage, 3114), { port: 3114, channelId: 'ch_x' });
  t.match(wantedBy({ type: 'leave' }, 3114), { refused: /^protocol_error: .* not leave$/ });
  t.match(wantedBy({ type: 'update_ack', kind: 'update', signedTx: 'tx_' } as PeerMessage, 1), { refused: /protocol_error/ });
});

t.test('a link carries messages both ways; a message the wire refuses is dropped, one it cannot decode ends the link', async (t) => {
  const { l, sessions, until } = listeners(t);
  const port = await freePort();
  l.hold(port);
  await listening(l, port);
  const got: { initiator: PeerMessage[]; responder: PeerMessage[] } = { initiator: [], responder: [] };
  const closed: Array<{ side: string; left: boolean; why: string }> = [];
  const refused: string[] = [];
  const initiator = new PeerLink(await connect('127.0.0.1', port, { maxMessage: 2048 }), jsonWire(), {
    message: (m) => got.initiator.push(m),
    refused: (r) => refused.push(r.reason),
    closed: (c) => closed.push({ side: 'initiator', ...c }),
  });
  initiator.start();
  initiator.receivePeer({ type: 'leave' });
  await until(() => sessions.length === 1);
  const arrived = sessions[0]!;
  const responder = new PeerLink(arrived.session, jsonWire(), {
    message: (m) => got.responder.push(m),
    closed: (c) => closed.push({ side: 'responder', ...c }),
  });
  responder.start(JSON.parse(arrived.first));
  responder.receivePeer({ type: 'leave_ack' });
  initiator.receivePeer({ type: 'message', from: 'ak_a', to: 'ak_b', info: 'hi' } as PeerMessage);
  while (got.initiator.length < 1 || got.responder.length < 2) await new Promise((r) => setTimeout(r, 5));
  t.same(got.responder.map((m) => m.type), ['leave', 'message']);
  t.same(got.initiator.map((m) => m.type), ['leave_ack']);
  // decodable but refused: dropped, the link goes on
  arrived.session.send(Buffer.from('{"no":"type"}'));
  responder.receivePeer({ type: 'leave' });
  while (got.initiator.length < 2) await new Promise((r) => setTimeout(r, 5));
  t.same(refused, ['unexpected_message'], 'the refused message was reported');
  t.same(got.initiator.map((m) => m.type), ['leave_ack', 'leave'], 'and the next one arrived');
  // a peer that sends what the wire cannot read loses the link
  arrived.session.send(Buffer.from('not json'));
  while (closed.length < 2) await new Promise((r) => setTimeout(r, 5));
  t.match(closed.find((c) => c.side === 'initiator'), { left: true, why: /refused a message: protocol_error/ }, 'a leave was acknowledged over it');
  t.match(closed.find((c) => c.side === 'responder'), { left: true });
});

t.test('the reply watchdog: a peer silent past PEER_REPLY_TIMEOUT_MS after a question loses the link; one that says anything keeps it', async (t) => {
  const { l, sessions, until } = listeners(t);
  const port = await freePort();
  l.hold(port);
  await listening(l, port);
  const REPLY_MS = 300;
  /** our link to a peer whose raw session the test drives: it answers only when told to */
  const linked = async () => {
    const closed: Array<{ left: boolean; why: string; stalled: boolean }> = [];
    const link = new PeerLink(await connect('127.0.0.1', port, { maxMessage: 2048 }), jsonWire(), {
      message: () => undefined,
      closed: (c) => closed.push(c),
    }, { replyTimeoutMs: REPLY_MS });
    link.start();
    link.receivePeer({ type: 'message', from: 'ak_a', to: 'ak_b', info: 'first' } as PeerMessage);
    const before = sessions.length;
    await until(() => sessions.length === before + 1);
    const peer = sessions.at(-1)!.session;
    peer.onMessage(() => undefined); // it reads what we send, and never answers
    return { link, closed, peer };
  };
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  // nothing awaited: a silent peer is fine (TCP keepalive watches an idle link)
  const idle = await linked();
  await wait(REPLY_MS * 3);
  t.same(idle.closed, [], 'a message that asks for no reply arms nothing');

  // a question, then silence: cut, and marked as a stall
  const started = Date.now();
  idle.link.receivePeer({ type: 'leave' });
  while (idle.closed.length === 0) await wait(10);
  const took = Date.now() - started;
  t.match(idle.closed[0], { stalled: true, left: false, why: /stalled: no reply from the peer within 300 ms/ }, 'the silent peer\'s link is cut as stalled');
  t.ok(took >= REPLY_MS - 20, `not before the timeout (${took} ms)`);
  const peerSawClose = await new Promise<boolean>((resolve) => { idle.peer.onClose(() => resolve(true)); setTimeout(() => resolve(false), 2000); });
  t.ok(peerSawClose, 'the peer\'s side sees the connection close');

  // a question answered by anything at all, even a message the wire refuses: the link stays
  const live = await linked();
  live.link.receivePeer({ type: 'update', kind: 'update', signedTx: 'tx_', updates: [] } as unknown as PeerMessage);
  await wait(REPLY_MS / 2);
  live.peer.send(Buffer.from('{"no":"type"}'));
  await wait(REPLY_MS * 2);
  t.same(live.closed, [], 'bytes from the peer disarm the watchdog');
  // a later question arms it again
  live.link.receivePeer({ type: 'channel_reestablish' } as unknown as PeerMessage);
  while (live.closed.length === 0) await wait(10);
  t.match(live.closed[0], { stalled: true });
  await new Promise((resolve) => live.peer.onClose(resolve));
});

t.test('PEER_* settings: checked at start-up, named as the operator wrote them', async (t) => {
  const defaults = loadConfig({});
  t.match(defaults.peer, { host: '127.0.0.1', ports: '', maxSessionsPerPort: 64, maxMessageBytes: 65519, handshakeTimeoutMs: 10000, connectTimeoutMs: 3000, redialDelayMs: 3000, dialAttempts: 40, replyTimeoutMs: 60000 });
  t.equal(parsePortList(''), null, 'empty: any port');
  const allowed = parsePortList('3114,4000-4099')!;
  t.same([3114, 3115, 4000, 4099, 4100].map(allowed), [true, false, true, true, false]);
  t.throws(() => loadConfig({ PEER_PORTS: '70000' }), { message: /^PEER_PORTS=70000: 70000 is not a port; must be empty \(any port\)/ });
  t.throws(() => loadConfig({ PEER_PORTS: '5000-4000' }), { message: /^PEER_PORTS=5000-4000: 5000-4000 runs downwards/ });
  t.throws(() => loadConfig({ PEER_PORTS: 'http' }), { message: /^PEER_PORTS=http: must be empty \(any port\) or ports and ranges/ });
  t.throws(() => loadConfig({ PEER_MAX_MESSAGE_BYTES: '70000' }), { message: 'PEER_MAX_MESSAGE_BYTES=70000: must be an integer >= 1024 and <= 65519' });
  t.throws(() => loadConfig({ PEER_MAX_SESSIONS_PER_PORT: '0' }), { message: /^PEER_MAX_SESSIONS_PER_PORT=0: must be an integer >= 1/ });
  t.throws(() => loadConfig({ PEER_HANDSHAKE_TIMEOUT_MS: 'soon' }), { message: /^PEER_HANDSHAKE_TIMEOUT_MS=soon: must be an integer/ });
  t.throws(() => loadConfig({ PEER_REPLY_TIMEOUT_MS: '50' }), { message: 'PEER_REPLY_TIMEOUT_MS=50: must be an integer >= 100 and <= 3600000' });
  t.throws(() => loadConfig({ PEER_REPLY_TIMEOUT_MS: '1m' }), { message: /^PEER_REPLY_TIMEOUT_MS=1m: must be an integer/ });
  t.equal(loadConfig({ PEER_REPLY_TIMEOUT_MS: '2500' }).peer.replyTimeoutMs, 2500);
  t.throws(() => loadConfig({ PEER_SELF_HOSTS: 'a b' }), { message: /^PEER_SELF_HOSTS=a b: must be empty or host names/ });

  const loop = selfHosts(loadConfig({ PEER_HOST: '127.0.0.2', PEER_SELF_HOSTS: 'Channels.Example.com' }).peer);
  for (const h of ['127.0.0.2', 'localhost', '127.0.0.1', '::1', 'channels.example.com']) t.ok(loop.has(h), `${h} names a loopback service`);
  t.notOk(loop.has('127.0.0.3'), 'another loopback address is another service');
  const pub = selfHosts(loadConfig({ PEER_HOST: '10.1.2.3' }).peer);
  t.same([...pub], ['10.1.2.3'], 'a service on one public address is named by it alone');
});
