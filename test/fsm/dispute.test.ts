/**
 * Disputes, as the protocol specifies them: one participant alone puts its latest co-signed round on
 * chain (close_solo, snapshot_solo); while the channel solo-closes either may slash with a newer
 * round, and once the lock has passed, settle. Each is refused while the chain does not allow it.
 */
import t from 'tap';
import { Tag } from '../../lib/sdk.js';
import type { OnchainChannel } from '../../fsm/types.js';
import { pair, type Pair } from './pair.js';
import { unpackSignedTx } from '../helpers/accounts.js';

const terms = { nonce: 5, ttl: 0 };
const chain = (over: Partial<OnchainChannel> = {}): OnchainChannel =>
  ({ round: 1, lockedUntil: 0, initiatorAmount: 10n ** 21n, responderAmount: 5n * 10n ** 20n, height: 10, ...over });

/** An open channel on round 2 (an off-chain transfer the chain has not seen). */
async function onRound2(): Promise<Pair> {
  const p = pair();
  await p.open();
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 10n ** 18n, meta: [] });
  await p.run();
  return p;
}

const lastPosted = (p: Pair, role: 'initiator' | 'responder') => unpackSignedTx(p.sides[role].posted.at(-1)!);

t.test('close_solo, then slash with a newer round, then settle after the lock: the chain decides, the FSM follows', async (t) => {
  const p = await onRound2();
  t.teardown(p.stop);
  const { responder } = p;

  responder.send({ type: 'CLIENT.DISPUTE', kind: 'close_solo', terms, onchain: chain() });
  await p.run();
  t.equal(responder.heard().at(-1), 'sign:close_solo_sign');
  let posted = lastPosted(p, 'responder');
  t.equal(posted.encodedTx.tag, Tag.ChannelCloseSoloTx, 'a close_solo tx went on chain');
  t.equal(posted.signatures.length, 1, 'signed by the closer alone');
  t.same(responder.value(), { open: 'idle' }, 'the chain watcher reports what it does');

  // the chain closes on round 1 (say the peer's older close_solo won the race): ours is newer
  for (const side of [p.initiator, responder]) side.send({ type: 'CHAIN.CHANNEL_CLOSING', round: 1, tx: null });
  await p.run();
  for (const side of [p.initiator, responder]) {
    t.same(side.heard().slice(-2), ['chain:can_slash', 'info:closing'], `${side.role} can slash with round 2`);
    t.same(side.value(), { channel_closing: 'watching' });
  }
  const locked = chain({ lockedUntil: 20, height: 10 });
  responder.send({ type: 'CLIENT.DISPUTE', kind: 'close_solo', terms, onchain: locked });
  t.match(responder.outputs.at(-1), { kind: 'error', reason: 'not_allowed_now', detail: 'the channel is already closing' });
  responder.send({ type: 'CLIENT.DISPUTE', kind: 'settle', terms, onchain: locked });
  t.match(responder.outputs.at(-1), { kind: 'error', reason: 'not_allowed_now', detail: 'the channel is locked until height 20' });

  responder.send({ type: 'CLIENT.DISPUTE', kind: 'slash', terms, onchain: locked });
  await p.run();
  t.equal(responder.heard().at(-1), 'sign:slash_tx');
  posted = lastPosted(p, 'responder');
  t.equal(posted.encodedTx.tag, Tag.ChannelSlashTx);
  t.equal(posted.signatures.length, 1, 'signed by the slasher alone');

  responder.send({ type: 'CHAIN.CHANNEL_CLOSING', round: 2, tx: null });
  responder.send({ type: 'CLIENT.DISPUTE', kind: 'slash', terms, onchain: chain({ round: 2, lockedUntil: 30, height: 20 }) });
  t.match(responder.outputs.at(-1), { kind: 'error', reason: 'already_onchain' }, 'nothing newer to slash with');

  responder.send({ type: 'CLIENT.DISPUTE', kind: 'settle', terms, onchain: chain({ round: 2, lockedUntil: 30, height: 29 }) });
  await p.run();
  t.equal(responder.heard().at(-1), 'sign:settle_sign');
  posted = lastPosted(p, 'responder');
  t.equal(posted.encodedTx.tag, Tag.ChannelSettleTx);
  const settleTx = p.responder.posted.at(-1)!;

  responder.send({ type: 'CHAIN.CHANNEL_CLOSED', tx: settleTx });
  await p.run();
  t.equal(responder.heard().at(-1), 'chain:channel_closed');
  t.equal(responder.watched.at(-1), settleTx, 'the settle tx is followed to minimum depth');
  responder.send({ type: 'CHAIN.LOCKED', txHash: 'th_settle' });
  t.same(responder.heard().slice(-2), ['info:closed_confirmed', 'info:died']);
  t.match(responder.effects.at(-1), { type: 'stopped', why: 'closed' });
});

t.test('disputes refused while the chain does not allow them change nothing', async (t) => {
  const p = pair();
  t.teardown(p.stop);
  await p.open();
  const cases = [
    { kind: 'close_solo', onchain: null, reason: 'not_found' },
    { kind: 'snapshot_solo', onchain: chain(), reason: 'not_offchain_tx' }, // round 1 is the create tx
    { kind: 'slash', onchain: chain(), reason: 'not_allowed_now' }, // not closing
    { kind: 'settle', onchain: chain(), reason: 'not_allowed_now' },
  ] as const;
  for (const { kind, onchain, reason } of cases) {
    const before = p.initiator.effects.length;
    p.initiator.send({ type: 'CLIENT.DISPUTE', kind, terms, onchain });
    t.match(p.initiator.outputs.at(-1), { kind: 'error', reason }, `${kind}: ${reason}`);
    t.equal(p.initiator.effects.length, before + 1, 'one error, nothing else');
    t.same(p.initiator.value(), { open: 'idle' });
  }
});

t.test('a client that declines to sign a dispute tx: nothing is posted, the channel goes on', async (t) => {
  const p = await onRound2();
  t.teardown(p.stop);
  p.initiator.answer = () => 4;
  const posted = p.initiator.posted.length;
  p.initiator.send({ type: 'CLIENT.DISPUTE', kind: 'snapshot_solo', terms, onchain: chain() });
  await p.run();
  t.same(p.initiator.heard().slice(-2), ['sign:snapshot_solo_tx', 'info:aborted_update']);
  t.equal(p.initiator.posted.length, posted);
  t.same(p.initiator.value(), { open: 'idle' });
});
