/**
 * The pins of proposals from a peer on another service, looked up on our chain before our FSM sees
 * them. The node's `update` (and `deposit_created`, `withdraw_created`, `shutdown`) names the block
 * the proposal is pinned to by its 32-byte hash alone; the FSM judges a pin by heights against its own
 * `bh_delta_*` window (fsm/rules/chain-terms.ts pinRefusal), as the node's check_block_hash judges it
 * against its own chain. So each pinned proposal gets the block's height on our main chain (null when
 * it is not a block of it, or the chain cannot say: the FSM refuses it as `unknown_block_hash`) and our
 * top now. A peer in this process needs none of this: its session resolved the pin on the same chain.
 *
 * The link's messages stay in order: while a lookup is under way, what arrives after it waits behind
 * it; with none under way (an unpinned message, the usual case between lookups) a message goes on at once.
 */
import { Encoding } from '../sdk.js';
import type { PeerMessage, Pin } from '../../fsm/types.js';
import type { Chain } from '../chain/types.js';
import { decode as decodeString, encode as encodeString } from '../tx/encoding.js';

export type PinChain = Pick<Chain, 'height' | 'blockHeight'>;

/** The peer's messages for one link, handed on in order, each pinned proposal with its pin resolved. */
export class PeerPins {
  /** messages waiting behind a lookup (0: none, so the next goes on at once) */
  private waiting = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly chain: PinChain, private readonly deliver: (message: PeerMessage) => void) {}

  push(message: PeerMessage): void {
    const pinned = message.type === 'update' && message.blockHash !== undefined;
    if (!pinned && this.waiting === 0) return this.deliver(message);
    this.waiting++;
    const ready = pinned ? withPin(this.chain, message) : Promise.resolve(message);
    this.tail = this.tail.then(() => ready).then((resolved) => {
      this.waiting--;
      this.deliver(resolved);
    });
  }
}

/** The proposal with its pin: the block's height on our main chain (null when it is not on it) and our top. */
async function withPin(chain: PinChain, message: Extract<PeerMessage, { type: 'update' }>): Promise<PeerMessage> {
  const { blockHash, ...rest } = message;
  return { ...rest, pin: await resolvePin(chain, blockHash!) };
}

/**
 * The node's `block_hash` is 32 bytes with no say whether it names a key block or a micro block: a
 * key block is asked for first. A block of our main chain is no higher than our top: a top read from
 * a poll a block behind (NodeChain keeps the last poll's) is raised to it, so that a peer pinning to
 * the top it just saw is not refused as too new by our stale view. A chain that fails to answer
 * leaves the block unknown: the proposal is refused rather than taken unchecked.
 */
export async function resolvePin(chain: PinChain, keyBlockHash: string): Promise<Pin> {
  try {
    const [top, asKeyBlock] = await Promise.all([chain.height(), chain.blockHeight(keyBlockHash)]);
    if (asKeyBlock !== null) return { blockHash: keyBlockHash, height: asKeyBlock, top: Math.max(top, asKeyBlock) };
    const microHash = encodeString(decodeString(keyBlockHash as `kh_${string}`), Encoding.MicroBlockHash);
    const asMicroBlock = await chain.blockHeight(microHash);
    if (asMicroBlock === null) return { blockHash: keyBlockHash, height: null, top };
    return { blockHash: microHash, height: asMicroBlock, top: Math.max(top, asMicroBlock) };
  } catch {
    return { blockHash: keyBlockHash, height: null, top: 0 };
  }
}
