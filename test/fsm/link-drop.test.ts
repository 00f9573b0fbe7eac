/**
 * The link between the two FSMs drops (peers on two services: lib/channel/peer-links.ts). The node's
 * initiator dies with its link; here the initiator's service redials, so PEER.DISCONNECTED carries
 * `redial` and an initiator whose channel exists waits in `reestablishing` for the new link, rolling
 * back what was under way, while the keep_running responder waits for its reestablish. Over the new
 * link they compare their latest co-signed rounds, as after any reestablish.
 */
import t from 'tap';
import { pair } from './pair.js';

t.test('a drop while idle: both hear peer_disconnected, the redialled link reestablishes the channel', async (t) => {
  const p = pair();
  await p.open();
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  t.equal(p.initiator.value(), 'reestablishing', 'the initiator waits for its service to redial');
  t.equal(p.responder.value(), 'awaiting_reestablish');
  for (const side of [p.initiator, p.responder]) t.equal(side.heard().at(-1), 'info:peer_disconnected');
  await p.connect();
  for (const side of [p.initiator, p.responder]) {
    t.match(side.value(), { open: 'idle' }, `${side.role} open again`);
    t.same(side.heard().slice(-3), ['info:channel_reestablished', 'info:open', 'update']);
    t.equal(side.round(), 1);
  }
});

t.test('a drop in the middle of a transfer: the proposal rolls back, and the side a round behind catches up over the new link', async (t) => {
  let cut = false;
  const p = pair({ link: (_role, message) => (cut ? null : message) });
  await p.open();
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 5n, meta: [] });
  // the responder co-signs and stores round 2; its ack is lost with the link
  p.responder.answer = () => { cut = true; return 'sign'; };
  await p.run();
  t.equal(p.responder.round(), 2);
  t.equal(p.initiator.round(), 1, 'the initiator never got the ack');
  cut = false;
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  t.equal(p.initiator.actor.getSnapshot().context.pending, null, 'the pending transfer is dropped');
  t.equal(p.initiator.value(), 'reestablishing');
  await p.connect();
  t.equal(p.initiator.round(), 2, 'the initiator took the co-signed round 2, verified');
  t.equal(p.initiator.actor.getSnapshot().context.state!.signedTx, p.responder.actor.getSnapshot().context.state!.signedTx);
  t.match(p.initiator.value(), { open: 'idle' });
});

t.test('without redial, or before the channel exists, the initiator dies with its link as the node\'s does', async (t) => {
  const p = pair();
  await p.open();
  p.initiator.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  t.equal(p.initiator.value(), 'closed');
  t.same(p.initiator.heard().slice(-2), ['info:peer_disconnected', 'info:died']);

  const early = pair();
  for (const side of [early.initiator, early.responder]) side.actor.start();
  early.initiator.send({ type: 'PEER.CONNECTED' });
  early.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  await early.run();
  t.equal(early.initiator.value(), 'closed', 'nothing to reestablish yet');
});

t.test('a drop while a mutual close is on chain: ignored (as the node does); the close rejected, the service tells them then and the channel is reestablished', async (t) => {
  let cut = false;
  const p = pair({ link: (_role, message) => (cut ? null : message) });
  t.teardown(p.stop);
  await p.open();
  p.initiator.send({ type: 'CLIENT.SHUTDOWN', terms: { nonce: 2, ttl: 0 } });
  await p.run();
  for (const side of [p.initiator, p.responder]) t.equal(side.value(), 'closing');
  // the link drops while the close tx is on its way: neither FSM needs its peer for it
  cut = true;
  const heardBefore = { initiator: p.initiator.heard().length, responder: p.responder.heard().length };
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  for (const side of [p.initiator, p.responder]) {
    t.equal(side.value(), 'closing', `${side.role} still follows its close tx`);
    t.same(side.heard().slice(heardBefore[side.role]), [], `${side.role}'s client hears nothing of a link it does not need`);
  }
  // each side's watcher sees the close tx refused: open again, with no link (lib/channel/peer-links.ts parks them)
  for (const side of [p.initiator, p.responder]) side.send({ type: 'CHAIN.REJECTED', detail: 'Invalid tx: nonce too low' });
  await p.run();
  for (const side of [p.initiator, p.responder]) t.same(side.value(), { open: 'idle' });
  // the service sees them back in open and tells them of the drop now: the initiator's redials
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  t.equal(p.initiator.value(), 'reestablishing');
  t.equal(p.responder.value(), 'awaiting_reestablish');
  for (const side of [p.initiator, p.responder]) t.equal(side.heard().at(-1), 'info:peer_disconnected');
  cut = false;
  await p.connect();
  for (const side of [p.initiator, p.responder]) {
    t.match(side.value(), { open: 'idle' }, `${side.role} open again over the new link`);
    t.equal(side.round(), 1, 'on the round before the close');
  }
  // and the channel goes on
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 5n, meta: [] });
  await p.run();
  for (const side of [p.initiator, p.responder]) t.equal(side.round(), 2);
});

t.test('a drop during a dispute is ignored: the FSM settles on chain alone and needs no new link', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const round = p.initiator.round()!;
  p.initiator.send({ type: 'CHAIN.CHANNEL_CLOSING', round, tx: null } as never);
  await p.run();
  t.same(p.initiator.value(), { channel_closing: 'watching' });
  const before = p.initiator.heard().length;
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  await p.run();
  t.same(p.initiator.value(), { channel_closing: 'watching' }, 'still in the dispute');
  t.same(p.initiator.heard().slice(before), [], 'no peer_disconnected: the dispute does not need the peer');
});
