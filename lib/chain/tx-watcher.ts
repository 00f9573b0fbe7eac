/**
 * Follows txs on the chain until they are mined and then buried under enough blocks (the channel's
 * minimum depth), calling back once for each step, or once if the chain dropped the tx.
 *
 * A tx the node no longer knows (neither mined nor in its pool: a restarted node lost its pool, the
 * pool's garbage collection took it, or it failed where the node's API cannot say so) is posted
 * again, as a wallet rebroadcasts: a co-signed tx may be posted by anyone, any number of times. If
 * the node refuses it now (its nonce is spent, a balance no longer covers it), the owner hears it was
 * rejected, with the node's reason; before, it waited for a block that would never come.
 */
import { buildTxHash } from '../sdk.js';
import type { EncodedTx } from '../../fsm/types.js';
import { ChainRejectedError, type Chain } from './types.js';

/**
 * Blocks in a row a tx must be unknown before it is posted again: the first post may still be on its
 * way (it is not awaited before the watch starts), and the peer's node may not have it yet.
 */
const UNKNOWN_BLOCKS_BEFORE_REPOST = 2;

export interface WatchCallbacks {
  mined(txHash: string): void;
  locked(txHash: string): void;
  rejected(reason: string): void;
  /**
   * the tx reached its depth after all, after its owner assumed it had (assume_minimum_depth): the
   * node tells its client `minimum_depth_achieved` with notice `already_assumed`
   */
  deepAfterAssumed?(txHash: string): void;
}

interface Watch {
  /** who asked: an assumption only ever applies to the asker's own watches */
  owner: object;
  signedTx: EncodedTx;
  txHash: string;
  /** blocks in a row the node did not know the tx */
  unknownFor: number;
  minimumDepth: number;
  minedAt: number | null;
  callbacks: WatchCallbacks;
  /** assumed deep enough already: followed on only to say when it really is */
  assumed: boolean;
}

export class TxWatcher {
  private readonly watches = new Set<Watch>();
  private readonly unsubscribe: () => void;

  constructor(private readonly chain: Chain) {
    this.unsubscribe = chain.onBlock((height) => void this.check(height));
  }

  watch(owner: object, signedTx: EncodedTx, minimumDepth: number, callbacks: WatchCallbacks): void {
    this.watches.add({ owner, signedTx, txHash: buildTxHash(signedTx), unknownFor: 0, minimumDepth, minedAt: null, callbacks, assumed: false });
  }

  /** Whether the owner waits for this tx (and has not assumed it deep enough already). */
  watching(owner: object, txHash: string): boolean {
    return [...this.watches].some((w) => w.owner === owner && w.txHash === txHash && !w.assumed);
  }

  /**
   * Treats a tx the owner watches as deep enough now (assume_minimum_depth); false if it watches no
   * such tx. It is still followed, silently, if the owner wants to hear when it really is deep enough.
   */
  assume(owner: object, txHash: string): boolean {
    for (const watch of this.watches) {
      if (watch.owner !== owner || watch.txHash !== txHash || watch.assumed) continue;
      if (watch.callbacks.deepAfterAssumed) watch.assumed = true;
      else this.watches.delete(watch);
      watch.callbacks.locked(txHash);
      return true;
    }
    return false;
  }

  get size(): number {
    return this.watches.size;
  }

  private async check(height: number): Promise<void> {
    for (const watch of [...this.watches]) {
      // a node that does not answer now is asked again at the next block
      await this.look(watch, height).catch(() => undefined);
    }
  }

  private async look(watch: Watch, height: number): Promise<void> {
    if (watch.minedAt === null) {
      const status = await this.chain.txStatus(watch.txHash);
      if (status.state === 'failed') return this.drop(watch, status.reason);
      watch.unknownFor = status.state === 'unknown' ? watch.unknownFor + 1 : 0;
      if (watch.unknownFor >= UNKNOWN_BLOCKS_BEFORE_REPOST) await this.postAgain(watch);
      if (status.state !== 'mined') return;
      watch.minedAt = status.height;
      if (!watch.assumed) watch.callbacks.mined(watch.txHash);
    }
    if (height - watch.minedAt >= watch.minimumDepth && this.watches.delete(watch)) {
      if (watch.assumed) watch.callbacks.deepAfterAssumed?.(watch.txHash);
      else watch.callbacks.locked(watch.txHash);
    }
  }

  private drop(watch: Watch, reason: string): void {
    if (!this.watches.delete(watch)) return;
    // the owner went on as if it were deep enough: the node, too, says nothing more of it
    if (!watch.assumed) watch.callbacks.rejected(reason);
  }

  /** Posts a tx the node lost again; one it refuses now (and still does not have) is rejected. */
  private async postAgain(watch: Watch): Promise<void> {
    watch.unknownFor = 0;
    try {
      await this.chain.postTx(watch.signedTx);
    } catch (err) {
      if (!(err instanceof ChainRejectedError)) return; // the node is away: asked again next block
      // a refusal of a tx the node has after all (a post racing ours) is no refusal of the tx
      const now = await this.chain.txStatus(watch.txHash).catch(() => null);
      if (now?.state === 'unknown' || now?.state === 'failed') this.drop(watch, `the tx left the node's pool and posting it again was refused: ${err.message}`);
    }
  }

  close(): void {
    this.unsubscribe();
    this.watches.clear();
  }
}
