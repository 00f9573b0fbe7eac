/**
 * The chain facts a proposer fixes in an operation, as pure rules: its tx's fee must be at least the
 * least fee the chain takes for it, and the block it is pinned to must lie in the window the checking
 * side allows (the node's `bh_delta_not_newer_than` and `bh_delta_not_older_than`).
 */
import type { Refusal } from '../protocol.js';
import { DEFAULT_BLOCK_HASH_DELTA, type EncodedTx, type OnchainTerms, type Pin } from '../types.js';
import type { ChannelContext } from '../channel-context.js';

/**
 * A fee asked for below the least the chain takes would never be mined: the kit builds the tx at its
 * least fee instead, and the request is refused before anyone signs (the node's too_low_fee). With a
 * gas price the fee is the kit's to work out, never below the least.
 */
export function feeRefusal(c: Pick<ChannelContext, 'kit'>, terms: OnchainTerms, signedTx: EncodedTx): Refusal | null {
  if (terms.fee === undefined || terms.gasPrice !== undefined) return null;
  const fee = c.kit.txTerms(signedTx)?.fee;
  if (fee === undefined || fee <= terms.fee) return null;
  return { reason: 'value_too_low', detail: `fee ${terms.fee} is below the least fee ${fee} this tx needs` };
}

/**
 * The peer's pin, judged by our own window against the top it was chosen at: at least `notNewerThan`
 * blocks below it and at most `notOlderThan` (aesc_fsm check_block_hash); a block we do not know is refused.
 */
export function pinRefusal(c: Pick<ChannelContext, 'blockHashDelta'>, pin: Pin): Refusal | null {
  const { notNewerThan, notOlderThan } = c.blockHashDelta ?? DEFAULT_BLOCK_HASH_DELTA;
  if (pin.height === null) return { reason: 'unknown_block_hash', detail: `block ${pin.blockHash} is not a block of our main chain (or our chain could not say)` };
  if (pin.height > pin.top - notNewerThan) {
    return { reason: 'block_hash_too_new', detail: `block ${pin.blockHash} at height ${pin.height} is newer than ${notNewerThan} blocks below the top ${pin.top}` };
  }
  if (pin.height < pin.top - notOlderThan) {
    return { reason: 'block_hash_too_old', detail: `block ${pin.blockHash} at height ${pin.height} is older than ${notOlderThan} blocks below the top ${pin.top}` };
  }
  return null;
}
