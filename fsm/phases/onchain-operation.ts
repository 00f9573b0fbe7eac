/**
 * Phase 3, the co-signed on-chain operations: a deposit or withdraw tx, once co-signed and stored,
 * goes on chain; when both sides saw it reach minimum depth its round becomes the channel's state.
 * A mutual close tx (shutdown) goes on chain and ends the channel when it is deep enough. A tx the
 * chain refuses leaves both on the last co-signed round.
 */
import { info, onChainTx, toPeer } from '../effects.js';
import { pendingKind } from '../channel-context.js';
import { coSigned } from '../rules/proposals.js';
import { base } from './base.js';

export const implementations = {
  actions: {
    'report the channel changed': base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ reportedChainRound: Math.max(context.reportedChainRound, context.pending!.round) });
      enqueue.emit(onChainTx(context, 'channel_changed', context.pending!.signedTx));
    }),
    'lock our copy of the operation': base.enqueueActions(({ context, enqueue }) => {
      const kind = pendingKind(context) as 'deposit' | 'withdraw';
      enqueue.assign({ ownLocked: true });
      enqueue.emit(info(`own_${kind}_locked`));
      enqueue.emit(toPeer({ type: 'locked', kind, signedTx: context.pending!.signedTx }));
    }),
    'lock the peer\'s copy of the operation': base.assign({ peerLocked: true }),
    'report the operation locked': base.emit(({ context }) => info(`${pendingKind(context)}_locked`)),
    /** The on-chain tx is deep enough: its round is now the channel's state, and is persisted as such. */
    'persist the round as the channel\'s state': base.emit(({ context }) => ({
      type: 'persist' as const, state: coSigned(context.pending!), channelId: context.channelId!, params: context.params, first: false,
    })),
    /** The on-chain tx's round is the stored state now: its pending record has served. */
    'forget the on-chain record': base.emit(({ context }) => ({ type: 'forgetOnchain' as const, channelId: context.channelId! })),
    'report the mutual close': base.enqueueActions(({ context, enqueue }) => {
      enqueue.emit(onChainTx(context, 'close_mutual', context.pending!.signedTx));
      enqueue.emit(info('closing'));
    }),
    'report the channel closed': base.emit(({ context }) => onChainTx(context, 'channel_closed', context.pending!.signedTx)),
  },
};

const phase = base.extend(implementations);
const forPendingRound = { type: 'the store answers for the pending round' as const, params: {} };

/** Inside `open`: off-chain updates wait while a deposit or withdraw is on its way. */
export const openStates = {
  awaiting_onchain: phase.createStateConfig({
    description: 'A co-signed deposit or withdraw tx is on its way on chain; off-chain updates wait for it.',
    entry: 'watch the pending tx',
    always: { guard: 'both copies of the tx are locked', target: 'committing', actions: 'report the operation locked' },
    on: {
      'CHAIN.MINED': { actions: 'report the channel changed' },
      'CHAIN.LOCKED': { actions: 'lock our copy of the operation' },
      'PEER.locked': { guard: 'the peer names our pending tx', actions: 'lock the peer\'s copy of the operation' },
      'CHAIN.REJECTED': { target: 'idle', actions: 'report the tx rejected on chain' },
      'PEER.update_error': { guard: 'the peer names our pending tx', target: 'idle', actions: 'report the peer\'s refusal' },
    },
  }),
  committing: phase.createStateConfig({
    description: 'The tx is deep enough on chain: its round becomes the channel\'s state in the store.',
    entry: 'persist the round as the channel\'s state',
    on: {
      'STORE.SAVED': { guard: forPendingRound, target: 'idle', actions: ['forget the on-chain record', 'commit the pending round', 'report the update'] },
      // the round is on chain whatever the store says: keep it, and say the store failed
      'STORE.FAILED': { guard: forPendingRound, target: 'idle', actions: ['commit the pending round', 'report the store failure', 'report the update'] },
    },
  }),
};

export const states = {
  closing: phase.createStateConfig({
    description: 'A co-signed mutual close tx is on its way on chain.',
    entry: ['report the mutual close', 'watch the pending tx'],
    on: {
      'CHAIN.MINED': { actions: 'report the channel closed' },
      'CHAIN.LOCKED': { target: 'closed', actions: ['confirm the channel closed', { type: 'stop', params: { why: 'closed' } }] },
      'CHAIN.REJECTED': { target: 'open', actions: 'report the tx rejected on chain' },
      'PEER.update_error': { guard: 'the peer names our pending tx', target: 'open', actions: 'report the peer\'s refusal' },
      // the peer FSM stops once the close is confirmed; ours follows the chain on its own
      'PEER.DISCONNECTED': {},
      // the chain watcher sees the same close: the tx watcher above reports it
      'CHAIN.CHANNEL_CLOSED': {},
      'CHAIN.CHANNEL_CHANGED': {},
    },
  }),
};
