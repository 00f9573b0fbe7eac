/**
 * The block a proposal is pinned to (the node's `block_hash`), resolved on the chain before the FSM
 * sees the proposal: the one the client names, which must be a block of this chain, or the one its
 * `bh_delta_*` window picks. The FSM carries the pin to the peer, which judges it by its own window.
 */
import type { Reason } from '../../fsm/reasons.js';
import type { BlockHashDelta, Pin } from '../../fsm/types.js';
import type { Chain } from '../chain/types.js';

/**
 * The height the node picks (aesc_fsm pick_hash): `notNewerThan` below the top, and an offset of
 * min(notOlderThan, notNewerThan + pick) below that, not below genesis.
 */
export function pickedHeight(top: number, delta: BlockHashDelta): number {
  const offset = Math.min(delta.notOlderThan, delta.notNewerThan + delta.pick);
  return Math.max(top - delta.notNewerThan - offset, 0);
}

export async function pinBlock(chain: Chain, delta: BlockHashDelta, blockHash?: string): Promise<Pin | { reason: Reason; detail: string }> {
  const top = await chain.height();
  if (blockHash === undefined) {
    const height = pickedHeight(top, delta);
    const picked = await chain.keyBlockHash(height);
    if (!picked) throw new Error(`the chain has no key block at height ${height} below its top ${top}`);
    return { blockHash: picked, height, top };
  }
  const height = await chain.blockHeight(blockHash);
  if (height === null) return { reason: 'unknown_block_hash', detail: `${blockHash} is not a block of this chain's main chain` };
  return { blockHash, height, top };
}
