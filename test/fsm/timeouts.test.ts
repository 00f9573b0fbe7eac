/**
 * Timeouts, as the protocol specifies them, on virtual time: before the channel is open a wait that
 * runs out ends the FSM; in an open channel it rolls the operation back to the last co-signed round,
 * and a keep_running responder waits for its initiator however long. The node's timeout_* names.
 */
import t from 'tap';
import { pair } from './pair.js';
import { cosign } from '../helpers/accounts.js';

const timeouts = { accept: 1_000, sign: 2_000, idle: 10_000, awaiting_open: 3_000, initialized: 4_000, funding_lock: 5_000 };

t.test('a responder nobody opens a channel with gives up after awaiting_open', async (t) => {
  const p = pair({ timeouts });
  t.teardown(p.stop);
  p.responder.actor.start();
  await p.advance(2_999);
  t.equal(p.responder.value(), 'awaiting_open', 'not a moment early');
  await p.advance(1);
  t.same(p.responder.heard().slice(-2), ['info:timeout', 'info:died']);
  t.match(p.responder.effects.at(-1), { type: 'stopped', why: 'timeout' });
  t.equal(p.responder.actor.getSnapshot().status, 'done');
});

t.test('an initiator whose responder never answers channel_open gives up after accept', async (t) => {
  const p = pair({ timeouts });
  t.teardown(p.stop);
  p.initiator.actor.start();
  p.initiator.send({ type: 'PEER.CONNECTED' });
  t.equal(p.initiator.value(), 'awaiting_accept');
  await p.advance(1_000);
  t.same(p.initiator.heard().slice(-2), ['info:timeout', 'info:died']);
});

t.test('a create tx that never reaches minimum depth ends both FSMs after funding_lock', async (t) => {
  const p = pair({ timeouts });
  t.teardown(p.stop);
  for (const side of [p.initiator, p.responder]) side.actor.start();
  p.initiator.send({ type: 'PEER.CONNECTED' });
  await p.run();
  for (const side of [p.initiator, p.responder]) t.equal(side.value(), 'awaiting_locked');
  await p.advance(5_000);
  for (const side of [p.initiator, p.responder]) t.same(side.heard().slice(-2), ['info:timeout', 'info:died'], side.role);
});

t.test('our client does not sign its own update in time: a conflict with code 3, and the peer saw nothing', async (t) => {
  const p = pair({ timeouts });
  t.teardown(p.stop);
  await p.open();
  p.initiator.answer = () => 'silent';
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  t.same(p.initiator.value(), { open: 'awaiting_own_signature' });
  await p.advance(2_000);
  t.same(p.initiator.outputs.at(-1), { kind: 'conflict', round: 1, code: 3 });
  t.same(p.initiator.value(), { open: 'idle' });
  t.equal(p.responder.heard().at(-1), 'update', 'the responder heard nothing');
});

t.test('the peer does not co-sign in time: both roll back, and a late ack still makes the round', async (t) => {
  const p = pair({ timeouts });
  t.teardown(p.stop);
  await p.open();
  p.responder.answer = () => 'silent';
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  t.same(p.initiator.value(), { open: 'awaiting_peer_ack' });
  t.same(p.responder.value(), { open: 'awaiting_ack_signature' });
  await p.advance(1_000); // accept: the proposer stops waiting first
  t.same(p.initiator.outputs.at(-1), { kind: 'conflict', round: 1, code: 3 });
  t.ok(p.initiator.actor.getSnapshot().context.abandoned, 'it remembers what it proposed');

  // the responder's client signs after all: its ack reaches the proposer, who takes the round
  const sign = p.responder.outputs.filter((o) => o.kind === 'sign').at(-1)!;
  p.responder.answer = () => 'sign';
  p.responder.send({ type: 'CLIENT.SIGNED', tag: 'update_ack', signedTx: await cosign(p.responder.account, (sign as { signedTx: string }).signedTx) });
  await p.run();
  for (const side of [p.initiator, p.responder]) {
    t.equal(side.round(), 2, `${side.role} holds round 2 co-signed`);
    t.same(side.value(), { open: 'idle' });
  }
});

t.test('our client does not co-sign the peer\'s update in time: the peer gets code 3 too', async (t) => {
  const p = pair({ timeouts: { ...timeouts, accept: 60_000 } });
  t.teardown(p.stop);
  await p.open();
  p.responder.answer = () => 'silent';
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  await p.advance(2_000);
  for (const side of [p.initiator, p.responder]) {
    t.same(side.outputs.at(-1), { kind: 'conflict', round: 1, code: 3 }, side.role);
    t.same(side.value(), { open: 'idle' });
    t.equal(side.round(), 1);
  }
});

t.test('an idle channel ends after idle; a keep_running responder stays for its initiator', async (t) => {
  const p = pair({ timeouts });
  t.teardown(p.stop);
  await p.open();
  await p.advance(9_999);
  t.same(p.initiator.value(), { open: 'idle' });
  await p.advance(1);
  t.same(p.initiator.heard().slice(-2), ['info:timeout', 'info:died']);
  t.equal(p.initiator.actor.getSnapshot().status, 'done');
  t.same(p.responder.value(), { open: 'idle' }, 'the keep_running responder is still there');
  await p.advance(10 * 60_000);
  t.same(p.responder.value(), { open: 'idle' });
});

t.test('activity restarts the idle timer', async (t) => {
  const p = pair({ timeouts, keepRunning: false });
  t.teardown(p.stop);
  await p.open();
  await p.advance(9_000);
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  await p.advance(9_000);
  for (const side of [p.initiator, p.responder]) t.same(side.value(), { open: 'idle' }, `${side.role} is still open 18 s after opening`);
  await p.advance(1_000);
  for (const side of [p.initiator, p.responder]) t.equal(side.actor.getSnapshot().status, 'done', `${side.role} timed out 10 s after the update`);
});
