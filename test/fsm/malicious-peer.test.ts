/**
 * A malicious peer: a test double that speaks the peer protocol to one real participant FSM. Every
 * lie is refused, reported to our client, and nothing is co-signed or persisted.
 */
import t from 'tap';
import { createActor } from 'xstate';
import { AccountMemory, buildTx, encode, Encoding, Tag } from '../../lib/sdk.js';
import { channelMachine, peerEvent } from '../../fsm/channel-machine.js';
import type { ChannelEffect, ChannelParams, CoSignedState, PeerMessage } from '../../fsm/types.js';
import { channelId as deriveChannelId, channelStateHash, createTxKit, wrapSigned } from '../../lib/tx/channel-kit.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';

const kit = createTxKit(NETWORK_ID);
const cheater = AccountMemory.generate(); // the peer (initiator)
const honest = AccountMemory.generate(); // our participant (responder)
const params: ChannelParams = {
  initiatorId: cheater.address, responderId: honest.address, initiatorAmount: 1000n, responderAmount: 1000n, pushAmount: 0n,
  channelReserve: 10n, lockPeriod: 10n, minimumDepth: 0, minimumDepthStrategy: 'plain', initiatorDelegateIds: [], responderDelegateIds: [],
};
const channelId = deriveChannelId(cheater.address, 1, honest.address);

/** Our FSM, restored on round 1 and open, with its effects recorded. */
async function honestFsm() {
  const created = kit.createTx(params, { nonce: 1, ttl: 0 });
  const state: CoSignedState = {
    round: 1, balances: created.balances, stateHash: created.stateHash, updates: [],
    signedTx: await cosign(honest, await cosign(cheater, created.signedTx)) as `tx_${string}`,
  };
  const actor = createActor(channelMachine, { input: { kit, role: 'responder', fsmId: 'ba_x', params, keepRunning: true, restored: { channelId, state } } });
  const effects: ChannelEffect[] = [];
  actor.on('*', (e: ChannelEffect) => effects.push(e));
  actor.start();
  actor.send(peerEvent({ type: 'channel_reestablish', channelId, round: 1, stateHash: state.stateHash, signedTx: state.signedTx, balances: state.balances, updates: [] }));
  t.teardown(() => actor.stop());
  return { actor, effects, state };
}

/** An off-chain tx signed by the cheater, with whatever fields it likes. */
async function offchain(fields: { channel?: string; round?: number; balances?: { initiator: bigint; responder: bigint } }, signer = cheater) {
  const balances = fields.balances ?? { initiator: 990n, responder: 1010n };
  const tx = buildTx({
    tag: Tag.ChannelOffChainTx, channelId: (fields.channel ?? channelId) as `ch_${string}`, round: fields.round ?? 2,
    stateHash: channelStateHash(params, balances),
  }) as `tx_${string}`;
  return await cosign(signer, wrapSigned(tx)) as `tx_${string}`;
}

const transfer10 = [{ op: 'OffChainTransfer' as const, from: cheater.address, to: honest.address, amount: 10n }];

const lies: Array<[string, () => Promise<PeerMessage>, string]> = [
  ['a wrong round', async () => ({ type: 'update', kind: 'update', signedTx: await offchain({ round: 5 }), updates: transfer10 }), 'wrong_round'],
  ['a state hash that is not what the updates give', async () => ({ type: 'update', kind: 'update', signedTx: await offchain({ balances: { initiator: 900n, responder: 1100n } }), updates: transfer10 }), 'bad_state_hash'],
  ['updates moving more than the tx says', async () => ({ type: 'update', kind: 'update', signedTx: await offchain({}), updates: [{ ...transfer10[0]!, amount: 50n }] }), 'bad_state_hash'],
  ['a tx of another channel', async () => ({ type: 'update', kind: 'update', signedTx: await offchain({ channel: encode(Buffer.alloc(32, 7), Encoding.Channel) }), updates: transfer10 }), 'broken_encoding'],
  ['a signature by the wrong key', async () => ({ type: 'update', kind: 'update', signedTx: await offchain({}, AccountMemory.generate()), updates: transfer10 }), 'bad_signature'],
  ['a transfer below the reserve', async () => ({ type: 'update', kind: 'update', signedTx: await offchain({ balances: { initiator: 5n, responder: 1995n } }),
    updates: [{ ...transfer10[0]!, amount: 995n }] }), 'insufficient_balance'],
  ['a deposit of our coins', async () => ({ type: 'update', kind: 'deposit', signedTx: await offchain({}),
    updates: [{ op: 'OffChainDeposit', from: honest.address, amount: 10n }] }), 'broken_encoding'],
  ['garbage for a tx', async () => ({ type: 'update', kind: 'update', signedTx: 'tx_garbage' as `tx_${string}`, updates: transfer10 }), 'broken_encoding_transaction'],
];

for (const [what, message, reason] of lies) {
  t.test(`a peer proposing ${what} is refused`, async (t) => {
    const { actor, effects, state } = await honestFsm();
    const before = effects.length;
    actor.send(peerEvent(await message()));
    const after = effects.slice(before);
    t.notOk(after.some((e) => e.type === 'persist' || e.type === 'persistOnchain'), 'nothing persisted');
    t.notOk(after.some((e) => e.type === 'toClient' && e.output.kind === 'sign'), 'our client is never asked to co-sign it');
    t.ok(after.some((e) => e.type === 'toPeer' && e.message.type === 'update_error'), 'the peer is refused');
    const report = after.find((e) => e.type === 'toClient' && e.output.kind === 'error');
    t.equal(report?.type === 'toClient' && report.output.kind === 'error' ? report.output.reason : undefined, reason, `our client hears: ${reason}`);
    t.same(actor.getSnapshot().context.state, state, 'still on the last co-signed round');
    t.same(actor.getSnapshot().value, { open: 'idle' });
  });
}

t.test('an ack with a forged co-signature is refused and nothing is persisted', async (t) => {
  const { actor, effects } = await honestFsm();
  actor.send({ type: 'CLIENT.UPDATE_NEW', from: honest.address, to: cheater.address, amount: 5n, meta: [] });
  const sign = effects.find((e) => e.type === 'toClient' && e.output.kind === 'sign');
  const unsigned = sign?.type === 'toClient' && sign.output.kind === 'sign' ? sign.output.signedTx : undefined;
  actor.send({ type: 'CLIENT.SIGNED', tag: 'update', signedTx: await cosign(honest, unsigned!) });
  const before = effects.length;
  actor.send(peerEvent({ type: 'update_ack', kind: 'update', signedTx: await cosign(AccountMemory.generate(), await cosign(honest, unsigned!)) as `tx_${string}` }));
  const after = effects.slice(before);
  t.notOk(after.some((e) => e.type === 'persist'), 'nothing persisted');
  t.ok(after.some((e) => e.type === 'toClient' && e.output.kind === 'conflict'), 'our client gets a conflict');
  t.equal(actor.getSnapshot().context.state?.round, 1);
});

t.test('a peer pulling coins from our account needs our client: declined, nothing is co-signed', async (t) => {
  const { actor, effects } = await honestFsm();
  actor.send(peerEvent({ type: 'update', kind: 'update', signedTx: await offchain({ balances: { initiator: 1010n, responder: 990n } }),
    updates: [{ op: 'OffChainTransfer', from: honest.address, to: cheater.address, amount: 10n }] }));
  t.ok(effects.some((e) => e.type === 'toClient' && e.output.kind === 'sign' && e.output.tag === 'update_ack'), 'our client decides');
  actor.send({ type: 'CLIENT.ABORT', tag: 'update_ack', code: 1 });
  t.notOk(effects.some((e) => e.type === 'persist'), 'nothing persisted');
  t.ok(effects.some((e) => e.type === 'toPeer' && e.message.type === 'update_error'));
  t.equal(actor.getSnapshot().context.state?.round, 1);
});
