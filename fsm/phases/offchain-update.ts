/**
 * Phase 2, the co-signed round: one participant proposes (a transfer, or the round of a deposit,
 * withdraw or mutual close), its client signs, the peer checks it and its client co-signs, and each
 * side writes the round to its store before its signature or the news leaves. Both sides proposing
 * at once, an abort, a timeout or a store failure leave both on the last co-signed round.
 */
import { CODE } from '../reasons.js';
import { OPERATIONS, pendingKind, type ChannelContext, type ChannelEvent, type ProposalEvent } from '../channel-context.js';
import type { Decision } from '../decision.js';
import { conflict, info, refuseToPeer, reject, toClient, toPeer } from '../effects.js';
import { isRefusal } from '../protocol.js';
import { checkOwnSignature, checkPeerProposal, checkPeerSignature, ownProposal } from '../rules/proposals.js';
import type { OperationKind } from '../types.js';
import { base, byDecision, disconnectedWhileWriting } from './base.js';
import { peerCoSignature, signedAck, signedOwnProposal } from './signing.js';

type PeerSent<T extends string> = Extract<ChannelEvent, { type: `PEER.${T}` }>;

/** Our client asks for an update, deposit, withdraw or shutdown: refused, or built and sent to it to sign. */
export function proposeOwnOperation(c: ChannelContext, e: ProposalEvent): Decision<'refused' | 'proposed'> {
  const pending = ownProposal(c, e);
  if (isRefusal(pending)) return { outcome: 'refused', effects: [reject(pending.reason, e.request, pending.detail)] };
  return {
    outcome: 'proposed',
    assign: { pending, abandoned: null },
    effects: [toClient({ kind: 'sign', tag: OPERATIONS[pending.kind as OperationKind].ownTag, signedTx: pending.signedTx, updates: pending.updates })],
  };
}

/**
 * The peer proposes a round: refused if it is not exactly the tx its updates imply, signed by the
 * peer; taken as co-signed if it already carries our client's signature (a backchannel co-signature);
 * refused if our client is away to co-sign it; else our client is asked to co-sign.
 */
export function receivePeerProposal(c: ChannelContext, e: PeerSent<'update'>): Decision<'refused' | 'co-signed' | 'client away' | 'co-sign requested'> {
  const kind = e.msg.kind;
  const check = checkPeerProposal(c, e.msg);
  if (!check.ok) {
    return {
      outcome: 'refused',
      effects: [
        refuseToPeer(c, kind, e.msg.signedTx, CODE.validation, check.reason),
        toClient({ kind: 'error', reason: check.reason, detail: `refused the peer's ${kind}${check.detail ? `: ${check.detail}` : ''}` }),
      ],
    };
  }
  const both = checkOwnSignature(c, e.msg.signedTx, check.pending.signedTx);
  if (both.ok) return { outcome: 'co-signed', assign: { pending: { ...check.pending, signedTx: both.signedTx } } };
  // nobody can co-sign it: the peer rolls back
  if (!c.clientConnected) return { outcome: 'client away', effects: [refuseToPeer(c, kind, e.msg.signedTx, CODE.abort)] };
  return {
    outcome: 'co-sign requested',
    assign: { pending: check.pending },
    effects: [
      info(OPERATIONS[kind].created),
      toClient({ kind: 'sign', tag: OPERATIONS[kind].ackTag, signedTx: check.pending.signedTx, updates: check.pending.updates }),
    ],
  };
}

/** The ack of a proposal we stopped waiting for came after all: the peer holds that round co-signed, and so do we. */
export function receiveLateAck(c: ChannelContext, e: PeerSent<'update_ack'>): Decision<'ignored' | 'co-signed'> {
  const { abandoned, state } = c;
  if (!abandoned || !state || abandoned.round !== state.round + 1) return { outcome: 'ignored' };
  const check = checkPeerSignature(c, e.msg.signedTx, abandoned.signedTx);
  if (!check.ok) return { outcome: 'ignored' };
  return { outcome: 'co-signed', assign: { pending: { ...abandoned, signedTx: check.signedTx }, abandoned: null } };
}

export const implementations = {
  actions: {
    /**
     * Our signed proposal goes to the peer. An off-chain one is recorded first (a host whose peer is in
     * another process writes it before it leaves): if the peer co-signs it and its ack is lost to a crash
     * or a cut link, the peer's reestablish carries only the tx, and the record is how we check it.
     */
    'send the proposal to the peer': base.enqueueActions(({ context, enqueue }) => {
      const pending = context.pending!;
      const kind = pending.kind === 'create' ? 'update' : pending.kind;
      if (kind === 'update') enqueue.emit({ type: 'persistProposal', channelId: context.channelId!, proposal: { round: pending.round, updates: pending.updates } });
      enqueue.emit(toPeer({ type: 'update', kind, signedTx: pending.signedTx, updates: pending.updates, ...(pending.pin && { pin: pending.pin }) }));
    }),
    /** Both proposed at once: refuse theirs, drop ours, tell our client. */
    'resolve the race': base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'PEER.update') return;
      enqueue.emit(refuseToPeer(context, event.msg.kind, event.msg.signedTx, CODE.conflict));
      enqueue.emit(conflict(context, CODE.conflict));
      enqueue.assign({ pending: null });
    }),
    /** Our client declined to sign what it asked for: nothing reached the peer. */
    'abort our own proposal': base.enqueueActions(({ enqueue }) => {
      enqueue.emit(info('aborted_update'));
      enqueue.assign({ pending: null });
    }),
    /** Our client declined to co-sign the peer's proposal: the peer gets the client's code. */
    'abort the co-signature': base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CLIENT.ABORT') return;
      enqueue.emit(info('aborted_update'));
      enqueue.emit(refuseToPeer(context, pendingKind(context), context.pending!.signedTx, event.code));
      enqueue.assign({ pending: null });
    }),
    /** Our client went away in the middle of co-signing: the peer gets an abort. */
    'abandon the co-signature': base.enqueueActions(({ context, enqueue }) => {
      enqueue.emit(refuseToPeer(context, pendingKind(context), context.pending!.signedTx, CODE.abort));
      enqueue.assign({ pending: null, clientConnected: false });
    }),
    /** The peer's co-signature did not check out: nothing is co-signed, both go back to the last round. */
    'refuse the bad co-signature': base.enqueueActions(({ context, enqueue }) => {
      enqueue.emit(refuseToPeer(context, pendingKind(context), context.pending!.signedTx, CODE.validation));
      enqueue.emit(conflict(context, CODE.validation));
      enqueue.emit(reject('bad_signature', null, 'the peer\'s acknowledgement does not carry a valid co-signature'));
      enqueue.assign({ pending: null });
    }),
    /** The peer gave up on the operation we were co-signing. */
    'drop the peer\'s proposal': base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'PEER.update_error') return;
      enqueue.emit(conflict(context, event.msg.code));
      enqueue.assign({ pending: null });
    }),
    /** We could not persist what we co-signed, so our signature never leaves: the peer rolls back. */
    'refuse the pending round to the peer': base.emit(({ context }) => refuseToPeer(context, pendingKind(context), context.pending!.signedTx, CODE.conflict)),
    /** Busy (persisting, on chain, co-signing): the peer hears so at once. */
    'refuse the peer as busy': base.emit(({ context, event }) => {
      const { msg } = event as PeerSent<'update'>;
      return refuseToPeer(context, msg.kind, msg.signedTx, CODE.conflict);
    }),
    /**
     * The peer proposed while we were writing the round before it: its client was told of that round
     * already and went on at once, so the proposal waits for the write instead of being refused.
     */
    'defer the peer\'s proposal': base.assign(({ event }) => ({ deferredPeerUpdate: event as PeerSent<'update'> })),
    'take up the deferred proposal': base.enqueueActions(({ context, enqueue }) => {
      if (!context.deferredPeerUpdate) return;
      enqueue.raise(context.deferredPeerUpdate);
      enqueue.assign({ deferredPeerUpdate: null });
    }),
  },
};

const phase = base.extend(implementations);
const proposal = byDecision(proposeOwnOperation, { refused: {}, proposed: { target: 'awaiting_own_signature' } });

/** What the open, idle channel does with proposals: every co-signed operation starts here. */
export const idle = phase.createStateConfig({
  on: {
    'CLIENT.UPDATE_NEW': proposal,
    'CLIENT.DEPOSIT': proposal,
    'CLIENT.WITHDRAW': proposal,
    'CLIENT.SHUTDOWN': proposal,
    'PEER.update': byDecision(receivePeerProposal, {
      refused: {}, 'client away': {},
      'co-signed': { target: 'persisting' },
      'co-sign requested': { target: 'awaiting_ack_signature' },
    }),
    'PEER.update_ack': byDecision(receiveLateAck, { 'co-signed': { target: 'persisting' } }),
  },
});

const persisted = (filter: { proposer?: 'us' | 'peer'; kind?: OperationKind }) =>
  ({ type: 'the store answers for the pending round' as const, params: filter });

export const states = {
  awaiting_own_signature: phase.createStateConfig({
    description: 'Our client signs the operation it proposed.',
    after: { sign: { target: 'idle', actions: 'roll back on timeout' } },
    on: {
      'CLIENT.SIGNED': byDecision(signedOwnProposal, {
        'other request': {}, 'bad signature': {},
        signed: { target: 'awaiting_peer_ack', then: ['send the proposal to the peer'] },
      }),
      'CLIENT.ABORT': { guard: { type: 'the client aborts this sign request', params: { request: 'own proposal' } }, target: 'idle', actions: 'abort our own proposal' },
      'CLIENT.DISCONNECTED': { target: 'idle', actions: 'abandon our own operation' },
      'PEER.update': { target: 'idle', actions: 'resolve the race' },
    },
  }),
  awaiting_peer_ack: phase.createStateConfig({
    description: 'Our signed operation is with the peer, waiting for its co-signature.',
    after: { accept: { target: 'idle', actions: 'roll back on timeout' } },
    on: {
      'PEER.update_ack': byDecision(peerCoSignature, {
        'bad signature': { target: 'idle', then: ['refuse the bad co-signature'] },
        'co-signed': { target: 'persisting' },
      }),
      'PEER.update_error': { guard: 'the peer names our pending tx', target: 'idle', actions: 'report the peer\'s refusal' },
      'PEER.update': { target: 'idle', actions: 'resolve the race' },
      // the record of our proposal could not be written, so the proposal never left
      'STORE.FAILED': { guard: persisted({ proposer: 'us' }), target: 'idle', actions: ['report the store failure', 'drop the pending operation'] },
    },
  }),
  awaiting_ack_signature: phase.createStateConfig({
    description: 'Our client co-signs the operation the peer proposed.',
    after: { sign: { target: 'idle', actions: 'roll back on timeout' } },
    on: {
      'CLIENT.SIGNED': byDecision(signedAck, { 'other request': {}, 'bad signature': {}, signed: { target: 'persisting' } }),
      'CLIENT.ABORT': { guard: { type: 'the client aborts this sign request', params: { request: 'ack' } }, target: 'idle', actions: 'abort the co-signature' },
      'CLIENT.DISCONNECTED': { target: 'idle', actions: 'abandon the co-signature' },
      'PEER.update_error': { guard: 'the peer names our pending tx', target: 'idle', actions: 'drop the peer\'s proposal' },
    },
  }),
  persisting: phase.createStateConfig({
    description: 'Co-signed: written to the store before our signature leaves, the client hears of it or the tx is posted.',
    entry: 'persist the pending round',
    on: {
      ...disconnectedWhileWriting.on,
      'PEER.update': { actions: 'defer the peer\'s proposal' },
      'STORE.SAVED': [
        { guard: persisted({ kind: 'update', proposer: 'us' }), target: 'idle', actions: ['commit the pending round', 'report the update'] },
        { guard: persisted({ kind: 'update' }), target: 'idle', actions: ['send the co-signature to the peer', 'commit the pending round', 'report the update'] },
        // the closer posts the mutual close (aesc_fsm); the acknowledger only co-signs
        { guard: persisted({ kind: 'shutdown', proposer: 'us' }), target: '#channel.closing', actions: 'post the pending tx' },
        { guard: persisted({ kind: 'shutdown' }), target: '#channel.closing', actions: 'send the co-signature to the peer' },
        { guard: persisted({ proposer: 'us' }), target: 'awaiting_onchain', actions: ['post the pending tx', 'report the pending tx signed'] },
        { guard: persisted({}), target: 'awaiting_onchain', actions: ['send the co-signature to the peer', 'report the pending tx created'] },
      ],
      'STORE.FAILED': [
        { guard: persisted({ proposer: 'us' }), target: 'idle', actions: ['report the store failure', 'drop the pending operation'] },
        { guard: persisted({}), target: 'idle', actions: ['refuse the pending round to the peer', 'report the store failure', 'drop the pending operation'] },
      ],
    },
  }),
};
