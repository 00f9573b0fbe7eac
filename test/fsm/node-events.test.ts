/**
 * Info events the node sends when a peer or the chain gives its FSM something it cannot go on from:
 * a funding tx with a bad signature, a state hash that is not the one the parameters give, a funding
 * tx that is not a create tx, and a channel that comes back on chain after it closed (a fork). A real
 * FSM against a lying peer and chain, with real encodings and ed25519 signatures: no service can be
 * made to produce these (its own peers are honest, its dev chain has no forks).
 */
import t from 'tap';
import { createActor } from 'xstate';
import { AccountMemory, buildTx, Tag } from '../../lib/sdk.js';
import { channelMachine, peerEvent } from '../../fsm/channel-machine.js';
import type { ChannelEffect, ChannelParams, CoSignedState, EncodedTx, Role } from '../../fsm/types.js';
import { channelId as deriveChannelId, channelStateHash, createTxKit, wrapSigned } from '../../lib/tx/channel-kit.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';

const kit = createTxKit(NETWORK_ID);
const initiator = AccountMemory.generate();
const responder = AccountMemory.generate();
const params: ChannelParams = {
  initiatorId: initiator.address, responderId: responder.address, initiatorAmount: 1000n, responderAmount: 1000n, pushAmount: 0n,
  channelReserve: 10n, lockPeriod: 10n, minimumDepth: 0, minimumDepthStrategy: 'plain', initiatorDelegateIds: [], responderDelegateIds: [],
};
const channelId = deriveChannelId(initiator.address, 1, responder.address);

function fsm(role: Role, extra: Record<string, unknown> = {}) {
  const actor = createActor(channelMachine, {
    input: { kit, role, fsmId: 'ba_x', params, keepRunning: false, ...(role === 'initiator' && { terms: { nonce: 1, ttl: 0 } }), ...extra },
  });
  const effects: ChannelEffect[] = [];
  actor.on('*', (e: ChannelEffect) => effects.push(e));
  actor.start();
  t.teardown(() => actor.stop());
  return { actor, effects };
}

const infos = (effects: ChannelEffect[]) => effects.flatMap((e) => (e.type === 'toClient' && e.output.kind === 'info' ? [e.output.event] : []));
const stopped = (effects: ChannelEffect[]) => effects.some((e) => e.type === 'stopped');

/** A responder that accepted the initiator's channel_open and waits for its funding_created. */
function acceptingResponder() {
  const side = fsm('responder');
  side.actor.send(peerEvent({ type: 'channel_open', params }));
  return side;
}

const createTx = (p: ChannelParams = params) => kit.createTx(p, { nonce: 1, ttl: 0 }).signedTx;

const lies: Array<[string, () => Promise<string>, string]> = [
  ['signed by another key', async () => cosign(AccountMemory.generate(), createTx()), 'bad_signature'],
  ['with a state hash the parameters do not give', async () => {
    const built = buildTx({
      tag: Tag.ChannelCreateTx, initiator: initiator.address, initiatorAmount: 1000n, responder: responder.address, responderAmount: 1000n,
      channelReserve: 10n, lockPeriod: 10n, ttl: 0, initiatorDelegateIds: [], responderDelegateIds: [], nonce: 1,
      stateHash: channelStateHash(params, { initiator: 900n, responder: 1100n }),
    } as Parameters<typeof buildTx>[0]) as EncodedTx;
    return cosign(initiator, wrapSigned(built));
  }, 'bad_state_hash'],
  ['that is not a create tx', async () => cosign(initiator, wrapSigned(buildTx({
    tag: Tag.ChannelOffChainTx, channelId, round: 1, stateHash: channelStateHash(params, { initiator: 1000n, responder: 1000n }),
  }) as EncodedTx)), 'not_create_tx'],
];

for (const [what, tx, event] of lies) {
  t.test(`a funding_created ${what}: info ${event}, then the FSM dies`, async (t) => {
    const { actor, effects } = acceptingResponder();
    const before = effects.length;
    actor.send(peerEvent({ type: 'funding_created', signedTx: await tx() as EncodedTx }));
    const after = effects.slice(before);
    t.same(infos(after), [event, 'died'], 'as the node reports it (aesc_fsm close/2)');
    t.notOk(after.some((e) => e.type === 'toClient' && e.output.kind === 'sign'), 'our client is never asked to sign it');
    t.notOk(after.some((e) => e.type === 'persist'), 'nothing persisted');
    t.ok(stopped(after));
  });
}

t.test('a funding_signed without a good co-signature: info bad_signature, then the FSM dies', async (t) => {
  const { actor, effects } = fsm('initiator');
  actor.send({ type: 'PEER.CONNECTED' });
  actor.send(peerEvent({ type: 'channel_accept', minimumDepth: 0, minimumDepthStrategy: 'plain', responderDelegateIds: [] }));
  const sign = effects.find((e) => e.type === 'toClient' && e.output.kind === 'sign');
  const unsigned = sign?.type === 'toClient' && sign.output.kind === 'sign' ? sign.output.signedTx : undefined;
  const ours = await cosign(initiator, unsigned!);
  actor.send({ type: 'CLIENT.SIGNED', tag: 'initiator_sign', signedTx: ours });
  const before = effects.length;
  actor.send(peerEvent({ type: 'funding_signed', signedTx: await cosign(AccountMemory.generate(), ours) as EncodedTx }));
  const after = effects.slice(before);
  t.same(infos(after), ['bad_signature', 'died']);
  t.notOk(after.some((e) => e.type === 'persist' || e.type === 'postTx'), 'nothing persisted or posted');
});

t.test('a channel that comes back on chain after it closed: info zombie_channel, then the FSM dies', async (t) => {
  const created = kit.createTx(params, { nonce: 1, ttl: 0 });
  const state: CoSignedState = {
    round: 1, balances: created.balances, stateHash: created.stateHash, updates: [],
    signedTx: await cosign(responder, await cosign(initiator, created.signedTx)) as EncodedTx,
  };
  const { actor, effects } = fsm('responder', { keepRunning: true, restored: { channelId, state } });
  actor.send(peerEvent({ type: 'channel_reestablish', channelId, round: 1, stateHash: state.stateHash, signedTx: state.signedTx, balances: state.balances, updates: [] }));
  t.same(actor.getSnapshot().value, { open: 'idle' });
  actor.send({ type: 'CHAIN.CHANNEL_CLOSED', tx: state.signedTx });
  t.same(actor.getSnapshot().value, 'channel_closed', 'closed on chain, waiting for depth');
  const before = effects.length;
  actor.send({ type: 'CHAIN.CHANNEL_CHANGED', round: 1, tx: null });
  const after = effects.slice(before);
  t.same(infos(after), ['zombie_channel', 'died'], 'as the node in channel_closed');
  t.ok(stopped(after));
  t.notOk(after.some((e) => e.type === 'markClosed'), 'not marked closed: the chain has it again');
});
