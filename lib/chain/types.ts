/**
 * The chain as the service sees it: the one interface every chain implements and the types it speaks
 * in. The embedded dev chain (dev/) implements it in-process; NodeChain implements it over an
 * Aeternity node's HTTP API, and nothing else in the service changes.
 */
import type { AccountId, ChannelId, EncodedTx, StateHash } from '../../fsm/types.js';

/** A channel as the chain holds it (the node's channel object). */
export interface ChannelObject {
  id: ChannelId;
  initiator: AccountId;
  responder: AccountId;
  channelAmount: bigint;
  /** the create-time amounts, replaced by the PoI amounts of a solo close or slash */
  initiatorAmount: bigint;
  responderAmount: bigint;
  channelReserve: bigint;
  lockPeriod: bigint;
  round: number;
  soloRound: number;
  stateHash: StateHash;
  /** 0 while active; the height from which a solo-closing channel may be settled */
  lockedUntil: number;
  delegates: { initiator: AccountId[]; responder: AccountId[] };
}

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
  /**
   * The hash of the genesis key block (32 bytes): what the node's peer messages carry as `chain_hash`
   * (aesc_fsm: aec_chain:genesis_hash()), so two services know they follow the same chain.
   */
  genesisHash(): Promise<Uint8Array>;
  height(): Promise<number>;
  account(id: AccountId): Promise<ChainAccount | null>;
  /** The nonce the account's next tx must carry. */
  nextNonce(id: AccountId): Promise<number>;
  /** Broadcasts a signed tx; resolves with its hash (`th_…`) or rejects with ChainRejectedError. */
  postTx(signedTx: EncodedTx): Promise<string>;
  txStatus(txHash: string): Promise<TxStatus>;
  /** The hash (`kh_…`) of the key block at a height of the main chain; null above the top. */
  keyBlockHash(height: number): Promise<string | null>;
  /** The height of a key (`kh_…`) or micro (`mh_…`) block of the main chain; null when there is no such block. */
  blockHeight(hash: string): Promise<number | null>;
  channel(id: ChannelId): Promise<ChannelObject | null>;
  /** The latest tx that changed a channel (null when the chain cannot say). */
  channelTx(id: ChannelId): Promise<EncodedTx | null>;
  /**
   * The channels touched by the txs of one generation (the key block at `height` and the micro blocks
   * after it), by micro block hash: what lets the chain watcher look only at the channels a block
   * changed. The top generation may still grow. Null when the chain cannot say (above the top).
   */
  generationChannels?(height: number): Promise<Map<string, ChannelId[]> | null>;
  /** Called with the new height whenever a block is added; returns the unsubscribe function. */
  onBlock(listener: (height: number) => void): () => void;
  close(): Promise<void>;
}

export class ChainRejectedError extends Error {
  override name = 'ChainRejectedError';
}
