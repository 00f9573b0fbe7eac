/**
 * What the link reads from a serialized SignedTx without the FSM: its kind, the channel it names,
 * its round and state hash, and (for a create tx) the channel id it makes. Plain RLP: the field
 * positions are those of the node's serializations (create v2, deposit/withdraw v1, off-chain v2).
 */
import { decode as rlpDecode } from 'rlp';
import { Encoding } from '@aeternity/aepp-sdk';
import type { AccountId, ChannelId, StateHash } from '../../fsm/types.js';
import { channelId } from '../tx/channel-kit.js';
import { encode } from '../tx/encoding.js';

export const TX_TAG = { signed: 11, create: 50, deposit: 51, withdraw: 52, closeMutual: 53, offchain: 57 } as const;

export interface TxFacts {
  tag: number;
  /** absent for a mutual close, which carries no round */
  round?: number;
  stateHash?: StateHash;
  /** the channel the tx is for: named in it, or (create tx) derived from its initiator, nonce and responder */
  channelId?: ChannelId;
}

const KEY = 32;
const num = (b: unknown): number | null => {
  if (!(b instanceof Uint8Array) || b.length > 6 || (b.length > 0 && b[0] === 0)) return null;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
};
const id = (b: unknown, tag: number): Uint8Array | null =>
  (b instanceof Uint8Array && b.length === KEY + 1 && b[0] === tag ? b.subarray(1) : null);
const hash = (b: unknown): StateHash | undefined =>
  (b instanceof Uint8Array && b.length === KEY ? encode(b, Encoding.State) as StateHash : undefined);
const ACCOUNT = 1;
const CHANNEL = 6;

/** The facts of a serialized SignedTx; null when it is not one. */
export function txFacts(signedTx: Uint8Array): TxFacts | null {
  try {
    const outer = rlpDecode(signedTx) as unknown;
    if (!Array.isArray(outer) || outer.length !== 4 || num(outer[0]) !== TX_TAG.signed || !(outer[3] instanceof Uint8Array)) return null;
    const items = rlpDecode(outer[3]) as unknown;
    if (!Array.isArray(items)) return null;
    const tag = num(items[0]);
    if (tag === null) return null;
    const channelOf = (b: unknown) => {
      const key = id(b, CHANNEL);
      return key ? encode(key, Encoding.Channel) as ChannelId : undefined;
    };
    switch (tag) {
      case TX_TAG.offchain:
        return { tag, round: num(items[3]) ?? undefined, stateHash: hash(items[4]), channelId: channelOf(items[2]) };
      case TX_TAG.deposit:
      case TX_TAG.withdraw:
        return { tag, round: num(items[8]) ?? undefined, stateHash: hash(items[7]), channelId: channelOf(items[2]) };
      case TX_TAG.create: {
        const initiator = id(items[2], ACCOUNT);
        const responder = id(items[4], ACCOUNT);
        const nonce = num(items[13]);
        const derived = initiator && responder && nonce !== null
          ? channelId(encode(initiator, Encoding.AccountAddress) as AccountId, nonce, encode(responder, Encoding.AccountAddress) as AccountId)
          : undefined;
        return { tag, round: 1, stateHash: hash(items[12]), channelId: derived };
      }
      case TX_TAG.closeMutual:
        return { tag, channelId: channelOf(items[2]) };
      default:
        return { tag };
    }
  } catch {
    return null;
  }
}
