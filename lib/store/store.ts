/**
 * Persistence of co-signed rounds, behind one small interface so another store (an embedded one, a
 * cluster) can take Redis's place. Records are per channel and participant: each participant's FSM
 * keeps its own latest round, so the two may differ by the one round in flight.
 */
import type { ChannelId, ChannelParams, CoSignedState, OperationKind, ProposalRecord, Role } from '../../fsm/types.js';
import type { Lease } from './lease.js';
import type { PaymentStore } from './payments.js';

export interface StoredChannel {
  channelId: ChannelId;
  role: Role;
  params: ChannelParams;
  state: CoSignedState;
  /** sha-256 of the current fsm_id, the secret that lets a client reestablish */
  fsmIdHash: string;
  /** a co-signed deposit, withdraw or close on its way on chain, not yet the channel's state */
  onchain: { kind: OperationKind; state: CoSignedState } | null;
  /** closed on chain: there is nothing left to reestablish */
  closed: boolean;
  /** our last off-chain proposal to a peer on another service (any round: the FSM takes it only for the next) */
  proposal: ProposalRecord | null;
}

/** 'stale': a round at least as high is stored; 'fenced': another process holds the FSM's lease now (lease.ts). */
export type SaveResult = 'saved' | 'stale' | 'fenced';

export interface ChannelStore {
  /**
   * Writes a co-signed round, atomically and only if it is higher than the stored one ('stale'
   * otherwise). The first round of a channel carries its parameters and fsm_id hash. With a `lease`
   * (stores shared by several processes), only while that lease is the FSM's ('fenced' otherwise).
   */
  saveRound(channelId: ChannelId, role: Role, state: CoSignedState, first?: { params: ChannelParams; fsmIdHash: string }, lease?: Lease | null): Promise<SaveResult>;
  /**
   * Writes the same co-signed round (not a channel's first) to both participants' records in one
   * atomic step, each record only if the round is higher than its own: what `saveRound` does for each,
   * in one store call. Used when both FSMs of a channel live in this process.
   */
  saveRoundForBoth(channelId: ChannelId, state: CoSignedState, leases?: Record<Role, Lease | null>): Promise<Record<Role, SaveResult>>;
  load(channelId: ChannelId, role: Role): Promise<StoredChannel | null>;
  /**
   * Keeps the participant's latest own off-chain proposal (one per participant, replacing the one
   * before), written before it goes to a peer on another service: if the peer co-signs it and we lose
   * the ack, the peer's reestablish carries only the tx, and this is what we check it against.
   * With a `lease`, fails with LeaseLostError once another process holds the FSM (as each write below).
   */
  saveProposal(channelId: ChannelId, role: Role, proposal: ProposalRecord, lease?: Lease | null): Promise<void>;
  /** Keeps a co-signed on-chain tx until it is on chain or refused (at most one per participant). */
  /** With a `lease`, fails with LeaseLostError once another process holds the FSM. */
  saveOnchain(channelId: ChannelId, role: Role, kind: OperationKind, state: CoSignedState, lease?: Lease | null): Promise<void>;
  forgetOnchain(channelId: ChannelId, role: Role, lease?: Lease | null): Promise<void>;
  markClosed(channelId: ChannelId, role: Role, lease?: Lease | null): Promise<void>;
  /** Replaces the fsm_id hash after a reestablish: the old fsm_id stops working. */
  setFsmIdHash(channelId: ChannelId, role: Role, fsmIdHash: string, lease?: Lease | null): Promise<void>;
  /** Every channel this service hosts (written with its first round). */
  channelIds(): Promise<ChannelId[]>;
  /** Records what the watchtower did for a participant, to tell its client when it returns (no lease: the watchtower hosts no FSM). */
  addWatchtowerAction(channelId: ChannelId, role: Role, action: WatchtowerAction): Promise<void>;
  /**
   * Takes back an action recorded before its tx was posted, when the chain refused the tx (the one
   * with this tx hash, if the client has not been told of it yet).
   */
  dropWatchtowerAction(channelId: ChannelId, role: Role, txHash: string): Promise<void>;
  /**
   * The watchtower's actions the participant's client has not heard of yet; they count as told now.
   * With a `lease`, fails with LeaseLostError (and takes nothing) once another process holds the FSM.
   */
  takeWatchtowerActions(channelId: ChannelId, role: Role, lease?: Lease | null): Promise<WatchtowerAction[]>;
  /** A value of the service itself, made by `create` the first time and the same ever after. */
  serviceValue(name: string, create: () => string): Promise<string>;
  /** Every co-signed round of the channel from `fromRound` on (default: all), oldest first. */
  history(channelId: ChannelId, role: Role, fromRound?: number): Promise<CoSignedState[]>;
  /** The HTTP 402 paywall's payment records and merchant channels, in the same storage. */
  readonly payments: PaymentStore;
  close(): Promise<void>;
}

export interface WatchtowerAction {
  action: 'slash';
  txHash: string;
  signedTx: string;
  /** the round the chain was closing on, and the one the watchtower slashed with */
  onchainRound: number;
  round: number;
  height: number;
}

export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** A write by a process that no longer holds the FSM's lease: refused, and the FSM must stop here. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}
