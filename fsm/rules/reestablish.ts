/** Reestablishing as pure rules: what each side tells the other of its latest round, and what it may take from the peer's. */
import type { Balances, LatestRound, OffchainUpdate, ProposalRecord, ReestablishRound } from '../types.js';
import { otherRole } from '../types.js';
import { isRefusal } from '../protocol.js';
import { participants, OFFCHAIN_TX_TAG, type ChannelContext, type Pending } from '../channel-context.js';
import { buildProposal } from './proposals.js';

/** What a reestablish message says of our latest co-signed round. */
export function latestOf(c: ChannelContext): LatestRound {
  const { round, stateHash, signedTx, balances, updates } = c.state!;
  return { channelId: c.channelId!, round, stateHash, signedTx, balances, updates };
}

/** The peer's latest round is ours. */
export function sameLatest(c: ChannelContext, msg: ReestablishRound): boolean {
  return msg.channelId === c.channelId && msg.round === c.state?.round && msg.stateHash === c.state?.stateHash;
}

/** We hold one round more than the peer: our ack carries it, and the peer catches up. */
export function oneRoundAhead(c: ChannelContext, msg: ReestablishRound): boolean {
  return msg.channelId === c.channelId && msg.round + 1 === c.state?.round;
}

/**
 * The peer's latest round, if it is exactly our next off-chain round: the off-chain tx of its balances,
 * moving no coins in or out of the channel, signed by both. Then we lost it (a crash, or a recovery
 * from an older state) and may take it: both participants agreed to it. The balances come with the
 * message in-process; the node's reestablish carries only the tx, whose state hash we cannot invert,
 * so over the wire the round must be our own last proposal (`abandoned`, rebuilt from its record after
 * a restart): its balances are those of its updates applied to our latest round. Anything else is not
 * taken.
 */
export function adoptable(c: ChannelContext, msg: ReestablishRound): Pending | null {
  if (!c.state || !c.channelId || msg.channelId !== c.channelId || msg.round !== c.state.round + 1) return null;
  if (c.kit.innerTag(msg.signedTx) !== OFFCHAIN_TX_TAG) return null;
  const own = msg.balances ? null : ownProposalOf(c, msg.round);
  const round = msg.balances ? { balances: msg.balances, updates: msg.updates ?? [] } : own;
  if (!round) return null;
  const { initiator, responder } = round.balances;
  if (initiator < 0n || responder < 0n || initiator + responder !== c.state.balances.initiator + c.state.balances.responder) return null;
  const built = c.kit.roundTx(c.channelId, msg.round, c.params, round.balances);
  const check = c.kit.checkSigned(msg.signedTx, built.signedTx, participants(c), participants(c));
  if (!check.ok) return null;
  return {
    kind: 'update', round: msg.round, balances: round.balances, updates: round.updates, stateHash: built.stateHash,
    signedTx: check.signedTx, proposer: own ? c.role : otherRole(c.role),
  };
}

/** Our own last off-chain proposal, if it makes `round`: the balances and updates it makes it with. */
function ownProposalOf(c: ChannelContext, round: number): { balances: Balances; updates: OffchainUpdate[] } | null {
  const own = c.abandoned;
  return own && own.kind === 'update' && own.round === round ? own : null;
}

/**
 * Our proposal as its record says (restored from the store), rebuilt on our latest round: the round
 * the peer may hold co-signed. Null when the record is of another round or no longer applies.
 */
export function restoredProposal(c: ChannelContext, record: ProposalRecord | null | undefined): Pending | null {
  if (!record || !c.state || record.round !== c.state.round + 1) return null;
  const built = buildProposal(c, { kind: 'update', updates: record.updates }, c.role);
  return isRefusal(built) ? null : built;
}
