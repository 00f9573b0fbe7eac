/**
 * The translation between the FSM's own peer messages (fsm/types.ts PeerMessage) and the node's wire
 * messages (codec.ts), for one link: one channel, our FSM on this side, the peer's on the other.
 *
 * The node's messages name things the FSM's do not (a temporary channel id, the channel id, the chain
 * hash, a tx hash instead of the tx, a round instead of the refused tx) and leave out what the FSM
 * keeps in its own context (balances, the pending operation's kind). So the link keeps a little
 * context of its own: the ids, the operation in flight each way, and the co-signed on-chain tx
 * waiting for its `*_locked`. With it an ack becomes `deposit_signed` or `shutdown_ack`, an error
 * `withdraw_error`, and back.
 *
 * decode() is total on untrusted bytes: anything that does not decode or does not fit the link (a
 * wrong chain hash or channel id, an ack or error with nothing in flight, a round never seen, a tx
 * hash that names no tx of ours) is a refusal naming its reason, never an exception and never an
 * FSM event. The FSM still checks everything it gets (signatures, rounds, state hashes): the link
 * only refuses what it can already tell is wrong.
 */
import { randomBytes } from 'node:crypto';
import { Encoding } from '../sdk.js';
import type {
  AccountId, ChannelId, ChannelParams, EncodedTx, OperationKind, PeerMessage,
} from '../../fsm/types.js';
import { REASONS, type Reason } from '../../fsm/reasons.js';
import { blake2b256 } from '../tx/crypto.js';
import { decode as decodeString, encode as encodeString } from '../tx/encoding.js';
import * as codec from './codec.js';
import { deserializeUpdate, serializeUpdate } from './offchain-updates.js';
import { createdChannelId, readSignedTx, stateOf, txRound } from './tx-facts.js';

type Bytes = Uint8Array;
type WireMessage = codec.PeerMessage;

export interface WireContext {
  /** the network's genesis key block hash, which the node sends as `chain_hash` (Chain.genesisHash()) */
  chainHash: Uint8Array;
}

/**
 * Why a wire message was not passed on. `reason` is a node word: `protocol_error` (undecodable: the
 * node's session dies on it), `chain_hash_mismatch`, `channel_id_mismatch`, `tx_hash_mismatch`,
 * `unexpected_message` (an ack, error or locked with nothing of that kind in flight, a second
 * channel_open), `unknown_round` (an error naming a round this link never saw), `broken_encoding`
 * (a tx or update blob that does not read).
 */
export type WireRefusal = { reason: WireReason; detail: string };
export type WireReason =
  | 'protocol_error' | 'chain_hash_mismatch' | 'channel_id_mismatch' | 'tx_hash_mismatch'
  | 'unexpected_message' | 'unknown_round' | 'broken_encoding';

/** A value the node's messages cannot carry (a lock period over 16 bits, say): the FSM should not have got this far. */
export class PeerWireError extends Error {
  override readonly name = 'PeerWireError';
}

/** An operation in flight on the link, the latest copy of its tx, and the tx without signatures (to compare copies). */
interface Op {
  kind: OperationKind | 'create';
  signedTx: EncodedTx;
  inner: Uint8Array | null;
}

const op = (kind: Op['kind'], signedTx: EncodedTx, bytes: Uint8Array): Op => ({ kind, signedTx, inner: readSignedTx(bytes)?.inner ?? null });

/** What channel_open said, for channel_accept (which repeats it) and its check. */
interface Opened {
  initiator: Bytes; responder: Bytes;
  initiator_amount: bigint; responder_amount: bigint; channel_reserve: bigint;
}

const ZERO_HASH = new Uint8Array(32);
const MAX_U16 = 0xffff;
const MAX_U32 = 0xffffffff;

const PROPOSAL_TYPE = { update: 'update', deposit: 'deposit_created', withdraw: 'withdraw_created', shutdown: 'shutdown' } as const;
const ACK_TYPE = { update: 'update_ack', deposit: 'deposit_signed', withdraw: 'withdraw_signed', shutdown: 'shutdown_ack' } as const;
const ERROR_TYPE = { update: 'update_error', deposit: 'deposit_error', withdraw: 'withdraw_error', shutdown: 'shutdown_error' } as const;
const LOCKED_TYPE = { deposit: 'deposit_locked', withdraw: 'withdraw_locked' } as const;
const kindOf = <T extends Record<OperationKind, string>>(table: T, type: string): OperationKind =>
  (Object.keys(table) as OperationKind[]).find((k) => table[k] === type)!;

const txBytes = (signedTx: EncodedTx): Buffer => decodeString(signedTx);
const txString = (bytes: Bytes): EncodedTx => encodeString(bytes, Encoding.Transaction) as EncodedTx;
const sameBytes = (a: Bytes, b: Bytes): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
const account = (key: Bytes): AccountId => encodeString(key, Encoding.AccountAddress) as AccountId;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The same tx, whatever signatures either copy carries. */
const sameInner = (a: Op, b: Op): boolean => a.signedTx === b.signedTx || (a.inner !== null && b.inner !== null && sameBytes(a.inner, b.inner));

const refuse = (reason: WireReason, detail: string) => ({ refusal: { reason, detail } });

/**
 * The block a proposal is pinned to, by hash (all zeros: not pinned, the node's ?NOT_SET_BLOCK_HASH);
 * the link looks it up on our chain (lib/channel/peer-pins.ts) before the FSM judges it.
 */
const pinnedTo = (blockHash: Bytes): { blockHash?: string } =>
  (sameBytes(blockHash, ZERO_HASH) ? {} : { blockHash: encodeString(blockHash, Encoding.KeyBlockHash) });

/** A side's delegates in our extension of channel_open/channel_accept (codec.ts DELEGATES); none: the node's message as it is. */
const delegatesOut = (ids: readonly AccountId[]): { delegates?: Bytes[] } => (ids.length ? { delegates: ids.map((id) => decodeString(id)) } : {});

export class PeerWire {
  private readonly chainHash: Bytes;
  private temporaryId: Bytes | null = null;
  private channelId: Bytes | null = null;
  private opened: Opened | null = null;
  /** our proposal in flight, and the peer's */
  private ours: Op | null = null;
  private theirs: Op | null = null;
  /** a co-signed deposit, withdraw or mutual close on its way on chain: what `*_locked` and a late error name */
  private onchain: Op | null = null;
  /** which `*_locked` of the on-chain op crossed: once both have, it is the channel's state and nothing names it any more */
  private locked = { ours: false, theirs: false };
  /** the highest round of any tx that crossed the link: an error naming a higher one is made up */
  private topRound = 0;

  constructor(context: WireContext) {
    if (!(context.chainHash instanceof Uint8Array) || context.chainHash.length !== 32) throw new PeerWireError('chain hash must be 32 bytes');
    this.chainHash = context.chainHash;
  }

  // ---------------------------------------------------------------------------------------------
  // Our FSM's messages, on their way out.

  /**
   * The node's bytes of our FSM's message. Throws PeerWireError only for a value the node's message
   * cannot hold (an amount of 2^64 aettos or more, a lock period over 65535, a message over 65000
   * bytes): such a channel cannot be carried across services at all, and admission should refuse it.
   */
  encode(message: PeerMessage): Uint8Array {
    const wire = this.toWire(message);
    try {
      return codec.encode(wire);
    } catch (err) {
      throw new PeerWireError(`${message.type}: the node's ${wire.type} cannot carry it (${(err as Error).message})`);
    }
  }

  private toWire(m: PeerMessage): WireMessage {
    switch (m.type) {
      case 'channel_open': {
        const p = m.params;
        if (p.lockPeriod > BigInt(MAX_U16)) throw new PeerWireError(`lock_period ${p.lockPeriod} does not fit the node's 16 bits`);
        this.temporaryId ??= randomBytes(32);
        this.opened = {
          initiator: decodeString(p.initiatorId), responder: decodeString(p.responderId),
          initiator_amount: p.initiatorAmount, responder_amount: p.responderAmount, channel_reserve: p.channelReserve,
        };
        return {
          type: 'channel_open', chain_hash: this.chainHash, temporary_channel_id: this.temporaryId,
          lock_period: Number(p.lockPeriod), push_amount: p.pushAmount, ...this.opened,
          ...delegatesOut(p.initiatorDelegateIds),
        };
      }
      case 'channel_accept':
        return {
          type: 'channel_accept', chain_hash: this.chainHash, temporary_channel_id: this.temporaryId ?? ZERO_HASH,
          minimum_depth: Math.min(m.minimumDepth, MAX_U32), minimum_depth_strategy: m.minimumDepthStrategy === 'txfee' ? 'txfee' : null,
          ...this.openedOrZero(), ...delegatesOut(m.responderDelegateIds),
        };
      case 'funding_created': {
        const tx = txBytes(m.signedTx);
        this.ours = op('create', m.signedTx, tx);
        this.learnCreateTx(tx);
        return { type: 'funding_created', temporary_channel_id: this.tempId(), block_hash: ZERO_HASH, data: { tx, updates: [] } };
      }
      case 'funding_signed':
        this.theirs = null;
        this.learnCreateTx(txBytes(m.signedTx));
        this.topRound = Math.max(this.topRound, 1);
        return { type: 'funding_signed', temporary_channel_id: this.tempId(), block_hash: ZERO_HASH, data: { tx: txBytes(m.signedTx) } };
      case 'funding_locked':
        this.channelId = decodeString(m.channelId);
        return { type: 'funding_locked', temporary_channel_id: this.tempId(), channel_id: this.channelId };
      case 'update': {
        const tx = txBytes(m.signedTx);
        this.ours = op(m.kind, m.signedTx, tx);
        this.seeRound(tx);
        // the block the proposal is pinned to, which a node peer checks against its window (none: all zeros, the node's "not set")
        const blockHash = m.pin ? decodeString(m.pin.blockHash as `kh_${string}`) : ZERO_HASH;
        if (m.kind === 'shutdown') return { type: 'shutdown', channel_id: this.chId(), block_hash: blockHash, data: { tx } };
        return { type: PROPOSAL_TYPE[m.kind], channel_id: this.chId(), block_hash: blockHash, data: { tx, updates: m.updates.map(serializeUpdate) } };
      }
      case 'update_ack': {
        this.theirs = null;
        const tx = txBytes(m.signedTx);
        this.seeRound(tx);
        if (m.kind !== 'update') this.onChain(op(m.kind, m.signedTx, tx));
        if (m.kind === 'update') return { type: 'update_ack', channel_id: this.chId(), data: { tx } };
        return { type: ACK_TYPE[m.kind], channel_id: this.chId(), block_hash: ZERO_HASH, data: { tx } };
      }
      case 'update_error':
        this.forget(op(m.kind, m.signedTx, txBytes(m.signedTx)));
        return { type: ERROR_TYPE[m.kind], channel_id: this.chId(), round: Math.min(m.round, MAX_U32), error_code: Math.min(m.code, MAX_U16) };
      case 'locked': {
        const tx_hash = blake2b256(txBytes(m.signedTx));
        this.lockedCopy('ours');
        return { type: LOCKED_TYPE[m.kind], channel_id: this.chId(), data: { tx_hash } };
      }
      case 'message': {
        const info = Buffer.from(m.info, 'utf8');
        if (info.length > codec.MAX_INBAND_INFO) throw new PeerWireError(`a message of ${info.length} bytes exceeds the node's ${codec.MAX_INBAND_INFO}`);
        return { type: 'inband_msg', channel_id: this.chId(), from: decodeString(m.from), to: decodeString(m.to), info };
      }
      case 'leave':
      case 'leave_ack':
        return { type: m.type, channel_id: this.chId() };
      case 'channel_reestablish':
      case 'channel_reest_ack': {
        this.channelId = decodeString(m.channelId);
        this.topRound = Math.max(this.topRound, m.round);
        return { type: m.type, chain_hash: this.chainHash, channel_id: this.channelId, data: { tx: txBytes(m.signedTx) } };
      }
      case 'error':
        return { type: 'error', channel_id: this.channelId ?? this.temporaryId ?? ZERO_HASH, data: Buffer.from(m.detail ? `${m.reason}: ${m.detail}` : m.reason, 'utf8') };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The peer's messages, untrusted, on their way in.

  decode(bytes: Uint8Array): { message: PeerMessage } | { refusal: WireRefusal } {
    let w: WireMessage;
    try {
      w = codec.decode(bytes);
    } catch (err) {
      return refuse('protocol_error', err instanceof codec.PeerCodecError ? err.message : 'not a peer message');
    }
    try {
      return this.fromWire(w);
    } catch (err) {
      // a blob inside a well-formed message that does not read
      return refuse('broken_encoding', `${w.type}: ${(err as Error).message}`);
    }
  }

  private fromWire(w: WireMessage): { message: PeerMessage } | { refusal: WireRefusal } {
    switch (w.type) {
      case 'channel_open': {
        if (!sameBytes(w.chain_hash, this.chainHash)) return refuse('chain_hash_mismatch', 'channel_open names another chain');
        if (this.temporaryId || this.channelId) return refuse('unexpected_message', 'channel_open on a link that has a channel');
        this.temporaryId = Buffer.from(w.temporary_channel_id);
        this.opened = {
          initiator: Buffer.from(w.initiator), responder: Buffer.from(w.responder),
          initiator_amount: w.initiator_amount, responder_amount: w.responder_amount, channel_reserve: w.channel_reserve,
        };
        // minimum depth is not in the node's channel_open: the responder keeps its own (fsm/rules/funding.ts
        // agreedParams); the initiator's delegates come in our extension (codec.ts DELEGATES), none from a node
        const params: ChannelParams = {
          initiatorId: account(w.initiator), responderId: account(w.responder),
          initiatorAmount: w.initiator_amount, responderAmount: w.responder_amount, pushAmount: w.push_amount,
          channelReserve: w.channel_reserve, lockPeriod: BigInt(w.lock_period), minimumDepth: 0, minimumDepthStrategy: 'txfee',
          initiatorDelegateIds: (w.delegates ?? []).map(account), responderDelegateIds: [],
        };
        return { message: { type: 'channel_open', params } };
      }
      case 'channel_accept': {
        if (!sameBytes(w.chain_hash, this.chainHash)) return refuse('chain_hash_mismatch', 'channel_accept names another chain');
        const temp = this.tempCheck(w.temporary_channel_id, 'channel_accept');
        if (temp) return temp;
        const o = this.opened;
        if (!o || this.ours) return refuse('unexpected_message', 'channel_accept without our channel_open');
        const same = sameBytes(w.initiator, o.initiator) && sameBytes(w.responder, o.responder) && w.initiator_amount === o.initiator_amount
          && w.responder_amount === o.responder_amount && w.channel_reserve === o.channel_reserve;
        if (!same) return refuse('protocol_error', 'channel_accept does not repeat our channel_open');
        return { message: { type: 'channel_accept', minimumDepth: w.minimum_depth, minimumDepthStrategy: w.minimum_depth_strategy === 'txfee' ? 'txfee' : 'plain', responderDelegateIds: (w.delegates ?? []).map(account) } };
      }
      case 'funding_created': {
        const temp = this.tempCheck(w.temporary_channel_id, 'funding_created');
        if (temp) return temp;
        if (!this.opened || this.theirs || this.channelId) return refuse('unexpected_message', 'funding_created out of turn');
        if (w.data.updates.length > 0) return refuse('broken_encoding', 'funding_created with updates');
        const signedTx = txString(w.data.tx);
        this.theirs = op('create', signedTx, w.data.tx);
        this.learnCreateTx(w.data.tx);
        return { message: { type: 'funding_created', signedTx } };
      }
      case 'funding_signed': {
        const temp = this.tempCheck(w.temporary_channel_id, 'funding_signed');
        if (temp) return temp;
        if (this.ours?.kind !== 'create') return refuse('unexpected_message', 'funding_signed with no funding_created of ours');
        this.ours = null;
        this.topRound = Math.max(this.topRound, 1);
        return { message: { type: 'funding_signed', signedTx: txString(w.data.tx) } };
      }
      case 'funding_locked': {
        const temp = this.tempCheck(w.temporary_channel_id, 'funding_locked');
        if (temp) return temp;
        if (!this.createdId) return refuse('unexpected_message', 'funding_locked before a create tx');
        if (!sameBytes(w.channel_id, this.createdId)) return refuse('channel_id_mismatch', 'funding_locked names another channel than the create tx');
        return { message: { type: 'funding_locked', channelId: encodeString(w.channel_id, Encoding.Channel) as ChannelId } };
      }
      case 'channel_reestablish':
      case 'channel_reest_ack': {
        if (!sameBytes(w.chain_hash, this.chainHash)) return refuse('chain_hash_mismatch', `${w.type} names another chain`);
        if (this.channelId && !sameBytes(w.channel_id, this.channelId)) return refuse('channel_id_mismatch', `${w.type} names another channel`);
        if (w.type === 'channel_reest_ack' && !this.channelId) return refuse('unexpected_message', 'channel_reest_ack without our channel_reestablish');
        const facts = stateOf(w.data.tx);
        if (!facts) return refuse('broken_encoding', `${w.type}: the tx is not a channel state`);
        this.channelId = Buffer.from(w.channel_id);
        this.topRound = Math.max(this.topRound, facts.round);
        const channelId = encodeString(w.channel_id, Encoding.Channel) as ChannelId;
        return { message: { type: w.type, channelId, round: facts.round, stateHash: facts.stateHash, signedTx: txString(w.data.tx) } };
      }
      case 'error': {
        // before the channel id is known the peer names the temporary one (or none: zeros)
        const named = [this.channelId, this.temporaryId, ZERO_HASH].some((id) => id && sameBytes(id, w.channel_id));
        if (!named) return refuse('channel_id_mismatch', 'error names another channel');
        const text = Buffer.from(w.data).toString('utf8');
        const colon = text.indexOf(': ');
        const word = colon >= 0 ? text.slice(0, colon) : text;
        const known = (REASONS as readonly string[]).includes(word);
        const reason: Reason = known ? word as Reason : 'not_allowed_now';
        const detail = known ? (colon >= 0 ? text.slice(colon + 2) : undefined) : text;
        return { message: { type: 'error', reason, ...(detail !== undefined && { detail }) } };
      }
      default:
        return this.fromChannel(w);
    }
  }

  /** The messages of an established channel: each must name it. */
  private fromChannel(w: Exclude<WireMessage, { type: 'channel_open' | 'channel_accept' | 'funding_created' | 'funding_signed' | 'funding_locked' | 'channel_reestablish' | 'channel_reest_ack' | 'error' }>): { message: PeerMessage } | { refusal: WireRefusal } {
    if (!this.channelId) return refuse('unexpected_message', `${w.type} before the channel is established`);
    if (!sameBytes(w.channel_id, this.channelId)) return refuse('channel_id_mismatch', `${w.type} names another channel`);
    switch (w.type) {
      case 'update':
      case 'deposit_created':
      case 'withdraw_created': {
        const kind = kindOf(PROPOSAL_TYPE, w.type);
        const updates = w.data.updates.map((u) => deserializeUpdate(u));
        const signedTx = txString(w.data.tx);
        this.theirs = op(kind, signedTx, w.data.tx);
        this.seeRound(w.data.tx);
        return { message: { type: 'update', kind, signedTx, updates, ...pinnedTo(w.block_hash) } };
      }
      case 'shutdown': {
        const signedTx = txString(w.data.tx);
        this.theirs = op('shutdown', signedTx, w.data.tx);
        return { message: { type: 'update', kind: 'shutdown', signedTx, updates: [], ...pinnedTo(w.block_hash) } };
      }
      case 'update_ack':
      case 'deposit_signed':
      case 'withdraw_signed':
      case 'shutdown_ack': {
        const kind = kindOf(ACK_TYPE, w.type);
        if (this.ours?.kind !== kind) return refuse('unexpected_message', `${w.type} with no ${kind} of ours in flight`);
        const acked = op(kind, txString(w.data.tx), w.data.tx);
        if (!sameInner(acked, this.ours)) return refuse('unexpected_message', `${w.type} names another tx than our ${kind}`);
        const { signedTx } = acked;
        this.ours = null;
        this.seeRound(w.data.tx);
        if (kind !== 'update') this.onChain(acked);
        return { message: { type: 'update_ack', kind, signedTx } };
      }
      case 'update_error':
      case 'deposit_error':
      case 'withdraw_error':
      case 'shutdown_error': {
        const kind = kindOf(ERROR_TYPE, w.type);
        if (w.round > this.topRound) return refuse('unknown_round', `${w.type} names round ${w.round}, past any this link saw (${this.topRound})`);
        const named = [this.ours, this.theirs, this.onchain].find((o) => o?.kind === kind);
        if (!named) return refuse('unexpected_message', `${w.type} with no ${kind} in flight`);
        this.forget(named);
        return { message: { type: 'update_error', kind, signedTx: named.signedTx, round: w.round, code: w.error_code } };
      }
      case 'deposit_locked':
      case 'withdraw_locked': {
        const kind = w.type === 'deposit_locked' ? 'deposit' : 'withdraw';
        const onchain = this.onchain;
        if (onchain?.kind !== kind) return refuse('unexpected_message', `${w.type} with no co-signed ${kind} on its way`);
        if (!sameBytes(w.data.tx_hash, blake2b256(txBytes(onchain.signedTx)))) return refuse('tx_hash_mismatch', `${w.type} names another tx than our ${kind}`);
        if (this.locked.theirs) return refuse('unexpected_message', `${w.type} again`);
        this.lockedCopy('theirs');
        return { message: { type: 'locked', kind, signedTx: onchain.signedTx } };
      }
      case 'leave':
      case 'leave_ack':
        return { message: { type: w.type } };
      case 'inband_msg':
        return { message: { type: 'message', from: account(w.from), to: account(w.to), info: utf8.decode(w.info) } };
    }
  }

  // ---------------------------------------------------------------------------------------------

  /** the channel id the create tx makes: funding_locked must name it */
  private createdId: Bytes | null = null;

  private learnCreateTx(tx: Bytes): void {
    const id = createdChannelId(tx);
    if (id) this.createdId = decodeString(id);
  }

  private onChain(onchain: Op): void {
    this.onchain = onchain;
    this.locked = { ours: false, theirs: false };
  }

  private lockedCopy(side: 'ours' | 'theirs'): void {
    this.locked[side] = true;
    // the message that made the pair complete is returned first; the op is only dropped for what follows
    if (this.locked.ours && this.locked.theirs) this.onchain = null;
  }

  private seeRound(tx: Bytes): void {
    const round = txRound(tx);
    if (round !== undefined) this.topRound = Math.max(this.topRound, round);
  }

  /** The operation an error named is over, whichever side proposed it. */
  private forget(named: Op): void {
    for (const slot of ['theirs', 'ours', 'onchain'] as const) {
      const held = this[slot];
      if (held?.kind === named.kind && sameInner(held, named)) {
        this[slot] = null;
        return;
      }
    }
  }

  private tempCheck(id: Bytes, type: string): { refusal: WireRefusal } | null {
    if (!this.temporaryId) return refuse('unexpected_message', `${type} before channel_open`);
    if (!sameBytes(id, this.temporaryId)) return refuse('channel_id_mismatch', `${type} names another temporary channel id`);
    return null;
  }

  private tempId(): Bytes {
    return this.temporaryId ?? ZERO_HASH;
  }

  private chId(): Bytes {
    return this.channelId ?? ZERO_HASH;
  }

  private openedOrZero(): Opened {
    return this.opened ?? { initiator: ZERO_HASH, responder: ZERO_HASH, initiator_amount: 0n, responder_amount: 0n, channel_reserve: 0n };
  }
}

/** What the first message on a responder's session names: the FSM it is for. */
export type FirstMessage =
  | { type: 'channel_open'; initiator: AccountId; responder: AccountId }
  | { type: 'channel_reestablish'; channelId: ChannelId };

/**
 * A responder's session has no FSM until its first message, which must be channel_open (found by the
 * responder's and initiator's keys and the port) or channel_reestablish (by channel id and port), as
 * the node's locate_fsm; anything else is `protocol_error`. The message is then decoded again, by the
 * located FSM's PeerWire.
 */
export function locate(bytes: Uint8Array, chainHash: Uint8Array): FirstMessage | { refusal: WireRefusal } {
  let w: WireMessage;
  try {
    w = codec.decode(bytes);
  } catch (err) {
    return refuse('protocol_error', err instanceof codec.PeerCodecError ? err.message : 'not a peer message');
  }
  if (w.type !== 'channel_open' && w.type !== 'channel_reestablish') return refuse('protocol_error', `${w.type} as a session's first message`);
  if (!sameBytes(w.chain_hash, chainHash)) return refuse('chain_hash_mismatch', `${w.type} names another chain`);
  if (w.type === 'channel_open') return { type: w.type, initiator: account(w.initiator), responder: account(w.responder) };
  return { type: w.type, channelId: encodeString(w.channel_id, Encoding.Channel) as ChannelId };
}
