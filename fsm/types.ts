/**
 * The data the channel machine works on. Everything here is plain data or a pure function type, so
 * the machine can be stepped in a unit test without sockets, Redis or a chain.
 */
import type { Reason } from './reasons.js';

export type AccountId = `ak_${string}`;
export type ChannelId = `ch_${string}`;
export type EncodedTx = `tx_${string}`;
export type StateHash = `st_${string}`;
export type Role = 'initiator' | 'responder';

export const otherRole = (role: Role): Role => (role === 'initiator' ? 'responder' : 'initiator');

/** What both participants agreed to open the channel with (the node's URL parameters, parsed). */
export interface ChannelParams {
  initiatorId: AccountId;
  responderId: AccountId;
  initiatorAmount: bigint;
  responderAmount: bigint;
  pushAmount: bigint;
  channelReserve: bigint;
  lockPeriod: bigint;
  minimumDepth: number;
  minimumDepthStrategy: 'txfee' | 'plain';
  initiatorDelegateIds: AccountId[];
  responderDelegateIds: AccountId[];
}

/** What the initiator fixes when it builds the create tx: chain facts the responder takes as given. */
export interface CreateTxTerms {
  nonce: number;
  ttl: number;
  fee?: bigint;
}

export interface Balances {
  initiator: bigint;
  responder: bigint;
}

/** One change inside an off-chain round, as the node lists them in `updates`. */
export type OffchainUpdate =
  | { op: 'OffChainTransfer'; from: AccountId; to: AccountId; amount: bigint }
  | { op: 'OffChainMeta'; data: string };

/** A round both participants signed: the only kind of state that may be persisted or reported. */
export interface CoSignedState {
  round: number;
  balances: Balances;
  stateHash: StateHash;
  /** the SignedTx carrying both signatures (the create tx for round 1, else an off-chain tx) */
  signedTx: EncodedTx;
  updates: OffchainUpdate[];
}

/** Result of checking a signed tx against the tx we expect. */
export type SignedCheck =
  | { ok: true; signedTx: EncodedTx }
  | { ok: false; reason: Reason; detail?: string };

/**
 * The pure transaction functions the machine needs: real Aeternity encodings, built by lib/tx.
 * Injected through the machine's input so the machine itself imports nothing but xstate.
 */
export interface TxKit {
  /** The unsigned create tx (inside a SignedTx with no signatures), its channel id and state hash. */
  createTx(params: ChannelParams, terms: CreateTxTerms): {
    signedTx: EncodedTx; channelId: ChannelId; stateHash: StateHash; balances: Balances;
  };
  /** The unsigned off-chain tx for a round (inside a SignedTx with no signatures). */
  offchainTx(channelId: ChannelId, round: number, params: ChannelParams, balances: Balances): {
    signedTx: EncodedTx; stateHash: StateHash;
  };
  /**
   * Checks that `candidate` wraps exactly the tx inside `expected` and carries a valid signature by
   * every account in `signers`; returns a SignedTx with the expected signatures merged in
   * canonical order (initiator, responder), whatever else the candidate carried.
   */
  checkSigned(candidate: string, expected: EncodedTx, signers: AccountId[], participants: AccountId[]): SignedCheck;
  /** The unsigned tx inside a SignedTx, to compare proposals whatever signatures they carry. */
  innerTx(signedTx: string): EncodedTx | null;
  /** The nonce the initiator used, read back from a create tx proposed by the peer. */
  createTxTerms(signedTx: string): CreateTxTerms | null;
}

/** What leaves the machine towards its own client; lib/ws renders it in the client's envelope. */
export type ClientOutput =
  | { kind: 'info'; event: string; data?: Record<string, unknown> }
  | { kind: 'sign'; tag: SignTag; signedTx: EncodedTx; updates: OffchainUpdate[] }
  | { kind: 'update'; state: EncodedTx }
  | { kind: 'on_chain_tx'; info: string; tx: EncodedTx; txType: string }
  | { kind: 'conflict'; round: number; code: number; reason?: Reason }
  | { kind: 'error'; reason: Reason; detail?: string; request?: unknown }
  | { kind: 'leave'; state: EncodedTx }
  | { kind: 'message'; from: AccountId; to: AccountId; info: string };

export type SignTag = 'initiator_sign' | 'responder_sign' | 'update' | 'update_ack';

/** Messages between the two participants' FSMs. */
export type PeerMessage =
  | { type: 'channel_open'; params: ChannelParams; temporaryId: string }
  | { type: 'channel_accept'; minimumDepth: number }
  | { type: 'funding_created'; signedTx: EncodedTx }
  | { type: 'funding_signed'; signedTx: EncodedTx }
  | { type: 'funding_locked'; channelId: ChannelId }
  | { type: 'update'; signedTx: EncodedTx; updates: OffchainUpdate[] }
  | { type: 'update_ack'; signedTx: EncodedTx }
  /** the peer refused `signedTx`, a proposal of ours, with this protocol code */
  | { type: 'update_error'; signedTx: EncodedTx; code: number }
  | { type: 'message'; from: AccountId; to: AccountId; info: string }
  | { type: 'leave' }
  | { type: 'leave_ack' }
  | { type: 'channel_reestablish'; channelId: ChannelId; round: number; stateHash: StateHash }
  | { type: 'channel_reest_ack'; channelId: ChannelId; round: number; stateHash: StateHash }
  | { type: 'error'; reason: Reason; detail?: string };

/** Effects, as data: the machine emits them and lib/channel performs them. */
export type ChannelEffect =
  | { type: 'toClient'; output: ClientOutput }
  | { type: 'toPeer'; message: PeerMessage }
  /** persist a co-signed round; answer with STORE.SAVED or STORE.FAILED for that round */
  | { type: 'persist'; state: CoSignedState; channelId: ChannelId; params: ChannelParams; first: boolean }
  /** broadcast a co-signed tx and follow it to `minimumDepth`; answer with CHAIN.* events */
  | { type: 'postTx'; signedTx: EncodedTx }
  | { type: 'watchTx'; signedTx: EncodedTx; minimumDepth: number }
  /** the FSM is done: close the client's socket after what was sent */
  | { type: 'stopped'; why: 'leave' | 'error' | 'timeout' };
