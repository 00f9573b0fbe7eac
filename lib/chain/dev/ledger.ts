/**
 * Where the dev chain keeps what it knows, so a restart of the service continues the same chain
 * instead of starting a new one under channels that survived in the store.
 *
 * The chain keeps its whole state in memory (the node HTTP API reads it synchronously) and writes it
 * through a ledger: each pending tx before postTx answers, each block before its listeners hear of it.
 * `load` hands the whole state back at start. One writer at a time: the ledger is the chain's own.
 */
import type { AccountId, ChannelId, EncodedTx } from '../../../fsm/types.js';
import type { ChainAccount, ChannelObject } from '../types.js';

/** A mined tx as kept: the signed tx alone (unpacked again when asked for). */
export interface MinedRecord {
  signedTx: EncodedTx;
  blockHeight: number;
}

/** Everything a chain needs to continue where it stopped. */
export interface DevChainSnapshot {
  height: number;
  accounts: Map<AccountId, ChainAccount>;
  channels: Map<ChannelId, ChannelObject>;
  lastChannelTx: Map<ChannelId, EncodedTx>;
  mined: Map<string, MinedRecord>;
  /** tx hash → why the chain dropped it */
  failed: Map<string, string>;
  /** tx hash → signed tx, accepted and not yet mined or dropped */
  pool: Map<string, EncodedTx>;
}

/** What one block changes: new values only for what changed, written in one atomic step. */
export interface BlockDelta {
  height: number;
  accounts: Map<AccountId, ChainAccount>;
  /** null: the channel was closed and its object deleted */
  channels: Map<ChannelId, ChannelObject | null>;
  lastChannelTx: Map<ChannelId, EncodedTx>;
  mined: Map<string, MinedRecord>;
  failed: Map<string, string>;
  /** hashes that left the pool (mined or failed) */
  poolRemoved: string[];
}

export interface DevChainLedger {
  /** The state last committed, or null when the ledger is empty (a new chain, to start at genesis). */
  load(): Promise<DevChainSnapshot | null>;
  /** Resolves once the tx is durable: the client is told "accepted" only after this. */
  addPending(hash: string, signedTx: EncodedTx): Promise<void>;
  /**
   * Writes a block atomically. Refused with LedgerConflictError when the stored height is not the one
   * before this block (another process writes the same chain): two chains must not interleave.
   */
  commitBlock(delta: BlockDelta): Promise<void>;
  /** Releases what the ledger opened itself (never the shared store environment). */
  close(): Promise<void>;
}

export class LedgerConflictError extends Error {
  override name = 'LedgerConflictError';
}

/** The message of a refused commit, the same from every implementation. */
export function conflictMessage(stored: number | null, delta: BlockDelta): string {
  return `dev chain ledger is at height ${stored ?? 'none'}, not ${delta.height - 1}: is another service writing the same chain?`;
}
