/**
 * The link's translation between the FSM's peer messages and the node's wire messages (lib/peer/wire.ts):
 * two participants' machines (test/fsm/pair.ts, real txs and real ed25519 signatures) whose every peer
 * message crosses encode → bytes → decode through two PeerWire instances, one per side, as it would
 * across two services; and the untrusted direction, where what does not fit the link is refused with
 * its reason.
 */
import t from 'tap';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { encode, Encoding, unpackTx } from '../../lib/sdk.js';
import type { EncodedTx, PeerMessage, Role } from '../../fsm/types.js';
import { locate, PeerWire, type WireRefusal } from '../../lib/peer/wire.js';
import * as codec from '../../lib/peer/codec.js';
import { unpackSigned } from '../../lib/tx/channel-kit.js';
import { channelParams, kit, pair as fsmPair, type PairOptions } from '../fsm/pair.js';
import { newParticipant } from '../helpers/accounts.js';

const CHAIN_HASH = Buffer.alloc(32, 7);
const AE = 10n ** 18n;

/**
 * A pair whose amounts the node's messages can carry: channel_open's are 64-bit (aesc_codec), so a
 * channel of more than about 18.4 AE cannot be opened across services at all.
 */
function pair(opts: PairOptions = {}) {
  const accounts = opts.accounts ?? { initiator: newParticipant(), responder: newParticipant() };
  const params = opts.params ?? { ...channelParams(accounts.initiator, accounts.responder), initiatorAmount: 10n * AE, responderAmount: 5n * AE, channelReserve: AE / 10n };
  return fsmPair({ ...opts, accounts, params });
}

interface Crossing { from: Role; sent: PeerMessage; bytes: Uint8Array; got: PeerMessage | null; refusal?: WireRefusal }

/** A link of two wires, one per side, recording what crossed it. */
function link() {
  const wires: Record<Role, PeerWire> = { initiator: new PeerWire({ chainHash: CHAIN_HASH }), responder: new PeerWire({ chainHash: CHAIN_HASH }) };
  const crossed: Crossing[] = [];
  const carry: NonNullable<PairOptions['link']> = (from, sent) => {
    const bytes = wires[from].encode(sent);
    const out = wires[from === 'initiator' ? 'responder' : 'initiator'].decode(bytes);
    crossed.push({ from, sent, bytes, got: 'message' in out ? out.message : null, ...('refusal' in out && { refusal: out.refusal }) });
    return 'message' in out ? out.message : null;
  };
  return { wires, crossed, carry };
}

const inner = (tx: EncodedTx) => unpackSigned(tx)?.encodedTx;

/**
 * What the receiving FSM gets is what the sending FSM sent, but for what the node's messages do not
 * carry: opening parameters the responder keeps its own of (the responder's delegates among them:
 * each side names its own, the initiator's in channel_open, the responder's in channel_accept), a
 * reestablish's balances and updates, and the exact signatures on the copy of a refused tx.
 */
function expectedOnArrival(sent: PeerMessage, got: PeerMessage): PeerMessage {
  switch (sent.type) {
    case 'channel_open':
      return { ...sent, params: { ...sent.params, minimumDepth: 0, minimumDepthStrategy: 'txfee', responderDelegateIds: [] } };
    case 'channel_reestablish':
    case 'channel_reest_ack': {
      const { balances: _b, updates: _u, ...rest } = sent;
      return rest;
    }
    case 'update_error':
      // the wire names the tx in flight by its kind; the copy it holds may carry other signatures
      return got.type === 'update_error' && inner(got.signedTx) === inner(sent.signedTx) ? { ...sent, signedTx: got.signedTx } : sent;
    default:
      return sent;
  }
}

function checkCrossings(t: Test, crossed: Crossing[]) {
  for (const c of crossed) {
    t.notOk(c.refusal, `${c.from}'s ${c.sent.type} is not refused${c.refusal ? `: ${c.refusal.reason} ${c.refusal.detail}` : ''}`);
    if (c.got) t.same(c.got, expectedOnArrival(c.sent, c.got), `${c.from}'s ${c.sent.type} arrives as sent`);
    // the bytes are the node's message: they decode on their own, and encode back to themselves
    t.same(Buffer.from(codec.encode(codec.decode(c.bytes))), Buffer.from(c.bytes), `${c.sent.type} bytes are canonical`);
  }
}

const wireNames = (crossed: Crossing[]) => crossed.map((c) => codec.decode(c.bytes).type);

t.test('a channel\'s life over the node\'s messages: open, transfers, messages, deposit, withdraw, a refusal, a conflict, leave', async (t) => {
  const { crossed, carry } = link();
  const p = pair({ link: carry });
  t.teardown(p.stop);
  const { initiator: I, responder: R } = p.accounts;

  await p.open();
  t.same(wireNames(crossed), ['channel_open', 'channel_accept', 'funding_created', 'funding_signed', 'funding_locked', 'funding_locked']);
  for (const side of [p.initiator, p.responder]) t.equal(side.round(), 1, `${side.role} is open on round 1`);

  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: I.address, to: R.address, amount: AE, meta: ['over the wire'] });
  await p.run();
  p.responder.send({ type: 'CLIENT.UPDATE_NEW', from: R.address, to: I.address, amount: 3n, meta: [] });
  await p.run();
  for (const side of [p.initiator, p.responder]) t.equal(side.round(), 3, `${side.role}: both transfers co-signed`);
  t.same(p.initiator.actor.getSnapshot().context.state, p.responder.actor.getSnapshot().context.state, 'both hold the same state');

  p.initiator.send({ type: 'CLIENT.MESSAGE', to: R.address, info: 'hello, ünïcode' });
  p.responder.send({ type: 'CLIENT.MESSAGE', to: I.address, info: 'back' });
  await p.run();
  t.match(p.responder.outputs.at(-1), { kind: 'message', from: I.address, to: R.address, info: 'hello, ünïcode' });
  t.match(p.initiator.outputs.at(-1), { kind: 'message', from: R.address, to: I.address, info: 'back' });

  p.initiator.send({ type: 'CLIENT.DEPOSIT', amount: 2n * AE, terms: { nonce: 2, ttl: 0 } });
  await p.run();
  await p.confirm('initiator', 'responder');
  p.responder.send({ type: 'CLIENT.WITHDRAW', amount: AE / 2n, terms: { nonce: 1, ttl: 0 } });
  await p.run();
  await p.confirm('responder', 'initiator');
  for (const side of [p.initiator, p.responder]) {
    t.equal(side.round(), 5, `${side.role}: deposit and withdraw are the channel's rounds`);
    t.same(side.value(), { open: 'idle' });
  }

  // the peer's client refuses to co-sign: the proposer hears the code, both stay on round 5
  p.responder.answer = (tag) => (tag === 'update_ack' ? 130 : 'sign');
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: I.address, to: R.address, amount: 1n, meta: [] });
  await p.run();
  t.match(p.initiator.outputs.at(-1), { kind: 'conflict', round: 5, code: 130 });
  p.responder.answer = () => 'sign';

  // both propose at once: each refuses the other's, both stay on round 5
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: I.address, to: R.address, amount: 1n, meta: [] });
  p.responder.send({ type: 'CLIENT.UPDATE_NEW', from: R.address, to: I.address, amount: 2n, meta: [] });
  await p.run();
  for (const side of [p.initiator, p.responder]) {
    t.ok(side.outputs.some((o) => o.kind === 'conflict' && o.code === 2), `${side.role} hears the conflict`);
    t.equal(side.round(), 5);
  }
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: I.address, to: R.address, amount: 1n, meta: [] });
  await p.run();
  t.equal(p.responder.round(), 6, 'the channel goes on after the conflict');

  p.initiator.send({ type: 'CLIENT.LEAVE' });
  await p.run();
  t.same(p.initiator.value(), 'closed', 'the initiator left');
  t.same(p.responder.value(), 'awaiting_reestablish', 'the keep_running responder waits for it');

  checkCrossings(t, crossed);
  const names = new Set(wireNames(crossed));
  for (const name of ['update', 'update_ack', 'update_error', 'deposit_created', 'deposit_signed', 'deposit_locked',
    'withdraw_created', 'withdraw_signed', 'withdraw_locked', 'inband_msg', 'leave', 'leave_ack'] as const) {
    t.ok(names.has(name), `${name} crossed the link`);
  }
  const refused = crossed.find((c) => c.sent.type === 'update_error' && c.sent.code === 130)!;
  t.match(codec.decode(refused.bytes), { type: 'update_error', round: 5, error_code: 130 }, 'an error carries the latest co-signed round, as the node\'s do');

  // leave + reestablish over a new link, then a mutual close
  const states = { initiator: p.initiator.actor.getSnapshot().context, responder: p.responder.actor.getSnapshot().context };
  const again = link();
  const q = pair({
    link: again.carry, accounts: p.accounts, params: states.initiator.params,
    restored: {
      initiator: { channelId: states.initiator.channelId!, state: states.initiator.state! },
      responder: { channelId: states.responder.channelId!, state: states.responder.state! },
    },
  });
  t.teardown(q.stop);
  await q.connect();
  t.same(wireNames(again.crossed), ['channel_reestablish', 'channel_reest_ack']);
  for (const side of [q.initiator, q.responder]) {
    t.same(side.heard().slice(-3), ['info:channel_reestablished', 'info:open', 'update'], `${side.role} is back`);
    t.equal(side.round(), 6);
  }
  q.responder.send({ type: 'CLIENT.UPDATE_NEW', from: R.address, to: I.address, amount: 5n, meta: [] });
  await q.run();
  t.equal(q.initiator.round(), 7, 'a transfer on the new link');

  q.initiator.send({ type: 'CLIENT.SHUTDOWN', terms: { nonce: 3, ttl: 0 } });
  await q.run();
  t.same(wireNames(again.crossed).slice(-2), ['shutdown', 'shutdown_ack']);
  await q.confirm('initiator', 'responder');
  for (const side of [q.initiator, q.responder]) t.same(side.value(), 'closed', `${side.role}: closed by the mutual close`);
  checkCrossings(t, again.crossed);
});

t.test('a deposit the chain refuses: the depositor\'s deposit_error reaches the peer as a refusal of that tx', async (t) => {
  const { crossed, carry } = link();
  const p = pair({ link: carry });
  t.teardown(p.stop);
  await p.open();
  p.initiator.send({ type: 'CLIENT.DEPOSIT', amount: 2n * AE, terms: { nonce: 2, ttl: 0 } });
  await p.run();
  p.initiator.send({ type: 'CHAIN.REJECTED', detail: 'nonce too low' });
  await p.run();
  t.match(codec.decode(crossed.at(-1)!.bytes), { type: 'deposit_error', round: 1, error_code: 5 });
  for (const side of [p.initiator, p.responder]) {
    t.same(side.value(), { open: 'idle' }, `${side.role} is back on the last round`);
    t.equal(side.round(), 1);
  }
  t.match(p.responder.outputs.at(-1), { kind: 'conflict', round: 1, code: 5 });
  checkCrossings(t, crossed);
});

t.test('reestablish one round behind: only the tx travels, so the side behind cannot verify it and refuses', async (t) => {
  const { carry } = link();
  const p = pair({ link: carry });
  t.teardown(p.stop);
  await p.open();
  const before = p.initiator.actor.getSnapshot().context;
  const older = { channelId: before.channelId!, state: before.state! };
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  const now = p.responder.actor.getSnapshot().context;
  for (const behind of ['initiator', 'responder'] as const) {
    const again = link();
    const ahead = { channelId: now.channelId!, state: now.state! };
    const q = pair({
      link: again.carry, accounts: p.accounts, params: now.params,
      restored: { initiator: behind === 'initiator' ? older : ahead, responder: behind === 'responder' ? older : ahead },
    });
    await q.connect();
    t.notOk(q.sides[behind].effects.some((e) => e.type === 'persist'), `${behind} behind: it adopts nothing`);
    t.ok(q.sides[behind].effects.some((e) => e.type === 'toPeer' && e.message.type === 'error'), `${behind} behind: it refuses the reestablish`);
    t.notOk(q.sides[behind].heard().includes('info:channel_reestablished'), `${behind} behind: the channel is not reestablished`);
    t.ok(again.crossed.some((c) => codec.decode(c.bytes).type === 'error'), 'the refusal crosses as the node\'s error message');
    q.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// The untrusted direction.

/** An open channel over the wire, and the bytes that crossed it, to replay and tamper with. */
async function openChannel() {
  const l = link();
  const p = pair({ link: l.carry });
  await p.open();
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  return { ...l, p };
}

const refusalOf = (out: ReturnType<PeerWire['decode']>) => ('refusal' in out ? out.refusal : null);

t.test('wire messages that do not fit the link are refused with their reason', async (t) => {
  const { wires, crossed, p } = await openChannel();
  t.teardown(p.stop);
  const responder = wires.responder;
  const update = crossed.find((c) => codec.decode(c.bytes).type === 'update')!;
  const ack = crossed.find((c) => codec.decode(c.bytes).type === 'update_ack')!;
  const channel_id = (codec.decode(update.bytes) as codec.PeerMessageOf<'update'>).channel_id;

  t.match(refusalOf(responder.decode(new Uint8Array(0))), { reason: 'protocol_error' }, 'empty bytes');
  t.match(refusalOf(responder.decode(Uint8Array.of(42, 1, 2, 3))), { reason: 'protocol_error' }, 'an unknown message id');
  t.match(refusalOf(responder.decode(update.bytes.subarray(0, 40))), { reason: 'protocol_error' }, 'a truncated update');

  const other = codec.decode(update.bytes) as codec.PeerMessageOf<'update'>;
  t.match(refusalOf(responder.decode(codec.encode({ ...other, channel_id: randomBytes(32) }))), { reason: 'channel_id_mismatch' }, 'another channel');
  t.match(refusalOf(wires.initiator.decode(ack.bytes)), { reason: 'unexpected_message' }, 'an ack with nothing in flight (a replayed ack)');
  t.match(refusalOf(responder.decode(codec.encode({ type: 'deposit_signed', channel_id, block_hash: Buffer.alloc(32), data: { tx: (codec.decode(ack.bytes) as codec.PeerMessageOf<'update_ack'>).data.tx } }))),
    { reason: 'unexpected_message' }, 'a deposit ack with no deposit in flight');
  t.match(refusalOf(responder.decode(codec.encode({ type: 'update_error', channel_id, round: 99, error_code: 2 }))), { reason: 'unknown_round' }, 'a round never seen');
  t.match(refusalOf(responder.decode(codec.encode({ type: 'withdraw_error', channel_id, round: 1, error_code: 2 }))), { reason: 'unexpected_message' }, 'an error with nothing in flight');
  t.match(refusalOf(responder.decode(codec.encode({ type: 'deposit_locked', channel_id, data: { tx_hash: randomBytes(32) } }))), { reason: 'unexpected_message' }, 'a locked with nothing on chain');
  t.match(refusalOf(responder.decode(codec.encode({ ...other, data: { tx: other.data.tx, updates: [Uint8Array.of(1, 2, 3)] } }))), { reason: 'broken_encoding' }, 'an update blob that does not read');
  t.match(refusalOf(responder.decode(codec.encode({ type: 'channel_reestablish', chain_hash: randomBytes(32), channel_id, data: { tx: other.data.tx } }))), { reason: 'chain_hash_mismatch' }, 'another chain');
  t.match(refusalOf(new PeerWire({ chainHash: CHAIN_HASH }).decode(update.bytes)), { reason: 'unexpected_message' }, 'an update on a link with no channel');
  const open = crossed[0]!;
  t.match(refusalOf(new PeerWire({ chainHash: randomBytes(32) }).decode(open.bytes)), { reason: 'chain_hash_mismatch' }, 'a channel_open for another chain');
  t.match(refusalOf(responder.decode(open.bytes)), { reason: 'unexpected_message' }, 'a second channel_open');

  for (const side of [p.initiator, p.responder]) t.equal(side.round(), 2, `${side.role} is untouched`);

  // a responder's session: its first message finds the FSM, or ends the session
  t.same(locate(open.bytes, CHAIN_HASH), { type: 'channel_open', initiator: p.accounts.initiator.address, responder: p.accounts.responder.address });
  t.match(locate(update.bytes, CHAIN_HASH), { refusal: { reason: 'protocol_error' } }, 'an update first');
  t.match(locate(open.bytes, randomBytes(32)), { refusal: { reason: 'chain_hash_mismatch' } });
  const reestablish = codec.encode({ type: 'channel_reestablish', chain_hash: CHAIN_HASH, channel_id, data: { tx: other.data.tx } });
  t.same(locate(reestablish, CHAIN_HASH), { type: 'channel_reestablish', channelId: p.initiator.actor.getSnapshot().context.channelId });
});

t.test('fuzzed and tampered bytes: a refusal or a message, never an exception, never a co-signature', async (t) => {
  const { wires, crossed, p } = await openChannel();
  t.teardown(p.stop);
  const update = crossed.find((c) => codec.decode(c.bytes).type === 'update')!;
  let refused = 0;
  for (let i = 0; i < 2_000; i++) {
    const bytes = i % 2 ? randomBytes(1 + (i % 300)) : Buffer.from(update.bytes);
    if (i % 2 === 0) for (let k = 0; k < 1 + (i % 4); k++) bytes[(i * 31 + k * 97) % bytes.length]! ^= 1 + (i % 255);
    const out = wires.responder.decode(bytes);
    if ('refusal' in out) {
      refused++;
      continue;
    }
    // what decodes goes to the FSM, whose client would co-sign only a proposal that checks out
    p.responder.send({ type: `PEER.${out.message.type}`, msg: out.message } as never);
    await p.run();
  }
  t.ok(refused > 1_000, `${refused} of 2000 refused by the link`);
  t.equal(p.responder.round(), 2, 'no tampered update became a round');
  t.equal(p.initiator.round(), 2);
});

t.test('every operation\'s proposal, ack, error and locked cross as the node\'s own messages', async (t) => {
  const { wires, p } = await openChannel();
  t.teardown(p.stop);
  const c = p.initiator.actor.getSnapshot().context;
  const { initiatorId: I, responderId: R } = c.params;
  const terms = { nonce: 5, ttl: 0 };
  const txs = {
    update: kit.roundTx(c.channelId!, 3, c.params, { initiator: c.state!.balances.initiator - 1n, responder: c.state!.balances.responder + 1n }).signedTx,
    deposit: kit.roundTx(c.channelId!, 3, c.params, { initiator: c.state!.balances.initiator + 5n, responder: c.state!.balances.responder }, { kind: 'deposit', account: I, amount: 5n, terms }).signedTx,
    withdraw: kit.roundTx(c.channelId!, 3, c.params, { initiator: c.state!.balances.initiator - 5n, responder: c.state!.balances.responder }, { kind: 'withdraw', account: I, amount: 5n, terms }).signedTx,
    shutdown: kit.closeMutualTx(c.channelId!, I, c.state!.balances, { ...terms, fee: 10n ** 14n }),
  };
  const updates = {
    update: [{ op: 'OffChainTransfer' as const, from: I, to: R, amount: 1n }, { op: 'OffChainMeta' as const, data: 'note' }],
    deposit: [{ op: 'OffChainDeposit' as const, from: I, amount: 5n }],
    withdraw: [{ op: 'OffChainWithdrawal' as const, to: I, amount: 5n }],
    shutdown: [],
  };
  const names = {
    update: ['update', 'update_ack', 'update_error'], deposit: ['deposit_created', 'deposit_signed', 'deposit_error'],
    withdraw: ['withdraw_created', 'withdraw_signed', 'withdraw_error'], shutdown: ['shutdown', 'shutdown_ack', 'shutdown_error'],
  };
  const cross = (from: Role, m: PeerMessage, name: string) => {
    const bytes = wires[from].encode(m);
    t.equal(codec.decode(bytes).type, name, `${m.type} ${'kind' in m ? m.kind : ''} is the node's ${name}`);
    const out = wires[from === 'initiator' ? 'responder' : 'initiator'].decode(bytes);
    t.ok('message' in out, `${name} is taken`);
    return 'message' in out ? out.message : null;
  };
  for (const kind of ['update', 'deposit', 'withdraw', 'shutdown'] as const) {
    const [proposal, ack, error] = names[kind];
    const proposed: PeerMessage = { type: 'update', kind, signedTx: txs[kind], updates: updates[kind] };
    t.same(cross('initiator', proposed, proposal!), proposed);
    const acked: PeerMessage = { type: 'update_ack', kind, signedTx: txs[kind] };
    t.same(cross('responder', acked, ack!), acked);
    if (kind === 'deposit' || kind === 'withdraw') {
      const locked: PeerMessage = { type: 'locked', kind, signedTx: txs[kind] };
      t.same(cross('initiator', locked, `${kind}_locked`), locked);
      t.match(wires.responder.decode(wires.initiator.encode(locked)), { refusal: { reason: 'unexpected_message' } }, `a second ${kind}_locked`);
    }
    cross('initiator', proposed, proposal!);
    const refused: PeerMessage = { type: 'update_error', kind, signedTx: txs[kind], round: 2, code: 4 };
    t.same(cross('responder', refused, error!), refused);
  }

  // a pinned proposal carries its block's hash in block_hash, as the node's does (unpinned: all zeros)
  const pinHash = encode(Buffer.alloc(32, 0x42), Encoding.KeyBlockHash);
  const pinned: PeerMessage = { type: 'update', kind: 'update', signedTx: txs.update, updates: updates.update, pin: { blockHash: pinHash, height: 5, top: 6 } };
  const wire = codec.decode(wires.initiator.encode(pinned)) as codec.PeerMessageOf<'update'>;
  t.same(Buffer.from(wire.block_hash), Buffer.alloc(32, 0x42), 'the pinned block\'s hash');
  wires.responder.decode(codec.encode(wire));
});

t.test('delegates: each side names its own, the initiator\'s in channel_open and the responder\'s in channel_accept (our extension); without any, the node\'s bytes', async (t) => {
  const accounts = { initiator: newParticipant(), responder: newParticipant() };
  const [towerI, towerR] = [newParticipant().address, newParticipant().address];
  const params = {
    ...channelParams(accounts.initiator, accounts.responder), initiatorAmount: 10n * AE, responderAmount: 5n * AE, channelReserve: AE / 10n,
    initiatorDelegateIds: [towerI], responderDelegateIds: [towerR],
  };
  const { crossed, carry } = link();
  const p = pair({ link: carry, accounts, params });
  t.teardown(p.stop);
  await p.open();
  checkCrossings(t, crossed);
  const [open, accept] = crossed.map((c) => codec.decode(c.bytes));
  t.equal(crossed[0]!.bytes.length, 1 + 162 + 1 + 32, 'channel_open: the node\'s 162 bytes, then one delegate');
  t.equal(crossed[1]!.bytes.length, 1 + 157 + 1 + 32, 'channel_accept: the node\'s 157 bytes, then one delegate');
  t.same(open?.type === 'channel_open' && open.delegates?.map((d) => encode(d, Encoding.AccountAddress)), [towerI]);
  t.same(accept?.type === 'channel_accept' && accept.delegates?.map((d) => encode(d, Encoding.AccountAddress)), [towerR]);
  for (const side of [p.initiator, p.responder]) {
    t.equal(side.round(), 1, `${side.role} is open`);
    const created = unpackTx(inner(side.actor.getSnapshot().context.state!.signedTx) as `tx_${string}`) as unknown as { initiatorDelegateIds?: string[]; responderDelegateIds?: string[] };
    t.same([created?.initiatorDelegateIds, created?.responderDelegateIds], [[towerI], [towerR]], `${side.role}: the create tx names both sides' delegates`);
  }

  // the responder names none: its channel_accept is the node's 157 bytes
  const plain = link();
  const q = pair({ link: plain.carry, accounts, params: { ...params, responderDelegateIds: [] } });
  t.teardown(q.stop);
  await q.open();
  t.equal(plain.crossed[1]!.bytes.length, 1 + 157, 'no delegates: the node\'s channel_accept');
  t.equal(q.responder.round(), 1);
});
