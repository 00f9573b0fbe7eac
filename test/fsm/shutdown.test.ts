/**
 * Shutdown (mutual close), as the protocol specifies it: the closer's client signs a close tx paying
 * out the balances less the fee, half each (the initiator paying the odd aetto); the peer co-signs;
 * both write it down; the closer posts it; when it is deep enough, both FSMs end.
 */
import t from 'tap';
import { Tag } from '../../lib/sdk.js';
import { pair } from './pair.js';
import { unpackSignedTx } from '../helpers/accounts.js';

t.test('a mutual close pays out the balances less the fee and ends both FSMs once it is deep enough', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const balances = p.initiator.actor.getSnapshot().context.state!.balances;
  const fee = 20_001n * 10n ** 9n + 1n; // an odd fee: the initiator pays the odd aetto
  p.initiator.send({ type: 'CLIENT.SHUTDOWN', terms: { nonce: 2, ttl: 0, fee } });
  await p.run();
  t.same(p.initiator.heard().slice(-3), ['sign:shutdown_sign', 'chain:close_mutual', 'info:closing'], 'the closer signs, posts, and hears it closing');
  t.same(p.responder.heard().slice(-4), ['info:shutdown', 'sign:shutdown_sign_ack', 'chain:close_mutual', 'info:closing'], 'the peer co-signs');
  t.equal(p.initiator.posted.length, 2, 'the closer posts the close tx (after the create tx)');
  t.equal(p.responder.posted.length, 0, 'the acknowledger only co-signs');
  const close = unpackSignedTx(p.initiator.posted.at(-1)!);
  t.equal(close.encodedTx.tag, Tag.ChannelCloseMutualTx);
  t.equal(close.signatures.length, 2);
  t.equal(BigInt(close.encodedTx.initiatorAmountFinal as string), balances.initiator - fee / 2n - 1n);
  t.equal(BigInt(close.encodedTx.responderAmountFinal as string), balances.responder - fee / 2n);
  for (const side of [p.initiator, p.responder]) {
    t.equal(side.value(), 'closing');
    t.ok(side.effects.some((e) => e.type === 'persistOnchain' && e.kind === 'shutdown'), `${side.role} stored the co-signed close first`);
  }
  await p.confirm('initiator', 'responder');
  for (const side of [p.initiator, p.responder]) {
    t.same(side.heard().slice(-3), ['chain:channel_closed', 'info:closed_confirmed', 'info:died']);
    t.ok(side.effects.some((e) => e.type === 'markClosed'), 'reestablishing it is no longer possible');
    t.match(side.effects.at(-1), { type: 'stopped', why: 'closed' });
    t.equal(side.actor.getSnapshot().status, 'done');
  }
});

t.test('a close tx the chain refuses: the channel is open again on the same round', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  p.initiator.send({ type: 'CLIENT.SHUTDOWN', terms: { nonce: 2, ttl: 0 } });
  await p.run();
  p.initiator.send({ type: 'CHAIN.REJECTED', detail: 'nonce too low' });
  await p.run();
  for (const side of [p.initiator, p.responder]) {
    t.match(side.outputs.find((o) => o.kind === 'conflict'), { round: 1, code: 5 });
    t.same(side.value(), { open: 'idle' });
    t.equal(side.round(), 1);
  }
});

t.test('balances that cannot pay the fee are refused before anything is signed', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  p.initiator.send({ type: 'CLIENT.SHUTDOWN', terms: { nonce: 2, ttl: 0, fee: 10n ** 22n } });
  await p.run();
  t.match(p.initiator.outputs.at(-1), { kind: 'error', reason: 'insufficient_balance' });
  t.same(p.initiator.value(), { open: 'idle' });
});
