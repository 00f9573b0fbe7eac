/**
 * Follows txs on the chain until they are mined and then buried under enough blocks (the channel's
 * minimum depth), calling back once for each.
 */
import { buildTxHash } from '@aeternity/aepp-sdk';
import type { EncodedTx } from '../../fsm/types.js';
import type { Chain } from './chain.js';

export interface WatchCallbacks {
  mined(txHash: string): void;
  locked(txHash: string): void;
}

interface Watch {
  txHash: string;
  minimumDepth: number;
  minedAt: number | null;
  callbacks: WatchCallbacks;
}

export class TxWatcher {
  private readonly watches = new Set<Watch>();
  private readonly unsubscribe: () => void;

  constructor(private readonly chain: Chain) {
    this.unsubscribe = chain.onBlock((height) => void this.check(height));
  }

  watch(signedTx: EncodedTx, minimumDepth: number, callbacks: WatchCallbacks): void {
    this.watches.add({ txHash: buildTxHash(signedTx), minimumDepth, minedAt: null, callbacks });
  }

  get size(): number {
    return this.watches.size;
  }

  private async check(height: number): Promise<void> {
    for (const watch of [...this.watches]) {
      if (watch.minedAt === null) {
        const at = await this.chain.txHeight(watch.txHash);
        if (at === null || at < 0) continue;
        watch.minedAt = at;
        watch.callbacks.mined(watch.txHash);
      }
      if (height - watch.minedAt >= watch.minimumDepth) {
        this.watches.delete(watch);
        watch.callbacks.locked(watch.txHash);
      }
    }
  }

  close(): void {
    this.unsubscribe();
    this.watches.clear();
  }
}
