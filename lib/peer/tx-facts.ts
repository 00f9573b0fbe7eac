/**
 * What the link reads from a serialized SignedTx without the FSM: its kind, the channel it names,
 * its round and state hash, and (for a create tx) the channel id it makes. Field positions are those
 * of the node's serializations (create v2, deposit/withdraw v1, off-chain v2); reading is by views
 * (rlp-view.ts), and nothing is encoded as a string unless asked for.
 */
import { Encoding } from '../sdk.js';
import type { AccountId, ChannelId, StateHash } from '../../fsm/types.js';
import { channelId } from '../tx/channel-kit.js';
import { encode } from '../tx/encoding.js';
import { rlpItem, rlpList, rlpUint, type RlpItem } from './rlp-view.js';

export const TX_TAG = { signed: 11, create: 50, deposit: 51, withdraw: 52, closeMutual: 53, offchain: 57 } as const;

const KEY = 32;
const ACCOUNT = 1;
const CHANNEL = 6;

/** A SignedTx's inner tx (a view) and its fields; null if the bytes are not a SignedTx of one tx. */
export function readSignedTx(signedTx: Uint8Array): { inner: Uint8Array; tag: number; fields: RlpItem[] } | null {
  const outer = rlpList(rlpItem(signedTx));
  if (!outer || outer.length !== 4 || rlpUint(outer[0]) !== TX_TAG.signed || outer[3]!.list) return null;
  const inner = outer[3]!.payload;
  const fields = rlpList(rlpItem(inner));
  const tag = rlpUint(fields?.[0]);
  return fields && tag !== null ? { inner, tag, fields } : null;
}

/** The round a channel tx carries (1 for the create tx); undefined for a mutual close or anything else. */
export function txRound(signedTx: Uint8Array): number | undefined {
  const tx = readSignedTx(signedTx);
  if (!tx) return undefined;
  const at = tx.tag === TX_TAG.offchain ? 3 : tx.tag === TX_TAG.deposit || tx.tag === TX_TAG.withdraw ? 8 : -1;
  if (tx.tag === TX_TAG.create) return 1;
  return at < 0 ? undefined : rlpUint(tx.fields[at]) ?? undefined;
}

const key = (item: RlpItem | undefined, tag: number): Uint8Array | null =>
  (item && !item.list && item.payload.length === KEY + 1 && item.payload[0] === tag ? item.payload.subarray(1) : null);

/** A channel state's tx: its round and state hash, as a reestablish names them; null if it is not one. */
export function stateOf(signedTx: Uint8Array): { round: number; stateHash: StateHash } | null {
  const tx = readSignedTx(signedTx);
  if (!tx) return null;
  const [roundAt, hashAt] = tx.tag === TX_TAG.offchain ? [3, 4] : tx.tag === TX_TAG.deposit || tx.tag === TX_TAG.withdraw ? [8, 7] : tx.tag === TX_TAG.create ? [-1, 12] : [-1, -1];
  const round = roundAt < 0 ? (tx.tag === TX_TAG.create ? 1 : null) : rlpUint(tx.fields[roundAt]);
  const hash = tx.fields[hashAt];
  if (round === null || !hash || hash.list || hash.payload.length !== KEY) return null;
  return { round, stateHash: encode(hash.payload, Encoding.State) as StateHash };
}

/** The channel id a create tx makes: blake2b(initiator ‖ nonce ‖ responder), as the node derives it. */
export function createdChannelId(signedTx: Uint8Array): ChannelId | null {
  const tx = readSignedTx(signedTx);
  if (tx?.tag !== TX_TAG.create) return null;
  const initiator = key(tx.fields[2], ACCOUNT);
  const responder = key(tx.fields[4], ACCOUNT);
  const nonce = rlpUint(tx.fields[13]);
  if (!initiator || !responder || nonce === null) return null;
  return channelId(encode(initiator, Encoding.AccountAddress) as AccountId, nonce, encode(responder, Encoding.AccountAddress) as AccountId);
}
