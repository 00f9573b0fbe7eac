/**
 * The channel FSM of one participant, as an xstate v5 machine. It follows the node's states
 * (apps/aechannel aesc_fsm): open handshake, funding, off-chain updates, leave and reestablish.
 *
 * Pure: it decides and emits effects as data (ChannelEffect); lib/channel performs them and feeds
 * the results back as events. Transactions are built and checked by the injected TxKit.
 *
 * Money rules kept here: a round is only reported or acknowledged after the store confirmed it
 * (the `persisting…` states); every signature is checked against the expected signer and the
 * exact tx we built; a refused request leaves the context as it was.
 */
import { assertEvent, emit, enqueueActions, setup } from 'xstate';
import { accountOf, applyUpdates, isRefusal, openMismatch, openParamsRefusal, transferUpdates } from './protocol.js';
import type { Reason } from './reasons.js';
import type {
  AccountId, Balances, ChannelEffect, ChannelId, ChannelParams, ClientOutput, CoSignedState, CreateTxTerms,
  EncodedTx, OffchainUpdate, PeerMessage, Role, SignTag, StateHash, TxKit,
} from './types.js';
import { otherRole } from './types.js';

/** Protocol codes of conflicts and aborts (channel-api §4). */
export const CODE = { validation: 1, conflict: 2, timeout: 3, abort: 4, rejectedOnChain: 5 } as const;

export interface ChannelInput {
  kit: TxKit;
  role: Role;
  fsmId: string;
  params: ChannelParams;
  /** initiator only: the chain facts of the create tx (nonce, ttl, fee) */
  terms?: CreateTxTerms;
  /** a responder that stays up after its peer leaves or disconnects, ready for a reestablish */
  keepRunning: boolean;
  /** a responder that accepts whichever initiator opens (`initiator_id=any`) */
  anyInitiator?: boolean;
  /** set when the FSM is restored from the store to reestablish an existing channel */
  restored?: { channelId: ChannelId; state: CoSignedState };
}

/** An operation in flight: the round we are building, with the signatures gathered so far. */
export interface Pending {
  round: number;
  balances: Balances;
  updates: OffchainUpdate[];
  stateHash: StateHash;
  signedTx: EncodedTx;
  proposer: Role;
}

export interface ChannelContext extends ChannelInput {
  channelId: ChannelId | null;
  state: CoSignedState | null;
  pending: Pending | null;
  ownLocked: boolean;
  peerLocked: boolean;
}

type WithRequest = { request?: unknown };
type PeerEvent = { [K in PeerMessage['type']]: { type: `PEER.${K}`; msg: Extract<PeerMessage, { type: K }> } }[PeerMessage['type']];

export type ChannelEvent =
  | ({ type: 'CLIENT.UPDATE_NEW'; from: AccountId; to: AccountId; amount: bigint; meta: string[] } & WithRequest)
  | ({ type: 'CLIENT.SIGNED'; tag: SignTag; signedTx: string } & WithRequest)
  | ({ type: 'CLIENT.ABORT'; tag: SignTag; code: number } & WithRequest)
  | ({ type: 'CLIENT.MESSAGE'; to: AccountId; info: string } & WithRequest)
  | ({ type: 'CLIENT.LEAVE' } & WithRequest)
  | { type: 'CLIENT.DISCONNECTED' }
  | { type: 'PEER.CONNECTED' }
  | { type: 'PEER.DISCONNECTED' }
  | PeerEvent
  | { type: 'STORE.SAVED'; round: number }
  | { type: 'STORE.FAILED'; round: number; detail: string }
  | { type: 'CHAIN.MINED'; txHash: string }
  | { type: 'CHAIN.LOCKED'; txHash: string }
  | { type: 'CHAIN.REJECTED'; detail: string };

/** Turns a peer message into the machine event of the same name. */
export function peerEvent(msg: PeerMessage): ChannelEvent {
  return { type: `PEER.${msg.type}`, msg } as ChannelEvent;
}

const me = (c: ChannelContext): AccountId => accountOf(c.params, c.role);
const peerAccount = (c: ChannelContext): AccountId => accountOf(c.params, otherRole(c.role));
const lastRound = (c: ChannelContext): number => c.state?.round ?? 0;

const toClient = (output: ClientOutput): ChannelEffect => ({ type: 'toClient', output });
const toPeer = (message: PeerMessage): ChannelEffect => ({ type: 'toPeer', message });
const info = (event: string, data?: Record<string, unknown>): ChannelEffect => toClient({ kind: 'info', event, ...(data && { data }) });
const reject = (reason: Reason, request: unknown, detail?: string): ChannelEffect =>
  toClient({ kind: 'error', reason, request, ...(detail && { detail }) });
const conflict = (c: ChannelContext, code: number): ChannelEffect => toClient({ kind: 'conflict', round: lastRound(c), code });

/** The refusal of a transfer request, or null when it can be proposed. */
function transferRefusal(c: ChannelContext, e: Extract<ChannelEvent, { type: 'CLIENT.UPDATE_NEW' }>) {
  if (!c.state) return { reason: 'not_allowed_now' as const };
  const applied = applyUpdates(c.params, c.state.balances, transferUpdates(e.from, e.to, e.amount, e.meta));
  return isRefusal(applied) ? applied : null;
}

/** Builds the next off-chain round from a list of updates applied to the latest co-signed state. */
function nextRound(c: ChannelContext, updates: OffchainUpdate[], proposer: Role): Pending | null {
  if (!c.state || !c.channelId) return null;
  const applied = applyUpdates(c.params, c.state.balances, updates);
  if (isRefusal(applied)) return null;
  const round = c.state.round + 1;
  const { signedTx, stateHash } = c.kit.offchainTx(c.channelId, round, c.params, applied.balances);
  return { round, balances: applied.balances, updates, stateHash, signedTx, proposer };
}

/** Checks our own client's signature on the pending tx. */
function checkOwnSignature(c: ChannelContext, signedTx: string) {
  if (!c.pending) return { ok: false as const, reason: 'not_allowed_now' as const };
  return c.kit.checkSigned(signedTx, c.pending.signedTx, [me(c)], [c.params.initiatorId, c.params.responderId]);
}

/** Checks a tx from the peer against the tx we expect, signed by the given accounts. */
function checkPeerSigned(c: ChannelContext, signedTx: string, expected: EncodedTx, signers: AccountId[]) {
  return c.kit.checkSigned(signedTx, expected, signers, [c.params.initiatorId, c.params.responderId]);
}

/** Validates a peer's proposed update: the updates must apply, and the tx must be the one they imply. */
function checkPeerUpdate(c: ChannelContext, msg: Extract<PeerMessage, { type: 'update' }>) {
  if (!c.state) return { ok: false as const, reason: 'not_allowed_now' as Reason };
  const applied = applyUpdates(c.params, c.state.balances, msg.updates);
  if (isRefusal(applied)) return { ok: false as const, reason: applied.reason, detail: applied.detail };
  const pending = nextRound(c, msg.updates, otherRole(c.role))!;
  const check = checkPeerSigned(c, msg.signedTx, pending.signedTx, [peerAccount(c)]);
  if (!check.ok) return check;
  return { ok: true as const, pending: { ...pending, signedTx: check.signedTx } };
}

function coSigned(p: Pending, signedTx: EncodedTx): CoSignedState {
  return { round: p.round, balances: p.balances, stateHash: p.stateHash, signedTx, updates: p.updates };
}

function isSignedFor(tag: SignTag) {
  return ({ event }: { event: ChannelEvent }) => event.type === 'CLIENT.SIGNED' && event.tag === tag;
}

function isAbortFor(tag: SignTag) {
  return ({ event }: { event: ChannelEvent }) => event.type === 'CLIENT.ABORT' && event.tag === tag;
}

/**
 * The participant's channel FSM. Start it with `createActor(channelMachine, { input })` and feed it
 * ChannelEvents; listen to its emitted ChannelEffects.
 */
export const channelMachine = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as ChannelInput,
    emitted: {} as ChannelEffect,
  },
  guards: {
    isInitiator: ({ context }) => context.role === 'initiator',
    isRestored: ({ context }) => context.restored !== undefined,
    keepsRunning: ({ context }) => context.role === 'responder' && context.keepRunning,
    bothLocked: ({ context }) => context.ownLocked && context.peerLocked,
    canAwaitReestablish: ({ context }) => context.role === 'responder' && context.keepRunning && context.state !== null,
    messageToPeer: ({ context, event }) => event.type === 'CLIENT.MESSAGE' && event.to === peerAccount(context),
    transferRefused: ({ context, event }) => {
      assertEvent(event, 'CLIENT.UPDATE_NEW');
      return transferRefusal(context, event) !== null;
    },
    ownSignatureBad: ({ context, event }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      return !checkOwnSignature(context, event.signedTx).ok;
    },
    peerUpdateBad: ({ context, event }) => {
      assertEvent(event, 'PEER.update');
      return !checkPeerUpdate(context, event.msg).ok;
    },
    peerAckBad: ({ context, event }) => {
      assertEvent(event, ['PEER.update_ack', 'PEER.funding_signed']);
      return !context.pending || !checkPeerSigned(context, event.msg.signedTx, context.pending.signedTx, [peerAccount(context)]).ok;
    },
    errorIsForOurProposal: ({ context, event }) => {
      assertEvent(event, 'PEER.update_error');
      return context.pending !== null && context.pending.proposer === context.role &&
        context.kit.innerTx(event.msg.signedTx) === context.kit.innerTx(context.pending.signedTx);
    },
    savedPending: ({ context, event }) => {
      assertEvent(event, ['STORE.SAVED', 'STORE.FAILED']);
      return context.pending !== null && event.round === context.pending.round;
    },
    openMismatch: ({ context, event }) => {
      assertEvent(event, 'PEER.channel_open');
      return openRefusal(context, event.msg.params) !== null;
    },
    fundingCreatedBad: ({ context, event }) => {
      assertEvent(event, 'PEER.funding_created');
      return fundingCheck(context, event.msg.signedTx) === null;
    },
    reestablishMatches: ({ context, event }) => {
      assertEvent(event, ['PEER.channel_reestablish', 'PEER.channel_reest_ack']);
      const { msg } = event;
      return msg.channelId === context.channelId && msg.round === context.state?.round && msg.stateHash === context.state?.stateHash;
    },
  },
  actions: {
    announceFsmUp: emit(({ context }) => info('fsm_up', { fsm_id: context.fsmId })),

    restore: enqueueActions(({ context, enqueue }) => {
      const { restored } = context;
      if (restored) enqueue.assign({ channelId: restored.channelId, state: restored.state });
    }),

    sendChannelOpen: emit(({ context }) => toPeer({ type: 'channel_open', params: context.params, temporaryId: context.fsmId })),

    acceptChannel: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.channel_open');
      enqueue.assign({ params: agreedParams(context, event.msg.params) });
      enqueue.emit(info('channel_open'));
      enqueue.emit(toPeer({ type: 'channel_accept', minimumDepth: context.params.minimumDepth }));
    }),

    refuseOpen: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.channel_open');
      const refusal = openRefusal(context, event.msg.params)!;
      enqueue.emit(reject(refusal.reason, null, refusal.detail));
      enqueue.emit(toPeer({ type: 'error', reason: refusal.reason, detail: refusal.detail }));
    }),

    requestInitiatorSignature: enqueueActions(({ context, enqueue }) => {
      const created = context.kit.createTx(context.params, context.terms!);
      enqueue.assign({
        channelId: created.channelId,
        pending: {
          round: 1, balances: created.balances, updates: [], stateHash: created.stateHash,
          signedTx: created.signedTx, proposer: 'initiator',
        },
      });
      enqueue.emit(info('channel_accept'));
      enqueue.emit(toClient({ kind: 'sign', tag: 'initiator_sign', signedTx: created.signedTx, updates: [] }));
    }),

    requestResponderSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.funding_created');
      const funded = fundingCheck(context, event.msg.signedTx)!;
      enqueue.assign({ channelId: funded.channelId, pending: funded.pending });
      enqueue.emit(info('funding_created', { fsm_id: context.fsmId }));
      enqueue.emit(toClient({ kind: 'sign', tag: 'responder_sign', signedTx: funded.pending.signedTx, updates: [] }));
    }),

    /** Our client signed: keep its signature on the pending tx. */
    takeOwnSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      const check = checkOwnSignature(context, event.signedTx);
      if (check.ok) enqueue.assign({ pending: { ...context.pending!, signedTx: check.signedTx } });
    }),

    /** The peer co-signed what we proposed: keep its signature on the pending tx. */
    takePeerSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['PEER.update_ack', 'PEER.funding_signed']);
      const check = checkPeerSigned(context, event.msg.signedTx, context.pending!.signedTx, [peerAccount(context)]);
      if (check.ok) enqueue.assign({ pending: { ...context.pending!, signedTx: check.signedTx } });
    }),

    rejectOwnSignature: emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      const check = checkOwnSignature(context, event.signedTx);
      return check.ok ? reject('internal_error', event.request) : reject(check.reason, event.request, check.detail);
    }),

    sendFundingCreated: emit(({ context }) => toPeer({ type: 'funding_created', signedTx: context.pending!.signedTx })),

    persistPending: emit(({ context }) => ({
      type: 'persist' as const,
      state: coSigned(context.pending!, context.pending!.signedTx),
      channelId: context.channelId!,
      params: context.params,
      first: context.pending!.round === 1,
    })),

    /** The store has the round: it is now the latest co-signed state. */
    commitPending: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ state: coSigned(context.pending!, context.pending!.signedTx), pending: null });
    }),

    dropPending: enqueueActions(({ enqueue }) => enqueue.assign({ pending: null })),

    reportStoreFailure: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'STORE.FAILED');
      enqueue.emit(toClient({ kind: 'conflict', round: lastRound(context), code: CODE.conflict, reason: 'store_unavailable' }));
      enqueue.emit(toClient({ kind: 'error', reason: 'store_unavailable', detail: event.detail }));
    }),

    // --- funding, after the create tx is co-signed and persisted ---
    responderFunded: enqueueActions(({ context, enqueue }) => {
      const { signedTx } = context.state!;
      enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'funding_created', tx: signedTx, txType: 'channel_create_tx' }));
      enqueue.emit(toPeer({ type: 'funding_signed', signedTx }));
      enqueue.emit({ type: 'watchTx', signedTx, minimumDepth: context.params.minimumDepth });
    }),

    initiatorFunded: enqueueActions(({ context, enqueue }) => {
      const { signedTx } = context.state!;
      enqueue.emit(info('funding_signed', { fsm_id: context.fsmId }));
      enqueue.emit({ type: 'postTx', signedTx });
      enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'funding_signed', tx: signedTx, txType: 'channel_create_tx' }));
      enqueue.emit({ type: 'watchTx', signedTx, minimumDepth: context.params.minimumDepth });
    }),

    reportMined: emit(({ context }) =>
      toClient({ kind: 'on_chain_tx', info: 'channel_changed', tx: context.state!.signedTx, txType: 'channel_create_tx' })),

    lockOwn: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ ownLocked: true });
      enqueue.emit(info('own_funding_locked'));
      enqueue.emit(toPeer({ type: 'funding_locked', channelId: context.channelId! }));
    }),

    lockPeer: enqueueActions(({ enqueue }) => enqueue.assign({ peerLocked: true })),

    reportFundingLocked: emit(() => info('funding_locked')),

    reportChainRejection: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'CHAIN.REJECTED');
      enqueue.emit(toClient({ kind: 'error', reason: 'not_allowed_now', detail: `create tx rejected on-chain: ${event.detail}` }));
      enqueue.emit(info('died'));
    }),

    /** Entering open: tell the client, and give it the latest co-signed state. */
    announceOpen: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(info('open'));
      enqueue.emit(toClient({ kind: 'update', state: context.state!.signedTx }));
    }),

    // --- off-chain updates ---
    proposeTransfer: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CLIENT.UPDATE_NEW');
      const pending = nextRound(context, transferUpdates(event.from, event.to, event.amount, event.meta), context.role)!;
      enqueue.assign({ pending });
      enqueue.emit(toClient({ kind: 'sign', tag: 'update', signedTx: pending.signedTx, updates: pending.updates }));
    }),

    rejectTransfer: emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.UPDATE_NEW');
      const refusal = transferRefusal(context, event)!;
      return reject(refusal.reason, event.request, refusal.detail);
    }),

    sendUpdateToPeer: emit(({ context }) =>
      toPeer({ type: 'update', signedTx: context.pending!.signedTx, updates: context.pending!.updates })),

    requestAckSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update');
      const check = checkPeerUpdate(context, event.msg);
      if (!check.ok) return;
      enqueue.assign({ pending: check.pending });
      enqueue.emit(info('update'));
      enqueue.emit(toClient({ kind: 'sign', tag: 'update_ack', signedTx: check.pending.signedTx, updates: check.pending.updates }));
    }),

    refusePeerUpdate: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update');
      const check = checkPeerUpdate(context, event.msg);
      const reason = check.ok ? 'internal_error' : check.reason;
      const detail = check.ok ? undefined : check.detail;
      enqueue.emit(toPeer({ type: 'update_error', signedTx: event.msg.signedTx, code: CODE.validation }));
      enqueue.emit(toClient({ kind: 'error', reason, detail: `refused the peer's update${detail ? `: ${detail}` : ''}` }));
    }),

    sendAckToPeer: emit(({ context }) => toPeer({ type: 'update_ack', signedTx: context.state!.signedTx })),

    reportUpdate: emit(({ context }) => toClient({ kind: 'update', state: context.state!.signedTx })),

    /** Both proposed at once: refuse theirs, drop ours, tell our client. */
    resolveRace: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update');
      enqueue.emit(toPeer({ type: 'update_error', signedTx: event.msg.signedTx, code: CODE.conflict }));
      enqueue.emit(conflict(context, CODE.conflict));
      enqueue.assign({ pending: null });
    }),

    reportPeerRefusal: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update_error');
      enqueue.emit(conflict(context, event.msg.code));
      enqueue.assign({ pending: null });
    }),

    /** Our client declined to sign what it asked for: nothing reached the peer. */
    abortOwnProposal: enqueueActions(({ enqueue }) => {
      enqueue.emit(info('aborted_update'));
      enqueue.assign({ pending: null });
    }),

    /** Our client declined to co-sign the peer's proposal: the peer gets the client's code. */
    abortAck: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CLIENT.ABORT');
      enqueue.emit(info('aborted_update'));
      enqueue.emit(toPeer({ type: 'update_error', signedTx: context.pending!.signedTx, code: event.code }));
      enqueue.assign({ pending: null });
    }),

    /** The peer's co-signature did not check out: nothing is co-signed, both go back to the last round. */
    refuseBadAck: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(toPeer({ type: 'update_error', signedTx: context.pending!.signedTx, code: CODE.validation }));
      enqueue.emit(conflict(context, CODE.validation));
      enqueue.emit(reject('bad_signature', null, 'the peer\'s acknowledgement does not carry a valid co-signature'));
      enqueue.assign({ pending: null });
    }),

    /** We could not persist the round we co-signed, so our signature never leaves: the peer rolls back. */
    refusePendingToPeer: emit(({ context }) => toPeer({ type: 'update_error', signedTx: context.pending!.signedTx, code: CODE.conflict })),

    rejectNotAllowed: emit(({ event }) => reject('not_allowed_now', 'request' in event ? event.request : undefined)),

    // --- messages, leave, reestablish ---
    relayMessage: emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.MESSAGE');
      return toPeer({ type: 'message', from: me(context), to: event.to, info: event.info });
    }),

    rejectMessage: emit(({ event }) => {
      assertEvent(event, 'CLIENT.MESSAGE');
      return reject('participant_not_found', event.request, 'a message goes to the other participant');
    }),

    deliverMessage: emit(({ event }) => {
      assertEvent(event, 'PEER.message');
      return toClient({ kind: 'message', from: event.msg.from, to: event.msg.to, info: event.msg.info });
    }),

    sendLeave: emit(() => toPeer({ type: 'leave' })),
    ackLeave: emit(() => toPeer({ type: 'leave_ack' })),
    reportLeave: emit(({ context }) => toClient({ kind: 'leave', state: context.state!.signedTx })),
    reportDied: emit(() => info('died')),
    reportPeerDisconnected: emit(() => info('peer_disconnected')),

    sendReestablish: emit(({ context }) => toPeer({
      type: 'channel_reestablish', channelId: context.channelId!, round: context.state!.round, stateHash: context.state!.stateHash,
    })),
    ackReestablish: emit(({ context }) => toPeer({
      type: 'channel_reest_ack', channelId: context.channelId!, round: context.state!.round, stateHash: context.state!.stateHash,
    })),
    refuseReestablish: enqueueActions(({ enqueue }) => {
      enqueue.emit(toPeer({ type: 'error', reason: 'conflict', detail: 'reestablish does not match our latest state' }));
      enqueue.emit(reject('conflict', null, 'the peer reestablished with a different latest state'));
    }),
    reportReestablished: emit(() => info('channel_reestablished')),

    reportPeerError: emit(({ event }) => {
      assertEvent(event, 'PEER.error');
      return reject(event.msg.reason, null, `peer: ${event.msg.detail ?? event.msg.reason}`);
    }),

    stopForLeave: emit(() => ({ type: 'stopped' as const, why: 'leave' as const })),
    stopForError: emit(() => ({ type: 'stopped' as const, why: 'error' as const })),
  },
}).createMachine({
  id: 'channel',
  context: ({ input }) => ({ ...input, channelId: null, state: null, pending: null, ownLocked: false, peerLocked: false }),
  entry: ['announceFsmUp', 'restore'],
  initial: 'starting',
  on: {
    // A request that no state below accepts is refused and changes nothing.
    'CLIENT.UPDATE_NEW': { actions: 'rejectNotAllowed' },
    'CLIENT.SIGNED': { actions: 'rejectNotAllowed' },
    'CLIENT.ABORT': { actions: 'rejectNotAllowed' },
    'CLIENT.LEAVE': { actions: 'rejectNotAllowed' },
    'CLIENT.MESSAGE': { actions: 'rejectNotAllowed' },
    'PEER.message': { actions: 'deliverMessage' },
    'PEER.error': { actions: 'reportPeerError' },
    'CLIENT.DISCONNECTED': { target: '.closed', actions: 'stopForError' },
    'PEER.DISCONNECTED': [
      { guard: 'canAwaitReestablish', target: '.awaiting_reestablish', actions: ['reportPeerDisconnected', 'dropPending'] },
      { target: '.closed', actions: ['reportPeerDisconnected', 'reportDied', 'stopForError'] },
    ],
  },
  states: {
    starting: {
      always: [
        { guard: 'isRestored', target: 'reestablishing' },
        { guard: 'isInitiator', target: 'connecting' },
        { target: 'awaiting_open' },
      ],
    },

    connecting: {
      description: 'Initiator: waiting for the link to the responder, then proposing the channel.',
      on: { 'PEER.CONNECTED': { target: 'awaiting_accept', actions: 'sendChannelOpen' } },
    },
    awaiting_open: {
      description: 'Responder: waiting for the initiator\'s channel_open.',
      on: {
        'PEER.channel_open': [
          { guard: 'openMismatch', target: 'closed', actions: ['refuseOpen', 'stopForError'] },
          { target: 'awaiting_funding_created', actions: 'acceptChannel' },
        ],
      },
    },
    awaiting_accept: {
      description: 'Initiator: channel_open sent, waiting for channel_accept.',
      on: { 'PEER.channel_accept': { target: 'awaiting_initiator_signature', actions: 'requestInitiatorSignature' } },
    },
    awaiting_initiator_signature: {
      description: 'Initiator: our client signs the create tx.',
      on: {
        'CLIENT.SIGNED': [
          { guard: ({ event }) => !isSignedFor('initiator_sign')({ event }), actions: 'rejectNotAllowed' },
          { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
          { target: 'awaiting_funding_signed', actions: ['takeOwnSignature', 'sendFundingCreated'] },
        ],
        'CLIENT.ABORT': { guard: isAbortFor('initiator_sign'), target: 'closed', actions: ['abortOwnProposal', 'reportDied', 'stopForError'] },
      },
    },
    awaiting_funding_created: {
      description: 'Responder: waiting for the initiator\'s signed create tx.',
      on: {
        'PEER.funding_created': [
          { guard: 'fundingCreatedBad', target: 'closed', actions: ['reportDied', 'stopForError'] },
          { target: 'awaiting_responder_signature', actions: 'requestResponderSignature' },
        ],
      },
    },
    awaiting_responder_signature: {
      description: 'Responder: our client co-signs the create tx.',
      on: {
        'CLIENT.SIGNED': [
          { guard: ({ event }) => !isSignedFor('responder_sign')({ event }), actions: 'rejectNotAllowed' },
          { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
          { target: 'persisting_funding', actions: ['takeOwnSignature', 'persistPending'] },
        ],
        'CLIENT.ABORT': { guard: isAbortFor('responder_sign'), target: 'closed', actions: ['abortOwnProposal', 'reportDied', 'stopForError'] },
      },
    },
    awaiting_funding_signed: {
      description: 'Initiator: waiting for the responder\'s co-signature on the create tx.',
      on: {
        'PEER.funding_signed': [
          { guard: 'peerAckBad', target: 'closed', actions: ['reportDied', 'stopForError'] },
          { target: 'persisting_funding', actions: ['takePeerSignature', 'persistPending'] },
        ],
      },
    },
    persisting_funding: {
      description: 'The co-signed create tx is being written to the store before anything is released.',
      on: {
        'STORE.SAVED': {
          guard: 'savedPending',
          target: 'awaiting_locked',
          actions: 'commitPending',
        },
        'STORE.FAILED': { guard: 'savedPending', target: 'closed', actions: ['reportStoreFailure', 'reportDied', 'stopForError'] },
      },
    },
    awaiting_locked: {
      description: 'The create tx is on its way on-chain; waiting for minimum depth and the peer\'s funding_locked.',
      entry: enqueueActions(({ context, enqueue }) => {
        enqueue({ type: context.role === 'initiator' ? 'initiatorFunded' : 'responderFunded' });
      }),
      always: { guard: 'bothLocked', target: 'open', actions: 'reportFundingLocked' },
      on: {
        'CHAIN.MINED': { actions: 'reportMined' },
        'CHAIN.LOCKED': { actions: 'lockOwn' },
        'PEER.funding_locked': { actions: 'lockPeer' },
        'CHAIN.REJECTED': { target: 'closed', actions: ['reportChainRejection', 'stopForError'] },
      },
    },

    open: {
      description: 'The channel is open: transfers, messages and leave are possible.',
      entry: 'announceOpen',
      initial: 'idle',
      on: {
        'CLIENT.MESSAGE': [
          { guard: 'messageToPeer', actions: 'relayMessage' },
          { actions: 'rejectMessage' },
        ],
      },
      states: {
        idle: {
          on: {
            'CLIENT.UPDATE_NEW': [
              { guard: 'transferRefused', actions: 'rejectTransfer' },
              { target: 'awaiting_update_signature', actions: 'proposeTransfer' },
            ],
            'PEER.update': [
              { guard: 'peerUpdateBad', actions: 'refusePeerUpdate' },
              { target: 'awaiting_ack_signature', actions: 'requestAckSignature' },
            ],
            'CLIENT.LEAVE': { target: '#channel.awaiting_leave_ack', actions: 'sendLeave' },
            'PEER.leave': [
              { guard: 'keepsRunning', target: '#channel.awaiting_reestablish', actions: ['ackLeave', 'reportLeave'] },
              { target: '#channel.closed', actions: ['ackLeave', 'reportLeave', 'reportDied', 'stopForLeave'] },
            ],
          },
        },
        awaiting_update_signature: {
          description: 'Our client signs the round it proposed.',
          on: {
            'CLIENT.SIGNED': [
              { guard: ({ event }) => !isSignedFor('update')({ event }), actions: 'rejectNotAllowed' },
              { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
              { target: 'awaiting_update_ack', actions: ['takeOwnSignature', 'sendUpdateToPeer'] },
            ],
            'CLIENT.ABORT': { guard: isAbortFor('update'), target: 'idle', actions: 'abortOwnProposal' },
            'PEER.update': { target: 'idle', actions: 'resolveRace' },
          },
        },
        awaiting_update_ack: {
          description: 'Our signed round is with the peer, waiting for its co-signature.',
          on: {
            'PEER.update_ack': [
              { guard: 'peerAckBad', target: 'idle', actions: 'refuseBadAck' },
              { target: 'persisting_update', actions: ['takePeerSignature', 'persistPending'] },
            ],
            'PEER.update_error': { guard: 'errorIsForOurProposal', target: 'idle', actions: 'reportPeerRefusal' },
            'PEER.update': { target: 'idle', actions: 'resolveRace' },
          },
        },
        awaiting_ack_signature: {
          description: 'Our client co-signs the round the peer proposed.',
          on: {
            'CLIENT.SIGNED': [
              { guard: ({ event }) => !isSignedFor('update_ack')({ event }), actions: 'rejectNotAllowed' },
              { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
              { target: 'persisting_ack', actions: ['takeOwnSignature', 'persistPending'] },
            ],
            'CLIENT.ABORT': { guard: isAbortFor('update_ack'), target: 'idle', actions: 'abortAck' },
          },
        },
        persisting_update: {
          description: 'The peer co-signed our round; it is written to the store before our client hears of it.',
          on: {
            'STORE.SAVED': { guard: 'savedPending', target: 'idle', actions: ['commitPending', 'reportUpdate'] },
            'STORE.FAILED': { guard: 'savedPending', target: 'idle', actions: ['reportStoreFailure', 'dropPending'] },
          },
        },
        persisting_ack: {
          description: 'We co-signed the peer\'s round; it is written to the store before our signature leaves.',
          on: {
            'STORE.SAVED': { guard: 'savedPending', target: 'idle', actions: ['commitPending', 'sendAckToPeer', 'reportUpdate'] },
            'STORE.FAILED': {
              guard: 'savedPending',
              target: 'idle',
              actions: ['refusePendingToPeer', 'reportStoreFailure', 'dropPending'],
            },
          },
        },
      },
    },

    awaiting_leave_ack: {
      description: 'We asked the peer to leave; waiting for its acknowledgement.',
      on: {
        'PEER.leave_ack': { target: 'closed', actions: ['reportLeave', 'reportDied', 'stopForLeave'] },
        'PEER.leave': { target: 'closed', actions: ['ackLeave', 'reportLeave', 'reportDied', 'stopForLeave'] },
      },
    },

    reestablishing: {
      description: 'Restored from the store; waiting for the link to the peer to confirm the latest state.',
      always: { guard: ({ context }) => context.role === 'responder', target: 'awaiting_reestablish' },
      on: { 'PEER.CONNECTED': { target: 'awaiting_reest_ack', actions: 'sendReestablish' } },
    },
    awaiting_reest_ack: {
      description: 'Initiator: channel_reestablish sent, waiting for the responder.',
      on: {
        'PEER.channel_reest_ack': [
          { guard: 'reestablishMatches', target: 'open', actions: 'reportReestablished' },
          { target: 'closed', actions: ['refuseReestablish', 'reportDied', 'stopForError'] },
        ],
      },
    },
    awaiting_reestablish: {
      description: 'Responder: waiting for the initiator to come back with channel_reestablish.',
      on: {
        'PEER.channel_reestablish': [
          { guard: 'reestablishMatches', target: 'open', actions: ['ackReestablish', 'reportReestablished'] },
          { actions: 'refuseReestablish' },
        ],
      },
    },

    closed: {
      description: 'The FSM is done (left, refused or failed); lib/channel disposes of it.',
      type: 'final',
      on: {
        'CLIENT.DISCONNECTED': {},
        'PEER.DISCONNECTED': {},
      },
    },
  },
});

/** The responder's parameters, with the initiator filled in when it accepted any. */
function agreedParams(c: ChannelContext, proposed: ChannelParams): ChannelParams {
  return c.anyInitiator ? { ...c.params, initiatorId: proposed.initiatorId } : c.params;
}

function openRefusal(c: ChannelContext, proposed: ChannelParams) {
  const own = agreedParams(c, proposed);
  return openMismatch(own, proposed) ?? openParamsRefusal(own);
}

/**
 * Responder: rebuilds the create tx from our own parameters and the terms the initiator chose, and
 * checks the initiator's signature on it. Null when it does not match.
 */
function fundingCheck(c: ChannelContext, signedTx: string): { channelId: ChannelId; pending: Pending } | null {
  const terms = c.kit.createTxTerms(signedTx);
  if (!terms) return null;
  const created = c.kit.createTx(c.params, terms);
  const check = c.kit.checkSigned(signedTx, created.signedTx, [c.params.initiatorId], [c.params.initiatorId, c.params.responderId]);
  if (!check.ok) return null;
  return {
    channelId: created.channelId,
    pending: {
      round: 1, balances: created.balances, updates: [], stateHash: created.stateHash,
      signedTx: check.signedTx, proposer: 'initiator',
    },
  };
}
