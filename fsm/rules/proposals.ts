/**
 * The co-signed operations of an open channel (transfer, deposit, withdraw, mutual close) as pure
 * rules: the tx a proposal implies, and whether what the peer sent is exactly that tx. Same inputs,
 * same tx, on both sides: that is how each side checks the other.
 */
import { accountOf, applyUpdates, closeMutualFinals, isRefusal, onchainUpdates, transferUpdates, type Refusal } from '../protocol.js';
import type { Reason } from '../reasons.js';
import type { CoSignedState, EncodedTx, OffchainUpdate, OnchainTerms, PeerMessage, Pin, Role } from '../types.js';
import { otherRole } from '../types.js';
import { me, peerAccount, participants, type ChannelContext, type Pending, type ProposalEvent } from '../channel-context.js';
import { feeRefusal, pinRefusal } from './chain-terms.js';

/** A proposal in the shape buildProposal takes, whether from our client or read from the peer's tx. */
export type PeerProposal = (
  | { kind: 'update'; updates: OffchainUpdate[] }
  /** `meta`: kept in the round's updates after the deposit or withdraw, as the node keeps them */
  | { kind: 'deposit' | 'withdraw'; amount: bigint; terms: OnchainTerms; meta: string[] }
  | { kind: 'shutdown'; terms: OnchainTerms }
) & { pin?: Pin };

/** A signature check that failed, with the node's reason. */
export type Failed = { ok: false; reason: Reason; detail?: string };

/**
 * Builds the operation a participant proposes, or says why it cannot be proposed. Pure: the same
 * inputs give the same tx on both sides, which is how the peer checks a proposal.
 */
export function buildProposal(c: ChannelContext, e: PeerProposal, proposer: Role): Pending | Refusal {
  if (!c.state || !c.channelId) return { reason: 'not_allowed_now' };
  const account = accountOf(c.params, proposer);
  const { kind } = e;
  const pin = e.pin && { pin: e.pin };
  if (kind === 'shutdown') {
    // the fee depends on the tx's size and the final amounts on the fee: price the tx at the current
    // balances, which are at least the final amounts, so that fee covers the smaller final tx too
    // (the kit applies a gas price, or takes the fee as given, or the least one)
    const priced = c.kit.closeMutualTx(c.channelId, account, c.state.balances, e.terms);
    const tooLow = feeRefusal(c, e.terms, priced);
    if (tooLow) return tooLow;
    const fee = c.kit.txTerms(priced)!.fee;
    const finals = closeMutualFinals(c.state.balances, fee);
    if (isRefusal(finals)) return finals;
    const signedTx = c.kit.closeMutualTx(c.channelId, account, finals, { nonce: e.terms.nonce, ttl: e.terms.ttl, fee });
    return { kind, round: c.state.round, balances: finals, updates: [], stateHash: c.state.stateHash, signedTx, proposer, ...pin };
  }
  const updates = kind === 'update' ? e.updates : [...onchainUpdates(kind, account, e.amount), ...metaUpdates(e.meta)];
  if (kind !== 'update' && e.amount === 0n) return { reason: 'value_too_low', detail: `a ${kind} of 0` };
  const applied = applyUpdates(c.params, c.state.balances, updates);
  if (isRefusal(applied)) return applied;
  const round = c.state.round + 1;
  const onchain = kind === 'update' ? undefined : { kind, account, amount: e.amount, terms: e.terms };
  const { signedTx, stateHash } = c.kit.roundTx(c.channelId, round, c.params, applied.balances, onchain);
  const tooLow = onchain && feeRefusal(c, onchain.terms, signedTx);
  if (tooLow) return tooLow;
  return { kind, round, balances: applied.balances, updates, stateHash, signedTx, proposer, ...pin };
}

const metaUpdates = (meta: string[]): OffchainUpdate[] => meta.map((data) => ({ op: 'OffChainMeta', data }));

export function clientProposal(e: ProposalEvent): PeerProposal {
  switch (e.type) {
    case 'CLIENT.UPDATE_NEW': return { kind: 'update', updates: transferUpdates(e.from, e.to, e.amount, e.meta), pin: e.pin };
    case 'CLIENT.DEPOSIT': return { kind: 'deposit', amount: e.amount, terms: e.terms, meta: e.meta ?? [], pin: e.pin };
    case 'CLIENT.WITHDRAW': return { kind: 'withdraw', amount: e.amount, terms: e.terms, meta: e.meta ?? [], pin: e.pin };
    case 'CLIENT.SHUTDOWN': return { kind: 'shutdown', terms: e.terms, pin: e.pin };
  }
}

/** Our client's proposal, refused or built. */
export function ownProposal(c: ChannelContext, e: ProposalEvent): Pending | Refusal {
  return buildProposal(c, clientProposal(e), c.role);
}

/** The peer's proposal as the updates and tx terms say it; null when it cannot be read. */
export function readPeerProposal(c: ChannelContext, msg: Extract<PeerMessage, { type: 'update' }>): PeerProposal | null {
  const pin = msg.pin && { pin: msg.pin };
  if (msg.kind === 'update') return { kind: 'update', updates: msg.updates, ...pin };
  const terms = c.kit.txTerms(msg.signedTx);
  if (!terms) return null;
  if (msg.kind === 'shutdown') return { kind: 'shutdown', terms, ...pin };
  const [update, ...rest] = msg.updates;
  const expectedOp = msg.kind === 'deposit' ? 'OffChainDeposit' : 'OffChainWithdrawal';
  if (update?.op !== expectedOp) return null;
  const meta = rest.flatMap((u) => (u.op === 'OffChainMeta' ? [u.data] : []));
  if (meta.length !== rest.length) return null; // one deposit or withdraw, then meta only
  const account = update.op === 'OffChainDeposit' ? update.from : update.op === 'OffChainWithdrawal' ? update.to : null;
  if (account !== peerAccount(c)) return null; // only the proposer's own coins move on chain
  return { kind: msg.kind, amount: update.amount, terms, meta, ...pin };
}

/** Validates a peer's proposal: it must apply, and its tx must be the one it implies, signed by the peer. */
export function checkPeerProposal(c: ChannelContext, msg: Extract<PeerMessage, { type: 'update' }>): { ok: true; pending: Pending } | Failed {
  const proposal = readPeerProposal(c, msg);
  if (!proposal) return { ok: false, reason: 'broken_encoding', detail: `not a well-formed ${msg.kind}` };
  const badPin = proposal.pin && pinRefusal(c, proposal.pin);
  if (badPin) return { ok: false, ...badPin };
  const built = buildProposal(c, proposal, otherRole(c.role));
  if (isRefusal(built)) return { ok: false, reason: built.reason, detail: built.detail };
  const check = c.kit.checkSigned(msg.signedTx, built.signedTx, [peerAccount(c)], participants(c));
  if (!check.ok) return check;
  return { ok: true, pending: { ...built, signedTx: check.signedTx } };
}

/** Checks a signature by our own client on `expected` (the pending or the dispute tx). */
export function checkOwnSignature(c: ChannelContext, signedTx: string, expected: EncodedTx | undefined = c.pending?.signedTx) {
  if (!expected) return { ok: false as const, reason: 'not_allowed_now' as const };
  return c.kit.checkSigned(signedTx, expected, [me(c)], participants(c));
}

/** Checks the peer's signature on `expected` (the pending tx, or one we stopped waiting for). */
export function checkPeerSignature(c: ChannelContext, signedTx: string, expected: EncodedTx | undefined = c.pending?.signedTx) {
  if (!expected) return { ok: false as const, reason: 'not_allowed_now' as const };
  return c.kit.checkSigned(signedTx, expected, [peerAccount(c)], participants(c));
}

export function coSigned(p: Pending): CoSignedState {
  return { round: p.round, balances: p.balances, stateHash: p.stateHash, signedTx: p.signedTx, updates: p.updates };
}

export const weProposed = (c: ChannelContext): boolean => c.pending?.proposer === c.role;

/** The peer names the tx we hold pending (whatever signatures either copy carries). */
export function namesPending(c: ChannelContext, signedTx: EncodedTx): boolean {
  return c.pending !== null && c.kit.innerTx(signedTx) === c.kit.innerTx(c.pending.signedTx);
}
