/**
 * The vocabulary of the channel machine: what it is started with, what it keeps, the events it takes,
 * and how each operation is named towards clients. Plain types and data.
 */
import { accountOf } from './protocol.js';
import type {
  AccountId, Balances, BlockHashDelta, ChannelId, ChannelParams, CoSignedState, DisputeKind, EncodedTx, OffchainUpdate,
  OnchainChannel, OnchainTerms, OperationKind, PeerMessage, Pin, ProposalRecord, Role, SignTag, StateHash, Timeouts, TxKit,
} from './types.js';
import { otherRole } from './types.js';

/** The sign request of each dispute tx, as the node names it (channel-api §3). */
export const DISPUTES: Record<DisputeKind, { tag: SignTag; txType: string }> = {
  close_solo: { tag: 'close_solo_sign', txType: 'channel_close_solo_tx' },
  slash: { tag: 'slash_tx', txType: 'channel_slash_tx' },
  settle: { tag: 'settle_sign', txType: 'channel_settle_tx' },
  snapshot_solo: { tag: 'snapshot_solo_tx', txType: 'channel_snapshot_solo_tx' },
};

export const OFFCHAIN_TX_TAG = 57;

/** The node's name of each channel tx type, by its tag (what `on_chain_tx` reports as `type`). */
const TX_TYPES: Record<number, string> = {
  50: 'channel_create_tx', 51: 'channel_deposit_tx', 52: 'channel_withdraw_tx', 53: 'channel_close_mutual_tx',
  54: 'channel_close_solo_tx', 55: 'channel_slash_tx', 56: 'channel_settle_tx', 57: 'channel_offchain_tx',
  59: 'channel_snapshot_solo_tx', 521: 'channel_force_progress_tx',
};

/** The type of the tx inside a SignedTx, as the node names it; `fallback` when it cannot be read. */
export function txTypeOf(kit: TxKit, signedTx: string, fallback: string): string {
  const tag = kit.innerTag(signedTx);
  return (tag !== null && TX_TYPES[tag]) || fallback;
}

/** How each operation is named towards the clients, as the node names it. */
export const OPERATIONS: Record<OperationKind, { ownTag: SignTag; ackTag: SignTag; created: string; txType: string }> = {
  update: { ownTag: 'update', ackTag: 'update_ack', created: 'update', txType: 'channel_offchain_tx' },
  deposit: { ownTag: 'deposit_tx', ackTag: 'deposit_ack', created: 'deposit_created', txType: 'channel_deposit_tx' },
  withdraw: { ownTag: 'withdraw_tx', ackTag: 'withdraw_ack', created: 'withdraw_created', txType: 'channel_withdraw_tx' },
  shutdown: { ownTag: 'shutdown_sign', ackTag: 'shutdown_sign_ack', created: 'shutdown', txType: 'channel_close_mutual_tx' },
};

export interface ChannelInput {
  kit: TxKit;
  role: Role;
  fsmId: string;
  params: ChannelParams;
  /** initiator only: the chain facts of the create tx (nonce, ttl, fee) */
  terms?: OnchainTerms;
  /** a responder that stays up after its peer leaves or disconnects, ready for a reestablish */
  keepRunning: boolean;
  /** a responder that accepts whichever initiator opens (`initiator_id=any`) */
  anyInitiator?: boolean;
  /**
   * `msg_forwarding`: messages may name another sender than us or another recipient than the peer,
   * and the peer's messages for or from others are delivered (the node's inband message forwarding)
   */
  msgForwarding?: boolean;
  /** how long to wait for each thing; the node's defaults where left out */
  timeouts?: Partial<Timeouts>;
  /** how old a block the peer pins its proposals to may be (the node's defaults where left out) */
  blockHashDelta?: BlockHashDelta;
  /**
   * set when the FSM is restored from the store to reestablish an existing channel; `onchain` is what
   * the chain holds for it (null: the channel is gone from the chain); `proposal`: our last off-chain
   * proposal as written before it went to a peer on another service, which the peer may hold co-signed
   */
  restored?: { channelId: ChannelId; state: CoSignedState; onchain?: OnchainChannel | null; proposal?: ProposalRecord | null };
}

/** An operation in flight: the tx we are building, with the signatures gathered so far. */
export interface Pending {
  kind: OperationKind | 'create';
  /** the round the operation produces (a mutual close keeps the current one) */
  round: number;
  /** the balances after it (for a mutual close: the final amounts paid out) */
  balances: Balances;
  updates: OffchainUpdate[];
  stateHash: StateHash;
  signedTx: EncodedTx;
  proposer: Role;
  /** the block our own proposal is pinned to, told to the peer with it */
  pin?: Pin;
}

export interface ChannelContext extends ChannelInput {
  channelId: ChannelId | null;
  state: CoSignedState | null;
  pending: Pending | null;
  /** our copy of the pending on-chain tx reached minimum depth */
  ownLocked: boolean;
  /** the peer's copy did */
  peerLocked: boolean;
  /** a dispute tx our client is signing */
  solo: { kind: DisputeKind; signedTx: EncodedTx } | null;
  /** our client's socket is there; an established channel lives on without it until it reconnects */
  clientConnected: boolean;
  /** the round the chain is closing on, while solo-closing */
  closingRound: number | null;
  /**
   * the channel's round on chain as our client was last told of it (`channel_changed`: our own deposit
   * or withdraw when mined, or the chain watcher's news): the node reports each tx once, and the chain
   * watcher may see our own tx again after the tx watcher did
   */
  reportedChainRound: number;
  /**
   * our last proposal we stopped waiting for (a timeout, a link that went, a restart with its record):
   * if the peer's ack still comes, or the peer reestablishes with its tx co-signed, the peer holds that
   * round co-signed, and so do we
   */
  abandoned: Pending | null;
  /**
   * a co-signed round whose write was under way when the link to the peer went: it is our latest
   * round once the store says so, and the reestablish waits for that answer (`deferredReestablish`)
   */
  unsettled: Pending | null;
  /** the new link's PEER.CONNECTED or channel_reestablish, taken up once `unsettled` is settled */
  deferredReestablish: Extract<ChannelEvent, { type: 'PEER.CONNECTED' | 'PEER.channel_reestablish' }> | null;
  /**
   * a proposal the peer sent while we were writing the round before it: its client was told of that
   * round already and went on at once, so it waits for the write instead of being refused
   */
  deferredPeerUpdate: Extract<PeerEvent, { type: 'PEER.update' }> | null;
}

export type WithRequest = { request?: unknown };
export type PeerEvent = { [K in PeerMessage['type']]: { type: `PEER.${K}`; msg: Extract<PeerMessage, { type: K }> } }[PeerMessage['type']];

export type ChannelEvent =
  | ({ type: 'CLIENT.UPDATE_NEW'; from: AccountId; to: AccountId; amount: bigint; meta: string[]; pin?: Pin } & WithRequest)
  | ({ type: 'CLIENT.DEPOSIT' | 'CLIENT.WITHDRAW'; amount: bigint; terms: OnchainTerms; meta?: string[]; pin?: Pin } & WithRequest)
  | ({ type: 'CLIENT.SHUTDOWN'; terms: OnchainTerms; pin?: Pin } & WithRequest)
  | ({ type: 'CLIENT.DISPUTE'; kind: DisputeKind; terms: OnchainTerms; onchain: OnchainChannel | null } & WithRequest)
  | ({ type: 'CLIENT.SIGNED'; tag: SignTag; signedTx: string } & WithRequest)
  | ({ type: 'CLIENT.ABORT'; tag: SignTag; code: number } & WithRequest)
  /** `from` is left out when the message is the client's own */
  | ({ type: 'CLIENT.MESSAGE'; to: AccountId; from?: AccountId; info: string } & WithRequest)
  | ({ type: 'CLIENT.LEAVE' } & WithRequest)
  | { type: 'CLIENT.DISCONNECTED' }
  | { type: 'CLIENT.RECONNECTED' }
  /**
   * From a host that lets an idle FSM sleep without its actor (lib/channel/session.ts): it woke up
   * (its idle timer starts again, as for any activity), or its idle time ran out while it slept.
   */
  | { type: 'CLOCK.RESUMED' }
  | { type: 'CLOCK.IDLE_EXPIRED' }
  | { type: 'PEER.CONNECTED' }
  /**
   * The link to the peer is gone. `redial`: the peer is on another service and ours dials it again (an
   * initiator's link), so an initiator whose channel exists waits to reestablish instead of dying.
   */
  | { type: 'PEER.DISCONNECTED'; redial?: boolean }
  | PeerEvent
  | { type: 'STORE.SAVED'; round: number }
  | { type: 'STORE.FAILED'; round: number; detail: string }
  | { type: 'CHAIN.MINED'; txHash: string }
  | { type: 'CHAIN.LOCKED'; txHash: string }
  | { type: 'CHAIN.REJECTED'; detail: string }
  /** the chain watcher: the channel object changed while active, is solo-closing, or is gone */
  | { type: 'CHAIN.CHANNEL_CHANGED'; round: number; tx: EncodedTx | null }
  | { type: 'CHAIN.CHANNEL_CLOSING'; round: number; tx: EncodedTx | null }
  | { type: 'CHAIN.CHANNEL_CLOSED'; tx: EncodedTx | null }
  /** a snapshot_solo tx our client posted is at minimum depth */
  | { type: 'CHAIN.SNAPSHOT_LOCKED'; txHash: string }
  /** a tx whose minimum depth our client assumed (assume_minimum_depth) is now really that deep */
  | { type: 'CHAIN.ASSUMED_TX_DEEP'; txHash: string; signedTx: EncodedTx };

export type ProposalEvent = Extract<ChannelEvent, { type: 'CLIENT.UPDATE_NEW' | 'CLIENT.DEPOSIT' | 'CLIENT.WITHDRAW' | 'CLIENT.SHUTDOWN' }>;

/** Turns a peer message into the machine event of the same name. */
export function peerEvent(msg: PeerMessage): ChannelEvent {
  return { type: `PEER.${msg.type}`, msg } as ChannelEvent;
}

export const me = (c: ChannelContext): AccountId => accountOf(c.params, c.role);
export const peerAccount = (c: ChannelContext): AccountId => accountOf(c.params, otherRole(c.role));
export const participants = (c: ChannelContext): AccountId[] => [c.params.initiatorId, c.params.responderId];
export const lastRound = (c: ChannelContext): number => c.state?.round ?? 0;
export const pendingKind = (c: ChannelContext): OperationKind => (c.pending?.kind === 'create' ? 'update' : c.pending?.kind ?? 'update');
