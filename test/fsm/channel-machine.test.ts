/**
 * Steps two participants' machines against each other without sockets, Redis or a chain: the
 * effects are performed by a small in-test harness, the transactions are real encodings and the
 * signatures real ed25519.
 */
import t from 'tap';
import { createActor, type Actor } from 'xstate';
import { channelMachine, peerEvent, type ChannelEvent } from '../../fsm/channel-machine.js';
import type { ChannelEffect, ChannelParams, ClientOutput, Role } from '../../fsm/types.js';
import { createTxKit } from '../../lib/tx/channel-kit.js';
import { cosign, newParticipant, NETWORK_ID, unpackSignedTx, type Participant } from '../helpers/accounts.js';

const kit = createTxKit(NETWORK_ID);
/**
 * The harness's work in flight (a message or answer queued, a client signing): the exchange has run
 * its course when none is left. Counting it, rather than waiting for a quiet spell, keeps the tests
 * exact however loaded the machine is.
 */
let inFlight = 0;
function later(work: () => void | Promise<void>): void {
  inFlight += 1;
  setImmediate(async () => {
    try { await work(); } finally { inFlight -= 1; }
  });
}
async function settle(): Promise<void> {
  do await new Promise((resolve) => setImmediate(resolve)); while (inFlight > 0);
}

interface Side {
  actor: Actor<typeof channelMachine>;
  outputs: ClientOutput[];
  effects: ChannelEffect[];
  /** how this side's client answers sign requests: sign, or abort with a code */
  answer: (tag: string) => 'sign' | number;
  account: Participant;
}

function pair(opts: { storeFails?: Role; restored?: Partial<Record<Role, { channelId: string; state: unknown }>>; accounts?: [Participant, Participant] } = {}) {
  const [initiator, responder] = opts.accounts ?? [newParticipant(), newParticipant()];
  const params: ChannelParams = {
    initiatorId: initiator.address, responderId: responder.address,
    initiatorAmount: 10n ** 21n, responderAmount: 5n * 10n ** 20n, pushAmount: 0n,
    channelReserve: 10n ** 18n, lockPeriod: 10n, minimumDepth: 0, minimumDepthStrategy: 'plain',
    initiatorDelegateIds: [], responderDelegateIds: [],
  };
  const sides = {} as Record<Role, Side>;
  for (const role of ['initiator', 'responder'] as const) {
    const actor = createActor(channelMachine, {
      input: {
        kit, role, fsmId: `ba_${role}`, params, keepRunning: role === 'responder',
        ...(role === 'initiator' && { terms: { nonce: 1, ttl: 0 } }),
        ...(opts.restored?.[role] && { restored: opts.restored[role] as never }),
      },
    });
    sides[role] = { actor, outputs: [], effects: [], answer: () => 'sign', account: role === 'initiator' ? initiator : responder };
  }
  const other = (role: Role) => sides[role === 'initiator' ? 'responder' : 'initiator'];
  for (const role of ['initiator', 'responder'] as const) {
    const side = sides[role];
    side.actor.on('*', (effect: ChannelEffect) => {
      side.effects.push(effect);
      const send = (event: ChannelEvent) => later(() => side.actor.send(event));
      switch (effect.type) {
        case 'toClient': {
          side.outputs.push(effect.output);
          const out = effect.output;
          if (out.kind === 'sign') {
            const answer = side.answer(out.tag);
            if (answer === 'sign') later(async () => side.actor.send({ type: 'CLIENT.SIGNED', tag: out.tag, signedTx: await cosign(side.account, out.signedTx) }));
            else send({ type: 'CLIENT.ABORT', tag: out.tag, code: answer });
          }
          break;
        }
        case 'toPeer': later(() => other(role).actor.send(peerEvent(effect.message))); break;
        case 'persist': send(opts.storeFails === role && !effect.first
          ? { type: 'STORE.FAILED', round: effect.state.round, detail: 'test' }
          : { type: 'STORE.SAVED', round: effect.state.round }); break;
        case 'watchTx': send({ type: 'CHAIN.MINED', txHash: 'th_x' }); send({ type: 'CHAIN.LOCKED', txHash: 'th_x' }); break;
        default: break;
      }
    });
  }
  t.teardown(() => { for (const side of Object.values(sides)) side.actor.stop(); });
  const start = async () => {
    sides.initiator.actor.start();
    sides.responder.actor.start();
    sides.initiator.actor.send({ type: 'PEER.CONNECTED' });
    sides.responder.actor.send({ type: 'PEER.CONNECTED' });
    await settle();
  };
  return { sides, params, start, initiator, responder };
}

const events = (side: Side) => side.outputs.map((o) => (o.kind === 'info' ? `info:${o.event}` : o.kind === 'sign' ? `sign:${o.tag}` : o.kind === 'on_chain_tx' ? `chain:${o.info}` : o.kind));
const round = (side: Side) => side.actor.getSnapshot().context.state?.round;

t.test('open: both sides see the node\'s sequence and agree on round 1', async (t) => {
  const { sides, start } = pair();
  await start();
  t.same(events(sides.initiator), ['info:fsm_up', 'info:channel_accept', 'sign:initiator_sign', 'info:funding_signed',
    'chain:funding_signed', 'chain:channel_changed', 'info:own_funding_locked', 'info:funding_locked', 'info:open', 'update']);
  t.same(events(sides.responder), ['info:fsm_up', 'info:channel_open', 'info:funding_created', 'sign:responder_sign',
    'chain:funding_created', 'chain:channel_changed', 'info:own_funding_locked', 'info:funding_locked', 'info:open', 'update']);
  t.equal(round(sides.initiator), 1);
  t.equal(sides.initiator.actor.getSnapshot().context.state!.signedTx, sides.responder.actor.getSnapshot().context.state!.signedTx);
  const created = unpackSignedTx(sides.initiator.actor.getSnapshot().context.state!.signedTx);
  t.equal(created.signatures.length, 2, 'the create tx carries both signatures');
});

t.test('a transfer moves exactly the amount and both sides reach the next round', async (t) => {
  const { sides, start, initiator, responder } = pair();
  await start();
  const amount = 10n ** 20n + 7n; // above 2^53
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount, meta: ['hi'] });
  await settle();
  for (const side of [sides.initiator, sides.responder]) {
    const { state } = side.actor.getSnapshot().context;
    t.equal(state!.round, 2);
    t.equal(state!.balances.initiator, 10n ** 21n - amount);
    t.equal(state!.balances.responder, 5n * 10n ** 20n + amount);
  }
  t.same(events(sides.responder).slice(-3), ['info:update', 'sign:update_ack', 'update']);
  t.same(events(sides.initiator).slice(-2), ['sign:update', 'update']);
});

t.test('refusals change nothing', async (t) => {
  const { sides, start, initiator, responder } = pair();
  await start();
  const send = (amount: bigint, from = initiator.address, to = responder.address) =>
    sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from, to, amount, meta: [] });
  send(10n ** 21n); // would leave less than the reserve
  send(5n, initiator.address, initiator.address);
  send(5n, initiator.address, newParticipant().address);
  await settle();
  const errors = sides.initiator.outputs.filter((o) => o.kind === 'error').map((o) => (o as { reason: string }).reason);
  t.same(errors, ['insufficient_balance', 'invalid_pubkeys', 'invalid_pubkeys']);
  t.equal(round(sides.initiator), 1);
  t.same(sides.initiator.actor.getSnapshot().value, { open: 'idle' }, 'still open and idle');
});

t.test('a client that signs with the wrong key gets bad_signature and nothing is co-signed', async (t) => {
  const { sides, start, initiator, responder } = pair();
  await start();
  sides.initiator.account = newParticipant() as Participant; // signs with a stranger's key from now on
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
  await settle();
  const last = sides.initiator.outputs.at(-1)!;
  t.equal(last.kind, 'error');
  t.equal((last as { reason: string }).reason, 'bad_signature');
  t.equal(round(sides.responder), 1, 'the peer never saw it');
  t.same(sides.responder.outputs.filter((o) => o.kind === 'sign').length, 1, 'only the open was signed by the responder');
});

t.test('aborts: on our own sign request only we hear of it; on an ack the proposer gets a conflict with the code', async (t) => {
  const { sides, start, initiator, responder } = pair();
  await start();
  sides.initiator.answer = () => 12345;
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
  await settle();
  t.same(events(sides.initiator).slice(-2), ['sign:update', 'info:aborted_update']);
  t.equal(events(sides.responder).at(-1), 'update', 'the responder saw nothing');
  sides.initiator.answer = () => 'sign';
  sides.responder.answer = () => 1234;
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
  await settle();
  const conflict = sides.initiator.outputs.at(-1)!;
  t.same(conflict, { kind: 'conflict', round: 1, code: 1234 });
  t.equal(events(sides.responder).at(-1), 'info:aborted_update');
  t.equal(round(sides.initiator), 1);
  t.equal(round(sides.responder), 1);
});

t.test('both sides proposing at once: both get a conflict and stay on the last round', async (t) => {
  const { sides, start, initiator, responder } = pair();
  await start();
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
  sides.responder.actor.send({ type: 'CLIENT.UPDATE_NEW', from: responder.address, to: initiator.address, amount: 2n, meta: [] });
  await settle();
  for (const side of [sides.initiator, sides.responder]) {
    t.ok(side.outputs.some((o) => o.kind === 'conflict'), 'conflict reported');
    t.equal(round(side), 1);
  }
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
  await settle();
  t.equal(round(sides.initiator), 2, 'the channel is usable afterwards');
  t.equal(round(sides.responder), 2);
});

t.test('a store failure on the acknowledger: its signature never leaves and nothing advances', async (t) => {
  const { sides, start, initiator, responder } = pair({ storeFails: 'responder' });
  await start();
  sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
  await settle();
  t.notOk(sides.responder.effects.some((e) => e.type === 'toPeer' && e.message.type === 'update_ack'));
  t.equal(round(sides.initiator), 1);
  t.equal(round(sides.responder), 1);
  t.ok(sides.initiator.outputs.some((o) => o.kind === 'conflict'));
});

t.test('leave: both get the latest state; a keep_running responder waits for a reestablish', async (t) => {
  const { sides, start } = pair();
  await start();
  sides.initiator.actor.send({ type: 'CLIENT.LEAVE' });
  await settle();
  t.same(events(sides.initiator).slice(-2), ['leave', 'info:died']);
  t.equal(events(sides.responder).at(-1), 'leave');
  t.equal(sides.initiator.actor.getSnapshot().status, 'done');
  t.equal(sides.responder.actor.getSnapshot().value, 'awaiting_reestablish');
});

t.test('reestablish after a crash left the sides a round apart: the one behind catches up, verified', async (t) => {
  for (const behind of ['initiator', 'responder'] as const) {
    const first = pair();
    await first.start();
    const { initiator, responder } = first;
    first.sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 7n, meta: [] });
    await settle();
    const round2 = first.sides.initiator.actor.getSnapshot().context.state!;
    first.sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 5n, meta: [] });
    await settle();
    const round3 = first.sides.initiator.actor.getSnapshot().context.state!;
    const channelId = first.sides.initiator.actor.getSnapshot().context.channelId!;
    const restored = {
      initiator: { channelId, state: behind === 'initiator' ? round2 : round3 },
      responder: { channelId, state: behind === 'responder' ? round2 : round3 },
    };
    const again = pair({ restored, accounts: [initiator, responder] });
    // the restored machines keep the first pair's parameters
    for (const role of ['initiator', 'responder'] as const) {
      const params = first.sides[role].actor.getSnapshot().context.params;
      again.sides[role].actor = (await import('xstate')).createActor(channelMachine, {
        input: { kit, role, fsmId: `ba_${role}2`, params, keepRunning: true, restored: restored[role] as never },
      });
    }
    // rewire effects on the new actors the way pair() does: simplest is to step them by hand
    const outputs: Record<Role, ClientOutput[]> = { initiator: [], responder: [] };
    const persisted: Record<Role, number[]> = { initiator: [], responder: [] };
    for (const role of ['initiator', 'responder'] as const) {
      const actor = again.sides[role].actor;
      const other = again.sides[role === 'initiator' ? 'responder' : 'initiator'];
      actor.on('*', (effect: ChannelEffect) => {
        if (effect.type === 'toClient') outputs[role].push(effect.output);
        if (effect.type === 'toPeer') later(() => other.actor.send(peerEvent(effect.message)));
        if (effect.type === 'persist') {
          persisted[role].push(effect.state.round);
          later(() => actor.send({ type: 'STORE.SAVED', round: effect.state.round }));
        }
      });
      actor.start();
    }
    again.sides.initiator.actor.send({ type: 'PEER.CONNECTED' });
    await settle();
    for (const role of ['initiator', 'responder'] as const) {
      t.equal(again.sides[role].actor.getSnapshot().context.state?.round, 3, `${behind} behind: ${role} is on round 3`);
      t.same(outputs[role].map((o) => (o.kind === 'info' ? o.event : o.kind)).slice(-3), ['channel_reestablished', 'open', 'update']);
      again.sides[role].actor.stop();
    }
    t.same(persisted[behind], [3], 'the one behind persisted the round it caught up with');
    t.same(persisted[behind === 'initiator' ? 'responder' : 'initiator'], [], 'the other wrote nothing');
  }
});

t.test('reestablish refuses a round it cannot verify', async (t) => {
  const first = pair();
  await first.start();
  const { initiator, responder } = first;
  first.sides.initiator.actor.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 7n, meta: [] });
  await settle();
  const state = first.sides.responder.actor.getSnapshot().context.state!;
  const actor = first.sides.responder.actor;
  // a forged "next round": right shape, but its balances do not give this tx
  const forged = { type: 'channel_reestablish' as const, channelId: actor.getSnapshot().context.channelId!, round: state.round + 1,
    stateHash: state.stateHash, signedTx: state.signedTx, balances: state.balances, updates: state.updates };
  const restoredResponder = (await import('xstate')).createActor(channelMachine, {
    input: { kit, role: 'responder', fsmId: 'ba_r', params: actor.getSnapshot().context.params, keepRunning: true,
      restored: { channelId: forged.channelId, state } },
  });
  const effects: ChannelEffect[] = [];
  restoredResponder.on('*', (e: ChannelEffect) => effects.push(e));
  restoredResponder.start();
  restoredResponder.send(peerEvent(forged));
  t.notOk(effects.some((e) => e.type === 'persist'), 'nothing persisted');
  t.ok(effects.some((e) => e.type === 'toPeer' && e.message.type === 'error'), 'the peer is told');
  t.equal(restoredResponder.getSnapshot().value, 'awaiting_reestablish');
  restoredResponder.stop();
});
