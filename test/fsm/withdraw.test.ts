/**
 * Withdraw, as the protocol specifies it: like a deposit, but the coins leave the channel, and never
 * below the channel reserve. Either participant may withdraw its own coins; the peer co-signs.
 */
import t from 'tap';
import { Tag } from '../../lib/sdk.js';
import { pair } from './pair.js';
import { unpackSignedTx } from '../helpers/accounts.js';

t.test('the responder withdraws: co-signed, posted by it, the channel\'s round once both copies are locked', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const before = p.responder.actor.getSnapshot().context.state!.balances;
  const amount = 10n ** 20n;
  p.responder.send({ type: 'CLIENT.WITHDRAW', amount, terms: { nonce: 1, ttl: 0 } });
  await p.run();
  t.same(p.responder.heard().slice(-2), ['sign:withdraw_tx', 'chain:withdraw_signed']);
  t.same(p.initiator.heard().slice(-3), ['info:withdraw_created', 'sign:withdraw_ack', 'chain:withdraw_created']);
  const posted = unpackSignedTx(p.responder.posted.at(-1)!);
  t.equal(posted.encodedTx.tag, Tag.ChannelWithdrawTx);
  t.equal(posted.signatures.length, 2);
  await p.confirm('responder', 'initiator');
  for (const side of [p.initiator, p.responder]) {
    t.same(side.heard().slice(-2), ['info:withdraw_locked', 'update']);
    t.equal(side.round(), 2);
    t.same(side.actor.getSnapshot().context.state!.balances, { initiator: before.initiator, responder: before.responder - amount });
  }
});

t.test('a withdraw below the channel reserve is refused, and nothing is signed', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const { responder } = p.responder.actor.getSnapshot().context.state!.balances;
  p.responder.send({ type: 'CLIENT.WITHDRAW', amount: responder, terms: { nonce: 1, ttl: 0 } });
  await p.run();
  t.match(p.responder.outputs.at(-1), { kind: 'error', reason: 'insufficient_balance' });
  t.notOk(p.responder.heard().includes('sign:withdraw_tx'));
  t.same(p.responder.value(), { open: 'idle' });
  t.equal(p.initiator.heard().at(-1), 'update', 'the peer heard nothing');
});

t.test('the peer declines to co-sign a withdraw: the withdrawer gets a conflict with its code', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  p.initiator.answer = (tag) => (tag === 'withdraw_ack' ? 147 : 'sign');
  p.responder.send({ type: 'CLIENT.WITHDRAW', amount: 1n, terms: { nonce: 1, ttl: 0 } });
  await p.run();
  t.same(p.responder.outputs.at(-1), { kind: 'conflict', round: 1, code: 147 });
  t.equal(p.initiator.heard().at(-1), 'info:aborted_update');
  t.equal(p.responder.posted.length, 0, 'nothing went on chain');
  for (const side of [p.initiator, p.responder]) t.same(side.value(), { open: 'idle' });
});
