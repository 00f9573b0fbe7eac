/**
 * Phase 1, opening: the handshake (channel_open, channel_accept), both signatures on the create tx
 * (funding_created, funding_signed), persisting it, and waiting for it to reach minimum depth on
 * both sides (funding_locked). Any failure here ends the FSM: there is no channel to go back to.
 */
import type { ChannelEvent, ChannelContext } from '../channel-context.js';
import type { Decision } from '../decision.js';
import { info, reject, toClient, toPeer, watchTx } from '../effects.js';
import { CODE } from '../reasons.js';
import { agreedParams, createOperation, fundingCheck, openRefusal } from '../rules/funding.js';
import { base, byDecision } from './base.js';
import { signedInitiatorCreate, signedResponderCreate } from './signing.js';
import { checkPeerSignature } from '../rules/proposals.js';

type PeerSent<T extends string> = Extract<ChannelEvent, { type: `PEER.${T}` }>;

/** Responder: the initiator's channel_open is accepted if it matches what our client asked for. */
export function receiveChannelOpen(c: ChannelContext, e: PeerSent<'channel_open'>): Decision<'refused' | 'accepted'> {
  const refusal = openRefusal(c, e.msg.params);
  if (refusal) {
    return { outcome: 'refused', effects: [reject(refusal.reason, null, refusal.detail), toPeer({ type: 'error', reason: refusal.reason, detail: refusal.detail })] };
  }
  const params = agreedParams(c, e.msg.params);
  return {
    outcome: 'accepted',
    assign: { params },
    effects: [info('channel_open'), toPeer({ type: 'channel_accept', minimumDepth: params.minimumDepth, minimumDepthStrategy: params.minimumDepthStrategy, responderDelegateIds: params.responderDelegateIds })],
  };
}

/** Initiator: accepted; our client signs the create tx of the agreed parameters. */
export function receiveChannelAccept(c: ChannelContext, e: PeerSent<'channel_accept'>): Decision<'sign requested'> {
  // each side names its own delegates: the responder's come with its acceptance
  const params = { ...c.params, responderDelegateIds: e.msg.responderDelegateIds };
  const { channelId, pending } = createOperation(c, params);
  return {
    outcome: 'sign requested',
    assign: { params, channelId, pending },
    effects: [info('channel_accept'), toClient({ kind: 'sign', tag: 'initiator_sign', signedTx: pending.signedTx, updates: [] })],
  };
}

/**
 * The node's info events when it gives up on a funding tx from the peer (aesc_fsm close/2): a bad
 * signature, a state hash that is not the one the parameters give, or not a create tx at all.
 */
const FUNDING_INFO = new Set(['bad_signature', 'bad_state_hash', 'not_create_tx']);

/** Responder: the initiator's signed create tx must be the one our parameters give, signed by it. */
export function receiveFundingCreated(c: ChannelContext, e: PeerSent<'funding_created'>): Decision<'bad tx' | 'sign requested'> {
  const funded = fundingCheck(c, e.msg.signedTx);
  if ('reason' in funded) return { outcome: 'bad tx', effects: FUNDING_INFO.has(funded.reason) ? [info(funded.reason)] : [] };
  return {
    outcome: 'sign requested',
    assign: { channelId: funded.channelId, pending: funded.pending },
    effects: [info('funding_created', { fsm_id: c.fsmId }), toClient({ kind: 'sign', tag: 'responder_sign', signedTx: funded.pending.signedTx, updates: [] })],
  };
}

/** Initiator: the responder's co-signature on the create tx; the node reports a bad one before it dies. */
export function receiveFundingSigned(c: ChannelContext, e: PeerSent<'funding_signed'>): Decision<'bad signature' | 'co-signed'> {
  const check = checkPeerSignature(c, e.msg.signedTx);
  if (!check.ok) return { outcome: 'bad signature', effects: FUNDING_INFO.has(check.reason) ? [info(check.reason)] : [] };
  return { outcome: 'co-signed', assign: { pending: { ...c.pending!, signedTx: check.signedTx } } };
}

const dies = ['report died', { type: 'stop', params: { why: 'error' } }] as const;

export const implementations = {
  actions: {
    'send channel_open': base.emit(({ context }) => toPeer({ type: 'channel_open', params: context.params })),
    'send funding_created': base.emit(({ context }) => toPeer({ type: 'funding_created', signedTx: context.pending!.signedTx })),
    /** The create tx is co-signed and stored: the initiator posts it, both follow it to minimum depth. */
    'report the funding tx on its way': base.enqueueActions(({ context, enqueue }) => {
      const { signedTx } = context.state!;
      if (context.role === 'initiator') {
        enqueue.emit(info('funding_signed', { fsm_id: context.fsmId }));
        enqueue.emit({ type: 'postTx', signedTx });
        enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'funding_signed', tx: signedTx, txType: 'channel_create_tx' }));
      } else {
        enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'funding_created', tx: signedTx, txType: 'channel_create_tx' }));
        enqueue.emit(toPeer({ type: 'funding_signed', signedTx }));
      }
      enqueue.emit(watchTx(context, signedTx));
    }),
    'report the funding tx mined': base.emit(({ context }) =>
      toClient({ kind: 'on_chain_tx', info: 'channel_changed', tx: context.state!.signedTx, txType: 'channel_create_tx' })),
    'lock our funding copy': base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ ownLocked: true });
      enqueue.emit(info('own_funding_locked'));
      enqueue.emit(toPeer({ type: 'funding_locked', channelId: context.channelId! }));
    }),
    'lock the peer\'s copy': base.assign({ peerLocked: true }),
    'report the funding locked': base.enqueueActions(({ enqueue }) => {
      enqueue.emit(info('funding_locked'));
      enqueue.assign({ ownLocked: false, peerLocked: false });
    }),
    'report the funding tx rejected': base.enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'CHAIN.REJECTED') return;
      enqueue.emit(toClient({ kind: 'conflict', round: 0, code: CODE.rejectedOnChain }));
      enqueue.emit(reject('not_allowed_now', null, `create tx rejected on-chain: ${event.detail}`));
      enqueue.emit(info('died'));
    }),
    /** Our client declined to sign the create tx: the channel never opens. */
    'report the abort': base.enqueueActions(({ enqueue }) => {
      enqueue.emit(info('aborted_update'));
      enqueue.assign({ pending: null });
    }),
  },
};

const phase = base.extend(implementations);

export const states = {
  connecting: phase.createStateConfig({
    description: 'Initiator: waiting for the link to the responder, then proposing the channel.',
    after: { initialized: { target: 'closed', actions: 'report the timeout and die' } },
    on: { 'PEER.CONNECTED': { target: 'awaiting_accept', actions: 'send channel_open' } },
  }),
  awaiting_open: phase.createStateConfig({
    description: 'Responder: waiting for the initiator\'s channel_open.',
    after: { awaiting_open: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      'PEER.channel_open': byDecision(receiveChannelOpen, {
        refused: { target: 'closed', then: [{ type: 'stop', params: { why: 'error' } }] },
        accepted: { target: 'awaiting_funding_created' },
      }),
    },
  }),
  awaiting_accept: phase.createStateConfig({
    description: 'Initiator: channel_open sent, waiting for channel_accept.',
    after: { accept: { target: 'closed', actions: 'report the timeout and die' } },
    on: { 'PEER.channel_accept': byDecision(receiveChannelAccept, { 'sign requested': { target: 'awaiting_initiator_signature' } }) },
  }),
  awaiting_initiator_signature: phase.createStateConfig({
    description: 'Initiator: our client signs the create tx.',
    after: { sign: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      'CLIENT.SIGNED': byDecision(signedInitiatorCreate, {
        'other request': {}, 'bad signature': {},
        signed: { target: 'awaiting_funding_signed', then: ['send funding_created'] },
      }),
      'CLIENT.ABORT': {
        guard: { type: 'the client aborts this sign request', params: { request: 'initiator_sign' } },
        target: 'closed', actions: ['report the abort', ...dies],
      },
    },
  }),
  awaiting_funding_created: phase.createStateConfig({
    description: 'Responder: waiting for the initiator\'s signed create tx.',
    after: { funding_create: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      'PEER.funding_created': byDecision(receiveFundingCreated, {
        'bad tx': { target: 'closed', then: [...dies] },
        'sign requested': { target: 'awaiting_responder_signature' },
      }),
    },
  }),
  awaiting_responder_signature: phase.createStateConfig({
    description: 'Responder: our client co-signs the create tx.',
    after: { sign: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      'CLIENT.SIGNED': byDecision(signedResponderCreate, {
        'other request': {}, 'bad signature': {},
        signed: { target: 'persisting_funding', then: ['persist the pending round'] },
      }),
      'CLIENT.ABORT': {
        guard: { type: 'the client aborts this sign request', params: { request: 'responder_sign' } },
        target: 'closed', actions: ['report the abort', ...dies],
      },
    },
  }),
  awaiting_funding_signed: phase.createStateConfig({
    description: 'Initiator: waiting for the responder\'s co-signature on the create tx.',
    after: { funding_sign: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      'PEER.funding_signed': byDecision(receiveFundingSigned, {
        'bad signature': { target: 'closed', then: [...dies] },
        'co-signed': { target: 'persisting_funding', then: ['persist the pending round'] },
      }),
    },
  }),
  persisting_funding: phase.createStateConfig({
    description: 'The co-signed create tx is being written to the store before anything is released.',
    on: {
      'STORE.SAVED': { guard: { type: 'the store answers for the pending round', params: {} }, target: 'awaiting_locked', actions: 'commit the pending round' },
      'STORE.FAILED': { guard: { type: 'the store answers for the pending round', params: {} }, target: 'closed', actions: ['report the store failure', ...dies] },
    },
  }),
  awaiting_locked: phase.createStateConfig({
    description: 'The create tx is on its way on-chain; waiting for minimum depth and the peer\'s funding_locked.',
    entry: 'report the funding tx on its way',
    always: { guard: 'both copies of the tx are locked', target: 'open', actions: ['report the funding locked', 'announce open'] },
    after: { funding_lock: { target: 'closed', actions: 'report the timeout and die' } },
    on: {
      'CHAIN.MINED': { actions: 'report the funding tx mined' },
      'CHAIN.LOCKED': { actions: 'lock our funding copy' },
      'PEER.funding_locked': { actions: 'lock the peer\'s copy' },
      'CHAIN.REJECTED': { target: 'closed', actions: ['report the funding tx rejected', { type: 'stop', params: { why: 'error' } }] },
    },
  }),
};
