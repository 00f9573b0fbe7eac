/** Reestablishing as pure rules: what each side tells the other of its latest round, and what it may take from the peer's. */
import type { LatestRound, ReestablishRound } from '../types.js';
import { otherRole } from '../types.js';
import { participants, OFFCHAIN_TX_TAG, type ChannelContext, type Pending } from '../channel-context.js';

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
 * from an older state) and may take it: both participants agreed to it. Without its balances (the node's
 * reestablish carries only the tx, whose state hash we cannot invert) there is nothing to verify it
 * against, so it is not taken.
 */
export function adoptable(c: ChannelContext, msg: ReestablishRound): Pending | null {
  if (!msg.balances) return null;
  if (!c.state || !c.channelId || msg.channelId !== c.channelId || msg.round !== c.state.round + 1) return null;
  if (c.kit.innerTag(msg.signedTx) !== OFFCHAIN_TX_TAG) return null;
  const { initiator, responder } = msg.balances;
  if (initiator < 0n || responder < 0n || initiator + responder !== c.state.balances.initiator + c.state.balances.responder) return null;
  const built = c.kit.roundTx(c.channelId, msg.round, c.params, msg.balances);
  const check = c.kit.checkSigned(msg.signedTx, built.signedTx, participants(c), participants(c));
  if (!check.ok) return null;
  return {
    kind: 'update', round: msg.round, balances: msg.balances, updates: msg.updates ?? [], stateHash: built.stateHash,
    signedTx: check.signedTx, proposer: otherRole(c.role),
  };
}
