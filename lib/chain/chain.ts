/**
 * The on-chain module's one interface. The embedded dev chain implements it in-process; an Aeternity
 * node client can implement it over HTTP, and nothing else in the service needs to change.
 */
import type { AccountId, EncodedTx } from '../../fsm/types.js';

export interface ChainAccount {
  balance: bigint;
  nonce: number;
}

export interface Chain {
  readonly networkId: string;
  height(): Promise<number>;
  account(id: AccountId): Promise<ChainAccount | null>;
  /** The nonce the account's next tx must carry. */
  nextNonce(id: AccountId): Promise<number>;
  /** Broadcasts a signed tx; resolves with its hash (`th_…`) or rejects with ChainRejectedError. */
  postTx(signedTx: EncodedTx): Promise<string>;
  /** Where a tx is: mined at a height, pending (-1), or unknown (null). */
  txHeight(txHash: string): Promise<number | null>;
  /** Called with the new height whenever a block is added; returns the unsubscribe function. */
  onBlock(listener: (height: number) => void): () => void;
  close(): Promise<void>;
}

export class ChainRejectedError extends Error {
  override name = 'ChainRejectedError';
}
