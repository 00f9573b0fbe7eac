/**
 * Follows txs on the chain until they are mined and then buried under enough blocks (the channel's
 * minimum depth), calling back once for each step, or once if the chain dropped the tx.
 */
import { buildTxHash } from '@aeternity/aepp-sdk';
import type { EncodedTx } from '../../fsm/types.js';
import type { Chain } from './types.js';

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
  txHash: string;
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
    this.watches.add({ owner, txHash: buildTxHash(signedTx), minimumDepth, minedAt: null, callbacks, assumed: false });
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
      if (watch.minedAt === null) {
        const status = await this.chain.txStatus(watch.txHash);
        if (status.state === 'failed') {
          this.watches.delete(watch);
          // the owner went on as if it were deep enough: the node, too, says nothing more of it
          if (!watch.assumed) watch.callbacks.rejected(status.reason);
          continue;
        }
        if (status.state !== 'mined') continue;
        watch.minedAt = status.height;
        if (!watch.assumed) watch.callbacks.mined(watch.txHash);
      }
      if (height - watch.minedAt >= watch.minimumDepth && this.watches.delete(watch)) {
        if (watch.assumed) watch.callbacks.deepAfterAssumed?.(watch.txHash);
        else watch.callbacks.locked(watch.txHash);
      }
    }
  }

  close(): void {
    this.unsubscribe();
    this.watches.clear();
  }
}
