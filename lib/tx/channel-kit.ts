/**
 * The channel transactions, built and parsed with the aepp-sdk's encoder: the create tx (v2), the
 * off-chain tx (v2) and their SignedTx wrappers, the channel id, and the checks on signed txs that
 * come back from a client or the peer. Implements the machine's TxKit.
 */
import { buildTx, Encoding, EntryTag, Tag, unpackEntry, unpackTx } from '../sdk.js';
import { decode as rlpDecode } from 'rlp';
import type {
  AccountId, Balances, ChannelId, ChannelParams, EncodedTx, OnchainTerms, SignedCheck, StateHash, TxKit,
} from '../../fsm/types.js';
import { blake2b256, signingMessage, verifySignature } from './crypto.js';
import { feeAtGasPrice } from './gas-price.js';
import { asBuffer, decode, decodeUnremembered, encode } from './encoding.js';
import { Memo } from './memo.js';
import { rlpEncode } from './rlp-write.js';
import { encodeSignedTx, readSignedTx } from './signed-rlp.js';
import { accountsTrie, intBytes, proofOfInclusion, stateHash, type Trie } from './state-trees.js';

/** A close_solo without payload closes on the state the chain already holds. */
const EMPTY_PAYLOAD = encode(Buffer.alloc(0), Encoding.Transaction);

/** blake2b-256(initiator ‖ nonce as a 256-bit big-endian integer ‖ responder), as aesc_channels derives it. */
export function channelId(initiator: AccountId, nonce: number, responder: AccountId): ChannelId {
  const nonceBytes = Buffer.alloc(32);
  nonceBytes.writeBigUInt64BE(BigInt(nonce), 24);
  return encode(blake2b256(Buffer.concat([decode(initiator), nonceBytes, decode(responder)])), Encoding.Channel);
}

export function channelTrie(params: ChannelParams, balances: Balances): Trie | null {
  return accountsTrie([
    [decode(params.initiatorId), balances.initiator],
    [decode(params.responderId), balances.responder],
  ]);
}

const stateHashes = new Memo<StateHash>(1_000);

/** The state hash of a channel's balances (a pure function: each side of a round asks for the same one). */
export function channelStateHash(params: ChannelParams, balances: Balances): StateHash {
  const key = `${params.initiatorId}:${params.responderId}:${balances.initiator}:${balances.responder}`;
  return stateHashes.get(key, () => encode(stateHash(channelTrie(params, balances)), Encoding.State));
}

// RLP fields as bytes: the rlp package turns numbers into bytes through hex strings, slowly
const OFFCHAIN_TX_HEADER = [Buffer.of(Tag.ChannelOffChainTx), Buffer.of(2)];
/** the id type tag of a channel in an RLP id field (aeser_id) */
const CHANNEL_ID_TAG = 6;
const SIGNATURE_BYTES = 64;

/** Signatures in the order a SignedTx holds them: by their bytes, as the node sorts them. */
function sortedSignatures(signatures: Uint8Array[]): Buffer[] {
  return signatures.map(asBuffer).sort(Buffer.compare);
}

/** The RLP of a SignedTx: its signatures sorted by their bytes, as the node sorts them, then the tx. */
function signedTxBytes(inner: Uint8Array, signatures: Uint8Array[]): Uint8Array {
  return encodeSignedTx(inner, sortedSignatures(signatures));
}

/**
 * Wraps an unsigned tx in a SignedTx with the given signatures, sorted by their bytes as the node sorts
 * them. RLP written directly: this runs for every signature of every round.
 */
export function wrapSigned(tx: EncodedTx, signatures: Uint8Array[] = []): EncodedTx {
  return encode(signedTxBytes(decode(tx), signatures), Encoding.Transaction);
}

/** The RLP of the off-chain tx (v2) of a round: [57, 2, channel id, round, state hash]. */
function offchainTxBytes(channel: ChannelId, round: number, hashOfState: StateHash): Uint8Array {
  const channelIdField = Buffer.concat([Buffer.of(CHANNEL_ID_TAG), decode(channel)]);
  return rlpEncode([...OFFCHAIN_TX_HEADER, channelIdField, intBytes(round), decode(hashOfState)]);
}

/** The off-chain tx (v2) of a round, RLP written directly. */
export function offchainTx(channel: ChannelId, round: number, hashOfState: StateHash): EncodedTx {
  return encode(offchainTxBytes(channel, round, hashOfState), Encoding.Transaction);
}

interface UnpackedSigned {
  signatures: Uint8Array[];
  encodedTx: EncodedTx;
}

/**
 * A SignedTx as read: its signatures (views into the read bytes) and its inner tx, as bytes too. The
 * inner tx as a string and the message its signatures sign are worked out when first asked for: most
 * signed txs read on the per-update path are only compared and checked, never re-encoded.
 */
class SignedParts {
  private encoded: EncodedTx | undefined;
  private message: { networkId: string; bytes: Buffer } | undefined;

  constructor(readonly signatures: Buffer[], readonly inner: Buffer, encodedTx?: EncodedTx) {
    this.encoded = encodedTx;
  }

  get encodedTx(): EncodedTx {
    return (this.encoded ??= encode(this.inner, Encoding.Transaction));
  }

  /** What the signatures sign on this network (kept for the other checks of the same round). */
  signingMessage(networkId: string): Buffer {
    if (this.message?.networkId !== networkId) this.message = { networkId, bytes: signingMessage(networkId, this.inner) };
    return this.message.bytes;
  }
}

/** Reads a SignedTx, or a bare tx as a SignedTx with no signatures; null if neither. */
function readSigned(tx: string): SignedParts | null {
  if (!tx.startsWith('tx_')) return null;
  try {
    const bytes = decodeUnremembered(tx as EncodedTx);
    // the canonical form every client, peer and this kit writes, read without the rlp package
    const canonical = readSignedTx(bytes);
    if (canonical) return new SignedParts(canonical.signatures, canonical.inner);
    const items = rlpDecode(bytes) as unknown;
    if (!Array.isArray(items) || !(items[0] instanceof Uint8Array)) return null;
    const tag = items[0].length === 1 ? items[0][0] : -1;
    if (tag !== Tag.SignedTx) return new SignedParts([], bytes, tx as EncodedTx);
    const [, version, signatures, inner] = items as [unknown, Uint8Array, unknown, unknown];
    if (version.length !== 1 || version[0] !== 1 || !Array.isArray(signatures) || !(inner instanceof Uint8Array)) return null;
    if (!signatures.every((s) => s instanceof Uint8Array && s.length === SIGNATURE_BYTES)) return null;
    return new SignedParts((signatures as Uint8Array[]).map(asBuffer), asBuffer(inner));
  } catch {
    return null;
  }
}

/**
 * Unpacks a SignedTx, or a bare tx as a SignedTx with no signatures; null if neither. Reads the RLP
 * directly: a SignedTx is [11, 1, [signatures], tx], and the inner tx need not be decoded to compare it.
 */
export function unpackSigned(tx: string): UnpackedSigned | null {
  const parts = readSigned(tx);
  return parts && { signatures: parts.signatures, encodedTx: parts.encodedTx };
}

/** Names the first field in which two txs of the same kind differ, to say why a tx was refused. */
function describeMismatch(candidate: EncodedTx, expected: EncodedTx): { reason: 'bad_state_hash' | 'wrong_round' | 'broken_encoding'; detail: string } {
  try {
    const got = unpackTx(candidate) as unknown as Record<string, unknown>;
    const want = unpackTx(expected) as unknown as Record<string, unknown>;
    if (got.tag !== want.tag) return { reason: 'broken_encoding', detail: 'not the expected kind of transaction' };
    if ('round' in want && got.round !== want.round) {
      return { reason: 'wrong_round', detail: `round ${String(got.round)}, expected ${String(want.round)}` };
    }
    if (got.stateHash !== want.stateHash) return { reason: 'bad_state_hash', detail: 'state hash does not match' };
    const field = Object.keys(want).find((k) => String(got[k]) !== String(want[k]));
    return { reason: 'broken_encoding', detail: `field ${field ?? 'encoding'} does not match` };
  } catch {
    return { reason: 'broken_encoding', detail: 'not a transaction' };
  }
}

/**
 * Builds an on-chain tx with the fee its terms ask for: the fee as given, or the least one when there
 * is none; with a gas price, the fee at that gas price, or the given fee if that is bigger (aesc_fsm
 * new_onchain_tx_). Never below the least fee the tx needs (the aepp-sdk builds nothing less): the
 * FSM refuses a fee asked for that the tx came out above. `build(fee)` returns the unsigned tx with
 * that fee (undefined: the least).
 */
function withFee(terms: OnchainTerms, build: (fee: bigint | undefined) => EncodedTx): EncodedTx {
  if (terms.fee === undefined && terms.gasPrice === undefined) return build(undefined);
  const cheapest = build(undefined);
  const least = BigInt((unpackTx(cheapest) as unknown as { fee: string }).fee);
  const atLeast = (fee: bigint | undefined) => (fee === undefined || fee <= least ? cheapest : build(fee));
  if (terms.gasPrice === undefined) return atLeast(terms.fee);
  const atGasPrice = feeAtGasPrice(atLeast, terms.gasPrice);
  return atLeast(terms.fee !== undefined && terms.fee > atGasPrice ? terms.fee : atGasPrice);
}

/** Only a round's tx is worth remembering: a client's megabyte string is worked on, not kept. */
const MEMO_MAX_CHARS = 4_096;
/** the txs and checks of the rounds in flight; the second FSM of a round asks for the same ones */
const KIT_MEMO_LIMIT = 1_000;

export function createTxKit(networkId: string): TxKit {
  // Both FSMs of a channel usually live in this process and, for each round, build the same tx and
  // make the same checks on the same strings: the initiator checks its client's signature, then the
  // responder checks that very SignedTx from the peer; likewise for the acknowledgement. All of it is
  // pure, so the second asks these memos. Their values are shared: nothing here writes into them.
  const signed = new Memo<SignedParts | null>(KIT_MEMO_LIMIT);
  /** by the candidate signed tx: each check made on it (there are one or two) */
  const checks = new Memo<Array<{ expected: string; signers: string; participants: string; result: SignedCheck }>>(KIT_MEMO_LIMIT);
  const rounds = new Memo<{ signedTx: EncodedTx; stateHash: StateHash }>(KIT_MEMO_LIMIT);
  const readSignedOnce = (tx: string) => (tx.length > MEMO_MAX_CHARS ? readSigned(tx) : signed.get(tx, () => readSigned(tx)));
  /**
   * A SignedTx this kit wrote, as a string: what reading it back gives is known, so the check the
   * other FSM makes on it (it is what goes to the peer, or comes back from it) reads nothing again.
   */
  const writeSigned = (inner: Buffer, signatures: Uint8Array[]): EncodedTx => {
    const sorted = sortedSignatures(signatures);
    const tx = encode(encodeSignedTx(inner, sorted), Encoding.Transaction);
    if (tx.length <= MEMO_MAX_CHARS) signed.set(tx, new SignedParts(sorted, inner));
    return tx;
  };

  const check = (candidate: string, expected: EncodedTx, signers: AccountId[], participants: AccountId[]): SignedCheck => {
    const got = readSignedOnce(candidate);
    if (!got) return { ok: false, reason: 'broken_encoding_transaction', detail: 'signed_tx is not a transaction' };
    const want = readSignedOnce(expected);
    if (!want) throw new Error('expected tx does not decode');
    if (!got.inner.equals(want.inner)) {
      const { reason, detail } = describeMismatch(got.encodedTx, want.encodedTx);
      return { ok: false, reason, detail };
    }
    const message = want.signingMessage(networkId);
    const signatures = [...want.signatures];
    const known = (sig: Buffer) => signatures.some((s) => s.equals(sig));
    // Signatures we already hold were checked when they came; trying them first against another
    // signer would only spend a failing verify, so the new ones go first.
    const fresh = got.signatures.filter((sig) => !known(sig));
    const held = got.signatures.filter((sig) => known(sig));
    for (const signer of signers) {
      const sig = fresh.find((s) => !known(s) && verifySignature(message, s, signer)) ?? held.find((s) => verifySignature(message, s, signer));
      if (!sig) return { ok: false, reason: 'bad_signature', detail: `no valid signature by ${signer}` };
      if (!known(sig)) signatures.push(sig);
    }
    // a client may bring the other participant's signature too (co-signed over a backchannel): keep it
    // if it is one; anything else it carried is dropped, never passed on
    for (const sig of fresh) {
      if (!known(sig) && participants.some((p) => !signers.includes(p) && verifySignature(message, sig, p))) signatures.push(sig);
    }
    return { ok: true, signedTx: writeSigned(want.inner, signatures) };
  };
  // keyed by the candidate alone: a key joining it with the expected tx would be a new string of a
  // thousand characters to hash on every look-up
  const checkSigned = (candidate: string, expected: EncodedTx, signers: AccountId[], participants: AccountId[]): SignedCheck => {
    if (candidate.length > MEMO_MAX_CHARS) return check(candidate, expected, signers, participants);
    const made = checks.get(candidate, () => []);
    const signerList = signers.join(',');
    const participantList = participants.join(',');
    let known = made.find((m) => m.expected === expected && m.signers === signerList && m.participants === participantList);
    if (!known) {
      known = { expected, signers: signerList, participants: participantList, result: check(candidate, expected, signers, participants) };
      made.push(known);
    }
    return { ...known.result };
  };

  return {
    createTx(params, terms) {
      const balances = {
        initiator: params.initiatorAmount - params.pushAmount,
        responder: params.responderAmount + params.pushAmount,
      };
      const hashOfState = channelStateHash(params, balances);
      const tx = buildTx({
        tag: Tag.ChannelCreateTx,
        initiator: params.initiatorId,
        // the tx carries the amounts as asked; only the state (and its hash) includes the push
        initiatorAmount: params.initiatorAmount,
        responder: params.responderId,
        responderAmount: params.responderAmount,
        channelReserve: params.channelReserve,
        lockPeriod: params.lockPeriod,
        ttl: terms.ttl,
        ...(terms.fee !== undefined && { fee: terms.fee }),
        initiatorDelegateIds: params.initiatorDelegateIds,
        responderDelegateIds: params.responderDelegateIds,
        stateHash: hashOfState,
        nonce: terms.nonce,
      }) as EncodedTx;
      return {
        signedTx: wrapSigned(tx),
        channelId: channelId(params.initiatorId, terms.nonce, params.responderId),
        stateHash: hashOfState,
        balances,
      };
    },

    roundTx(channel, round, params, balances, onchain) {
      if (!onchain) {
        const key = `${channel}:${round}:${params.initiatorId}:${params.responderId}:${balances.initiator}:${balances.responder}`;
        return { ...rounds.get(key, () => {
          const hashOfState = channelStateHash(params, balances);
          const signedTx = writeSigned(asBuffer(offchainTxBytes(channel, round, hashOfState)), []);
          return { signedTx, stateHash: hashOfState };
        }) };
      }
      const hashOfState = channelStateHash(params, balances);
      const tx = withFee(onchain.terms, (fee) => buildTx({
        ...(onchain.kind === 'deposit'
          ? { tag: Tag.ChannelDepositTx, fromId: onchain.account }
          : { tag: Tag.ChannelWithdrawTx, toId: onchain.account }),
        channelId: channel,
        amount: onchain.amount,
        ttl: onchain.terms.ttl,
        ...(fee !== undefined && { fee }),
        stateHash: hashOfState,
        round,
        nonce: onchain.terms.nonce,
      } as Parameters<typeof buildTx>[0]) as EncodedTx);
      return { signedTx: wrapSigned(tx), stateHash: hashOfState };
    },

    disputeTx(spec) {
      const common = { channelId: spec.channelId, fromId: spec.from, ttl: spec.terms.ttl, nonce: spec.terms.nonce };
      let fields: Record<string, unknown>;
      switch (spec.kind) {
        case 'close_solo':
        case 'slash': {
          const trie = channelTrie(spec.params, spec.balances);
          const poi = proofOfInclusion(trie, [decode(spec.params.initiatorId), decode(spec.params.responderId)]);
          fields = {
            tag: spec.kind === 'slash' ? Tag.ChannelSlashTx : Tag.ChannelCloseSoloTx,
            payload: spec.payload ?? EMPTY_PAYLOAD,
            poi: unpackEntry(poi, EntryTag.TreesPoi),
          };
          break;
        }
        case 'snapshot_solo':
          fields = { tag: Tag.ChannelSnapshotSoloTx, payload: spec.payload };
          break;
        case 'settle':
          fields = { tag: Tag.ChannelSettleTx, initiatorAmountFinal: spec.finals.initiator, responderAmountFinal: spec.finals.responder };
          break;
      }
      return wrapSigned(withFee(spec.terms, (fee) => buildTx({ ...fields, ...common, ...(fee !== undefined && { fee }) } as Parameters<typeof buildTx>[0]) as EncodedTx));
    },

    innerTag(signedTx) {
      const inner = readSignedOnce(signedTx);
      if (!inner) return null;
      const items = rlpDecode(inner.inner) as Uint8Array[];
      return items[0]?.length === 1 ? items[0][0]! : items[0]?.length === 2 ? (items[0][0]! << 8) + items[0][1]! : null;
    },

    closeMutualTx(channel, from, finals, terms) {
      return wrapSigned(withFee(terms, (fee) => buildTx({
        tag: Tag.ChannelCloseMutualTx,
        channelId: channel,
        fromId: from,
        initiatorAmountFinal: finals.initiator,
        responderAmountFinal: finals.responder,
        ttl: terms.ttl,
        ...(fee !== undefined && { fee }),
        nonce: terms.nonce,
      }) as EncodedTx));
    },

    checkSigned,

    innerTx: (signedTx) => readSignedOnce(signedTx)?.encodedTx ?? null,

    txTerms(signedTx) {
      const unpacked = readSignedOnce(signedTx);
      if (!unpacked) return null;
      try {
        const tx = unpackTx(unpacked.encodedTx) as unknown as { nonce?: number; ttl?: number; fee?: string };
        if (tx.nonce === undefined || tx.ttl === undefined || tx.fee === undefined) return null;
        return { nonce: tx.nonce, ttl: tx.ttl, fee: BigInt(tx.fee) };
      } catch {
        return null;
      }
    },
  };
}
