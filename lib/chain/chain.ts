/**
 * The on-chain module's one interface. The embedded dev chain implements it in-process; NodeChain
 * implements it over an Aeternity node's HTTP API, and nothing else in the service changes.
 */
import type { AccountId, ChannelId, EncodedTx } from '../../fsm/types.js';
import type { ChannelObject } from './channel-rules.js';

export interface ChainAccount {
  balance: bigint;
  nonce: number;
}

export type TxStatus =
  | { state: 'mined'; height: number }
  | { state: 'pending' }
  /** the chain dropped it: it no longer applied when its block was made */
  | { state: 'failed'; reason: string }
  | { state: 'unknown' };

export interface Chain {
  readonly networkId: string;
  height(): Promise<number>;
  account(id: AccountId): Promise<ChainAccount | null>;
  /** The nonce the account's next tx must carry. */
  nextNonce(id: AccountId): Promise<number>;
  /** Broadcasts a signed tx; resolves with its hash (`th_…`) or rejects with ChainRejectedError. */
  postTx(signedTx: EncodedTx): Promise<string>;
  txStatus(txHash: string): Promise<TxStatus>;
  channel(id: ChannelId): Promise<ChannelObject | null>;
  /** The latest tx that changed a channel (null when the chain cannot say). */
  channelTx(id: ChannelId): Promise<EncodedTx | null>;
  /** Called with the new height whenever a block is added; returns the unsubscribe function. */
  onBlock(listener: (height: number) => void): () => void;
  close(): Promise<void>;
}

export class ChainRejectedError extends Error {
  override name = 'ChainRejectedError';
}
