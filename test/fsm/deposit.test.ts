/**
 * Deposit, as the protocol specifies it: the depositor's client signs a deposit tx that carries the
 * next round; the peer checks it and co-signs; both write it down; the depositor posts it; when both
 * copies reach minimum depth, the round becomes the channel's state. A tx the chain refuses leaves
 * both on the round before.
 */
import t from 'tap';
import { Tag } from '../../lib/sdk.js';
import { pair } from './pair.js';
import { unpackSignedTx } from '../helpers/accounts.js';

const amount = 10n ** 19n;
const deposit = (p: ReturnType<typeof pair>) =>
  p.initiator.send({ type: 'CLIENT.DEPOSIT', amount, terms: { nonce: 2, ttl: 0 } });

t.test('a deposit: co-signed, posted by the depositor, and the channel\'s round once both copies are locked', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const before = p.initiator.actor.getSnapshot().context.state!.balances;
  deposit(p);
  await p.run();

  t.same(p.initiator.heard().slice(-2), ['sign:deposit_tx', 'chain:deposit_signed'], 'the depositor signs, then hears its tx went out');
  t.same(p.responder.heard().slice(-3), ['info:deposit_created', 'sign:deposit_ack', 'chain:deposit_created'], 'the peer co-signs');
  t.equal(p.initiator.posted.length, 2, 'the depositor posts the tx (after the create tx)');
  t.equal(p.responder.posted.length, 0, 'the peer does not');
  const posted = unpackSignedTx(p.initiator.posted[1]!);
  t.equal(posted.signatures.length, 2, 'the posted tx carries both signatures');
  t.equal(posted.encodedTx.tag, Tag.ChannelDepositTx, 'it is a channel deposit tx');
  for (const side of [p.initiator, p.responder]) {
    t.ok(side.effects.some((e) => e.type === 'persistOnchain' && e.kind === 'deposit'), `${side.role} wrote the co-signed tx before releasing it`);
    t.same(side.value(), { open: 'awaiting_onchain' });
    t.equal(side.round(), 1, `${side.role} is still on round 1 until the tx is deep enough`);
  }

  // off-chain updates wait for the deposit
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  t.match(p.initiator.outputs.at(-1), { kind: 'error', reason: 'not_allowed_now' });

  await p.confirm('initiator');
  t.same(p.initiator.heard().slice(-2), ['chain:channel_changed', 'info:own_deposit_locked']);
  t.same(p.initiator.value(), { open: 'awaiting_onchain' }, 'one copy locked is not enough');
  await p.confirm('responder');
  for (const side of [p.initiator, p.responder]) {
    t.same(side.heard().slice(-2), ['info:deposit_locked', 'update'], `${side.role} hears the deposit locked, then the new state`);
    t.equal(side.round(), 2);
    t.same(side.actor.getSnapshot().context.state!.balances, { initiator: before.initiator + amount, responder: before.responder });
    t.ok(side.effects.some((e) => e.type === 'persist' && e.state.round === 2), 'the round is stored as the channel\'s state');
    t.ok(side.effects.some((e) => e.type === 'forgetOnchain'), 'and the pending on-chain record is forgotten');
    t.same(side.value(), { open: 'idle' });
  }
});

t.test('a deposit the chain refuses: both stay on the last round and can go on', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  deposit(p);
  await p.run();
  p.initiator.send({ type: 'CHAIN.REJECTED', detail: 'insufficient funds' });
  await p.run();
  for (const side of [p.initiator, p.responder]) {
    t.match(side.outputs.find((o) => o.kind === 'conflict'), { round: 1, code: 5 }, `${side.role} gets a conflict: rejected on chain`);
    t.ok(side.effects.some((e) => e.type === 'forgetOnchain'), `${side.role} forgets the pending tx`);
    t.same(side.value(), { open: 'idle' });
    t.equal(side.round(), 1);
  }
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  t.equal(p.responder.round(), 2, 'the channel is usable afterwards');
});

t.test('a deposit of 0 is refused and changes nothing', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const sent = p.initiator.effects.length;
  p.initiator.send({ type: 'CLIENT.DEPOSIT', amount: 0n, terms: { nonce: 2, ttl: 0 } });
  await p.run();
  t.same(p.initiator.effects.slice(sent).map((e) => e.type), ['toClient']);
  t.match(p.initiator.outputs.at(-1), { kind: 'error', reason: 'value_too_low' });
  t.same(p.initiator.value(), { open: 'idle' });
});

t.test('the chain watcher seeing the deposit after it is locked: reported once, as the node reports each tx', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  deposit(p);
  await p.run();
  await p.confirm('initiator', 'responder');
  for (const side of [p.initiator, p.responder]) t.same(side.value(), { open: 'idle' });
  const changed = (side: typeof p.initiator) => side.heard().filter((h) => h === 'chain:channel_changed').length;
  const before = { initiator: changed(p.initiator), responder: changed(p.responder) };
  for (const side of [p.initiator, p.responder]) side.send({ type: 'CHAIN.CHANNEL_CHANGED', round: 2, tx: null });
  await p.run();
  t.same({ initiator: changed(p.initiator), responder: changed(p.responder) }, before, 'the deposit\'s round again: nothing more to say');
  // a change on another round is news (a snapshot, say)
  p.initiator.send({ type: 'CHAIN.CHANNEL_CHANGED', round: 3, tx: null });
  await p.run();
  t.equal(changed(p.initiator), before.initiator + 1, 'another round is reported');
});
