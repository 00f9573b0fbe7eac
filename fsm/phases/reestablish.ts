/**
 * Phase 5, leaving and coming back: leave (both get the latest state; a keep_running responder
 * stays for a reestablish), and reestablish after a leave, a disconnect or a restart from the store:
 * both sides compare their latest co-signed rounds, and the one a round behind catches up with the
 * other's, once it checks out.
 */
import { and } from 'xstate';
import type { ChannelContext, ChannelEvent } from '../channel-context.js';
import type { Decision } from '../decision.js';
import { reject, toClient, toPeer } from '../effects.js';
import { coSigned } from '../rules/proposals.js';
import { adoptable, latestOf, oneRoundAhead, restoredProposal, sameLatest } from '../rules/reestablish.js';
import { base, byDecision, disconnectedWhileWriting, guard } from './base.js';
import * as dispute from './dispute.js';

type Reestablish = Extract<ChannelEvent, { type: 'PEER.channel_reestablish' | 'PEER.channel_reest_ack' }>;

/**
 * The peer's latest round, compared with ours: the same; one round ahead (we take it once it checks
 * out); one round behind (it will take ours); anything else is refused.
 */
export function compareLatest(c: ChannelContext, e: Reestablish): Decision<'same' | 'peer ahead' | 'we are ahead' | 'mismatch'> {
  if (sameLatest(c, e.msg)) return { outcome: 'same' };
  const adopted = adoptable(c, e.msg);
  if (adopted) return { outcome: 'peer ahead', assign: { pending: adopted } };
  if (oneRoundAhead(c, e.msg)) return { outcome: 'we are ahead' };
  return { outcome: 'mismatch' };
}

export const implementations = {
  guards: {
    'a round set aside is being written': guard(({ context }) => context.unsettled !== null),
    'the store answers for the round set aside': guard(({ context, event }) =>
      (event.type === 'STORE.SAVED' || event.type === 'STORE.FAILED') && event.round === context.unsettled?.round),
  },
  actions: {
    'restore the stored channel': base.enqueueActions(({ context, enqueue }) => {
      const { restored } = context;
      if (!restored) return;
      const own = restoredProposal({ ...context, channelId: restored.channelId, state: restored.state }, restored.proposal);
      enqueue.assign({ channelId: restored.channelId, state: restored.state, abandoned: own });
    }),
    /** The store has the round that was being written when the link went: it is our latest, and our client hears of it. */
    'commit the round set aside': base.enqueueActions(({ context, enqueue }) => {
      const round = context.unsettled!;
      enqueue.assign({ state: coSigned(round), unsettled: null, abandoned: null });
      enqueue.emit(toClient({ kind: 'update', state: round.signedTx }));
    }),
    'drop the round set aside': base.enqueueActions(({ enqueue }) => enqueue.assign({ unsettled: null })),
    'defer the reestablish': base.assign(({ event }) => ({ deferredReestablish: event as NonNullable<ChannelContext['deferredReestablish']> })),
    'take up the deferred reestablish': base.enqueueActions(({ context, enqueue }) => {
      if (!context.deferredReestablish) return;
      enqueue.raise(context.deferredReestablish);
      enqueue.assign({ deferredReestablish: null });
    }),
    'send leave': base.emit(() => toPeer({ type: 'leave' })),
    'acknowledge the leave': base.emit(() => toPeer({ type: 'leave_ack' })),
    'report the leave': base.emit(({ context }) => toClient({ kind: 'leave', state: context.state!.signedTx })),
    'send channel_reestablish': base.emit(({ context }) => toPeer({ type: 'channel_reestablish', ...latestOf(context) })),
    'acknowledge the reestablish': base.emit(({ context }) => toPeer({ type: 'channel_reest_ack', ...latestOf(context) })),
    'refuse the reestablish': base.enqueueActions(({ enqueue }) => {
      enqueue.emit(toPeer({ type: 'error', reason: 'conflict', detail: 'reestablish does not match our latest state' }));
      enqueue.emit(reject('conflict', null, 'the peer reestablished with a different latest state'));
    }),
    'report reestablished': base.emit(() => toClient({ kind: 'info', event: 'channel_reestablished' })),
  },
};

// a channel restored from the store may be in dispute on chain: reestablishing hands it to that phase
const phase = base.extend(dispute.implementations).extend(implementations);
const left = ['report the leave', 'report died', { type: 'stop', params: { why: 'leave' } }] as const;
const reopened = ['report reestablished', 'announce open'] as const;
const dies = ['report died', { type: 'stop', params: { why: 'error' } }] as const;
const forPendingRound = { type: 'the store answers for the pending round' as const, params: {} };
/** While the round set aside when the link went is being written, the reestablish waits for the store's answer. */
const settlingTheRoundSetAside = {
  'STORE.SAVED': { guard: 'the store answers for the round set aside', actions: ['commit the round set aside', 'take up the deferred reestablish'] },
  'STORE.FAILED': { guard: 'the store answers for the round set aside', actions: ['drop the round set aside', 'report the store failure', 'take up the deferred reestablish'] },
} as const;

/** What the open, idle channel does with a leave. */
export const idle = phase.createStateConfig({
  on: {
    'CLIENT.LEAVE': { target: '#channel.awaiting_leave_ack', actions: 'send leave' },
    'PEER.leave': [
      { guard: 'we keep running for our peer', target: '#channel.awaiting_reestablish', actions: ['acknowledge the leave', 'report the leave'] },
      { target: '#channel.closed', actions: ['acknowledge the leave', ...left] },
    ],
  },
});

/** Anywhere: the peer's link went away. */
export const rootTransitions = phase.createStateConfig({
  on: {
    'PEER.DISCONNECTED': [
      { guard: 'we can wait for a reestablish', target: '.awaiting_reestablish', actions: ['report the peer disconnected', 'roll back for a reestablish'] },
      { guard: 'our service redials the link', target: '.reestablishing', actions: ['report the peer disconnected', 'roll back for a reestablish'] },
      { target: '.closed', actions: ['report the peer disconnected', ...dies] },
    ],
  },
});

export const states = {
  awaiting_leave_ack: phase.createStateConfig({
    description: 'We asked the peer to leave; waiting for its acknowledgement.',
    after: { accept: { target: 'closed', actions: ['report the leave', 'report the timeout and die'] } },
    on: {
      'PEER.leave_ack': { target: 'closed', actions: [...left] },
      'PEER.leave': { target: 'closed', actions: ['acknowledge the leave', ...left] },
    },
  }),
  reestablishing: phase.createStateConfig({
    description: 'Restored from the store; waiting for the link to the peer to confirm the latest state.',
    after: { initialized: { target: 'closed', actions: 'report the timeout and die' } },
    always: [
      // a channel in dispute on chain needs no peer: the client can slash and settle alone
      { guard: 'we were restored in a dispute', target: 'channel_closing', actions: 'report where the dispute stands' },
      { guard: 'we are the responder', target: 'awaiting_reestablish' },
    ],
    on: {
      ...settlingTheRoundSetAside,
      'PEER.CONNECTED': [
        { guard: 'a round set aside is being written', actions: 'defer the reestablish' },
        { target: 'awaiting_reest_ack', actions: 'send channel_reestablish' },
      ],
    },
  }),
  awaiting_reest_ack: phase.createStateConfig({
    description: 'Initiator: channel_reestablish sent, waiting for the responder.',
    after: { accept: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      // the responder acknowledges with its round once it caught up with ours: one behind us is a mismatch
      'PEER.channel_reest_ack': byDecision(compareLatest, {
        same: { target: 'open', then: [...reopened] },
        'peer ahead': { target: 'catching_up' },
        'we are ahead': { target: 'closed', then: ['refuse the reestablish', ...dies] },
        mismatch: { target: 'closed', then: ['refuse the reestablish', ...dies] },
      }),
    },
  }),
  awaiting_reestablish: phase.createStateConfig({
    description: 'Responder: waiting for the initiator to come back with channel_reestablish.',
    on: {
      ...settlingTheRoundSetAside,
      'PEER.channel_reestablish': [{ guard: 'a round set aside is being written', actions: 'defer the reestablish' }, ...byDecision(compareLatest, {
        same: { target: 'open', then: ['acknowledge the reestablish', ...reopened] },
        'peer ahead': { target: 'catching_up' },
        // we are the one ahead: our ack carries the round, and the initiator catches up
        'we are ahead': { target: 'open', then: ['acknowledge the reestablish', ...reopened] },
        mismatch: { then: ['refuse the reestablish'] },
      })],
    },
  }),
  catching_up: phase.createStateConfig({
    description: 'Reestablishing a round behind the peer: its co-signed round is written to the store first.',
    entry: 'persist the pending round',
    on: {
      ...disconnectedWhileWriting.on,
      'STORE.SAVED': [
        { guard: and([forPendingRound, 'we are the responder']), target: 'open', actions: ['commit the pending round', 'acknowledge the reestablish', ...reopened] },
        { guard: forPendingRound, target: 'open', actions: ['commit the pending round', ...reopened] },
      ],
      'STORE.FAILED': { guard: forPendingRound, target: 'closed', actions: ['report the store failure', ...dies] },
    },
  }),
};
