/**
 * The pure work behind the machine's guards and actions: building the tx an operation implies,
 * checking what the client or the peer sent against it, and the dispute and reestablish rules. Same
 * inputs, same tx, on both sides: that is how each side checks the other.
 */
import {
  accountOf, applyUpdates, closeMutualFinals, isRefusal, onchainUpdates, openMismatch, openParamsRefusal, transferUpdates, type Refusal,
} from './protocol.js';
import type { Reason } from './reasons.js';
import type { ChannelId, ChannelParams, CoSignedState, DisputeKind, EncodedTx, LatestRound, OffchainUpdate, OnchainTerms, PeerMessage, Role, Timeouts } from './types.js';
import { DEFAULT_TIMEOUTS, otherRole } from './types.js';
import {
  me, peerAccount, participants, OFFCHAIN_TX_TAG, type ChannelContext, type ChannelEvent, type Pending, type ProposalEvent,
} from './channel-context.js';

/**
 * Builds the operation a participant proposes, or says why it cannot be proposed. Pure: the same
 * inputs give the same tx on both sides, which is how the peer checks a proposal.
 */
export function buildProposal(c: ChannelContext, e: PeerProposal, proposer: Role): Pending | Refusal {
  if (!c.state || !c.channelId) return { reason: 'not_allowed_now' };
  const account = accountOf(c.params, proposer);
  const { kind } = e;
  if (kind === 'shutdown') {
    // the fee depends on the tx's size and the final amounts on the fee: price the tx at the current
    // balances, which are at least the final amounts, so that fee covers the smaller final tx too
    const draft = c.kit.closeMutualTx(c.channelId, account, c.state.balances, { nonce: e.terms.nonce, ttl: e.terms.ttl });
    const fee = e.terms.fee ?? c.kit.txTerms(draft)!.fee;
    const finals = closeMutualFinals(c.state.balances, fee);
    if (isRefusal(finals)) return finals;
    const signedTx = c.kit.closeMutualTx(c.channelId, account, finals, { ...e.terms, fee });
    return { kind, round: c.state.round, balances: finals, updates: [], stateHash: c.state.stateHash, signedTx, proposer };
  }
  const updates = kind === 'update' ? e.updates : onchainUpdates(kind, account, e.amount);
  if (kind !== 'update' && e.amount === 0n) return { reason: 'value_too_low', detail: `a ${kind} of 0` };
  const applied = applyUpdates(c.params, c.state.balances, updates);
  if (isRefusal(applied)) return applied;
  const round = c.state.round + 1;
  const onchain = kind === 'update' ? undefined : { kind, account, amount: e.amount, terms: e.terms };
  const { signedTx, stateHash } = c.kit.roundTx(c.channelId, round, c.params, applied.balances, onchain);
  return { kind, round, balances: applied.balances, updates, stateHash, signedTx, proposer };
}

/** A proposal in the shape buildProposal takes, whether from our client or read from the peer's tx. */
export type PeerProposal =
  | { kind: 'update'; updates: OffchainUpdate[] }
  | { kind: 'deposit' | 'withdraw'; amount: bigint; terms: OnchainTerms }
  | { kind: 'shutdown'; terms: OnchainTerms };

export function clientProposal(e: ProposalEvent): PeerProposal {
  switch (e.type) {
    case 'CLIENT.UPDATE_NEW': return { kind: 'update', updates: transferUpdates(e.from, e.to, e.amount, e.meta) };
    case 'CLIENT.DEPOSIT': return { kind: 'deposit', amount: e.amount, terms: e.terms };
    case 'CLIENT.WITHDRAW': return { kind: 'withdraw', amount: e.amount, terms: e.terms };
    case 'CLIENT.SHUTDOWN': return { kind: 'shutdown', terms: e.terms };
  }
}

/** Our client's proposal, refused or built. */
export function ownProposal(c: ChannelContext, e: ProposalEvent): Pending | Refusal {
  return buildProposal(c, clientProposal(e), c.role);
}

/** The peer's proposal as the updates and tx terms say it; null when it cannot be read. */
export function readPeerProposal(c: ChannelContext, msg: Extract<PeerMessage, { type: 'update' }>): PeerProposal | null {
  if (msg.kind === 'update') return { kind: 'update', updates: msg.updates };
  const terms = c.kit.txTerms(msg.signedTx);
  if (!terms) return null;
  if (msg.kind === 'shutdown') return { kind: 'shutdown', terms };
  const [update] = msg.updates;
  const expectedOp = msg.kind === 'deposit' ? 'OffChainDeposit' : 'OffChainWithdrawal';
  if (msg.updates.length !== 1 || update?.op !== expectedOp) return null;
  const account = update.op === 'OffChainDeposit' ? update.from : update.op === 'OffChainWithdrawal' ? update.to : null;
  if (account !== peerAccount(c)) return null; // only the proposer's own coins move on chain
  return { kind: msg.kind, amount: update.amount, terms };
}

/** Validates a peer's proposal: it must apply, and its tx must be the one it implies, signed by the peer. */
export function checkPeerProposal(c: ChannelContext, msg: Extract<PeerMessage, { type: 'update' }>) {
  const proposal = readPeerProposal(c, msg);
  if (!proposal) return { ok: false as const, reason: 'broken_encoding' as Reason, detail: `not a well-formed ${msg.kind}` };
  const built = buildProposal(c, proposal, otherRole(c.role));
  if (isRefusal(built)) return { ok: false as const, reason: built.reason, detail: built.detail };
  const check = c.kit.checkSigned(msg.signedTx, built.signedTx, [peerAccount(c)], participants(c));
  if (!check.ok) return check;
  return { ok: true as const, pending: { ...built, signedTx: check.signedTx } };
}

/** Checks our own client's signature on the pending tx. */
export function checkOwnSignature(c: ChannelContext, signedTx: string) {
  if (!c.pending) return { ok: false as const, reason: 'not_allowed_now' as const };
  return c.kit.checkSigned(signedTx, c.pending.signedTx, [me(c)], participants(c));
}

export function checkPeerSignature(c: ChannelContext, signedTx: string) {
  if (!c.pending) return { ok: false as const, reason: 'not_allowed_now' as const };
  return c.kit.checkSigned(signedTx, c.pending.signedTx, [peerAccount(c)], participants(c));
}

export function coSigned(p: Pending): CoSignedState {
  return { round: p.round, balances: p.balances, stateHash: p.stateHash, signedTx: p.signedTx, updates: p.updates };
}

/**
 * The responder's parameters as agreed: the initiator filled in when it accepted any, and the
 * initiator's delegates as it names them (each side names its own).
 */
export function agreedParams(c: ChannelContext, proposed: ChannelParams): ChannelParams {
  return {
    ...c.params,
    initiatorDelegateIds: proposed.initiatorDelegateIds,
    ...(c.anyInitiator && { initiatorId: proposed.initiatorId }),
  };
}

export function openRefusal(c: ChannelContext, proposed: ChannelParams) {
  const own = agreedParams(c, proposed);
  return openMismatch(own, proposed) ?? openParamsRefusal(own);
}

/**
 * Responder: rebuilds the create tx from our own parameters and the terms the initiator chose, and
 * checks the initiator's signature on it. Null when it does not match.
 */
export function fundingCheck(c: ChannelContext, signedTx: string): { channelId: ChannelId; pending: Pending } | null {
  const terms = c.kit.txTerms(signedTx);
  if (!terms) return null;
  const created = c.kit.createTx(c.params, terms);
  const check = c.kit.checkSigned(signedTx, created.signedTx, [c.params.initiatorId], participants(c));
  if (!check.ok) return null;
  return {
    channelId: created.channelId,
    pending: {
      kind: 'create', round: 1, balances: created.balances, updates: [], stateHash: created.stateHash,
      signedTx: check.signedTx, proposer: 'initiator',
    },
  };
}

/** Our latest co-signed state is an off-chain tx the chain has not seen: something to close or slash with. */
export function newerThanChain(c: ChannelContext, onchainRound: number): boolean {
  return c.state !== null && c.kit.innerTag(c.state.signedTx) === OFFCHAIN_TX_TAG && c.state.round > onchainRound;
}

/** Builds the dispute tx our client asked for, or says why it cannot be sent now. */
export function buildDispute(c: ChannelContext, e: Extract<ChannelEvent, { type: 'CLIENT.DISPUTE' }>): { kind: DisputeKind; signedTx: EncodedTx } | Refusal {
  if (!c.state || !c.channelId) return { reason: 'not_allowed_now' };
  const chain = e.onchain;
  if (!chain) return { reason: 'not_found', detail: 'the channel is not on chain' };
  const closing = chain.lockedUntil !== 0;
  const from = me(c);
  const base = { channelId: c.channelId, from, terms: e.terms };
  const newer = newerThanChain(c, chain.round);
  let signedTx: EncodedTx;
  switch (e.kind) {
    case 'close_solo':
      if (closing) return { reason: 'not_allowed_now', detail: 'the channel is already closing' };
      signedTx = c.kit.disputeTx({ ...base, kind: 'close_solo', payload: newer ? c.state.signedTx : null, params: c.params, balances: c.state.balances });
      break;
    case 'snapshot_solo':
      if (closing) return { reason: 'not_allowed_now', detail: 'the channel is closing' };
      if (c.kit.innerTag(c.state.signedTx) !== OFFCHAIN_TX_TAG) return { reason: 'not_offchain_tx' };
      if (!newer) return { reason: 'already_onchain' };
      signedTx = c.kit.disputeTx({ ...base, kind: 'snapshot_solo', payload: c.state.signedTx });
      break;
    case 'slash':
      if (!closing) return { reason: 'not_allowed_now', detail: 'the channel is not closing' };
      if (!newer) return { reason: 'already_onchain', detail: 'the chain already has our latest round' };
      signedTx = c.kit.disputeTx({ ...base, kind: 'slash', payload: c.state.signedTx, params: c.params, balances: c.state.balances });
      break;
    case 'settle':
      if (!closing) return { reason: 'not_allowed_now', detail: 'the channel is not closing' };
      if (chain.lockedUntil > chain.height + 1) return { reason: 'not_allowed_now', detail: `the channel is locked until height ${chain.lockedUntil}` };
      // the amounts the chain holds, which is what settle must pay (the node's own FSM uses its off-chain ones)
      signedTx = c.kit.disputeTx({ ...base, kind: 'settle', finals: { initiator: chain.initiatorAmount, responder: chain.responderAmount } });
      break;
  }
  return { kind: e.kind, signedTx };
}

export const weProposed = (c: ChannelContext): boolean => c.pending?.proposer === c.role;

/** What a reestablish message says of our latest co-signed round. */
export function latestOf(c: ChannelContext): LatestRound {
  const { round, stateHash, signedTx, balances, updates } = c.state!;
  return { channelId: c.channelId!, round, stateHash, signedTx, balances, updates };
}

/**
 * The peer's latest round, if it is exactly our next off-chain round: the off-chain tx of its balances,
 * moving no coins in or out of the channel, signed by both. Then we lost it (a crash, or a recovery
 * from an older state) and may take it: both participants agreed to it.
 */
export function adoptable(c: ChannelContext, msg: LatestRound): Pending | null {
  if (!c.state || !c.channelId || msg.channelId !== c.channelId || msg.round !== c.state.round + 1) return null;
  if (c.kit.innerTag(msg.signedTx) !== OFFCHAIN_TX_TAG) return null;
  const { initiator, responder } = msg.balances;
  if (initiator < 0n || responder < 0n || initiator + responder !== c.state.balances.initiator + c.state.balances.responder) return null;
  const built = c.kit.roundTx(c.channelId, msg.round, c.params, msg.balances);
  const check = c.kit.checkSigned(msg.signedTx, built.signedTx, participants(c), participants(c));
  if (!check.ok) return null;
  return {
    kind: 'update', round: msg.round, balances: msg.balances, updates: msg.updates, stateHash: built.stateHash,
    signedTx: check.signedTx, proposer: otherRole(c.role),
  };
}

/** A keep_running responder waits for its initiator however long it is idle (the node ignores its idle timeout). */
export function keepsRunning(c: ChannelContext): boolean {
  return c.role === 'responder' && c.keepRunning;
}

export function timeout(c: ChannelContext, name: keyof Timeouts): number {
  return c.timeouts?.[name] ?? DEFAULT_TIMEOUTS[name];
}

/** A store answer about the round in flight (and not a late answer about an earlier one). */
export function savedPending(c: ChannelContext, e: ChannelEvent): boolean {
  return (e.type === 'STORE.SAVED' || e.type === 'STORE.FAILED') && c.pending !== null && e.round === c.pending.round;
}


const perEvent = new WeakMap<object, Map<string, unknown>>();

/**
 * A check worked out once per event. The guards and actions of one transition see the same event and
 * the same context, so rebuilding a tx and verifying its signatures for each of them would only repeat
 * the work (signature checks are the per-update path's main cost).
 */
export function oncePerEvent<T>(event: object, name: string, work: () => T): T {
  let results = perEvent.get(event);
  if (!results) {
    results = new Map();
    perEvent.set(event, results);
  }
  if (!results.has(name)) results.set(name, work());
  return results.get(name) as T;
}
