/**
 * One side a round behind over the node's wire, where a reestablish carries only the signed tx (no
 * balances, no updates): the proposer whose ack was lost takes the peer's co-signed tx of its own
 * proposal, from memory or from its record after a restart, and nothing else; and a round that was
 * being written when the link went is kept, the reestablish waiting for the store's answer.
 */
import t from 'tap';
import type { ChannelInput } from '../../fsm/channel-machine.js';
import type { PeerMessage, Role } from '../../fsm/types.js';
import { pair } from './pair.js';

/** What the node's channel_reestablish and its ack carry: the tx, its round and state hash, nothing more. */
const nodeWire = (_from: Role, message: PeerMessage): PeerMessage => {
  if (message.type !== 'channel_reestablish' && message.type !== 'channel_reest_ack') return message;
  const { balances: _b, updates: _u, ...onWire } = message;
  return onWire;
};

/** A channel at round 1 where the initiator's transfer (round 2) was co-signed and written by the responder, its ack lost. */
async function ackLost() {
  let cut = false;
  const p = pair({ link: (from, message) => (cut ? null : nodeWire(from, message)) });
  await p.open();
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 5n, meta: [] });
  p.responder.answer = () => { cut = true; return 'sign'; };
  await p.run();
  cut = false;
  const records = p.initiator.effects.filter((e) => e.type === 'persistProposal');
  return { p, records };
}

t.test('the proposer records its transfer before it goes to the peer, and takes the peer\'s tx of it when its ack was lost', async (t) => {
  const { p, records } = await ackLost();
  t.equal(records.length, 1, 'one proposal recorded');
  const sent = p.initiator.effects.findIndex((e) => e.type === 'toPeer' && e.message.type === 'update');
  t.ok(p.initiator.effects.indexOf(records[0]!) < sent, 'before the update went out');
  t.match(records[0], { proposal: { round: 2, updates: [{ op: 'OffChainTransfer', amount: 5n }] } });
  t.equal(p.responder.round(), 2);
  t.equal(p.initiator.round(), 1, 'the initiator never got the ack');
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  await p.connect();
  t.equal(p.initiator.round(), 2, 'from the reestablish alone (no balances), the initiator took round 2');
  t.equal(p.initiator.actor.getSnapshot().context.state!.signedTx, p.responder.actor.getSnapshot().context.state!.signedTx);
  t.equal(p.initiator.actor.getSnapshot().context.state!.balances.responder, p.responder.actor.getSnapshot().context.state!.balances.responder);
  t.match(p.initiator.value(), { open: 'idle' });
});

t.test('after a restart: the record rebuilds the proposal; without it the round behind is refused as the node refuses it', async (t) => {
  const { p, records } = await ackLost();
  const stored = (role: Role): NonNullable<ChannelInput['restored']> => {
    const { channelId, state } = p.sides[role].actor.getSnapshot().context;
    return { channelId: channelId!, state: state! };
  };
  const record = (records[0] as Extract<(typeof records)[number], { type: 'persistProposal' }>).proposal;
  p.stop();

  const withRecord = pair({
    link: nodeWire, accounts: p.accounts, params: p.params,
    restored: { initiator: { ...stored('initiator'), proposal: record }, responder: stored('responder') },
  });
  await withRecord.connect();
  t.equal(withRecord.initiator.round(), 2, 'the restarted initiator took round 2');
  t.match(withRecord.initiator.value(), { open: 'idle' });
  t.match(withRecord.responder.value(), { open: 'idle' });

  const stale = pair({
    link: nodeWire, accounts: p.accounts, params: p.params,
    restored: { initiator: { ...stored('initiator'), proposal: { ...record, updates: [{ ...record.updates[0]!, amount: 6n } as never] } }, responder: stored('responder') },
  });
  await stale.connect();
  t.equal(stale.initiator.value(), 'closed', 'a record of another transfer does not make the peer\'s tx ours: conflict');
  t.equal(stale.initiator.round(), 1);

  const none = pair({ link: nodeWire, accounts: p.accounts, params: p.params, restored: { initiator: stored('initiator'), responder: stored('responder') } });
  await none.connect();
  t.equal(none.initiator.value(), 'closed', 'no record: conflict, as the node');
});

t.test('the link goes while the proposer writes the co-signed round: kept, and the reestablish waits for the store', async (t) => {
  const p = pair({ link: nodeWire });
  await p.open();
  p.initiator.store = 'silent';
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 5n, meta: [] });
  await p.run();
  t.match(p.initiator.value(), { open: 'persisting' }, 'the ack came; the write is under way');
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  t.equal(p.initiator.value(), 'reestablishing');
  t.equal(p.initiator.actor.getSnapshot().context.unsettled?.round, 2, 'round 2 set aside, not dropped');
  p.initiator.send({ type: 'PEER.CONNECTED' });
  await p.run();
  t.notOk(p.initiator.effects.some((e) => e.type === 'toPeer' && e.message.type === 'channel_reestablish'), 'no reestablish before the store answers');
  p.initiator.send({ type: 'STORE.SAVED', round: 2 });
  p.responder.send({ type: 'PEER.CONNECTED' });
  await p.run();
  t.equal(p.initiator.round(), 2);
  t.match(p.initiator.effects.find((e) => e.type === 'toPeer' && e.message.type === 'channel_reestablish'), { message: { round: 2 } }, 'then it tells round 2');
  t.match(p.initiator.value(), { open: 'idle' });
  t.match(p.responder.value(), { open: 'idle' });
  t.equal(p.responder.round(), 2);
});

t.test('the link goes while the co-signer writes the round it has not acked yet: kept, and its peer catches up with it', async (t) => {
  const p = pair({ link: nodeWire });
  await p.open();
  p.responder.store = 'silent';
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 5n, meta: [] });
  await p.run();
  t.match(p.responder.value(), { open: 'persisting' });
  p.initiator.send({ type: 'PEER.DISCONNECTED', redial: true });
  p.responder.send({ type: 'PEER.DISCONNECTED' });
  await p.run();
  t.equal(p.responder.value(), 'awaiting_reestablish');
  p.initiator.send({ type: 'PEER.CONNECTED' });
  await p.run();
  t.equal(p.responder.round(), 1, 'the reestablish waits for the write');
  p.responder.send({ type: 'STORE.SAVED', round: 2 });
  await p.run();
  t.equal(p.responder.round(), 2, 'written: round 2 is the responder\'s');
  t.ok(p.responder.heard().includes('update'), 'and its client hears of it');
  t.equal(p.initiator.round(), 2, 'the initiator took it from the responder\'s ack');
  t.match(p.initiator.value(), { open: 'idle' });
});
