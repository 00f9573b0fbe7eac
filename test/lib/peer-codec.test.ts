/**
 * The peer codec reads and writes exactly what the node's aesc_codec.erl does. The expected bytes
 * below are written out from the binary patterns in aeternity/aeternity apps/aechannel/src/aesc_codec.erl
 * (ids from aesc_codec.hrl): unsigned big-endian integers, 32-byte hashes/ids/keys, and blobs as a
 * 2-byte big-endian length followed by the bytes (encode_data/2 with LengthBytes = 2).
 */
import t from 'tap';
import fc from 'fast-check';
import {
  decode, encode, MAX_INBAND_INFO, MAX_PEER_MESSAGE, MESSAGE_IDS, PeerCodecError,
  type PeerMessage, type PeerMessageType,
} from '../../lib/peer/codec.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fill = (byte: number, n = 32): Uint8Array => new Uint8Array(n).fill(byte);
const rep = (h: string, n = 32): string => h.repeat(n);

t.test('message ids are those of aesc_codec.hrl', async (t) => {
  // -define(ID_CH_OPEN, 1) ... -define(ID_WDRAW_ERR, 18), then ID_LEAVE 94 .. ID_SHUTDOWN_ERR 100.
  t.same(MESSAGE_IDS, {
    channel_open: 1, channel_accept: 2, channel_reestablish: 3, channel_reest_ack: 4,
    funding_created: 5, funding_signed: 6, funding_locked: 7,
    update: 8, update_ack: 9, update_error: 10,
    deposit_created: 11, deposit_signed: 12, deposit_locked: 13, deposit_error: 14,
    withdraw_created: 15, withdraw_signed: 16, withdraw_locked: 17, withdraw_error: 18,
    leave: 94, leave_ack: 95, inband_msg: 96, error: 97, shutdown: 98, shutdown_ack: 99, shutdown_error: 100,
  });
});

t.test('byte layouts follow aesc_codec.erl', async (t) => {
  const cases: Array<[string, PeerMessage, string]> = [
    [
      // enc_ch_open: id:1, ChainHash:32, ChanId:32, LockPeriod:2, PushAmt:8, InitiatorAmt:8,
      // ResponderAmt:8, ChanReserve:8, InitiatorPubkey:32, ResponderPubkey:32 (= 1 + 162 bytes)
      'channel_open',
      {
        type: 'channel_open', chain_hash: fill(0x11), temporary_channel_id: fill(0x22), lock_period: 10,
        push_amount: 1n, initiator_amount: 0x0102030405060708n, responder_amount: (1n << 64n) - 1n,
        channel_reserve: 0n, initiator: fill(0xaa), responder: fill(0xbb),
      },
      '01' + rep('11') + rep('22') + '000a' + '0000000000000001' + '0102030405060708' + 'ffffffffffffffff'
        + '0000000000000000' + rep('aa') + rep('bb'),
    ],
    [
      // enc_ch_accept, first clause: MinDepth:4 then MinDepthStrategy:1 (txfee -> 1)
      'channel_accept with strategy',
      {
        type: 'channel_accept', chain_hash: fill(0x11), temporary_channel_id: fill(0x22), minimum_depth: 4,
        minimum_depth_strategy: 'txfee', initiator_amount: 100n, responder_amount: 200n, channel_reserve: 3n,
        initiator: fill(0xaa), responder: fill(0xbb),
      },
      '02' + rep('11') + rep('22') + '00000004' + '01' + '0000000000000064' + '00000000000000c8'
        + '0000000000000003' + rep('aa') + rep('bb'),
    ],
    [
      // enc_ch_accept, second (backwards compatible) clause: no strategy byte at all
      'channel_accept legacy',
      {
        type: 'channel_accept', chain_hash: fill(0x11), temporary_channel_id: fill(0x22), minimum_depth: 0x01020304,
        initiator_amount: 1n, responder_amount: 2n, channel_reserve: 3n, initiator: fill(0xaa), responder: fill(0xbb),
      },
      '02' + rep('11') + rep('22') + '01020304' + '0000000000000001' + '0000000000000002'
        + '0000000000000003' + rep('aa') + rep('bb'),
    ],
    [
      // enc_ch_reestabl: ChainHash:32, ChanId:32, encode_data(Tx)
      'channel_reestablish',
      { type: 'channel_reestablish', chain_hash: fill(0x11), channel_id: fill(0x33), data: { tx: hex('f8c3') } },
      '03' + rep('11') + rep('33') + '0002' + 'f8c3',
    ],
    [
      // enc_fnd_created: ChanId:32, BlockHash:32, encode_data(Tx), encode_data_list(Updates)
      'funding_created',
      {
        type: 'funding_created', temporary_channel_id: fill(0x22), block_hash: fill(0x44),
        data: { tx: hex('c0ffee'), updates: [hex('01'), hex('')] },
      },
      '05' + rep('22') + rep('44') + '0003c0ffee' + '000101' + '0000',
    ],
    [
      // enc_fnd_locked: TempChanId:32, OnChainId:32
      'funding_locked',
      { type: 'funding_locked', temporary_channel_id: fill(0x22), channel_id: fill(0x33) },
      '07' + rep('22') + rep('33'),
    ],
    [
      // enc_update: ChanId:32, BlockHash:32, encode_data(Tx), encode_data_list(Updates) with no updates
      'update',
      { type: 'update', channel_id: fill(0x33), block_hash: fill(0x00), data: { tx: hex('aabbcc'), updates: [] } },
      '08' + rep('33') + rep('00') + '0003aabbcc',
    ],
    [
      // enc_update_ack: ChanId:32, encode_data(Tx)
      'update_ack',
      { type: 'update_ack', channel_id: fill(0x33), data: { tx: hex('0102') } },
      '09' + rep('33') + '00020102',
    ],
    [
      // enc_update_err: ChanId:32, Round:4, ErrCode:2 (ERR_CONFLICT = 2)
      'update_error',
      { type: 'update_error', channel_id: fill(0x33), round: 7, error_code: 2 },
      '0a' + rep('33') + '00000007' + '0002',
    ],
    [
      // enc_dep_locked: ChanId:32, encode_data(TxHash) — the hash is length-prefixed, not fixed
      'deposit_locked',
      { type: 'deposit_locked', channel_id: fill(0x33), data: { tx_hash: fill(0x55) } },
      '0d' + rep('33') + '0020' + rep('55'),
    ],
    [
      // enc_wdraw_err: ChanId:32, Round:4, ErrCode:2 (ERR_ONCHAIN_REJECTED = 5)
      'withdraw_error',
      { type: 'withdraw_error', channel_id: fill(0x33), round: 0xffffffff, error_code: 5 },
      '12' + rep('33') + 'ffffffff' + '0005',
    ],
    ['leave', { type: 'leave', channel_id: fill(0x33) }, '5e' + rep('33')],
    ['leave_ack', { type: 'leave_ack', channel_id: fill(0x33) }, '5f' + rep('33')],
    [
      // enc_inband_msg: ChanId:32, From:32, To:32, Length:2, Info:Length
      'inband_msg',
      { type: 'inband_msg', channel_id: fill(0x33), from: fill(0xaa), to: fill(0xbb), info: Buffer.from('hi') },
      '60' + rep('33') + rep('aa') + rep('bb') + '0002' + '6869',
    ],
    [
      // enc_error: ChanId:32, encode_data(Data)
      'error',
      { type: 'error', channel_id: fill(0x33), data: Buffer.from('oops') },
      '61' + rep('33') + '0004' + '6f6f7073',
    ],
    [
      // enc_shutdown: ChanId:32, BlockHash:32, encode_data(Tx)
      'shutdown',
      { type: 'shutdown', channel_id: fill(0x33), block_hash: fill(0x44), data: { tx: hex('ab') } },
      '62' + rep('33') + rep('44') + '0001ab',
    ],
    [
      'shutdown_error',
      { type: 'shutdown_error', channel_id: fill(0x33), round: 1, error_code: 128 },
      '64' + rep('33') + '00000001' + '0080',
    ],
  ];
  for (const [name, msg, expected] of cases) {
    t.equal(toHex(encode(msg)), expected, `${name} encodes as the node does`);
    t.same(decode(hex(expected)), msg, `${name} decodes as the node does`);
  }
  t.equal(hex(cases[0]![2]).length, 1 + 162, 'channel_open is 163 bytes: 32+32+2+4*8+32+32 after the id');
  t.equal(hex(cases[1]![2]).length, 1 + 157, 'channel_accept is 158 bytes with the strategy');
  t.equal(hex(cases[2]![2]).length, 1 + 156, 'and 157 without');
});

t.test('channel_accept strategy byte: 1 is txfee, anything else is undefined in the node', async (t) => {
  // dec_mindepth_strategy(1) -> txfee; dec_mindepth_strategy(_) -> undefined, re-encoded as 0.
  const body = rep('11') + rep('22') + '00000004' + '07' + rep('00', 24) + rep('aa') + rep('bb');
  const msg = decode(hex('02' + body));
  t.equal(msg.type === 'channel_accept' && msg.minimum_depth_strategy, null);
  t.equal(toHex(encode(msg)).slice(2 + 2 * 68, 2 + 2 * 69), '00');
});

t.test('DELEGATES, our extension: a count and 32-byte keys after channel_open\'s and channel_accept\'s bodies; none is the node\'s message', async (t) => {
  const openBody = rep('11') + rep('22') + '000a' + rep('00', 32) + rep('aa') + rep('bb');
  const open = decode(hex('01' + openBody + '02' + rep('c1') + rep('c2')));
  t.same(open.type === 'channel_open' && open.delegates, [fill(0xc1), fill(0xc2)], 'channel_open with two delegates');
  t.equal(toHex(encode(open)), '01' + openBody + '02' + rep('c1') + rep('c2'), 're-encoded the same');
  t.notOk('delegates' in decode(hex('01' + openBody)), 'the node\'s channel_open: no delegates');
  t.equal(toHex(encode({ ...open, delegates: [] } as PeerMessage)), '01' + openBody, 'an empty list is written as nothing');
  const acceptBody = rep('11') + rep('22') + '00000004' + '01' + rep('00', 24) + rep('aa') + rep('bb');
  const accept = decode(hex('02' + acceptBody + '01' + rep('d1')));
  t.same(accept.type === 'channel_accept' && [accept.minimum_depth_strategy, accept.delegates], ['txfee', [fill(0xd1)]], 'channel_accept with the strategy and a delegate');
  t.equal(toHex(encode(accept)), '02' + acceptBody + '01' + rep('d1'));
  t.equal(codeOf(() => decode(hex('01' + openBody + '00'))), 'invalid_field', 'a count of 0');
  t.equal(codeOf(() => decode(hex('01' + openBody + '02' + rep('c1')))), 'truncated', 'fewer keys than counted');
  t.equal(codeOf(() => decode(hex('01' + openBody + '01' + rep('c1') + '00'))), 'trailing_bytes', 'more than counted');
  t.equal(codeOf(() => encode({ ...accept, minimum_depth_strategy: undefined } as PeerMessage)), 'invalid_field', 'not in the legacy channel_accept');
  t.equal(codeOf(() => encode({ ...open, delegates: Array.from({ length: 256 }, () => fill(1)) } as PeerMessage)), 'invalid_field', 'at most 255');
});

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof PeerCodecError ? e.code : `not a PeerCodecError: ${String(e)}`;
  }
  return undefined;
};

t.test('decode refuses malformed input with the codec error', async (t) => {
  const leave = '5e' + rep('33');
  t.equal(codeOf(() => decode(new Uint8Array(0))), 'empty');
  t.equal(codeOf(() => decode(hex('13' + rep('33')))), 'unknown_type', 'id 19 is not allocated');
  t.equal(codeOf(() => decode(hex('00'))), 'unknown_type');
  t.equal(codeOf(() => decode(hex(leave.slice(0, -2)))), 'truncated');
  t.equal(codeOf(() => decode(hex(leave + '00'))), 'trailing_bytes');
  // encode_data: the 2-byte length must equal the rest exactly (Length = byte_size(Data)).
  t.equal(codeOf(() => decode(hex('09' + rep('33') + '0003' + '0102'))), 'length_mismatch');
  t.equal(codeOf(() => decode(hex('09' + rep('33') + '0001' + '0102'))), 'length_mismatch');
  // decode_data_list: a blob running past the end, and no tx at all ([Tx | Updates] needs one).
  t.equal(codeOf(() => decode(hex('08' + rep('33') + rep('00') + '0003aabb'))), 'truncated');
  t.equal(codeOf(() => decode(hex('08' + rep('33') + rep('00')))), 'truncated');
  t.equal(codeOf(() => decode(hex('08' + rep('33') + rep('00') + '00'))), 'truncated', 'half a length');
  t.equal(codeOf(() => decode(hex('02' + rep('11', 155)))), 'truncated', 'channel_accept of neither size');
  t.equal(codeOf(() => decode(new Uint8Array(MAX_PEER_MESSAGE + 1).fill(0x61))), 'too_large');
  const bigInfo = new Uint8Array(1 + 96 + 2 + MAX_INBAND_INFO + 1);
  bigInfo.set(hex('60'), 0);
  bigInfo.set(hex(((MAX_INBAND_INFO + 1) >> 8).toString(16).padStart(2, '0') + ((MAX_INBAND_INFO + 1) & 0xff).toString(16).padStart(2, '0')), 97);
  t.equal(codeOf(() => decode(bigInfo)), 'too_large', 'inband info over max_inband_msg_size');
  t.equal(codeOf(() => decode('5e' as unknown as Uint8Array)), 'invalid_field');
});

t.test('encode refuses what the node would truncate or reject', async (t) => {
  const id = fill(0x33);
  t.equal(codeOf(() => encode({ type: 'leave', channel_id: fill(0x33, 31) })), 'invalid_field');
  t.equal(codeOf(() => encode({ type: 'update_error', channel_id: id, round: 2 ** 32, error_code: 1 })), 'invalid_field');
  t.equal(codeOf(() => encode({ type: 'update_error', channel_id: id, round: 1, error_code: -1 })), 'invalid_field');
  t.equal(codeOf(() => encode({ type: 'update_error', channel_id: id, round: 1.5, error_code: 1 })), 'invalid_field');
  t.equal(codeOf(() => encode({ type: 'update_ack', channel_id: id, data: { tx: new Uint8Array(0x10000) } })), 'invalid_field');
  t.equal(codeOf(() => encode({ type: 'inband_msg', channel_id: id, from: id, to: id, info: new Uint8Array(MAX_INBAND_INFO + 1) })), 'too_large');
  t.equal(codeOf(() => encode({
    type: 'update', channel_id: id, block_hash: id, data: { tx: new Uint8Array(40000), updates: [new Uint8Array(40000)] },
  })), 'too_large', 'more than one Noise message');
  t.equal(codeOf(() => encode({
    type: 'channel_open', chain_hash: id, temporary_channel_id: id, lock_period: 1, push_amount: 1n << 64n,
    initiator_amount: 0n, responder_amount: 0n, channel_reserve: 0n, initiator: id, responder: id,
  })), 'invalid_field', 'amount over 2^64-1');
  t.equal(codeOf(() => encode({ type: 'nope' } as unknown as PeerMessage)), 'unknown_type');
});

// ---------------------------------------------------------------------------------------------
// Round trips for every message type, and fuzzing.

const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const blob = fc.uint8Array({ maxLength: 300 });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const txd = fc.record({ tx: blob });
const txu = fc.record({ tx: blob, updates: fc.array(blob, { maxLength: 5 }) });
const roundErr = { channel_id: b32, round: u32, error_code: u16 };
const blockTx = { channel_id: b32, block_hash: b32, data: txd };
const blockTxu = { channel_id: b32, block_hash: b32, data: txu };
const chainTx = { chain_hash: b32, channel_id: b32, data: txd };
/** one to three when present (an optional key): an empty list is written as none and decodes as absent */
const delegatesArb = fc.array(b32, { minLength: 1, maxLength: 3 });
const withType = <T extends PeerMessageType>(type: T, fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(fields).map((f) => ({ type, ...f }) as unknown as PeerMessage);

const arbitraries: Record<PeerMessageType, fc.Arbitrary<PeerMessage>> = {
  channel_open: fc.record({
    chain_hash: b32, temporary_channel_id: b32, lock_period: u16, push_amount: u64, initiator_amount: u64,
    responder_amount: u64, channel_reserve: u64, initiator: b32, responder: b32, delegates: delegatesArb,
  }, { requiredKeys: ['chain_hash', 'temporary_channel_id', 'lock_period', 'push_amount', 'initiator_amount', 'responder_amount', 'channel_reserve', 'initiator', 'responder'] })
    .map((f) => ({ type: 'channel_open' as const, ...f })),
  channel_accept: fc.record({
    chain_hash: b32, temporary_channel_id: b32, minimum_depth: u32,
    minimum_depth_strategy: fc.constantFrom<'txfee' | null>('txfee', null),
    initiator_amount: u64, responder_amount: u64, channel_reserve: u64, initiator: b32, responder: b32, delegates: delegatesArb,
  }, { requiredKeys: ['chain_hash', 'temporary_channel_id', 'minimum_depth', 'initiator_amount', 'responder_amount', 'channel_reserve', 'initiator', 'responder'] })
    // delegates ride after the strategy byte (codec.ts DELEGATES)
    .map((f) => ({ type: 'channel_accept' as const, ...f }))
    .filter((m) => m.delegates === undefined || m.minimum_depth_strategy !== undefined),
  channel_reestablish: withType('channel_reestablish', chainTx),
  channel_reest_ack: withType('channel_reest_ack', chainTx),
  funding_created: withType('funding_created', { temporary_channel_id: b32, block_hash: b32, data: txu }),
  funding_signed: withType('funding_signed', { temporary_channel_id: b32, block_hash: b32, data: txd }),
  funding_locked: withType('funding_locked', { temporary_channel_id: b32, channel_id: b32 }),
  update: withType('update', blockTxu),
  update_ack: withType('update_ack', { channel_id: b32, data: txd }),
  update_error: withType('update_error', roundErr),
  deposit_created: withType('deposit_created', blockTxu),
  deposit_signed: withType('deposit_signed', blockTx),
  deposit_locked: withType('deposit_locked', { channel_id: b32, data: fc.record({ tx_hash: blob }) }),
  deposit_error: withType('deposit_error', roundErr),
  withdraw_created: withType('withdraw_created', blockTxu),
  withdraw_signed: withType('withdraw_signed', blockTx),
  withdraw_locked: withType('withdraw_locked', { channel_id: b32, data: fc.record({ tx_hash: blob }) }),
  withdraw_error: withType('withdraw_error', roundErr),
  leave: withType('leave', { channel_id: b32 }),
  leave_ack: withType('leave_ack', { channel_id: b32 }),
  inband_msg: withType('inband_msg', { channel_id: b32, from: b32, to: b32, info: blob }),
  error: withType('error', { channel_id: b32, data: blob }),
  shutdown: withType('shutdown', blockTx),
  shutdown_ack: withType('shutdown_ack', blockTx),
  shutdown_error: withType('shutdown_error', roundErr),
};

t.test('every message type round-trips', async (t) => {
  t.same(Object.keys(arbitraries).sort(), Object.keys(MESSAGE_IDS).sort(), 'an arbitrary for every type');
  for (const [type, arb] of Object.entries(arbitraries)) {
    fc.assert(fc.property(arb, (msg) => {
      const bytes = encode(msg);
      if (bytes[0] !== MESSAGE_IDS[type as PeerMessageType]) return false;
      const back = decode(bytes);
      t.same(back, msg);
      return toHex(encode(back)) === toHex(bytes);
    }), { numRuns: 50 });
  }
});

const anyMessage = fc.oneof(...Object.values(arbitraries));
const onlyCodecErrors = (bytes: Uint8Array): boolean => {
  let msg: PeerMessage;
  try {
    msg = decode(bytes);
  } catch (e) {
    if (e instanceof PeerCodecError) return true;
    throw e;
  }
  // What decodes re-encodes to the same bytes, except a channel_accept strategy byte other than 0/1.
  return msg.type === 'channel_accept' || toHex(encode(msg)) === toHex(bytes);
};

t.test('fuzz: decode never throws anything but PeerCodecError', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), onlyCodecErrors), { numRuns: 3000 });
  // Garbage behind a valid id reaches the field decoders instead of stopping at the id.
  const ids = Object.values(MESSAGE_IDS);
  fc.assert(fc.property(fc.constantFrom(...ids), fc.uint8Array({ maxLength: 400 }), (id, rest) =>
    onlyCodecErrors(Uint8Array.from([id, ...rest]))), { numRuns: 3000 });
  // Valid messages truncated, extended and bit-flipped.
  fc.assert(fc.property(anyMessage, fc.nat(), fc.nat({ max: 255 }), fc.uint8Array({ maxLength: 4 }), (msg, pos, flip, extra) => {
    const bytes = encode(msg);
    const cut = bytes.subarray(0, pos % (bytes.length + 1));
    const flipped = Uint8Array.from(bytes);
    const at = pos % bytes.length;
    flipped[at] = flipped[at]! ^ flip;
    return onlyCodecErrors(cut) && onlyCodecErrors(flipped) && onlyCodecErrors(Uint8Array.from([...bytes, ...extra]));
  }), { numRuns: 2000 });
  t.pass('no foreign exception');
});
