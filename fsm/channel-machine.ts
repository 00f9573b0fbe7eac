/**
 * The channel FSM of one participant, as an xstate v5 machine. It follows the node's states
 * (apps/aechannel aesc_fsm): open handshake, funding, co-signed operations (off-chain transfers,
 * deposits, withdrawals, mutual close), leave and reestablish.
 *
 * Pure: it decides and emits effects as data (ChannelEffect); lib/channel performs them and feeds
 * the results back as events. Transactions are built and checked by the injected TxKit.
 *
 * Money rules kept here: a co-signed tx is only reported, acknowledged or posted after the store
 * confirmed it (the `persisting…` states); every signature is checked against the expected signer and
 * the exact tx we built; a refused request leaves the context as it was.
 */
import { assertEvent, assign, emit, enqueueActions, not, setup } from 'xstate';
import { isRefusal, minimumDepth, type Refusal } from './protocol.js';
import { CODE, type Reason } from './reasons.js';
import type { ChannelEffect, ClientOutput, EncodedTx, OperationKind, PeerMessage, SignTag } from './types.js';
import {
  DISPUTES, OPERATIONS, me, peerAccount, participants, lastRound, pendingKind, type ChannelContext, type ChannelEvent, type ChannelInput,
} from './channel-context.js';
import {
  adoptable, agreedParams, buildDispute, checkOwnSignature, checkPeerProposal, checkPeerSignature, coSigned, fundingCheck, latestOf,
  keepsRunning, newerThanChain, oncePerEvent, openRefusal, ownProposal, savedPending, timeout, weProposed,
} from './operations.js';

export { peerEvent, OPERATIONS, DISPUTES } from './channel-context.js';
export type { ChannelContext, ChannelEvent, ChannelInput, Pending } from './channel-context.js';

/** Follow a tx on chain down to the channel's minimum depth for it. */
function watchTx(c: ChannelContext, signedTx: EncodedTx): ChannelEffect {
  const fee = c.kit.txTerms(signedTx)?.fee ?? 0n;
  return { type: 'watchTx', signedTx, minimumDepth: minimumDepth(c.params.minimumDepthStrategy, c.params.minimumDepth, fee) };
}

const toClient = (output: ClientOutput): ChannelEffect => ({ type: 'toClient', output });
const toPeer = (message: PeerMessage): ChannelEffect => ({ type: 'toPeer', message });
const info = (event: string, data?: Record<string, unknown>): ChannelEffect => toClient({ kind: 'info', event, ...(data && { data }) });
const reject = (reason: Reason, request: unknown, detail?: string): ChannelEffect =>
  toClient({ kind: 'error', reason, request, ...(detail && { detail }) });
const conflict = (c: ChannelContext, code: number): ChannelEffect => toClient({ kind: 'conflict', round: lastRound(c), code });
const onChainTx = (c: ChannelContext, infoName: string, tx: EncodedTx): ChannelEffect =>
  toClient({ kind: 'on_chain_tx', info: infoName, tx, txType: OPERATIONS[pendingKind(c)].txType });

/** can_slash when our latest co-signed round is newer than the one the chain closes on, else solo_closing. */
function closingReport(c: ChannelContext, onchainRound: number, tx: EncodedTx | null): ChannelEffect {
  if (newerThanChain(c, onchainRound)) {
    return toClient({ kind: 'on_chain_tx', info: 'can_slash', tx: c.state!.signedTx, txType: 'channel_offchain_tx' });
  }
  return toClient({ kind: 'on_chain_tx', info: 'solo_closing', tx: tx ?? c.state!.signedTx, txType: 'channel_close_solo_tx' });
}

const signedWith = (tag: (c: ChannelContext) => SignTag) =>
  ({ context, event }: { context: ChannelContext; event: ChannelEvent }) => event.type === 'CLIENT.SIGNED' && event.tag === tag(context);
const abortedWith = (tag: (c: ChannelContext) => SignTag) =>
  ({ context, event }: { context: ChannelContext; event: ChannelEvent }) => event.type === 'CLIENT.ABORT' && event.tag === tag(context);
const soloTag = (c: ChannelContext): SignTag => DISPUTES[c.solo?.kind ?? 'close_solo'].tag;
const ownTag = (c: ChannelContext): SignTag => OPERATIONS[pendingKind(c)].ownTag;
const ackTag = (c: ChannelContext): SignTag => OPERATIONS[pendingKind(c)].ackTag;
const fixedTag = (tag: SignTag) => () => tag;

/** How an open, idle FSM takes its client's update, deposit, withdraw or shutdown. */
const PROPOSE = [
  { guard: 'proposalRefused' as const, actions: 'refuseProposal' as const },
  { target: 'awaiting_own_signature', actions: 'propose' as const },
];

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
  guards: {
    isInitiator: ({ context }) => context.role === 'initiator',
    isRestored: ({ context }) => context.restored !== undefined,
    keepsRunning: ({ context }) => keepsRunning(context),
    canAwaitReestablish: ({ context }) => context.role === 'responder' && context.keepRunning && context.state !== null,
    bothLocked: ({ context }) => context.ownLocked && context.peerLocked,
    messageToPeer: ({ context, event }) => event.type === 'CLIENT.MESSAGE' && event.to === peerAccount(context),
    proposalRefused: ({ context, event }) => {
      assertEvent(event, ['CLIENT.UPDATE_NEW', 'CLIENT.DEPOSIT', 'CLIENT.WITHDRAW', 'CLIENT.SHUTDOWN']);
      return isRefusal(ownProposal(context, event));
    },
    ownSignatureBad: ({ context, event }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      return !oncePerEvent(event, 'ownSignature', () => checkOwnSignature(context, event.signedTx)).ok;
    },
    peerProposalBad: ({ context, event }) => {
      assertEvent(event, 'PEER.update');
      return !oncePerEvent(event, 'peerProposal', () => checkPeerProposal(context, event.msg)).ok;
    },
    peerSignatureBad: ({ context, event }) => {
      assertEvent(event, ['PEER.update_ack', 'PEER.funding_signed']);
      return !oncePerEvent(event, 'peerSignature', () => checkPeerSignature(context, event.msg.signedTx)).ok;
    },
    errorMatchesPending: ({ context, event }) => {
      assertEvent(event, 'PEER.update_error');
      return context.pending !== null && context.kit.innerTx(event.msg.signedTx) === context.kit.innerTx(context.pending.signedTx);
    },
    lockedMatchesPending: ({ context, event }) => {
      assertEvent(event, 'PEER.locked');
      return context.pending !== null && context.kit.innerTx(event.msg.signedTx) === context.kit.innerTx(context.pending.signedTx);
    },
    savedPending: ({ context, event }) => savedPending(context, event),
    savedPendingUpdate: ({ context, event }) => savedPending(context, event) && context.pending!.kind === 'update' && weProposed(context),
    savedPeerUpdate: ({ context, event }) => savedPending(context, event) && context.pending!.kind === 'update',
    savedOwnShutdown: ({ context, event }) => savedPending(context, event) && context.pending!.kind === 'shutdown' && weProposed(context),
    savedPeerShutdown: ({ context, event }) => savedPending(context, event) && context.pending!.kind === 'shutdown',
    savedOwnOnchain: ({ context, event }) => savedPending(context, event) && weProposed(context),
    failedOwn: ({ context, event }) => savedPending(context, event) && weProposed(context),
    openMismatch: ({ context, event }) => {
      assertEvent(event, 'PEER.channel_open');
      return openRefusal(context, event.msg.params) !== null;
    },
    fundingCreatedBad: ({ context, event }) => {
      assertEvent(event, 'PEER.funding_created');
      return fundingCheck(context, event.msg.signedTx) === null;
    },
    disputeRefused: ({ context, event }) => {
      assertEvent(event, 'CLIENT.DISPUTE');
      return isRefusal(buildDispute(context, event));
    },
    soloSignatureBad: ({ context, event }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      return !context.solo || !context.kit.checkSigned(event.signedTx, context.solo.signedTx, [me(context)], participants(context)).ok;
    },
    established: ({ context }) => context.state !== null,
    clientAway: ({ context }) => !context.clientConnected,
    lateAck: ({ context, event }) => {
      assertEvent(event, 'PEER.update_ack');
      const { abandoned, state } = context;
      return abandoned !== null && state !== null && abandoned.round === state.round + 1 &&
        context.kit.checkSigned(event.msg.signedTx, abandoned.signedTx, [peerAccount(context)], participants(context)).ok;
    },
    /** the peer's proposal already carries our own client's signature (a backchannel co-signature) */
    peerProposalCoSigned: ({ context, event }) => {
      assertEvent(event, 'PEER.update');
      const check = oncePerEvent(event, 'peerProposal', () => checkPeerProposal(context, event.msg));
      return check.ok && context.kit.checkSigned(event.msg.signedTx, check.pending.signedTx, [me(context)], participants(context)).ok;
    },
    restoredClosing: ({ context }) => (context.restored?.onchain?.lockedUntil ?? 0) !== 0,
    peerOneRoundAhead: ({ context, event }) => {
      assertEvent(event, ['PEER.channel_reestablish', 'PEER.channel_reest_ack']);
      return adoptable(context, event.msg) !== null;
    },
    weOneRoundAhead: ({ context, event }) => {
      assertEvent(event, ['PEER.channel_reestablish', 'PEER.channel_reest_ack']);
      return event.msg.channelId === context.channelId && event.msg.round + 1 === context.state?.round;
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

    // --- opening ---
    sendChannelOpen: emit(({ context }) => toPeer({ type: 'channel_open', params: context.params })),

    acceptChannel: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.channel_open');
      const params = agreedParams(context, event.msg.params);
      enqueue.assign({ params });
      enqueue.emit(info('channel_open'));
      enqueue.emit(toPeer({ type: 'channel_accept', minimumDepth: params.minimumDepth, responderDelegateIds: params.responderDelegateIds }));
    }),

    refuseOpen: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.channel_open');
      const refusal = openRefusal(context, event.msg.params)!;
      enqueue.emit(reject(refusal.reason, null, refusal.detail));
      enqueue.emit(toPeer({ type: 'error', reason: refusal.reason, detail: refusal.detail }));
    }),

    requestInitiatorSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.channel_accept');
      // each side names its own delegates: the responder's come with its acceptance
      const params = { ...context.params, responderDelegateIds: event.msg.responderDelegateIds };
      const created = context.kit.createTx(params, context.terms!);
      enqueue.assign({
        params,
        channelId: created.channelId,
        pending: {
          kind: 'create', round: 1, balances: created.balances, updates: [], stateHash: created.stateHash,
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

    sendFundingCreated: emit(({ context }) => toPeer({ type: 'funding_created', signedTx: context.pending!.signedTx })),

    responderFunded: enqueueActions(({ context, enqueue }) => {
      const { signedTx } = context.state!;
      enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'funding_created', tx: signedTx, txType: 'channel_create_tx' }));
      enqueue.emit(toPeer({ type: 'funding_signed', signedTx }));
      enqueue.emit(watchTx(context, signedTx));
    }),

    initiatorFunded: enqueueActions(({ context, enqueue }) => {
      const { signedTx } = context.state!;
      enqueue.emit(info('funding_signed', { fsm_id: context.fsmId }));
      enqueue.emit({ type: 'postTx', signedTx });
      enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'funding_signed', tx: signedTx, txType: 'channel_create_tx' }));
      enqueue.emit(watchTx(context, signedTx));
    }),

    reportFundingMined: emit(({ context }) =>
      toClient({ kind: 'on_chain_tx', info: 'channel_changed', tx: context.state!.signedTx, txType: 'channel_create_tx' })),

    lockOwnFunding: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ ownLocked: true });
      enqueue.emit(info('own_funding_locked'));
      enqueue.emit(toPeer({ type: 'funding_locked', channelId: context.channelId! }));
    }),

    reportFundingLocked: enqueueActions(({ enqueue }) => {
      enqueue.emit(info('funding_locked'));
      enqueue.assign({ ownLocked: false, peerLocked: false });
    }),

    reportFundingRejected: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'CHAIN.REJECTED');
      enqueue.emit(toClient({ kind: 'conflict', round: 0, code: CODE.rejectedOnChain }));
      enqueue.emit(reject('not_allowed_now', null, `create tx rejected on-chain: ${event.detail}`));
      enqueue.emit(info('died'));
    }),

    /** Entering open: tell the client, and give it the latest co-signed state. */
    announceOpen: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(info('open'));
      enqueue.emit(toClient({ kind: 'update', state: context.state!.signedTx }));
    }),

    // --- co-signed operations ---
    propose: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['CLIENT.UPDATE_NEW', 'CLIENT.DEPOSIT', 'CLIENT.WITHDRAW', 'CLIENT.SHUTDOWN']);
      const pending = ownProposal(context, event);
      if (isRefusal(pending)) return;
      enqueue.assign({ pending, abandoned: null });
      enqueue.emit(toClient({ kind: 'sign', tag: OPERATIONS[pending.kind as OperationKind].ownTag, signedTx: pending.signedTx, updates: pending.updates }));
    }),

    refuseProposal: emit(({ context, event }) => {
      assertEvent(event, ['CLIENT.UPDATE_NEW', 'CLIENT.DEPOSIT', 'CLIENT.WITHDRAW', 'CLIENT.SHUTDOWN']);
      const refusal = ownProposal(context, event) as Refusal;
      return reject(refusal.reason, event.request, refusal.detail);
    }),

    /** Our client signed: keep its signature on the pending tx. */
    takeOwnSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      const check = oncePerEvent(event, 'ownSignature', () => checkOwnSignature(context, event.signedTx));
      if (check.ok) enqueue.assign({ pending: { ...context.pending!, signedTx: check.signedTx } });
    }),

    /** The peer co-signed what we proposed: keep its signature on the pending tx. */
    takePeerSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['PEER.update_ack', 'PEER.funding_signed']);
      const check = oncePerEvent(event, 'peerSignature', () => checkPeerSignature(context, event.msg.signedTx));
      if (check.ok) enqueue.assign({ pending: { ...context.pending!, signedTx: check.signedTx } });
    }),

    rejectOwnSignature: emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      const check = oncePerEvent(event, 'ownSignature', () => checkOwnSignature(context, event.signedTx));
      return check.ok ? reject('internal_error', event.request) : reject(check.reason, event.request, check.detail);
    }),

    sendProposal: emit(({ context }) => toPeer({
      type: 'update', kind: pendingKind(context), signedTx: context.pending!.signedTx, updates: context.pending!.updates,
    })),

    requestAckSignature: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update');
      const check = oncePerEvent(event, 'peerProposal', () => checkPeerProposal(context, event.msg));
      if (!check.ok) return;
      const kind = event.msg.kind;
      enqueue.assign({ pending: check.pending });
      enqueue.emit(info(OPERATIONS[kind].created));
      enqueue.emit(toClient({ kind: 'sign', tag: OPERATIONS[kind].ackTag, signedTx: check.pending.signedTx, updates: check.pending.updates }));
    }),

    refusePeerProposal: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update');
      const check = oncePerEvent(event, 'peerProposal', () => checkPeerProposal(context, event.msg));
      const detail = check.ok ? undefined : check.detail;
      enqueue.emit(toPeer({ type: 'update_error', signedTx: event.msg.signedTx, code: CODE.validation }));
      enqueue.emit(toClient({ kind: 'error', reason: check.ok ? 'internal_error' : check.reason, detail: `refused the peer's ${event.msg.kind}${detail ? `: ${detail}` : ''}` }));
    }),

    persistPending: emit(({ context }) => {
      const pending = context.pending!;
      if (pending.kind === 'update' || pending.kind === 'create') {
        return { type: 'persist' as const, state: coSigned(pending), channelId: context.channelId!, params: context.params, first: pending.kind === 'create' };
      }
      return { type: 'persistOnchain' as const, kind: pending.kind, state: coSigned(pending), channelId: context.channelId! };
    }),

    /** The on-chain tx is deep enough: its round is now the channel's state, and is persisted as such. */
    persistCommitted: emit(({ context }) => ({
      type: 'persist' as const, state: coSigned(context.pending!), channelId: context.channelId!, params: context.params, first: false,
    })),

    /** The store has the round: it is now the latest co-signed state. */
    commitPending: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ state: coSigned(context.pending!), pending: null, ownLocked: false, peerLocked: false });
    }),

    /** The on-chain tx's round is the stored state now: its pending record has served. */
    forgetCommitted: emit(({ context }) => ({ type: 'forgetOnchain' as const, channelId: context.channelId! })),

    dropPending: enqueueActions(({ enqueue }) => enqueue.assign({ pending: null, ownLocked: false, peerLocked: false })),

    reportStoreFailure: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'STORE.FAILED');
      enqueue.emit(toClient({ kind: 'conflict', round: lastRound(context), code: CODE.conflict, reason: 'store_unavailable' }));
      enqueue.emit(toClient({ kind: 'error', reason: 'store_unavailable', detail: event.detail }));
    }),

    sendAckToPeer: emit(({ context }) => toPeer({ type: 'update_ack', signedTx: context.pending!.signedTx })),

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
      if (event.msg.code === CODE.rejectedOnChain) enqueue.emit({ type: 'forgetOnchain', channelId: context.channelId! });
      enqueue.assign({ pending: null, ownLocked: false, peerLocked: false });
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

    /** We could not persist what we co-signed, so our signature never leaves: the peer rolls back. */
    refusePendingToPeer: emit(({ context }) => toPeer({ type: 'update_error', signedTx: context.pending!.signedTx, code: CODE.conflict })),

    // --- on chain: deposit, withdraw, mutual close ---
    postPending: emit(({ context }) => ({ type: 'postTx' as const, signedTx: context.pending!.signedTx })),
    watchPending: emit(({ context }) => watchTx(context, context.pending!.signedTx)),
    reportCreated: emit(({ context }) => onChainTx(context, `${pendingKind(context)}_created`, context.pending!.signedTx)),
    reportSigned: emit(({ context }) => onChainTx(context, `${pendingKind(context)}_signed`, context.pending!.signedTx)),
    reportChannelChanged: emit(({ context }) => onChainTx(context, 'channel_changed', context.pending!.signedTx)),

    lockOwnOperation: enqueueActions(({ context, enqueue }) => {
      const kind = pendingKind(context) as 'deposit' | 'withdraw';
      enqueue.assign({ ownLocked: true });
      enqueue.emit(info(`own_${kind}_locked`));
      enqueue.emit(toPeer({ type: 'locked', kind, signedTx: context.pending!.signedTx }));
    }),
    lockPeer: enqueueActions(({ enqueue }) => enqueue.assign({ peerLocked: true })),
    reportOperationLocked: emit(({ context }) => info(`${pendingKind(context)}_locked`)),

    /** The chain refused the co-signed tx we posted: both sides stay on the last co-signed round. */
    reportRejectedOnChain: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CHAIN.REJECTED');
      enqueue.emit(toPeer({ type: 'update_error', signedTx: context.pending!.signedTx, code: CODE.rejectedOnChain }));
      enqueue.emit(conflict(context, CODE.rejectedOnChain));
      enqueue.emit(reject('not_allowed_now', null, `rejected on-chain: ${event.detail}`));
      enqueue.emit({ type: 'forgetOnchain', channelId: context.channelId! });
      enqueue.assign({ pending: null, ownLocked: false, peerLocked: false });
    }),

    reportCloseMutual: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(onChainTx(context, 'close_mutual', context.pending!.signedTx));
      enqueue.emit(info('closing'));
    }),
    reportChannelClosed: emit(({ context }) => onChainTx(context, 'channel_closed', context.pending!.signedTx)),
    confirmClosed: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'markClosed', channelId: context.channelId! });
      enqueue.emit(info('closed_confirmed'));
      enqueue.emit(info('died'));
    }),

    // --- disputes ---
    proposeDispute: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CLIENT.DISPUTE');
      const solo = buildDispute(context, event);
      if (isRefusal(solo)) return;
      enqueue.assign({ solo });
      enqueue.emit(toClient({ kind: 'sign', tag: DISPUTES[solo.kind].tag, signedTx: solo.signedTx, updates: [] }));
    }),
    refuseDispute: emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.DISPUTE');
      const refusal = buildDispute(context, event) as Refusal;
      return reject(refusal.reason, event.request, refusal.detail);
    }),
    rejectSoloSignature: emit(({ context, event }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      const check = context.kit.checkSigned(event.signedTx, context.solo!.signedTx, [me(context)], participants(context));
      return check.ok ? reject('internal_error', event.request) : reject(check.reason, event.request, check.detail);
    }),
    /** Our client signed the dispute tx: it goes on chain; the chain watcher reports what it does. */
    postSolo: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CLIENT.SIGNED');
      const check = context.kit.checkSigned(event.signedTx, context.solo!.signedTx, [me(context)], participants(context));
      if (check.ok) enqueue.emit({ type: 'postTx', signedTx: check.signedTx });
      enqueue.assign({ solo: null });
    }),
    abortSolo: enqueueActions(({ enqueue }) => {
      enqueue.emit(info('aborted_update'));
      enqueue.assign({ solo: null });
    }),
    reportSoloRejected: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CHAIN.REJECTED');
      enqueue.emit(conflict(context, CODE.rejectedOnChain));
      enqueue.emit(reject('not_allowed_now', null, `rejected on-chain: ${event.detail}`));
    }),
    reportChannelChangedOnChain: emit(({ context, event }) => {
      assertEvent(event, 'CHAIN.CHANNEL_CHANGED');
      return toClient({ kind: 'on_chain_tx', info: 'channel_changed', tx: event.tx ?? context.state!.signedTx, txType: 'channel_snapshot_solo_tx' });
    }),
    /**
     * The channel is solo-closing on chain. If our latest co-signed round is newer than the one it closes
     * on, the client can slash with it (the node never slashes by itself; the watchtower may).
     */
    reportClosingOnChain: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CHAIN.CHANNEL_CLOSING');
      enqueue.assign({ closingRound: event.round });
      enqueue.emit(closingReport(context, event.round, event.tx));
    }),
    /** A client that comes back to a closing channel hears where the dispute stands. */
    reportClosingAgain: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(closingReport(context, context.closingRound ?? 0, null));
      enqueue.emit(info('closing'));
    }),
    reportClosingInfo: emit(() => info('closing')),
    dropAll: enqueueActions(({ enqueue }) => enqueue.assign({ pending: null, solo: null, ownLocked: false, peerLocked: false })),
    reportClosedOnChain: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'CHAIN.CHANNEL_CLOSED');
      const tx = event.tx ?? context.state!.signedTx;
      enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'channel_closed', tx, txType: 'channel_settle_tx' }));
      if (event.tx) enqueue.emit(watchTx(context, event.tx));
      else enqueue.raise({ type: 'CHAIN.LOCKED', txHash: '' });
    }),

    // --- messages, leave, reestablish ---
    /** Waiting ran out before the channel was open (or for good): the FSM gives up, as the node does. */
    reportTimeoutAndDie: enqueueActions(({ enqueue }) => {
      enqueue.emit(info('timeout'));
      enqueue.emit(info('died'));
      enqueue.emit({ type: 'stopped', why: 'timeout' });
    }),

    /**
     * Waiting ran out in the middle of an operation: back to the last co-signed round. Our client gets a
     * conflict with code 3; the peer, if it was waiting on us, an error with the same code.
     */
    rollBackOnTimeout: enqueueActions(({ context, enqueue }) => {
      const { pending } = context;
      if (pending && pending.proposer !== context.role) {
        enqueue.emit(toPeer({ type: 'update_error', signedTx: pending.signedTx, code: CODE.timeout }));
      }
      enqueue.emit(conflict(context, CODE.timeout));
      const sentToPeer = pending !== null && pending.proposer === context.role && pending.kind === 'update';
      enqueue.assign({ pending: null, solo: null, abandoned: sentToPeer ? pending : null });
    }),

    /** The ack we stopped waiting for came after all: the round is co-signed, take it. */
    takeLateAck: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update_ack');
      const check = context.kit.checkSigned(event.msg.signedTx, context.abandoned!.signedTx, [peerAccount(context)], participants(context));
      if (check.ok) enqueue.assign({ pending: { ...context.abandoned!, signedTx: check.signedTx }, abandoned: null });
    }),

    deferPeerUpdate: assign(({ event }) => {
      assertEvent(event, 'PEER.update');
      return { deferredPeerUpdate: event };
    }),
    takeDeferredPeerUpdate: enqueueActions(({ context, enqueue }) => {
      if (!context.deferredPeerUpdate) return;
      enqueue.raise(context.deferredPeerUpdate);
      enqueue.assign({ deferredPeerUpdate: null });
    }),

    refuseBusy: emit(({ event }) => {
      assertEvent(event, 'PEER.update');
      return toPeer({ type: 'update_error', signedTx: event.msg.signedTx, code: CODE.conflict });
    }),

    /** The peer gave up on the operation we were co-signing. */
    dropPeerProposal: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update_error');
      enqueue.emit(conflict(context, event.msg.code));
      enqueue.assign({ pending: null });
    }),

    markClientGone: enqueueActions(({ enqueue }) => enqueue.assign({ clientConnected: false })),
    markClientBack: enqueueActions(({ enqueue }) => enqueue.assign({ clientConnected: true })),

    /** The peer proposed while our client is away: nobody can co-sign it, so the peer rolls back. */
    refuseForAbsence: emit(({ event }) => {
      assertEvent(event, 'PEER.update');
      return toPeer({ type: 'update_error', signedTx: event.msg.signedTx, code: CODE.abort });
    }),

    /** It carries both signatures already: take it as co-signed, no client needed. */
    takeCoSignedProposal: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'PEER.update');
      const check = oncePerEvent(event, 'peerProposal', () => checkPeerProposal(context, event.msg));
      if (!check.ok) return;
      const both = context.kit.checkSigned(event.msg.signedTx, check.pending.signedTx, [me(context)], participants(context));
      if (both.ok) enqueue.assign({ pending: { ...check.pending, signedTx: both.signedTx } });
    }),

    /** Our client went away in the middle of co-signing: the peer gets an abort. */
    abandonAck: enqueueActions(({ context, enqueue }) => {
      enqueue.emit(toPeer({ type: 'update_error', signedTx: context.pending!.signedTx, code: CODE.abort }));
      enqueue.assign({ pending: null, clientConnected: false });
    }),
    abandonOwn: enqueueActions(({ enqueue }) => enqueue.assign({ pending: null, solo: null, clientConnected: false })),

    rejectNotAllowed: emit(({ event }) => reject('not_allowed_now', 'request' in event ? event.request : undefined)),

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

    sendReestablish: emit(({ context }) => toPeer({ type: 'channel_reestablish', ...latestOf(context) })),
    ackReestablish: emit(({ context }) => toPeer({ type: 'channel_reest_ack', ...latestOf(context) })),
    /** The peer holds the next round co-signed and we lost it (a crash): take it, once it checks out. */
    adoptPeerRound: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['PEER.channel_reestablish', 'PEER.channel_reest_ack']);
      const adopted = adoptable(context, event.msg);
      if (adopted) enqueue.assign({ pending: adopted });
    }),
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
    stopForClose: emit(() => ({ type: 'stopped' as const, why: 'closed' as const })),
  },
}).createMachine({
  id: 'channel',
  context: ({ input }) => ({
    ...input, channelId: null, state: null, pending: null, ownLocked: false, peerLocked: false, solo: null, clientConnected: true,
    closingRound: input.restored?.onchain?.lockedUntil ? input.restored.onchain.round : null,
    abandoned: null, deferredPeerUpdate: null,
  }),
  entry: ['announceFsmUp', 'restore'],
  initial: 'starting',
  on: {
    // A request that no state below accepts is refused and changes nothing.
    'CLIENT.UPDATE_NEW': { actions: 'rejectNotAllowed' },
    'CLIENT.DEPOSIT': { actions: 'rejectNotAllowed' },
    'CLIENT.WITHDRAW': { actions: 'rejectNotAllowed' },
    'CLIENT.SHUTDOWN': { actions: 'rejectNotAllowed' },
    'CLIENT.DISPUTE': { actions: 'rejectNotAllowed' },
    'CLIENT.SIGNED': { actions: 'rejectNotAllowed' },
    'CLIENT.ABORT': { actions: 'rejectNotAllowed' },
    'CLIENT.LEAVE': { actions: 'rejectNotAllowed' },
    'CLIENT.MESSAGE': { actions: 'rejectNotAllowed' },
    'PEER.message': { actions: 'deliverMessage' },
    'PEER.error': { actions: 'reportPeerError' },
    // before the channel exists there is nothing to come back to; after, the FSM waits for its client
    'CLIENT.DISCONNECTED': [
      { guard: 'established', actions: 'markClientGone' },
      { target: '.closed', actions: 'stopForError' },
    ],
    'CLIENT.RECONNECTED': { actions: 'markClientBack' },
    'PEER.DISCONNECTED': [
      { guard: 'canAwaitReestablish', target: '.awaiting_reestablish', actions: ['reportPeerDisconnected', 'dropPending'] },
      { target: '.closed', actions: ['reportPeerDisconnected', 'reportDied', 'stopForError'] },
    ],
    // whatever the FSM was doing, a channel closing on chain is a dispute now
    'CHAIN.CHANNEL_CLOSING': { guard: 'established', target: '.channel_closing', actions: ['dropAll', 'reportClosingOnChain', 'reportClosingInfo'] },
    'CHAIN.CHANNEL_CLOSED': { guard: 'established', target: '.channel_closed', actions: ['dropAll', 'reportClosedOnChain'] },
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
      after: { initialized: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: { 'PEER.CONNECTED': { target: 'awaiting_accept', actions: 'sendChannelOpen' } },
    },
    awaiting_open: {
      description: 'Responder: waiting for the initiator\'s channel_open.',
      after: { awaiting_open: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'PEER.channel_open': [
          { guard: 'openMismatch', target: 'closed', actions: ['refuseOpen', 'stopForError'] },
          { target: 'awaiting_funding_created', actions: 'acceptChannel' },
        ],
      },
    },
    awaiting_accept: {
      description: 'Initiator: channel_open sent, waiting for channel_accept.',
      after: { accept: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: { 'PEER.channel_accept': { target: 'awaiting_initiator_signature', actions: 'requestInitiatorSignature' } },
    },
    awaiting_initiator_signature: {
      description: 'Initiator: our client signs the create tx.',
      after: { sign: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'CLIENT.SIGNED': [
          { guard: ({ context, event }) => !signedWith(fixedTag('initiator_sign'))({ context, event }), actions: 'rejectNotAllowed' },
          { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
          { target: 'awaiting_funding_signed', actions: ['takeOwnSignature', 'sendFundingCreated'] },
        ],
        'CLIENT.ABORT': { guard: abortedWith(fixedTag('initiator_sign')), target: 'closed', actions: ['abortOwnProposal', 'reportDied', 'stopForError'] },
      },
    },
    awaiting_funding_created: {
      description: 'Responder: waiting for the initiator\'s signed create tx.',
      after: { funding_create: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'PEER.funding_created': [
          { guard: 'fundingCreatedBad', target: 'closed', actions: ['reportDied', 'stopForError'] },
          { target: 'awaiting_responder_signature', actions: 'requestResponderSignature' },
        ],
      },
    },
    awaiting_responder_signature: {
      description: 'Responder: our client co-signs the create tx.',
      after: { sign: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'CLIENT.SIGNED': [
          { guard: ({ context, event }) => !signedWith(fixedTag('responder_sign'))({ context, event }), actions: 'rejectNotAllowed' },
          { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
          { target: 'persisting_funding', actions: ['takeOwnSignature', 'persistPending'] },
        ],
        'CLIENT.ABORT': { guard: abortedWith(fixedTag('responder_sign')), target: 'closed', actions: ['abortOwnProposal', 'reportDied', 'stopForError'] },
      },
    },
    awaiting_funding_signed: {
      description: 'Initiator: waiting for the responder\'s co-signature on the create tx.',
      after: { funding_sign: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'PEER.funding_signed': [
          { guard: 'peerSignatureBad', target: 'closed', actions: ['reportDied', 'stopForError'] },
          { target: 'persisting_funding', actions: ['takePeerSignature', 'persistPending'] },
        ],
      },
    },
    persisting_funding: {
      description: 'The co-signed create tx is being written to the store before anything is released.',
      on: {
        'STORE.SAVED': { guard: 'savedPending', target: 'awaiting_locked', actions: 'commitPending' },
        'STORE.FAILED': { guard: 'savedPending', target: 'closed', actions: ['reportStoreFailure', 'reportDied', 'stopForError'] },
      },
    },
    awaiting_locked: {
      description: 'The create tx is on its way on-chain; waiting for minimum depth and the peer\'s funding_locked.',
      entry: enqueueActions(({ context, enqueue }) => {
        enqueue({ type: context.role === 'initiator' ? 'initiatorFunded' : 'responderFunded' });
      }),
      always: { guard: 'bothLocked', target: 'open', actions: ['reportFundingLocked', 'announceOpen'] },
      after: { funding_lock: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'CHAIN.MINED': { actions: 'reportFundingMined' },
        'CHAIN.LOCKED': { actions: 'lockOwnFunding' },
        'PEER.funding_locked': { actions: 'lockPeer' },
        'CHAIN.REJECTED': { target: 'closed', actions: ['reportFundingRejected', 'stopForError'] },
      },
    },

    open: {
      description: 'The channel is open: co-signed operations, messages and leave are possible.',
      initial: 'idle',
      on: {
        'CLIENT.MESSAGE': [
          { guard: 'messageToPeer', actions: 'relayMessage' },
          { actions: 'rejectMessage' },
        ],
        // busy with another operation (persisting, on chain, co-signing): the peer hears so at once
        'PEER.update': { actions: 'refuseBusy' },
      },
      states: {
        idle: {
          entry: 'takeDeferredPeerUpdate',
          // a keep_running responder stays for its initiator, however long (the node ignores its idle timeout)
          after: { idle: { guard: not('keepsRunning'), target: '#channel.closed', actions: 'reportTimeoutAndDie' } },
          on: {
            'CLOCK.RESUMED': { target: 'idle', reenter: true },
            'CLOCK.IDLE_EXPIRED': { guard: not('keepsRunning'), target: '#channel.closed', actions: 'reportTimeoutAndDie' },
            // every co-signed operation starts the same way: refused, or built and sent to our client to sign
            'CLIENT.UPDATE_NEW': PROPOSE,
            'CLIENT.DEPOSIT': PROPOSE,
            'CLIENT.WITHDRAW': PROPOSE,
            'CLIENT.SHUTDOWN': PROPOSE,
            'CLIENT.DISPUTE': [
              { guard: 'disputeRefused', actions: 'refuseDispute' },
              { target: 'awaiting_solo_signature', actions: 'proposeDispute' },
            ],
            'CHAIN.CHANNEL_CHANGED': { actions: 'reportChannelChangedOnChain' },
            'CHAIN.REJECTED': { actions: 'reportSoloRejected' },
            'PEER.update_ack': { guard: 'lateAck', target: 'persisting', actions: 'takeLateAck' },
            'PEER.update': [
              { guard: 'peerProposalBad', actions: 'refusePeerProposal' },
              { guard: 'peerProposalCoSigned', target: 'persisting', actions: 'takeCoSignedProposal' },
              { guard: 'clientAway', actions: 'refuseForAbsence' },
              { target: 'awaiting_ack_signature', actions: 'requestAckSignature' },
            ],
            'CLIENT.LEAVE': { target: '#channel.awaiting_leave_ack', actions: 'sendLeave' },
            'PEER.leave': [
              { guard: 'keepsRunning', target: '#channel.awaiting_reestablish', actions: ['ackLeave', 'reportLeave'] },
              { target: '#channel.closed', actions: ['ackLeave', 'reportLeave', 'reportDied', 'stopForLeave'] },
            ],
          },
        },
        awaiting_solo_signature: {
          description: 'Our client signs a close_solo or snapshot_solo tx, which goes on chain alone.',
          after: { sign: { target: 'idle', actions: 'rollBackOnTimeout' } },
          on: {
            'CLIENT.SIGNED': [
              { guard: ({ context, event }) => !signedWith(soloTag)({ context, event }), actions: 'rejectNotAllowed' },
              { guard: 'soloSignatureBad', actions: 'rejectSoloSignature' },
              { target: 'idle', actions: 'postSolo' },
            ],
            'CLIENT.ABORT': { guard: abortedWith(soloTag), target: 'idle', actions: 'abortSolo' },
            'CLIENT.DISCONNECTED': { target: 'idle', actions: 'abandonOwn' },
          },
        },
        awaiting_own_signature: {
          description: 'Our client signs the operation it proposed.',
          after: { sign: { target: 'idle', actions: 'rollBackOnTimeout' } },
          on: {
            'CLIENT.SIGNED': [
              { guard: ({ context, event }) => !signedWith(ownTag)({ context, event }), actions: 'rejectNotAllowed' },
              { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
              { target: 'awaiting_peer_ack', actions: ['takeOwnSignature', 'sendProposal'] },
            ],
            'CLIENT.ABORT': { guard: abortedWith(ownTag), target: 'idle', actions: 'abortOwnProposal' },
            'CLIENT.DISCONNECTED': { target: 'idle', actions: 'abandonOwn' },
            'PEER.update': { target: 'idle', actions: 'resolveRace' },
          },
        },
        awaiting_peer_ack: {
          description: 'Our signed operation is with the peer, waiting for its co-signature.',
          after: { accept: { target: 'idle', actions: 'rollBackOnTimeout' } },
          on: {
            'PEER.update_ack': [
              { guard: 'peerSignatureBad', target: 'idle', actions: 'refuseBadAck' },
              { target: 'persisting', actions: 'takePeerSignature' },
            ],
            'PEER.update_error': { guard: 'errorMatchesPending', target: 'idle', actions: 'reportPeerRefusal' },
            'PEER.update': { target: 'idle', actions: 'resolveRace' },
          },
        },
        awaiting_ack_signature: {
          description: 'Our client co-signs the operation the peer proposed.',
          after: { sign: { target: 'idle', actions: 'rollBackOnTimeout' } },
          on: {
            'CLIENT.SIGNED': [
              { guard: ({ context, event }) => !signedWith(ackTag)({ context, event }), actions: 'rejectNotAllowed' },
              { guard: 'ownSignatureBad', actions: 'rejectOwnSignature' },
              { target: 'persisting', actions: 'takeOwnSignature' },
            ],
            'CLIENT.ABORT': { guard: abortedWith(ackTag), target: 'idle', actions: 'abortAck' },
            'CLIENT.DISCONNECTED': { target: 'idle', actions: 'abandonAck' },
            'PEER.update_error': { guard: 'errorMatchesPending', target: 'idle', actions: 'dropPeerProposal' },
          },
        },
        persisting: {
          description: 'Co-signed: written to the store before our signature leaves, the client hears of it or the tx is posted.',
          entry: 'persistPending',
          on: {
            'PEER.update': { actions: 'deferPeerUpdate' },
            'STORE.SAVED': [
              { guard: 'savedPendingUpdate', target: 'idle', actions: ['commitPending', 'reportUpdate'] },
              { guard: 'savedPeerUpdate', target: 'idle', actions: ['sendAckToPeer', 'commitPending', 'reportUpdate'] },
              // the closer posts the mutual close (aesc_fsm); the acknowledger only co-signs
              { guard: 'savedOwnShutdown', target: '#channel.closing', actions: 'postPending' },
              { guard: 'savedPeerShutdown', target: '#channel.closing', actions: 'sendAckToPeer' },
              { guard: 'savedOwnOnchain', target: 'awaiting_onchain', actions: ['postPending', 'reportSigned'] },
              { guard: 'savedPending', target: 'awaiting_onchain', actions: ['sendAckToPeer', 'reportCreated'] },
            ],
            'STORE.FAILED': [
              { guard: 'failedOwn', target: 'idle', actions: ['reportStoreFailure', 'dropPending'] },
              { guard: 'savedPending', target: 'idle', actions: ['refusePendingToPeer', 'reportStoreFailure', 'dropPending'] },
            ],
          },
        },
        awaiting_onchain: {
          description: 'A co-signed deposit or withdraw tx is on its way on chain; off-chain updates wait for it.',
          entry: 'watchPending',
          always: { guard: 'bothLocked', target: 'committing', actions: 'reportOperationLocked' },
          on: {
            'CHAIN.MINED': { actions: 'reportChannelChanged' },
            'CHAIN.LOCKED': { actions: 'lockOwnOperation' },
            'PEER.locked': { guard: 'lockedMatchesPending', actions: 'lockPeer' },
            'CHAIN.REJECTED': { target: 'idle', actions: 'reportRejectedOnChain' },
            'PEER.update_error': { guard: 'errorMatchesPending', target: 'idle', actions: 'reportPeerRefusal' },
          },
        },
        committing: {
          description: 'The tx is deep enough on chain: its round becomes the channel\'s state in the store.',
          entry: 'persistCommitted',
          on: {
            'STORE.SAVED': { guard: 'savedPending', target: 'idle', actions: ['forgetCommitted', 'commitPending', 'reportUpdate'] },
            // the round is on chain whatever the store says: keep it, and say the store failed
            'STORE.FAILED': { guard: 'savedPending', target: 'idle', actions: ['commitPending', 'reportStoreFailure', 'reportUpdate'] },
          },
        },
      },
    },

    closing: {
      description: 'A co-signed mutual close tx is on its way on chain.',
      entry: ['reportCloseMutual', 'watchPending'],
      on: {
        'CHAIN.MINED': { actions: 'reportChannelClosed' },
        'CHAIN.LOCKED': { target: 'closed', actions: ['confirmClosed', 'stopForClose'] },
        'CHAIN.REJECTED': { target: 'open', actions: 'reportRejectedOnChain' },
        'PEER.update_error': { guard: 'errorMatchesPending', target: 'open', actions: 'reportPeerRefusal' },
        // the peer FSM stops once the close is confirmed; ours follows the chain on its own
        'PEER.DISCONNECTED': {},
        // the chain watcher sees the same close: the tx watcher above reports it
        'CHAIN.CHANNEL_CLOSED': {},
        'CHAIN.CHANNEL_CHANGED': {},
      },
    },

    channel_closing: {
      description: 'The channel is solo-closing on chain: the client may slash with a newer round, then settle after the lock.',
      initial: 'watching',
      on: {
        'CHAIN.CHANNEL_CLOSING': { actions: 'reportClosingOnChain' },
        'CHAIN.REJECTED': { actions: 'reportSoloRejected' },
        'CLIENT.RECONNECTED': { actions: ['markClientBack', 'reportClosingAgain'] },
        // the peer may be long gone; the dispute goes on without it
        'PEER.DISCONNECTED': {},
      },
      states: {
        watching: {
          on: {
            'CLIENT.DISPUTE': [
              { guard: 'disputeRefused', actions: 'refuseDispute' },
              { target: 'awaiting_solo_signature', actions: 'proposeDispute' },
            ],
          },
        },
        awaiting_solo_signature: {
          description: 'Our client signs a slash or settle tx.',
          on: {
            'CLIENT.SIGNED': [
              { guard: ({ context, event }) => !signedWith(soloTag)({ context, event }), actions: 'rejectNotAllowed' },
              { guard: 'soloSignatureBad', actions: 'rejectSoloSignature' },
              { target: 'watching', actions: 'postSolo' },
            ],
            'CLIENT.ABORT': { guard: abortedWith(soloTag), target: 'watching', actions: 'abortSolo' },
            'CLIENT.DISCONNECTED': { target: 'watching', actions: 'abandonOwn' },
          },
        },
      },
    },

    channel_closed: {
      description: 'The channel is gone from the chain (settled); waiting for the settling tx to be deep enough.',
      on: {
        'CHAIN.LOCKED': { target: 'closed', actions: ['confirmClosed', 'stopForClose'] },
        'PEER.DISCONNECTED': {},
      },
    },

    awaiting_leave_ack: {
      description: 'We asked the peer to leave; waiting for its acknowledgement.',
      after: { accept: { target: 'closed', actions: ['reportLeave', 'reportTimeoutAndDie'] } },
      on: {
        'PEER.leave_ack': { target: 'closed', actions: ['reportLeave', 'reportDied', 'stopForLeave'] },
        'PEER.leave': { target: 'closed', actions: ['ackLeave', 'reportLeave', 'reportDied', 'stopForLeave'] },
      },
    },

    reestablishing: {
      description: 'Restored from the store; waiting for the link to the peer to confirm the latest state.',
      after: { initialized: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      always: [
        // a channel in dispute on chain needs no peer: the client can slash and settle alone
        { guard: 'restoredClosing', target: 'channel_closing', actions: 'reportClosingAgain' },
        { guard: ({ context }) => context.role === 'responder', target: 'awaiting_reestablish' },
      ],
      on: { 'PEER.CONNECTED': { target: 'awaiting_reest_ack', actions: 'sendReestablish' } },
    },
    awaiting_reest_ack: {
      description: 'Initiator: channel_reestablish sent, waiting for the responder.',
      after: { accept: { target: 'closed', actions: 'reportTimeoutAndDie' } },
      on: {
        'PEER.channel_reest_ack': [
          { guard: 'reestablishMatches', target: 'open', actions: ['reportReestablished', 'announceOpen'] },
          { guard: 'peerOneRoundAhead', target: 'catching_up', actions: 'adoptPeerRound' },
          { target: 'closed', actions: ['refuseReestablish', 'reportDied', 'stopForError'] },
        ],
      },
    },
    awaiting_reestablish: {
      description: 'Responder: waiting for the initiator to come back with channel_reestablish.',
      on: {
        'PEER.channel_reestablish': [
          { guard: 'reestablishMatches', target: 'open', actions: ['ackReestablish', 'reportReestablished', 'announceOpen'] },
          { guard: 'peerOneRoundAhead', target: 'catching_up', actions: 'adoptPeerRound' },
          // we are the one ahead: our ack carries the round, and the initiator catches up
          { guard: 'weOneRoundAhead', target: 'open', actions: ['ackReestablish', 'reportReestablished', 'announceOpen'] },
          { actions: 'refuseReestablish' },
        ],
      },
    },
    catching_up: {
      description: 'Reestablishing a round behind the peer: its co-signed round is written to the store first.',
      entry: 'persistPending',
      on: {
        'STORE.SAVED': [
          { guard: ({ context, event }) => savedPending(context, event) && context.role === 'responder', target: 'open', actions: ['commitPending', 'ackReestablish', 'reportReestablished', 'announceOpen'] },
          { guard: 'savedPending', target: 'open', actions: ['commitPending', 'reportReestablished', 'announceOpen'] },
        ],
        'STORE.FAILED': { guard: 'savedPending', target: 'closed', actions: ['reportStoreFailure', 'reportDied', 'stopForError'] },
      },
    },

    closed: {
      description: 'The FSM is done (left, closed, refused or failed); lib/channel disposes of it.',
      type: 'final',
    },
  },
});
