/**
 * What every phase of the machine shares: its types and delays, the step machinery (a guard that
 * asks a step's outcome, an action that applies it), and the guards and actions of persisting a
 * co-signed round, giving up, and the client and peer coming and going. Each phase extends this.
 */
import { and, assertEvent, emit, enqueueActions, setup } from 'xstate';
import { CODE } from '../reasons.js';
import type { ChannelEffect, OperationKind } from '../types.js';
import {
  lastRound, me, pendingKind, peerAccount, txTypeOf, type ChannelContext, type ChannelEvent, type ChannelInput,
} from '../channel-context.js';
import { decisionOf, type Step } from '../decision.js';
import { conflict, info, onChainTx, refuseToPeer, reject, toClient, toPeer, watchTx } from '../effects.js';
import { coSigned, namesPending } from '../rules/proposals.js';
import { keepsRunning, timeout } from '../rules/timing.js';
import { signTag, type SignRequest } from './sign-request.js';

/** Whose store answer a transition waits for: of our own proposal, of the peer's, or either. */
export interface SavedFilter { proposer?: 'us' | 'peer'; kind?: OperationKind }

/** A guard of a phase, typed for this machine (setup's contextual typing does not reach other modules). */
export const guard = <P = undefined>(fn: (args: { context: ChannelContext; event: ChannelEvent }, params: P) => boolean) => fn;

const typed = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as ChannelInput,
    emitted: {} as ChannelEffect,
  },
  delays: {
    accept: ({ context }) => timeout(context, 'accept'),
    funding_create: ({ context }) => timeout(context, 'funding_create'),
    funding_sign: ({ context }) => timeout(context, 'funding_sign'),
    funding_lock: ({ context }) => timeout(context, 'funding_lock'),
    sign: ({ context }) => timeout(context, 'sign'),
    idle: ({ context }) => timeout(context, 'idle'),
    awaiting_open: ({ context }) => timeout(context, 'awaiting_open'),
    initialized: ({ context }) => timeout(context, 'initialized'),
  },
});

export const base = typed.extend({
  guards: {
    'the step decides': guard<{ step: Step; outcome: string }>(({ context, event }, { step, outcome }) =>
      decisionOf(step, context, event).outcome === outcome),
    'we were restored from the store': guard(({ context }) => context.restored !== undefined),
    'we are the initiator': guard(({ context }) => context.role === 'initiator'),
    'we are the responder': guard(({ context }) => context.role === 'responder'),
    'we keep running for our peer': guard(({ context }) => keepsRunning(context)),
    'the channel is established': guard(({ context }) => context.state !== null),
    'both copies of the tx are locked': guard(({ context }) => context.ownLocked && context.peerLocked),
    'we can wait for a reestablish': guard(({ context }) => context.role === 'responder' && context.keepRunning && context.state !== null),
    // the node's initiator dies with its link; one on another service than its responder's is redialled
    // by its service (lib/channel/peer-links.ts) and reestablishes the channel over the new link
    'our service redials the link': guard(({ context, event }) =>
      event.type === 'PEER.DISCONNECTED' && event.redial === true && context.role === 'initiator' && context.state !== null),
    'the pending round is an off-chain update': guard(({ context }) => context.pending?.kind === 'update'),
    'the store answers for the pending round': guard<SavedFilter>(({ context, event }, { proposer, kind }) => {
      if ((event.type !== 'STORE.SAVED' && event.type !== 'STORE.FAILED') || !context.pending || event.round !== context.pending.round) return false;
      if (kind && context.pending.kind !== kind) return false;
      if (proposer) return (context.pending.proposer === context.role) === (proposer === 'us');
      return true;
    }),
    'the peer names our pending tx': guard(({ context, event }) => {
      assertEvent(event, ['PEER.update_error', 'PEER.locked']);
      return namesPending(context, event.msg.signedTx);
    }),
    'the client aborts this sign request': guard<{ request: SignRequest }>(({ context, event }, { request }) =>
      event.type === 'CLIENT.ABORT' && event.tag === signTag(context, request)),
    /**
     * Our client's message goes out if it is from our client to the peer, or anything at all with
     * msg_forwarding, as the node's inband_msg allows.
     */
    'the message may be sent': guard(({ context, event }) => event.type === 'CLIENT.MESSAGE'
      && (context.msgForwarding === true || ((event.from ?? me(context)) === me(context) && event.to === peerAccount(context)))),
    /**
     * The peer's message is delivered if it is from the peer to us; with msg_forwarding also one for us
     * from someone else (forwarded) or one from the peer for someone else (to forward), as the node's
     * check_inband_msg; the node drops anything else.
     */
    'the peer\'s message is ours to take': guard(({ context, event }) => {
      if (event.type !== 'PEER.message') return false;
      const toUs = event.msg.to === me(context);
      const fromPeer = event.msg.from === peerAccount(context);
      return (toUs && fromPeer) || (context.msgForwarding === true && (toUs || fromPeer));
    }),
  },
  actions: {
    /** The step's decision, taken once: its context changes, then its effects in order. */
    'apply the decision': enqueueActions(({ context, event, enqueue }, { step }: { step: Step }) => {
      const decision = decisionOf(step, context, event);
      if (decision.assign) enqueue.assign(decision.assign);
      for (const effect of decision.effects ?? []) enqueue.emit(effect);
    }),

    'announce the FSM is up': emit(({ context }) => info('fsm_up', { fsm_id: context.fsmId })),
    'refuse: not allowed now': emit(({ event }) => reject('not_allowed_now', 'request' in event ? event.request : undefined)),
    'stop': enqueueActions(({ enqueue }, { why }: { why: 'leave' | 'error' | 'closed' }) => enqueue.emit({ type: 'stopped', why })),
    'report died': emit(() => info('died')),
    /** Waiting ran out before the channel was open (or for good): the FSM gives up, as the node does. */
    'report the timeout and die': enqueueActions(({ enqueue }) => {
      enqueue.emit(info('timeout'));
      enqueue.emit(info('died'));
      enqueue.emit({ type: 'stopped', why: 'timeout' });
    }),

    /** Entering open: tell the client, and give it the latest co-signed state. */
    'announce open': enqueueActions(({ context, enqueue }) => {
      enqueue.emit(info('open'));
      enqueue.emit(toClient({ kind: 'update', state: context.state!.signedTx }));
    }),
    'report the update': emit(({ context }) => toClient({ kind: 'update', state: context.state!.signedTx })),

    // --- a co-signed round is written before anything of it is released ---
    'persist the pending round': emit(({ context }) => {
      const pending = context.pending!;
      if (pending.kind === 'update' || pending.kind === 'create') {
        return { type: 'persist' as const, state: coSigned(pending), channelId: context.channelId!, params: context.params, first: pending.kind === 'create' };
      }
      return { type: 'persistOnchain' as const, kind: pending.kind, state: coSigned(pending), channelId: context.channelId! };
    }),
    /** The store has the round: it is now the latest co-signed state. */
    'commit the pending round': enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ state: coSigned(context.pending!), pending: null, ownLocked: false, peerLocked: false });
    }),
    'drop the pending operation': enqueueActions(({ enqueue }) => enqueue.assign({ pending: null, ownLocked: false, peerLocked: false })),
    /**
     * The link went while nothing co-signed was being written: back to the last co-signed round. Our
     * own off-chain proposal is kept aside, for the peer may hold it co-signed (it acked, and the ack
     * was lost with the link): its reestablish then carries that round, which we can check and take.
     */
    'roll back for a reestablish': enqueueActions(({ context, enqueue }) => {
      const { pending } = context;
      const ours = pending !== null && pending.kind === 'update' && pending.proposer === context.role;
      enqueue.assign({ pending: null, ownLocked: false, peerLocked: false, abandoned: ours ? pending : context.abandoned, deferredReestablish: null });
    }),
    /**
     * The link went while a co-signed round was being written: it is not rolled back (the store may
     * have it already, and a round the store has is never written again), but set aside until the store
     * answers; the reestablish waits for that answer.
     */
    'set the round being written aside': enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ unsettled: context.pending, pending: null, ownLocked: false, peerLocked: false, deferredReestablish: null });
    }),
    'report the store failure': enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'STORE.FAILED');
      enqueue.emit(toClient({ kind: 'conflict', round: lastRound(context), code: CODE.conflict, reason: 'store_unavailable' }));
      enqueue.emit(toClient({ kind: 'error', reason: 'store_unavailable', detail: event.detail }));
    }),
    'send the co-signature to the peer': emit(({ context }) => toPeer({ type: 'update_ack', kind: pendingKind(context), signedTx: context.pending!.signedTx })),
    'post the pending tx': emit(({ context }) => ({ type: 'postTx' as const, signedTx: context.pending!.signedTx })),
    'watch the pending tx': emit(({ context }) => watchTx(context, context.pending!.signedTx)),
    'report the pending tx signed': emit(({ context }) => onChainTx(context, `${pendingKind(context)}_signed`, context.pending!.signedTx)),
    'report the pending tx created': emit(({ context }) => onChainTx(context, `${pendingKind(context)}_created`, context.pending!.signedTx)),

    /** The channel is closed on chain for good (mutual close or settle). */
    'confirm the channel closed': enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'markClosed', channelId: context.channelId! });
      enqueue.emit(info('closed_confirmed'));
      enqueue.emit(info('died'));
    }),

    /** The peer refused our proposal, or gave it up: back to the last co-signed round. */
    'report the peer\'s refusal': enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update_error');
      enqueue.emit(conflict(context, event.msg.code, event.msg.reason));
      if (event.msg.code === CODE.rejectedOnChain) enqueue.emit({ type: 'forgetOnchain', channelId: context.channelId! });
      enqueue.assign({ pending: null, ownLocked: false, peerLocked: false });
    }),
    /** The chain refused the co-signed tx we posted: both sides stay on the last co-signed round. */
    'report the tx rejected on chain': enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CHAIN.REJECTED');
      enqueue.emit(refuseToPeer(context, pendingKind(context), context.pending!.signedTx, CODE.rejectedOnChain));
      enqueue.emit(conflict(context, CODE.rejectedOnChain));
      enqueue.emit(reject('not_allowed_now', null, `rejected on-chain: ${event.detail}`));
      enqueue.emit({ type: 'forgetOnchain', channelId: context.channelId! });
      enqueue.assign({ pending: null, ownLocked: false, peerLocked: false });
    }),

    /**
     * Waiting ran out in the middle of an operation: back to the last co-signed round. Our client gets a
     * conflict with code 3; the peer, if it was waiting on us, an error with the same code.
     */
    'roll back on timeout': enqueueActions(({ context, enqueue }) => {
      const { pending } = context;
      if (pending && pending.proposer !== context.role) enqueue.emit(refuseToPeer(context, pendingKind(context), pending.signedTx, CODE.timeout));
      enqueue.emit(conflict(context, CODE.timeout));
      // if its ack still comes, the peer holds that round co-signed, and so do we
      const sentToPeer = pending !== null && pending.proposer === context.role && pending.kind === 'update';
      enqueue.assign({ pending: null, solo: null, abandoned: sentToPeer ? pending : null });
    }),

    // --- the client and the peer come and go ---
    'mark the client gone': enqueueActions(({ enqueue }) => enqueue.assign({ clientConnected: false })),
    'mark the client back': enqueueActions(({ enqueue }) => enqueue.assign({ clientConnected: true })),
    /** Our client went away while signing what we proposed: nothing reached the peer. */
    'abandon our own operation': enqueueActions(({ enqueue }) => enqueue.assign({ pending: null, solo: null, clientConnected: false })),
    'report the peer disconnected': emit(() => info('peer_disconnected')),
    /** A tx our client assumed deep enough (assume_minimum_depth) now is: the node says so, with a notice. */
    'report the assumed tx at minimum depth': emit(({ context, event }) => {
      assertEvent(event, 'CHAIN.ASSUMED_TX_DEEP');
      return info('minimum_depth_achieved', {
        tx_hash: event.txHash, tx_type: txTypeOf(context.kit, event.signedTx, 'channel_create_tx'), notice: 'already_assumed',
      });
    }),
    'report the peer\'s error': emit(({ event }) => {
      assertEvent(event, 'PEER.error');
      return reject(event.msg.reason, null, `peer: ${event.msg.detail ?? event.msg.reason}`);
    }),
    'relay the message to the peer': emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.MESSAGE');
      return toPeer({ type: 'message', from: event.from ?? me(context), to: event.to, info: event.info });
    }),
    'refuse the message': emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.MESSAGE');
      const detail = (event.from ?? me(context)) !== me(context)
        ? 'from must be this participant (a message from another account is forwarded only with msg_forwarding=true)'
        : 'a message goes to the other participant (to another account only with msg_forwarding=true)';
      return reject('participant_not_found', event.request, detail);
    }),
    'deliver the peer\'s message': emit(({ event }) => {
      assertEvent(event, 'PEER.message');
      return toClient({ kind: 'message', from: event.msg.from, to: event.msg.to, info: event.msg.info });
    }),
  },
});

/**
 * The link to the peer went while a co-signed off-chain round was being written (ours or the one we
 * catch up with): to the reestablish with the round set aside, not dropped. Anything else falls through
 * to the machine's own disconnect handling.
 */
export const disconnectedWhileWriting = base.createStateConfig({
  on: {
    'PEER.DISCONNECTED': [
      {
        guard: and(['the pending round is an off-chain update', 'we can wait for a reestablish']),
        target: '#channel.awaiting_reestablish', actions: ['report the peer disconnected', 'set the round being written aside'],
      },
      {
        guard: and(['the pending round is an off-chain update', 'our service redials the link']),
        target: '#channel.reestablishing', actions: ['report the peer disconnected', 'set the round being written aside'],
      },
    ],
  },
});

/**
 * The transitions of one step: each outcome that moves the machine names its target and the actions
 * that follow the decision; an outcome left out changes nothing (the event is ignored).
 */
export function byDecision<O extends string, const T extends Partial<Record<O, { target?: string; then?: readonly unknown[] }>>>(
  step: Step<O>,
  outcomes: T,
) {
  type Then = { [K in keyof T]: T[K] extends { then: readonly (infer X)[] } ? X : never }[keyof T];
  return (Object.entries(outcomes) as [O, { target?: string; then?: readonly Then[] }][]).map(([outcome, { target, then = [] }]) => ({
    guard: { type: 'the step decides' as const, params: { step: step as Step, outcome } },
    ...(target !== undefined && { target }),
    actions: [{ type: 'apply the decision' as const, params: { step: step as Step } }, ...then],
  }));
}
