/**
 * The on-chain rules of channel transactions, as the node applies them (aeprimop, aesc_utils): who
 * may send each tx, what it must carry, and what it does to the channel object. Pure over a
 * snapshot of the channel and the height; the dev chain performs the account moves it returns.
 */
import { decode, Tag, unpackTx } from '../../sdk.js';
import type { AccountId, ChannelId, EncodedTx, StateHash } from '../../../fsm/types.js';
import { channelId as deriveChannelId, unpackSigned } from '../../tx/channel-kit.js';
import { signingMessage, verifySignature } from '../../tx/crypto.js';
import { readPoi } from '../../tx/poi.js';
import { ChainRejectedError, type ChannelObject } from '../types.js';

export type ChannelTx = Record<string, unknown> & { tag: Tag };

/** What applying a channel tx does: account moves and the channel's new shape (null: deleted). */
export interface ChannelEffectOnChain {
  debits: Array<[AccountId, bigint]>;
  credits: Array<[AccountId, bigint]>;
  channel: ChannelObject | null;
}

const reject = (why: string): never => {
  throw new ChainRejectedError(`Invalid tx: ${why}`);
};

const big = (v: unknown) => BigInt(String(v));

export const CHANNEL_TAGS = new Set([
  Tag.ChannelCreateTx, Tag.ChannelDepositTx, Tag.ChannelWithdrawTx, Tag.ChannelCloseMutualTx,
  Tag.ChannelCloseSoloTx, Tag.ChannelSlashTx, Tag.ChannelSettleTx, Tag.ChannelSnapshotSoloTx,
]);

/** The account whose nonce (and usually fee) a tx uses. */
export function senderOf(tx: ChannelTx): AccountId {
  switch (tx.tag) {
    case Tag.ChannelCreateTx: return tx.initiator as AccountId;
    case Tag.ChannelWithdrawTx: return tx.toId as AccountId;
    default: return (tx.fromId ?? tx.senderId) as AccountId;
  }
}

/** Who must have signed the outer tx. */
export function signersOf(tx: ChannelTx, channel: ChannelObject | null): AccountId[] {
  switch (tx.tag) {
    case Tag.ChannelCreateTx: return [tx.initiator as AccountId, tx.responder as AccountId];
    case Tag.ChannelDepositTx:
    case Tag.ChannelWithdrawTx:
    case Tag.ChannelCloseMutualTx:
      return channel ? [channel.initiator, channel.responder] : [senderOf(tx)];
    default: return [senderOf(tx)];
  }
}

/** The channel a tx is about, if it is about an existing one. */
export function channelOf(tx: ChannelTx): ChannelId | null {
  return tx.tag === Tag.ChannelCreateTx ? null : ((tx.channelId as ChannelId | undefined) ?? null);
}

const isPeer = (c: ChannelObject, a: AccountId) => a === c.initiator || a === c.responder;
const isDelegate = (c: ChannelObject, a: AccountId) => c.delegates.initiator.includes(a) || c.delegates.responder.includes(a);

/** The round rule (aesc_utils check_round_greater_than_last): strictly above the on-chain round. */
function checkRound(c: ChannelObject, round: number): void {
  const min = c.soloRound !== 0 ? c.soloRound - 1 : c.round;
  if (round === min) reject('same_round');
  if (round < min) reject('old_round');
}

interface Payload {
  round: number;
  stateHash: StateHash;
}

/** A co-signed off-chain tx of this channel, signed by both participants; null for an empty payload. */
function checkPayload(c: ChannelObject, payload: string, networkId: string): Payload | null {
  if (!payload || payload === 'tx_' || decode(payload as EncodedTx).length === 0) return null;
  const signed = unpackSigned(payload);
  if (!signed) return reject('payload is not a signed tx');
  let inner: { tag: Tag; channelId: ChannelId; round: number; stateHash: StateHash };
  try {
    inner = unpackTxLoose(signed.encodedTx);
  } catch {
    return reject('payload does not decode');
  }
  if (inner.tag !== Tag.ChannelOffChainTx) reject('payload is not an off-chain tx');
  if (inner.channelId !== c.id) reject('payload is for another channel');
  const message = signingMessage(networkId, decode(signed.encodedTx));
  for (const peer of [c.initiator, c.responder]) {
    if (!signed.signatures.some((s) => verifySignature(message, s, peer))) reject(`payload not signed by ${peer}`);
  }
  checkRound(c, inner.round);
  return { round: inner.round, stateHash: inner.stateHash };
}

/** The balances a PoI proves for both participants, checked against the state hash it must match. */
function checkPoi(c: ChannelObject, poi: unknown, expected: StateHash): { initiator: bigint; responder: bigint } {
  const read = readPoi(poi, c.initiator, c.responder);
  if (!read.ok) return reject(read.why);
  if (read.stateHash !== expected) reject('invalid_poi_hash');
  const amounts = read.balances ?? reject('wrong_channel_peers');
  if (amounts.initiator + amounts.responder > c.channelAmount) reject('poi_amounts_change_channel_funds');
  return amounts;
}

function unpackTxLoose(tx: EncodedTx): { tag: Tag; channelId: ChannelId; round: number; stateHash: StateHash } {
  return unpackTx(tx) as never;
}

/**
 * Checks a channel tx against the channel (null for a create) at a height and says what it does.
 * Throws ChainRejectedError with the node's reason when it is not valid.
 */
export function applyChannelTx(tx: ChannelTx, channel: ChannelObject | null, height: number, networkId: string): ChannelEffectOnChain {
  const fee = big(tx.fee ?? 0);
  if (tx.tag === Tag.ChannelCreateTx) {
    const initiator = tx.initiator as AccountId;
    const responder = tx.responder as AccountId;
    const initiatorAmount = big(tx.initiatorAmount);
    const responderAmount = big(tx.responderAmount);
    const channelReserve = big(tx.channelReserve);
    if (initiatorAmount < channelReserve || responderAmount < channelReserve) reject('insufficient initial amounts');
    return {
      debits: [[initiator, initiatorAmount + fee], [responder, responderAmount]],
      credits: [],
      channel: {
        id: deriveChannelId(initiator, Number(tx.nonce), responder), initiator, responder,
        channelAmount: initiatorAmount + responderAmount, initiatorAmount, responderAmount, channelReserve,
        lockPeriod: big(tx.lockPeriod), round: 1, soloRound: 0, stateHash: tx.stateHash as StateHash, lockedUntil: 0,
        delegates: { initiator: tx.initiatorDelegateIds as AccountId[], responder: tx.responderDelegateIds as AccountId[] },
      },
    };
  }
  if (!channel) return reject('channel does not exist');
  const c = channel;
  const active = c.lockedUntil === 0;
  const from = senderOf(tx);
  switch (tx.tag) {
    case Tag.ChannelDepositTx: {
      if (!active) reject('channel not active');
      if (!isPeer(c, from)) reject('from is not a peer');
      checkRound(c, Number(tx.round));
      const amount = big(tx.amount);
      return {
        debits: [[from, amount + fee]], credits: [],
        channel: { ...c, channelAmount: c.channelAmount + amount, round: Number(tx.round), stateHash: tx.stateHash as StateHash, soloRound: 0 },
      };
    }
    case Tag.ChannelWithdrawTx: {
      if (!active) reject('channel not active');
      if (!isPeer(c, from)) reject('to is not a peer');
      checkRound(c, Number(tx.round));
      const amount = big(tx.amount);
      if (c.channelAmount < 2n * c.channelReserve + amount) reject('not_enough_channel_funds');
      return {
        debits: [[from, fee]], credits: [[from, amount]],
        channel: { ...c, channelAmount: c.channelAmount - amount, round: Number(tx.round), stateHash: tx.stateHash as StateHash, soloRound: 0 },
      };
    }
    case Tag.ChannelCloseMutualTx: {
      if (!isPeer(c, from)) reject('from is not a peer');
      const i = big(tx.initiatorAmountFinal);
      const r = big(tx.responderAmountFinal);
      if (i + r + fee > c.channelAmount) reject('wrong_amounts');
      // the fee comes out of the channel; any excess is locked away with it
      return { debits: [], credits: [[c.initiator, i], [c.responder, r]], channel: null };
    }
    case Tag.ChannelCloseSoloTx:
    case Tag.ChannelSlashTx: {
      const slash = tx.tag === Tag.ChannelSlashTx;
      if (slash ? active : !active) reject(slash ? 'channel not closing' : 'channel not active');
      if (!isPeer(c, from) && !(slash && isDelegate(c, from))) reject('from may not send this tx');
      const payload = checkPayload(c, String(tx.payload ?? ''), networkId);
      if (slash && !payload) reject('slash_must_have_payload');
      const amounts = checkPoi(c, tx.poi, payload?.stateHash ?? c.stateHash);
      return {
        debits: [[from, fee]], credits: [],
        channel: {
          ...c, initiatorAmount: amounts.initiator, responderAmount: amounts.responder,
          round: payload?.round ?? c.round, stateHash: payload?.stateHash ?? c.stateHash, soloRound: 0,
          lockedUntil: height + Number(c.lockPeriod),
        },
      };
    }
    case Tag.ChannelSnapshotSoloTx: {
      if (!active) reject('channel_not_active');
      if (!isPeer(c, from) && !isDelegate(c, from)) reject('from may not send this tx');
      const payload = checkPayload(c, String(tx.payload ?? ''), networkId);
      if (!payload) return reject('snapshot_must_have_payload');
      return { debits: [[from, fee]], credits: [], channel: { ...c, round: payload.round, stateHash: payload.stateHash, soloRound: 0 } };
    }
    case Tag.ChannelSettleTx: {
      if (!isPeer(c, from)) reject('from is not a peer');
      if (c.lockedUntil === 0 || c.lockedUntil > height) reject('channel_not_closed');
      const i = big(tx.initiatorAmountFinal);
      const r = big(tx.responderAmountFinal);
      if (i !== c.initiatorAmount || r !== c.responderAmount) reject('wrong_amt');
      return { debits: [[from, fee]], credits: [[c.initiator, i], [c.responder, r]], channel: null };
    }
    default:
      return reject(`${Tag[tx.tag] ?? tx.tag} is not a channel tx`);
  }
}

/** A channel object as the node's HTTP API renders it (GET /v3/channels/{id}). */
export function channelJson(c: ChannelObject): Record<string, unknown> {
  return {
    id: c.id, initiator_id: c.initiator, responder_id: c.responder,
    channel_amount: c.channelAmount, initiator_amount: c.initiatorAmount, responder_amount: c.responderAmount,
    channel_reserve: c.channelReserve, delegate_ids: c.delegates, state_hash: c.stateHash,
    round: c.round, solo_round: c.soloRound, lock_period: c.lockPeriod, locked_until: c.lockedUntil,
  };
}
