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

/** How long the FSM waits for each thing (ms), as the node's timeout_* parameters name them. */
export interface Timeouts {
  /** the peer: channel_accept, an ack, a leave or reestablish answer */
  accept: number;
  /** responder: the initiator's signed create tx */
  funding_create: number;
  /** initiator: the responder's co-signed create tx */
  funding_sign: number;
  /** the create tx reaching minimum depth */
  funding_lock: number;
  /** our own client's signature */
  sign: number;
  /** an open channel with nothing happening */
  idle: number;
  /** responder: the initiator's channel_open */
  awaiting_open: number;
  /** initiator: the link to the responder */
  initialized: number;
}

/** The node's defaults (aesc_fsm). */
export const DEFAULT_TIMEOUTS: Timeouts = {
  accept: 120_000, funding_create: 120_000, funding_sign: 120_000, funding_lock: 360_000,
  sign: 500_000, idle: 600_000, awaiting_open: 120_000, initialized: 120_000,
};

/**
 * The chain facts of an on-chain tx that the proposer fixes and the peer takes as given: the
 * proposer's account nonce, the ttl and the fee (left out: the minimum fee for the tx).
 */
export interface OnchainTerms {
  nonce: number;
  ttl: number;
  fee?: bigint;
  /**
   * the fee is this gas price times the tx's fee gas, or `fee` if that is bigger (the node's rule);
   * the kit applies it, and the tx then carries the fee it came to. The kit never builds a tx below
   * its least fee.
   */
  gasPrice?: bigint;
}

/**
 * The block an operation is pinned to (the node's `block_hash`), with the heights the pin was judged
 * at: its own and the chain's top when it was chosen. The host resolves the hash; the FSM only compares.
 */
export interface Pin {
  blockHash: string;
  /** null: not a block of the judging side's main chain (a pin from a peer on another service, looked up here) */
  height: number | null;
  top: number;
}

/**
 * How far back a pinned block may be (the node's `bh_delta_*`): at least `notNewerThan` blocks below
 * the top and at most `notOlderThan`; a proposal without a block hash pins the one `pick` blocks
 * further back than `notNewerThan`.
 */
export interface BlockHashDelta {
  notNewerThan: number;
  notOlderThan: number;
  pick: number;
}

/** The node's defaults (aesc_fsm check_block_hash_deltas). */
export const DEFAULT_BLOCK_HASH_DELTA: BlockHashDelta = { notNewerThan: 0, notOlderThan: 10, pick: 0 };

export interface Balances {
  initiator: bigint;
  responder: bigint;
}

/** One change inside an off-chain round, as the node lists them in `updates`. */
export type OffchainUpdate =
  | { op: 'OffChainTransfer'; from: AccountId; to: AccountId; amount: bigint }
  | { op: 'OffChainDeposit'; from: AccountId; amount: bigint }
  | { op: 'OffChainWithdrawal'; to: AccountId; amount: bigint }
  | { op: 'OffChainMeta'; data: string };

/** The co-signed operations of an open channel; all but `update` end in a tx on chain. */
export type OperationKind = 'update' | 'deposit' | 'withdraw' | 'shutdown';

/** A round both participants signed: the only kind of state that may be persisted or reported. */
export interface CoSignedState {
  round: number;
  balances: Balances;
  stateHash: StateHash;
  /** the SignedTx carrying both signatures (the create tx for round 1, else an off-chain tx) */
  signedTx: EncodedTx;
  updates: OffchainUpdate[];
}

/** A participant's latest co-signed round, as told to its peer when they reestablish. */
export interface LatestRound {
  channelId: ChannelId;
  round: number;
  stateHash: StateHash;
  signedTx: EncodedTx;
  balances: Balances;
  /** the updates that made the round (empty when they are not known, as after a recovery) */
  updates: OffchainUpdate[];
}

/**
 * Our own off-chain proposal, as written before it goes to a peer in another process: the round it
 * makes and its updates, enough to rebuild its tx from the round before it. If the peer co-signs it and
 * we lose its ack (a crash, a cut link), the peer's reestablish carries only the tx; with this we can
 * check that tx and take it.
 */
export interface ProposalRecord {
  round: number;
  updates: OffchainUpdate[];
}

/** A latest round as a reestablish message tells it: the balances and updates only when the link carries them. */
export type ReestablishRound = Omit<LatestRound, 'balances' | 'updates'> & Partial<Pick<LatestRound, 'balances' | 'updates'>>;

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
  createTx(params: ChannelParams, terms: OnchainTerms): {
    signedTx: EncodedTx; channelId: ChannelId; stateHash: StateHash; balances: Balances;
  };
  /**
   * The unsigned tx of a new round (inside a SignedTx with no signatures): an off-chain tx, or a
   * deposit/withdraw tx that carries the round on chain.
   */
  roundTx(channelId: ChannelId, round: number, params: ChannelParams, balances: Balances, onchain?: RoundOnchain): {
    signedTx: EncodedTx; stateHash: StateHash;
  };
  /** An unsigned dispute tx (inside a SignedTx with no signatures), sent by one participant alone. */
  disputeTx(spec: DisputeSpec): EncodedTx;
  /** The tag of the tx inside a SignedTx (57 for an off-chain tx), or null. */
  innerTag(signedTx: string): number | null;
  /** The unsigned mutual close tx paying out `finals` (inside a SignedTx with no signatures). */
  closeMutualTx(channelId: ChannelId, from: AccountId, finals: Balances, terms: OnchainTerms): EncodedTx;
  /**
   * Checks that `candidate` wraps exactly the tx inside `expected` and carries a valid signature by
   * every account in `signers`; returns a SignedTx with the expected signatures merged in
   * canonical order (initiator, responder), whatever else the candidate carried.
   */
  checkSigned(candidate: string, expected: EncodedTx, signers: AccountId[], participants: AccountId[]): SignedCheck;
  /** The unsigned tx inside a SignedTx, to compare proposals whatever signatures they carry. */
  innerTx(signedTx: string): EncodedTx | null;
  /** The nonce, ttl and fee of an on-chain tx proposed by the peer, to rebuild it with the same terms. */
  txTerms(signedTx: string): Required<Omit<OnchainTerms, 'gasPrice'>> | null;
}

/** The solo operations of a dispute: each is signed by one participant and posted by its FSM. */
export type DisputeKind = 'close_solo' | 'slash' | 'settle' | 'snapshot_solo';

export type DisputeSpec =
  | {
    kind: 'close_solo' | 'slash'; channelId: ChannelId; from: AccountId;
    /** the latest co-signed off-chain tx, or null to close on the state the chain already has */
    payload: EncodedTx | null;
    params: ChannelParams; balances: Balances; terms: OnchainTerms;
  }
  | { kind: 'snapshot_solo'; channelId: ChannelId; from: AccountId; payload: EncodedTx; terms: OnchainTerms }
  | { kind: 'settle'; channelId: ChannelId; from: AccountId; finals: Balances; terms: OnchainTerms };

/** What the chain holds for a channel, as far as the FSM needs it. */
export interface OnchainChannel {
  round: number;
  /** 0 while active */
  lockedUntil: number;
  initiatorAmount: bigint;
  responderAmount: bigint;
  height: number;
}

/** What makes a round's tx a deposit or withdraw tx. */
export interface RoundOnchain {
  kind: 'deposit' | 'withdraw';
  account: AccountId;
  amount: bigint;
  terms: OnchainTerms;
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
  | { kind: 'message'; from: AccountId; to: AccountId; info: string }
  /** `report_debug`: what the service tells a client of its FSM beyond the node's reports (its log when it dies) */
  | { kind: 'debug'; data: Record<string, unknown> };

export type SignTag =
  | 'initiator_sign' | 'responder_sign'
  | 'update' | 'update_ack'
  | 'deposit_tx' | 'deposit_ack'
  | 'withdraw_tx' | 'withdraw_ack'
  | 'shutdown_sign' | 'shutdown_sign_ack'
  | 'close_solo_sign' | 'slash_tx' | 'settle_sign' | 'snapshot_solo_tx';

/** Messages between the two participants' FSMs. */
export type PeerMessage =
  | { type: 'channel_open'; params: ChannelParams }
  | { type: 'channel_accept'; minimumDepth: number; minimumDepthStrategy: ChannelParams['minimumDepthStrategy']; responderDelegateIds: AccountId[] }
  | { type: 'funding_created'; signedTx: EncodedTx }
  | { type: 'funding_signed'; signedTx: EncodedTx }
  | { type: 'funding_locked'; channelId: ChannelId }
  /**
   * `pin`: the block the proposer pinned the operation to, which the peer checks against its own window;
   * `blockHash`: the same from a peer on another service, by hash alone (the node's `block_hash`), which
   * the link looks up on our chain and turns into `pin` before the FSM sees the message
   */
  | { type: 'update'; kind: OperationKind; signedTx: EncodedTx; updates: OffchainUpdate[]; pin?: Pin; blockHash?: string }
  /** the co-signature on the pending operation of this kind (the node's update_ack, deposit_signed…) */
  | { type: 'update_ack'; kind: OperationKind; signedTx: EncodedTx }
  /**
   * the peer refused `signedTx`, the operation of this kind in flight, with this protocol code (and
   * why, when it says: only between FSMs of this service); `round` is the sender's latest co-signed
   * round, which the node's *_error messages carry instead of the tx
   */
  | { type: 'update_error'; kind: OperationKind; signedTx: EncodedTx; round: number; code: number; reason?: Reason }
  | { type: 'message'; from: AccountId; to: AccountId; info: string }
  /** our copy of a deposit/withdraw tx reached minimum depth */
  | { type: 'locked'; kind: 'deposit' | 'withdraw'; signedTx: EncodedTx }
  | { type: 'leave' }
  | { type: 'leave_ack' }
  /**
   * each side's latest co-signed round travels along, with its balances in-process, so one that is a
   * round behind (a crash, or a channel recovered from an older state) can catch up; over the node's
   * wire only the signed tx travels (no balances, no updates), and a side behind adopts it only if it
   * is the round of our own last proposal (ProposalRecord), which the side behind can rebuild
   */
  | ({ type: 'channel_reestablish' } & ReestablishRound)
  | ({ type: 'channel_reest_ack' } & ReestablishRound)
  | { type: 'error'; reason: Reason; detail?: string };

/** Effects, as data: the machine emits them and lib/channel performs them. */
export type ChannelEffect =
  | { type: 'toClient'; output: ClientOutput }
  | { type: 'toPeer'; message: PeerMessage }
  /** persist a co-signed round; answer with STORE.SAVED or STORE.FAILED for that round */
  | { type: 'persist'; state: CoSignedState; channelId: ChannelId; params: ChannelParams; first: boolean }
  /**
   * our off-chain proposal, about to go to the peer: a host whose peer is in another process writes it
   * before the proposal leaves, holding what follows for the peer until then, and answers STORE.FAILED
   * for its round if the write fails (then the proposal never leaves); a peer in this process needs no
   * write, and hears nothing of it
   */
  | { type: 'persistProposal'; channelId: ChannelId; proposal: ProposalRecord }
  /**
   * persist a co-signed on-chain tx (deposit, withdraw, close) that is not the channel's state until
   * it is on chain; answer with STORE.SAVED or STORE.FAILED for its round
   */
  | { type: 'persistOnchain'; kind: OperationKind; state: CoSignedState; channelId: ChannelId }
  /** the pending on-chain tx will not happen (refused by the chain): forget it */
  | { type: 'forgetOnchain'; channelId: ChannelId }
  /** the channel was closed on chain: reestablishing it is no longer possible */
  | { type: 'markClosed'; channelId: ChannelId }
  /** broadcast a co-signed tx and follow it to `minimumDepth`; answer with CHAIN.* events */
  | { type: 'postTx'; signedTx: EncodedTx }
  | { type: 'watchTx'; signedTx: EncodedTx; minimumDepth: number }
  /** follow our own snapshot_solo tx to `minimumDepth`; answer with CHAIN.SNAPSHOT_LOCKED (nothing waits on it) */
  | { type: 'watchSnapshot'; signedTx: EncodedTx; minimumDepth: number }
  /** the FSM is done: close the client's socket after what was sent */
  | { type: 'stopped'; why: 'leave' | 'error' | 'timeout' | 'closed' };
