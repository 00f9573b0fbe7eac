/**
 * The channel transactions, built and parsed with the aepp-sdk's encoder: the create tx (v2), the
 * off-chain tx (v2) and their SignedTx wrappers, the channel id, and the checks on signed txs that
 * come back from a client or the peer. Implements the machine's TxKit.
 */
import { buildTx, Encoding, EntryTag, hash, Tag, unpackEntry, unpackTx } from '@aeternity/aepp-sdk';
import { decode as rlpDecode, encode as rlpEncode } from 'rlp';
import type {
  AccountId, Balances, ChannelId, ChannelParams, EncodedTx, SignedCheck, StateHash, TxKit,
} from '../../fsm/types.js';
import { signingMessage, verifySignature } from './crypto.js';
import { decode, encode, ownCopy } from './encoding.js';
import { Memo } from './memo.js';
import { accountsTrie, intBytes, proofOfInclusion, stateHash, type Trie } from './state-trees.js';

/** A close_solo without payload closes on the state the chain already holds. */
const EMPTY_PAYLOAD = encode(Buffer.alloc(0), Encoding.Transaction);

/** blake2b-256(initiator ‖ nonce as a 256-bit big-endian integer ‖ responder), as aesc_channels derives it. */
export function channelId(initiator: AccountId, nonce: number, responder: AccountId): ChannelId {
  const nonceBytes = Buffer.alloc(32);
  nonceBytes.writeBigUInt64BE(BigInt(nonce), 24);
  return encode(hash(Buffer.concat([decode(initiator), nonceBytes, decode(responder)])), Encoding.Channel);
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
const SIGNED_TX_HEADER = [Buffer.of(Tag.SignedTx), Buffer.of(1)];
const OFFCHAIN_TX_HEADER = [Buffer.of(Tag.ChannelOffChainTx), Buffer.of(2)];
/** the id type tag of a channel in an RLP id field (aeser_id) */
const CHANNEL_ID_TAG = 6;

/**
 * Wraps an unsigned tx in a SignedTx with the given signatures, sorted by their bytes as the node sorts
 * them. RLP written directly: this runs for every signature of every round.
 */
export function wrapSigned(tx: EncodedTx, signatures: Uint8Array[] = []): EncodedTx {
  const sorted = signatures.map((s) => Buffer.from(s)).sort(Buffer.compare);
  return encode(rlpEncode([...SIGNED_TX_HEADER, sorted, decode(tx)]), Encoding.Transaction);
}

/** The off-chain tx (v2) of a round, RLP written directly: [57, 2, channel id, round, state hash]. */
export function offchainTx(channel: ChannelId, round: number, hashOfState: StateHash): EncodedTx {
  const channelIdField = Buffer.concat([Buffer.of(CHANNEL_ID_TAG), decode(channel)]);
  return encode(rlpEncode([...OFFCHAIN_TX_HEADER, channelIdField, intBytes(round), decode(hashOfState)]), Encoding.Transaction);
}

interface UnpackedSigned {
  signatures: Uint8Array[];
  encodedTx: EncodedTx;
}

/**
 * Unpacks a SignedTx, or a bare tx as a SignedTx with no signatures; null if neither. Reads the RLP
 * directly: a SignedTx is [11, 1, [signatures], tx], and the inner tx need not be decoded to compare it.
 */
export function unpackSigned(tx: string): UnpackedSigned | null {
  if (!tx.startsWith('tx_')) return null;
  try {
    const bytes = decode(tx as EncodedTx);
    const items = rlpDecode(bytes) as unknown;
    if (!Array.isArray(items) || !(items[0] instanceof Uint8Array)) return null;
    const tag = items[0].length === 1 ? items[0][0] : -1;
    if (tag !== Tag.SignedTx) return { signatures: [], encodedTx: tx as EncodedTx };
    const [, version, signatures, inner] = items as [unknown, Uint8Array, unknown, unknown];
    if (version.length !== 1 || version[0] !== 1 || !Array.isArray(signatures) || !(inner instanceof Uint8Array)) return null;
    if (!signatures.every((s) => s instanceof Uint8Array && s.length === 64)) return null;
    return { signatures: signatures as Uint8Array[], encodedTx: encode(Buffer.from(inner), Encoding.Transaction) as EncodedTx };
  } catch {
    return null;
  }
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

export function createTxKit(networkId: string): TxKit {
  /** what each round's signatures sign, worked out once for the checks of both sides */
  const signingMessages = new Memo<Buffer>(1_000);
  const checkSigned = (candidate: string, expected: EncodedTx, signers: AccountId[], participants: AccountId[]): SignedCheck => {
    const got = unpackSigned(candidate);
    if (!got) return { ok: false, reason: 'broken_encoding_transaction', detail: 'signed_tx is not a transaction' };
    const want = unpackSigned(expected);
    if (!want) throw new Error('expected tx does not decode');
    if (got.encodedTx !== want.encodedTx) {
      const { reason, detail } = describeMismatch(got.encodedTx, want.encodedTx);
      return { ok: false, reason, detail };
    }
    const message = signingMessages.get(want.encodedTx, () => ownCopy(signingMessage(networkId, decode(want.encodedTx))));
    const signatures = [...want.signatures];
    const known = (sig: Uint8Array) => signatures.some((s) => Buffer.from(s).equals(sig));
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
    return { ok: true, signedTx: wrapSigned(want.encodedTx, signatures) };
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
      const hashOfState = channelStateHash(params, balances);
      const tx = (onchain
        ? buildTx({
          ...(onchain.kind === 'deposit'
            ? { tag: Tag.ChannelDepositTx, fromId: onchain.account }
            : { tag: Tag.ChannelWithdrawTx, toId: onchain.account }),
          channelId: channel,
          amount: onchain.amount,
          ttl: onchain.terms.ttl,
          ...(onchain.terms.fee !== undefined && { fee: onchain.terms.fee }),
          stateHash: hashOfState,
          round,
          nonce: onchain.terms.nonce,
        } as Parameters<typeof buildTx>[0])
        : offchainTx(channel, round, hashOfState)) as EncodedTx;
      return { signedTx: wrapSigned(tx), stateHash: hashOfState };
    },

    disputeTx(spec) {
      const common = {
        channelId: spec.channelId, fromId: spec.from, ttl: spec.terms.ttl, nonce: spec.terms.nonce,
        ...(spec.terms.fee !== undefined && { fee: spec.terms.fee }),
      };
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
      return wrapSigned(buildTx({ ...fields, ...common } as Parameters<typeof buildTx>[0]) as EncodedTx);
    },

    innerTag(signedTx) {
      const inner = unpackSigned(signedTx);
      if (!inner) return null;
      const items = rlpDecode(decode(inner.encodedTx)) as Uint8Array[];
      return items[0]?.length === 1 ? items[0][0]! : items[0]?.length === 2 ? (items[0][0]! << 8) + items[0][1]! : null;
    },

    closeMutualTx(channel, from, finals, terms) {
      return wrapSigned(buildTx({
        tag: Tag.ChannelCloseMutualTx,
        channelId: channel,
        fromId: from,
        initiatorAmountFinal: finals.initiator,
        responderAmountFinal: finals.responder,
        ttl: terms.ttl,
        ...(terms.fee !== undefined && { fee: terms.fee }),
        nonce: terms.nonce,
      }) as EncodedTx);
    },

    checkSigned,

    innerTx: (signedTx) => unpackSigned(signedTx)?.encodedTx ?? null,

    txTerms(signedTx) {
      const unpacked = unpackSigned(signedTx);
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
