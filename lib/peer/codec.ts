/**
 * The node's FSM-to-FSM peer messages, byte for byte as aeternity/aeternity
 * apps/aechannel/src/aesc_codec.erl (message ids in aesc_codec.hrl) writes and reads them.
 *
 * Every message is one Noise transport payload: a 1-byte message id, then fixed-size fields and
 * 2-byte length-prefixed blobs. Integers are unsigned big-endian (Erlang's default for `:N/unit:8`).
 * Field names are the node's own map keys, so the integrator can read aesc_fsm.erl side by side.
 *
 * decode() is total on untrusted bytes: it only ever throws PeerCodecError, reads no further than
 * the input, and allocates nothing larger than the input (blobs are views into it).
 */

export class PeerCodecError extends Error {
  override readonly name = 'PeerCodecError';
  constructor(
    readonly code: 'empty' | 'too_large' | 'unknown_type' | 'truncated' | 'trailing_bytes' | 'length_mismatch' | 'invalid_field',
    message: string,
  ) {
    super(message);
  }
}

/** Ids from aesc_codec.hrl. The gap (19..93) is real: the node never allocated those. */
export const MESSAGE_IDS = {
  channel_open: 1,
  channel_accept: 2,
  channel_reestablish: 3,
  channel_reest_ack: 4,
  funding_created: 5,
  funding_signed: 6,
  funding_locked: 7,
  update: 8,
  update_ack: 9,
  update_error: 10,
  deposit_created: 11,
  deposit_signed: 12,
  deposit_locked: 13,
  deposit_error: 14,
  withdraw_created: 15,
  withdraw_signed: 16,
  withdraw_locked: 17,
  withdraw_error: 18,
  leave: 94,
  leave_ack: 95,
  inband_msg: 96,
  error: 97,
  shutdown: 98,
  shutdown_ack: 99,
  shutdown_error: 100,
} as const;

export type PeerMessageType = keyof typeof MESSAGE_IDS;
const TYPE_BY_ID = new Map<number, PeerMessageType>(
  Object.entries(MESSAGE_IDS).map(([type, id]) => [id, type as PeerMessageType]),
);

/**
 * Largest plaintext one Noise transport message can carry (65535-byte frame minus the 16-byte
 * ChaCha20-Poly1305 tag). Nothing bigger can arrive from a node, so nothing bigger is decoded.
 */
export const MAX_PEER_MESSAGE = 65535 - 16;
/** aesc_codec:max_inband_msg_size/0; the node refuses to send more (aesc_fsm:inband_msg/4). */
export const MAX_INBAND_INFO = 65000;
const MAX_U16 = 0xffff;
const MAX_U32 = 0xffffffff;
const MAX_U64 = (1n << 64n) - 1n;

type Bytes = Uint8Array;

/** With and without the 1-byte minimum_depth_strategy (aesc_codec keeps both clauses). */
export type MinDepthStrategy = 'txfee' | null;

interface TxData { tx: Bytes }
interface TxUpdatesData { tx: Bytes; updates: Bytes[] }
interface RoundError { channel_id: Bytes; round: number; error_code: number }
interface BlockTx { channel_id: Bytes; block_hash: Bytes; data: TxData }
interface BlockTxUpdates { channel_id: Bytes; block_hash: Bytes; data: TxUpdatesData }
interface ChainTx { chain_hash: Bytes; channel_id: Bytes; data: TxData }

export type PeerMessage =
  | {
      type: 'channel_open';
      chain_hash: Bytes; temporary_channel_id: Bytes; lock_period: number;
      push_amount: bigint; initiator_amount: bigint; responder_amount: bigint; channel_reserve: bigint;
      initiator: Bytes; responder: Bytes;
      /** the initiator's delegates: this service's extension, see DELEGATES below */
      delegates?: Bytes[];
    }
  | {
      type: 'channel_accept';
      chain_hash: Bytes; temporary_channel_id: Bytes; minimum_depth: number;
      /** absent: the legacy 156-byte body without the strategy byte; null: byte 0 (or any value but 1) */
      minimum_depth_strategy?: MinDepthStrategy;
      initiator_amount: bigint; responder_amount: bigint; channel_reserve: bigint;
      initiator: Bytes; responder: Bytes;
      /** the responder's delegates: this service's extension, see DELEGATES below */
      delegates?: Bytes[];
    }
  | ({ type: 'channel_reestablish' } & ChainTx)
  | ({ type: 'channel_reest_ack' } & ChainTx)
  | { type: 'funding_created'; temporary_channel_id: Bytes; block_hash: Bytes; data: TxUpdatesData }
  | { type: 'funding_signed'; temporary_channel_id: Bytes; block_hash: Bytes; data: TxData }
  | { type: 'funding_locked'; temporary_channel_id: Bytes; channel_id: Bytes }
  | ({ type: 'update' } & BlockTxUpdates)
  | { type: 'update_ack'; channel_id: Bytes; data: TxData }
  | ({ type: 'update_error' } & RoundError)
  | ({ type: 'deposit_created' } & BlockTxUpdates)
  | ({ type: 'deposit_signed' } & BlockTx)
  | { type: 'deposit_locked'; channel_id: Bytes; data: { tx_hash: Bytes } }
  | ({ type: 'deposit_error' } & RoundError)
  | ({ type: 'withdraw_created' } & BlockTxUpdates)
  | ({ type: 'withdraw_signed' } & BlockTx)
  | { type: 'withdraw_locked'; channel_id: Bytes; data: { tx_hash: Bytes } }
  | ({ type: 'withdraw_error' } & RoundError)
  | { type: 'leave'; channel_id: Bytes }
  | { type: 'leave_ack'; channel_id: Bytes }
  | { type: 'inband_msg'; channel_id: Bytes; from: Bytes; to: Bytes; info: Bytes }
  | { type: 'error'; channel_id: Bytes; data: Bytes }
  | ({ type: 'shutdown' } & BlockTx)
  | ({ type: 'shutdown_ack' } & BlockTx)
  | ({ type: 'shutdown_error' } & RoundError);

export type PeerMessageOf<T extends PeerMessageType> = Extract<PeerMessage, { type: T }>;

// ---------------------------------------------------------------------------------------------
// Reading: a cursor that refuses to step past the end.

class Reader {
  private at = 0;
  constructor(private readonly buf: Bytes, private readonly what: string) {}

  get remaining(): number {
    return this.buf.length - this.at;
  }

  bytes(n: number, field: string): Bytes {
    if (n > this.remaining) {
      throw new PeerCodecError('truncated', `${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  uint(n: 1 | 2 | 4, field: string): number {
    const b = this.bytes(n, field);
    let v = 0;
    for (const x of b) v = v * 256 + x;
    return v;
  }

  u64(field: string): bigint {
    const b = this.bytes(8, field);
    let v = 0n;
    for (const x of b) v = (v << 8n) | BigInt(x);
    return v;
  }

  /** aesc_codec:decode_data/1 — a 2-byte length and exactly that many bytes, ending the message. */
  lastBlob(field: string): Bytes {
    const len = this.uint(2, `${field} length`);
    if (len !== this.remaining) {
      throw new PeerCodecError('length_mismatch', `${this.what}: ${field} says ${len} bytes, ${this.remaining} follow`);
    }
    return this.bytes(len, field);
  }

  /**
   * aesc_codec:decode_data_list/1 as used by the *_created and update messages: blobs to the end,
   * the first one the tx. The node's `[Tx | Updates] = ...` crashes on an empty list; we refuse it.
   */
  blobList(field: string): Bytes[] {
    const out: Bytes[] = [];
    while (this.remaining > 0) {
      const len = this.uint(2, `${field}[${out.length}] length`);
      out.push(this.bytes(len, `${field}[${out.length}]`));
    }
    if (out.length === 0) throw new PeerCodecError('truncated', `${this.what}: ${field} is missing the tx`);
    return out;
  }

  end(): void {
    if (this.remaining !== 0) {
      throw new PeerCodecError('trailing_bytes', `${this.what}: ${this.remaining} unexpected trailing bytes`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: checks each field against its wire size, since Erlang would silently truncate an
// oversized integer and we would rather refuse than send something the peer reads differently.

class Writer {
  private readonly parts: Bytes[] = [];
  private size = 0;
  constructor(private readonly what: string) {}

  private push(b: Bytes): void {
    this.parts.push(b);
    this.size += b.length;
  }

  fixed(b: Bytes, n: number, field: string): this {
    if (!(b instanceof Uint8Array) || b.length !== n) {
      throw new PeerCodecError('invalid_field', `${this.what}: ${field} must be ${n} bytes`);
    }
    this.push(b);
    return this;
  }

  uint(v: number, n: 1 | 2 | 4, field: string): this {
    const max = n === 1 ? 0xff : n === 2 ? MAX_U16 : MAX_U32;
    if (!Number.isInteger(v) || v < 0 || v > max) {
      throw new PeerCodecError('invalid_field', `${this.what}: ${field} must be an integer in 0..${max}`);
    }
    const b = new Uint8Array(n);
    for (let i = n - 1, x = v; i >= 0; i--, x = Math.floor(x / 256)) b[i] = x % 256;
    this.push(b);
    return this;
  }

  u64(v: bigint, field: string): this {
    if (typeof v !== 'bigint' || v < 0n || v > MAX_U64) {
      throw new PeerCodecError('invalid_field', `${this.what}: ${field} must be a bigint in 0..2^64-1`);
    }
    const b = new Uint8Array(8);
    for (let i = 7, x = v; i >= 0; i--, x >>= 8n) b[i] = Number(x & 0xffn);
    this.push(b);
    return this;
  }

  blob(b: Bytes, field: string): this {
    if (!(b instanceof Uint8Array)) throw new PeerCodecError('invalid_field', `${this.what}: ${field} must be bytes`);
    this.uint(b.length, 2, `${field} length`);
    this.push(b);
    return this;
  }

  done(): Uint8Array {
    if (this.size > MAX_PEER_MESSAGE) {
      throw new PeerCodecError('too_large', `${this.what}: ${this.size} bytes exceed one Noise message (${MAX_PEER_MESSAGE})`);
    }
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

const H = 32; // hashes, channel ids and public keys are all 32 bytes in aesc_codec
const ACCEPT_LEGACY_BODY = H + H + 4 + 8 + 8 + 8 + H + H;

/**
 * DELEGATES, this service's one extension of the node's messages. The node's create tx names no
 * delegates (aesc_fsm create_tx_for_signing: `delegate_ids => {[], []}`), so its channel_open and
 * channel_accept have no field for them; this service lets each participant name its own (its
 * service's watchtower), which the other side needs to build the same create tx. So a channel_open
 * or channel_accept whose sender names delegates carries them after the node's body:
 * `<<Count:8, Pubkey:32 * Count>>`, Count 1..255. With none, nothing is appended and the message is
 * the node's byte for byte; a node that gets the extended form refuses it as it refuses any message
 * of the wrong size (its session dies), which is right, since it could not build that create tx.
 */
function writeDelegates(w: Writer, delegates: Bytes[] | undefined): void {
  if (!delegates?.length) return;
  w.uint(delegates.length, 1, 'delegates count');
  delegates.forEach((d, i) => w.fixed(d, H, `delegates[${i}]`));
}

function readDelegates(r: Reader): { delegates?: Bytes[] } {
  if (r.remaining === 0) return {};
  const count = r.uint(1, 'delegates count');
  // an empty list is sent as no list: one way to write each message
  if (count === 0) throw new PeerCodecError('invalid_field', 'delegates: a count of 0 (none is written as nothing)');
  const delegates: Bytes[] = [];
  for (let i = 0; i < count; i++) delegates.push(r.bytes(H, `delegates[${i}]`));
  return { delegates };
}

// ---------------------------------------------------------------------------------------------

export function encode(msg: PeerMessage): Uint8Array {
  const id = MESSAGE_IDS[msg.type];
  if (id === undefined) throw new PeerCodecError('unknown_type', `unknown peer message type ${String(msg.type)}`);
  const w = new Writer(msg.type).uint(id, 1, 'id');
  switch (msg.type) {
    case 'channel_open':
      w.fixed(msg.chain_hash, H, 'chain_hash').fixed(msg.temporary_channel_id, H, 'temporary_channel_id')
        .uint(msg.lock_period, 2, 'lock_period').u64(msg.push_amount, 'push_amount')
        .u64(msg.initiator_amount, 'initiator_amount').u64(msg.responder_amount, 'responder_amount')
        .u64(msg.channel_reserve, 'channel_reserve').fixed(msg.initiator, H, 'initiator')
        .fixed(msg.responder, H, 'responder');
      writeDelegates(w, msg.delegates);
      return w.done();
    case 'channel_accept':
      w.fixed(msg.chain_hash, H, 'chain_hash').fixed(msg.temporary_channel_id, H, 'temporary_channel_id')
        .uint(msg.minimum_depth, 4, 'minimum_depth');
      // aesc_codec:enc_mindepth_strategy/1: txfee -> 1, anything else -> 0; no key, no byte.
      // delegates follow the strategy byte, so the node's legacy 156-byte form cannot carry them
      if (msg.delegates?.length && msg.minimum_depth_strategy === undefined) {
        throw new PeerCodecError('invalid_field', 'channel_accept: delegates need the minimum_depth_strategy byte');
      }
      if (msg.minimum_depth_strategy !== undefined) w.uint(msg.minimum_depth_strategy === 'txfee' ? 1 : 0, 1, 'minimum_depth_strategy');
      w.u64(msg.initiator_amount, 'initiator_amount').u64(msg.responder_amount, 'responder_amount')
        .u64(msg.channel_reserve, 'channel_reserve').fixed(msg.initiator, H, 'initiator')
        .fixed(msg.responder, H, 'responder');
      writeDelegates(w, msg.delegates);
      return w.done();
    case 'channel_reestablish':
    case 'channel_reest_ack':
      return w.fixed(msg.chain_hash, H, 'chain_hash').fixed(msg.channel_id, H, 'channel_id').blob(msg.data.tx, 'tx').done();
    case 'funding_created':
      w.fixed(msg.temporary_channel_id, H, 'temporary_channel_id').fixed(msg.block_hash, H, 'block_hash').blob(msg.data.tx, 'tx');
      msg.data.updates.forEach((u, i) => w.blob(u, `updates[${i}]`));
      return w.done();
    case 'funding_signed':
      return w.fixed(msg.temporary_channel_id, H, 'temporary_channel_id').fixed(msg.block_hash, H, 'block_hash').blob(msg.data.tx, 'tx').done();
    case 'funding_locked':
      return w.fixed(msg.temporary_channel_id, H, 'temporary_channel_id').fixed(msg.channel_id, H, 'channel_id').done();
    case 'update':
    case 'deposit_created':
    case 'withdraw_created':
      w.fixed(msg.channel_id, H, 'channel_id').fixed(msg.block_hash, H, 'block_hash').blob(msg.data.tx, 'tx');
      msg.data.updates.forEach((u, i) => w.blob(u, `updates[${i}]`));
      return w.done();
    case 'update_ack':
      return w.fixed(msg.channel_id, H, 'channel_id').blob(msg.data.tx, 'tx').done();
    case 'deposit_signed':
    case 'withdraw_signed':
    case 'shutdown':
    case 'shutdown_ack':
      return w.fixed(msg.channel_id, H, 'channel_id').fixed(msg.block_hash, H, 'block_hash').blob(msg.data.tx, 'tx').done();
    case 'deposit_locked':
    case 'withdraw_locked':
      return w.fixed(msg.channel_id, H, 'channel_id').blob(msg.data.tx_hash, 'tx_hash').done();
    case 'update_error':
    case 'deposit_error':
    case 'withdraw_error':
    case 'shutdown_error':
      return w.fixed(msg.channel_id, H, 'channel_id').uint(msg.round, 4, 'round').uint(msg.error_code, 2, 'error_code').done();
    case 'leave':
    case 'leave_ack':
      return w.fixed(msg.channel_id, H, 'channel_id').done();
    case 'inband_msg':
      if (!(msg.info instanceof Uint8Array) || msg.info.length > MAX_INBAND_INFO) {
        throw new PeerCodecError('too_large', `inband_msg: info must be bytes, at most ${MAX_INBAND_INFO}`);
      }
      return w.fixed(msg.channel_id, H, 'channel_id').fixed(msg.from, H, 'from').fixed(msg.to, H, 'to').blob(msg.info, 'info').done();
    case 'error':
      return w.fixed(msg.channel_id, H, 'channel_id').blob(msg.data, 'data').done();
  }
}

export function decode(input: Uint8Array): PeerMessage {
  if (!(input instanceof Uint8Array)) throw new PeerCodecError('invalid_field', 'peer message must be bytes');
  if (input.length === 0) throw new PeerCodecError('empty', 'empty peer message');
  if (input.length > MAX_PEER_MESSAGE) {
    throw new PeerCodecError('too_large', `peer message of ${input.length} bytes exceeds ${MAX_PEER_MESSAGE}`);
  }
  const id = input[0]!;
  const type = TYPE_BY_ID.get(id);
  if (type === undefined) throw new PeerCodecError('unknown_type', `unknown peer message id ${id}`);
  const r = new Reader(input.subarray(1), type);
  const msg = decodeBody(type, r);
  r.end();
  return msg;
}

function decodeBody(type: PeerMessageType, r: Reader): PeerMessage {
  switch (type) {
    case 'channel_open':
      return {
        type, chain_hash: r.bytes(H, 'chain_hash'), temporary_channel_id: r.bytes(H, 'temporary_channel_id'),
        lock_period: r.uint(2, 'lock_period'), push_amount: r.u64('push_amount'),
        initiator_amount: r.u64('initiator_amount'), responder_amount: r.u64('responder_amount'),
        channel_reserve: r.u64('channel_reserve'), initiator: r.bytes(H, 'initiator'), responder: r.bytes(H, 'responder'),
        ...readDelegates(r),
      };
    case 'channel_accept': {
      // The node tells the two clauses apart by size alone: 157 bytes with the strategy, 156 without
      // (and more: with the strategy and our DELEGATES)
      const withStrategy = r.remaining > ACCEPT_LEGACY_BODY;
      const chain_hash = r.bytes(H, 'chain_hash');
      const temporary_channel_id = r.bytes(H, 'temporary_channel_id');
      const minimum_depth = r.uint(4, 'minimum_depth');
      const strategy = withStrategy ? { minimum_depth_strategy: r.uint(1, 'minimum_depth_strategy') === 1 ? 'txfee' as const : null } : {};
      return {
        type, chain_hash, temporary_channel_id, minimum_depth, ...strategy,
        initiator_amount: r.u64('initiator_amount'), responder_amount: r.u64('responder_amount'),
        channel_reserve: r.u64('channel_reserve'), initiator: r.bytes(H, 'initiator'), responder: r.bytes(H, 'responder'),
        ...readDelegates(r),
      };
    }
    case 'channel_reestablish':
    case 'channel_reest_ack':
      return { type, chain_hash: r.bytes(H, 'chain_hash'), channel_id: r.bytes(H, 'channel_id'), data: { tx: r.lastBlob('tx') } };
    case 'funding_created': {
      const temporary_channel_id = r.bytes(H, 'temporary_channel_id');
      const block_hash = r.bytes(H, 'block_hash');
      const [tx, ...updates] = r.blobList('data') as [Bytes, ...Bytes[]];
      return { type, temporary_channel_id, block_hash, data: { tx, updates } };
    }
    case 'funding_signed':
      return { type, temporary_channel_id: r.bytes(H, 'temporary_channel_id'), block_hash: r.bytes(H, 'block_hash'), data: { tx: r.lastBlob('tx') } };
    case 'funding_locked':
      return { type, temporary_channel_id: r.bytes(H, 'temporary_channel_id'), channel_id: r.bytes(H, 'channel_id') };
    case 'update':
    case 'deposit_created':
    case 'withdraw_created': {
      const channel_id = r.bytes(H, 'channel_id');
      const block_hash = r.bytes(H, 'block_hash');
      const [tx, ...updates] = r.blobList('data') as [Bytes, ...Bytes[]];
      return { type, channel_id, block_hash, data: { tx, updates } };
    }
    case 'update_ack':
      return { type, channel_id: r.bytes(H, 'channel_id'), data: { tx: r.lastBlob('tx') } };
    case 'deposit_signed':
    case 'withdraw_signed':
    case 'shutdown':
    case 'shutdown_ack':
      return { type, channel_id: r.bytes(H, 'channel_id'), block_hash: r.bytes(H, 'block_hash'), data: { tx: r.lastBlob('tx') } };
    case 'deposit_locked':
    case 'withdraw_locked':
      return { type, channel_id: r.bytes(H, 'channel_id'), data: { tx_hash: r.lastBlob('tx_hash') } };
    case 'update_error':
    case 'deposit_error':
    case 'withdraw_error':
    case 'shutdown_error':
      return { type, channel_id: r.bytes(H, 'channel_id'), round: r.uint(4, 'round'), error_code: r.uint(2, 'error_code') };
    case 'leave':
    case 'leave_ack':
      return { type, channel_id: r.bytes(H, 'channel_id') };
    case 'inband_msg': {
      const channel_id = r.bytes(H, 'channel_id');
      const from = r.bytes(H, 'from');
      const to = r.bytes(H, 'to');
      const info = r.lastBlob('info');
      // The node's decoder does not check this, but its encoder never sends more (aesc_codec enc_inband_msg).
      if (info.length > MAX_INBAND_INFO) throw new PeerCodecError('too_large', `inband_msg: info of ${info.length} bytes exceeds ${MAX_INBAND_INFO}`);
      return { type, channel_id, from, to, info };
    }
    case 'error':
      return { type, channel_id: r.bytes(H, 'channel_id'), data: r.lastBlob('data') };
  }
}

/** The node's error codes (aesc_codec.hrl ERR_*); codes >= 128 are user-defined. */
export const ERROR_CODES = {
  validation: 1,
  conflict: 2,
  timeout: 3,
  abort: 4,
  onchain_rejected: 5,
  user: 128,
} as const;
