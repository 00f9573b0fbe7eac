/**
 * A channel between two services (test/helpers/two-services.ts) under faults: the link dropped or
 * stalled by a TCP proxy in the middle of a transfer, either service SIGKILLed under traffic and
 * started again on its store, and a hostile peer at A's listener (garbage before the handshake,
 * fuzzed frames after a good one). Throughout: both clients end on the same round, every round a
 * client was told is co-signed is still there, nothing applied twice, and A keeps serving.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { decode } from '../lib/sdk.js';
import net from 'node:net';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { cosign, unpackSignedTx } from './helpers/accounts.js';
import { A_HOST, PROXY_HOST, peerPort, twoServices, type TwoServices } from './helpers/two-services.js';
import { connect, frame } from '../lib/peer/noise-session.js';
import { MESSAGE_IDS } from '../lib/peer/codec.js';
import { PeerWire } from '../lib/peer/wire.js';
import type { ChannelId, EncodedTx, StateHash } from '../fsm/types.js';

const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
const roundOf = (state: string) => Number((unpackSignedTx(state).encodedTx as { round?: number }).round ?? 1);

type Role = 'initiator' | 'responder';

/** A channel between a responder on A and an initiator on B (through the proxy), and what its clients were told. */
async function openAcross(s: TwoServices) {
  const [initiatorAccount, responderAccount] = await s.funded(2);
  const port = peerPort();
  await s.proxy.forward(port);
  const query = channelQuery(initiatorAccount!, responderAccount!, port, AMOUNTS);
  const ch = {
    port, query, accounts: { initiator: initiatorAccount!, responder: responderAccount! },
    clients: {} as Record<Role, TestClient>, fsmIds: {} as Record<Role, string>, channelId: '',
    /** the highest round each client was told is co-signed */
    reported: { initiator: 0, responder: 0 },
  };
  const join = async (role: Role, url: string, extra: Record<string, string>) => {
    const client = await TestClient.connect(url, { ...query, role, ...extra }, 'json-rpc', ch.accounts[role]);
    const up = await client.nextMethod('channels.info', 'fsm_up');
    ch.fsmIds[role] = up.data.fsm_id;
    ch.clients[role] = client;
  };
  await join('responder', s.a.channelUrl, {});
  await join('initiator', s.b.channelUrl, { host: PROXY_HOST });
  const [open] = await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'open', 30_000)));
  ch.channelId = open!.frame.params.channel_id;
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.update')));
  return ch;
}

type Across = Awaited<ReturnType<typeof openAcross>>;

/** The rounds each client has been told are co-signed, so far. */
function noteReported(ch: Across): void {
  for (const role of ['initiator', 'responder'] as const) {
    for (const m of ch.clients[role].received) {
      if (m.method === 'channels.update') ch.reported[role] = Math.max(ch.reported[role], roundOf(m.data.state));
    }
  }
}

/** Comes back as a client does after its socket went: reestablish on the same service. */
async function rejoin(ch: Across, role: Role, url: string): Promise<void> {
  const extra: Record<string, string> = role === 'initiator' ? { host: PROXY_HOST } : {};
  ch.clients[role] = await TestClient.connect(url, {
    role, port: ch.port, ...extra, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds[role],
  }, 'json-rpc', ch.accounts[role]);
}

/** Both sides' latest round, and their balances, as each service answers now. */
async function settled(ch: Across) {
  const result = {} as Record<Role, { round: number; balances: Record<string, string> }>;
  for (const role of ['initiator', 'responder'] as const) {
    const c = ch.clients[role];
    c.mark();
    c.send('channels.get.offchain_state', {}, 11);
    const state = await c.next((m) => m.method === 'result' || m.method === 'channels.get.offchain_state');
    c.send('channels.get.balances', { accounts: [ch.accounts.initiator.address, ch.accounts.responder.address] }, 12);
    const reply = await c.next((m) => (m.method === 'result' || m.method === 'channels.get.balances') && Array.isArray(m.data));
    result[role] = {
      round: roundOf(state.data.signed_tx),
      balances: Object.fromEntries((reply.data as Array<{ account: string; balance: string | number }>).map((b) => [b.account, String(b.balance)])),
    };
  }
  return result;
}

/** A transfer of `amount` from the initiator, both clients waiting for the co-signed state. */
async function transfer(ch: Across, amount: number, timeoutMs = 10_000): Promise<void> {
  // what arrived before (a reestablish's own update) is not this transfer's
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
  ch.clients.initiator.send('channels.update.new', { from: ch.accounts.initiator.address, to: ch.accounts.responder.address, amount });
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.update', undefined, timeoutMs)));
}

/** After a fault: both sides on one round, no reported round lost, the responder got each co-signed transfer once. */
async function checkConsistent(t: Test, ch: Across, what: string, amountPerRound: number): Promise<void> {
  noteReported(ch);
  const now = await settled(ch);
  t.equal(now.initiator.round, now.responder.round, `${what}: both sides on round ${now.initiator.round}`);
  t.ok(now.initiator.round >= Math.max(ch.reported.initiator, ch.reported.responder), `${what}: every round a client was told is there (${JSON.stringify(ch.reported)})`);
  t.same(now.initiator.balances, now.responder.balances, `${what}: the same balances on both`);
  // round 1 is the create, every later round one transfer of amountPerRound
  t.equal(BigInt(now.responder.balances[ch.accounts.responder.address]!), AMOUNTS.responderAmount + BigInt(amountPerRound * (now.responder.round - 1)), `${what}: each co-signed transfer applied once`);
}

t.test('the link dropped by a proxy mid-transfer: peer_disconnected on both, a redial, the channel goes on', async (t) => {
  const s = await twoServices(t);
  const ch = await openAcross(s);
  await transfer(ch, 5);

  // dropped while a transfer is in flight
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
  let links = s.proxy.links;
  ch.clients.initiator.send('channels.update.new', { from: ch.accounts.initiator.address, to: ch.accounts.responder.address, amount: 5 });
  s.proxy.drop();
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'peer_disconnected', 20_000)));
  t.pass('dropped: both clients heard peer_disconnected');
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'channel_reestablished', 30_000)));
  t.ok(s.proxy.links > links, 'B dialled A again');
  await ch.clients.initiator.quiet(300);
  await transfer(ch, 5);
  await checkConsistent(t, ch, 'after the drop', 5);

  for (const role of ['initiator', 'responder'] as const) ch.clients[role].close();
});

// The node's wire has no keepalive: B's reply watchdog (PEER_REPLY_TIMEOUT_MS) sees its update unanswered and
// nothing else arriving, and cuts the link; the proxy passes the close on to A (as the TCP path to a hung
// peer or through a hung middlebox that still runs TCP does), so A's responder hears it too
t.test('the link stalled by a proxy mid-transfer (open, nothing passes): peer_disconnected on both, a redial, the channel goes on', async (t) => {
  const s = await twoServices(t, { PEER_REPLY_TIMEOUT_MS: '2000' });
  const ch = await openAcross(s);
  await transfer(ch, 5);
  let links: number;
  // stalled: the connection stays open, nothing passes
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
  links = s.proxy.links;
  const responderFrom = ch.clients.responder.received.length;
  s.proxy.stall();
  ch.clients.initiator.send('channels.update.new', { from: ch.accounts.initiator.address, to: ch.accounts.responder.address, amount: 5 });
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'peer_disconnected', 30_000)));
  t.pass('stalled: both clients heard peer_disconnected');
  t.match(s.b.output(), /stalled: no reply from the peer within 2000 ms/, 'B\'s reply watchdog cut the link');
  t.notOk(ch.clients.responder.sequence(responderFrom).some((e) => e.startsWith('channels.sign')), 'the stalled update never reached A\'s client');
  s.proxy.resume();
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'channel_reestablished', 30_000)));
  t.ok(s.proxy.links > links, 'B dialled A again');
  await ch.clients.initiator.quiet(300);
  await transfer(ch, 5);
  await checkConsistent(t, ch, 'after the stall', 5);
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].close();
});

for (const victim of ['a', 'b'] as const) {
  const role: Role = victim === 'a' ? 'responder' : 'initiator';
  // a kill between the peer's write and the victim's own leaves one side a round behind: it catches up
  // with the other's co-signed tx of its own last proposal (docs/peer-protocol.md, "Reestablish one round behind")
  t.test(`SIGKILL of ${victim === 'a' ? 'A (the responder\'s service)' : 'B (the initiator\'s service)'} under traffic: reestablished, the same round on both, nothing reported lost`, async (t) => {
    const s = await twoServices(t, { PEER_DIAL_ATTEMPTS: '600' });
    const ch = await openAcross(s);
    let stop = false;
    // traffic: transfers one after another until the kill breaks one
    const traffic = (async () => {
      while (!stop) {
        try { await transfer(ch, 3, 5_000); } catch { return; }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300 + Math.floor(Math.random() * 500)));
    const other: Role = role === 'initiator' ? 'responder' : 'initiator';
    // what the other side hears from the kill on, read by index: the transfer the kill broke may still
    // be waiting on its client and take messages off its cursor
    const since = ch.clients[other].received.length;
    await s.killAndRestart(victim);
    stop = true;
    await traffic;
    noteReported(ch);
    ch.clients[role].close();
    await rejoin(ch, role, s[victim].channelUrl);
    await ch.clients[role].nextMethod('channels.info', 'channel_reestablished', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(ch.clients[role].received.filter((m) => /error/.test(m.method)).map((m) => m.frame))}\n${s[victim].output().slice(-3000)}`);
    });
    for (let waited = 0; !ch.clients[other].received.slice(since).some((m) => m.method === 'channels.info' && m.data?.event === 'channel_reestablished'); waited += 100) {
      if (waited > 60_000) throw new Error(`the ${other} never reestablished: ${ch.clients[other].sequence(since)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all([ch.clients.initiator.quiet(300), ch.clients.responder.quiet(300)]);
    t.pass('the link came back and both reestablished');
    await transfer(ch, 3, 20_000);
    await checkConsistent(t, ch, `after the kill of ${victim}`, 3);
    for (const r of ['initiator', 'responder'] as const) ch.clients[r].close();
  });
}

// The moment itself, made to happen rather than hoped for: the proxy drops the peer's ack of a
// proposal (stalled from just before the peer's client co-signs), the peer writes the round and tells
// its client, and then the proposer's service is killed. It comes back a round behind with only its
// proposal's record, and must take the peer's co-signed tx of that round from the reestablish.
for (const victim of ['b', 'a'] as const) {
  const proposer: Role = victim === 'a' ? 'responder' : 'initiator';
  const peer: Role = proposer === 'initiator' ? 'responder' : 'initiator';
  t.test(`SIGKILL of ${victim === 'a' ? 'A' : 'B'} (the ${proposer}'s service) after the peer wrote the ${proposer}'s proposal and before its ack arrived: it catches up with the peer's round`, async (t) => {
    const s = await twoServices(t, { PEER_DIAL_ATTEMPTS: '600' });
    const ch = await openAcross(s);
    // a responder's transfer moves coins the other way: the balance check counts rounds with the sign
    const amount = proposer === 'initiator' ? 4 : -4;
    const from = ch.accounts[proposer].address;
    const to = ch.accounts[peer].address;
    const peerClient = ch.clients[peer];
    peerClient.policy = (tag, tx) => {
      if (tag !== 'update_ack') return 'sign';
      s.proxy.stall();
      return cosign(ch.accounts[peer], tx);
    };
    for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
    ch.clients[proposer].send('channels.update.new', { from, to, amount: Math.abs(amount) });
    await peerClient.nextMethod('channels.update', undefined, 20_000);
    peerClient.policy = () => 'sign';
    noteReported(ch);
    t.equal(ch.reported[peer], 2, `the ${peer} was told of round 2`);
    t.equal(ch.reported[proposer], 1, `the ${proposer} was not (its ack never came)`);

    await s.killAndRestart(victim);
    // the stalled connection went with the victim; the next dial passes
    s.proxy.resume();
    ch.clients[peer].mark();
    ch.clients[proposer].close();
    await rejoin(ch, proposer, s[victim].channelUrl);
    await ch.clients[proposer].nextMethod('channels.info', 'channel_reestablished', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(ch.clients[proposer].received.filter((m) => /error|conflict/.test(m.method)).map((m) => m.frame))}\n${s[victim].output().slice(-3000)}`);
    });
    await ch.clients[peer].nextMethod('channels.info', 'channel_reestablished', 60_000);
    await Promise.all([ch.clients.initiator.quiet(300), ch.clients.responder.quiet(300)]);
    noteReported(ch);
    t.equal(ch.reported[proposer], 2, `the ${proposer} took round 2 from the peer's reestablish`);

    // and the channel goes on from there
    for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
    ch.clients[proposer].send('channels.update.new', { from, to, amount: Math.abs(amount) });
    await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.update', undefined, 20_000)));
    await checkConsistent(t, ch, `after the kill of ${victim}`, amount);
    t.equal((await settled(ch)).initiator.round, 3, 'round 3: the proposal and the transfer after it, each once');
    for (const r of ['initiator', 'responder'] as const) ch.clients[r].close();
  });
}

// A partition that swallows the close: B's end of the link is reset, A's stays open and silent. A's
// responder used to hold the dead link until keepalive noticed (minutes) and refuse B's redials
// meanwhile; now B's channel_reestablish, naming the latest off-chain round, replaces it at once, and a
// stranger naming anything else knocks nothing down.
t.test('a half-open link (a partition swallowed the close): the initiator\'s reestablish replaces it, a stranger\'s does not', async (t) => {
  const s = await twoServices(t);
  const ch = await openAcross(s);
  await transfer(ch, 3);
  await transfer(ch, 3);
  const states = ch.clients.responder.received.filter((m) => m.method === 'channels.update').map((m) => m.data.state as EncodedTx);
  const chainHash = await s.chain.genesisHash();
  const stranger = async (signedTx: EncodedTx) => {
    const session = await connect(A_HOST, ch.port);
    const closed = new Promise((resolve) => session.onClose(resolve));
    const wire = new PeerWire({ chainHash });
    session.send(wire.encode({ type: 'channel_reestablish', channelId: ch.channelId as ChannelId, round: roundOf(signedTx), stateHash: '' as StateHash, signedTx }));
    await closed;
  };
  // the link stands: A listens on its port (for the reestablish that may replace it), and refuses these
  const from = ch.clients.responder.received.length;
  await stranger(states[0]!);
  await stranger(states[1]!);
  t.pass('a reestablish naming the public create tx, and one naming an older off-chain round: each session closed by A');
  t.notOk(ch.clients.responder.sequence(from).includes('info:peer_disconnected'), 'the live link was not cut');
  await transfer(ch, 3);
  t.pass('the channel goes on over the same link');

  for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
  const links = s.proxy.links;
  s.proxy.partition();
  await ch.clients.initiator.nextMethod('channels.info', 'peer_disconnected', 20_000);
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'channel_reestablished', 30_000)));
  t.ok(s.proxy.links > links, 'B dialled A again');
  t.match(s.a.output(), /reestablished over a new link while the old one stood/, 'A cut its half of the old link for the new one');
  await ch.clients.initiator.quiet(300);
  await transfer(ch, 3);
  await checkConsistent(t, ch, 'after the partition', 3);
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].close();
});

t.test('a hostile peer at the listener: garbage before the handshake, fuzzed frames after it; no crash, A serves its live channel', async (t) => {
  const s = await twoServices(t);
  const ch = await openAcross(s);
  await transfer(ch, 2);
  // a second responder waiting on a port of its own, that nobody dials but the hostile peer
  const [x, y] = await s.funded(2);
  const idlePort = peerPort();
  const waiting = await TestClient.connect(s.a.channelUrl, { ...channelQuery(x!, y!, idlePort, AMOUNTS), role: 'responder' }, 'json-rpc', y!);
  await waiting.nextMethod('channels.info', 'fsm_up');
  const listening = async (port: number) => {
    for (let i = 0; i < 500; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const probe = net.connect({ host: A_HOST, port }, () => { probe.destroy(); resolve(true); });
        probe.once('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.fail(`A never listened on ${port}`);
  };
  await listening(idlePort);

  const raw = async (port: number, bytes: Buffer[]) => {
    const sock = net.connect({ host: A_HOST, port });
    const closed = new Promise((resolve) => sock.once('close', resolve));
    sock.on('error', () => undefined);
    sock.resume();
    for (const b of bytes) sock.write(b);
    await closed;
  };
  const liveBefore = ch.clients.responder.received.length;
  const ids = Object.values(MESSAGE_IDS);
  const liveId = Buffer.from(decode(ch.channelId as `ch_${string}`));
  let sessions = 0;
  // the live channel's port is listened on while its link stands (a reestablish may replace a half-open link)
  for (const port of [idlePort, ch.port]) {
    // garbage before a handshake
    for (let i = 0; i < 5; i++) await raw(port, [randomBytes(1 + Math.floor(Math.random() * 200))]);
    await raw(port, [frame(randomBytes(32)), randomBytes(50)]);
    // a good handshake, then frames that decrypt to fuzz: each message code with random bytes after it
    for (let i = 0; i < 40; i++) {
      const session = await connect(A_HOST, port);
      sessions++;
      const closed = new Promise((resolve) => session.onClose(resolve));
      const id = ids[i % ids.length]!;
      const body = randomBytes(Math.floor(Math.random() * 300));
      // every other one names the live channel where the channel id (or a chain hash and then it) goes
      if (i % 2 === 0 && body.length >= 64) liveId.copy(body, i % 4 === 0 ? 0 : 32);
      session.send(Buffer.concat([Buffer.from([id]), body]));
      if (i % 3 === 0) session.send(randomBytes(100));
      await closed;
    }
  }
  t.ok(sessions > 0, `${sessions} fuzzed sessions each closed by A`);
  t.notOk(s.a.output().includes('Uncaught') || s.a.output().includes('unhandled'), 'A printed no crash');
  t.notMatch(waiting.sequence(), /peer_disconnected|error|sign/, 'the waiting responder heard nothing of it, and was asked to sign nothing');
  t.notOk(ch.clients.responder.sequence(liveBefore).some((e) => e.startsWith('channels.sign') || e === 'error'), 'the live channel\'s responder was asked to sign nothing');
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
  await transfer(ch, 2, 20_000);
  t.pass('the live channel across the services still carries transfers');
  await checkConsistent(t, ch, 'after the hostile peer', 2);
  waiting.close();
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].close();
});

// An FSM doing without its peer (a dispute on chain) ignores the drop: its service parks it instead of
// redialling a link it would not use (docs/peer-protocol.md, "A drop during a mutual close on chain or a
// dispute"); after an ordinary drop B redials within PEER_REDIAL_DELAY_MS (the first test)
t.test('the link dropped during a dispute: no peer_disconnected, no redial; the dispute goes on to its settle', async (t) => {
  const s = await twoServices(t);
  const ch = await openAcross(s);
  await transfer(ch, 5);
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].mark();
  ch.clients.initiator.send('channels.close_solo', {});
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'closing', 30_000)));
  t.pass('both services follow the solo close on chain');
  const links = s.proxy.links;
  const from = { initiator: ch.clients.initiator.received.length, responder: ch.clients.responder.received.length };
  s.proxy.drop();
  // ten redial delays (200 ms each): an ordinary drop is redialled within the first
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  t.equal(s.proxy.links, links, 'B did not dial A again');
  const listened = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ host: A_HOST, port: ch.port }, () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  t.notOk(listened, 'A does not listen for a reestablish its responder in dispute would not take');
  for (const role of ['initiator', 'responder'] as const) {
    t.notOk(ch.clients[role].sequence(from[role]).includes('info:peer_disconnected'), `${role}'s client heard no peer_disconnected`);
  }
  // the dispute needs no peer: after the lock period the initiator settles alone, and both FSMs end
  const settle = async () => {
    for (let i = 0; i < 100; i++) {
      ch.clients.initiator.send('channels.settle', {});
      const reply = await ch.clients.initiator.next((m) => m.method.startsWith('channels.sign.') || m.method === 'error' || m.method === 'channels.error');
      if (!/error/.test(reply.method)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    t.fail('settle refused throughout');
  };
  await settle();
  await Promise.all((['initiator', 'responder'] as const).map((r) => ch.clients[r].nextMethod('channels.info', 'closed_confirmed', 30_000)));
  t.pass('settled on chain without the link; both FSMs confirmed the close');
  for (const role of ['initiator', 'responder'] as const) ch.clients[role].close();
});
