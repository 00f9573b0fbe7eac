/**
 * What the HTTP 402 paywall (lib/embed/paywall.ts) keeps, in the service's own store so that it
 * survives a restart with the channels it is about:
 *
 * * payment records: how much co-signed transfers carrying a payment id paid the merchant (each
 *   channel round counted once), and whether the id was spent on a request (once, atomically);
 * * the merchant's channels: channel id, the fsm_id its participant reestablishes with (a secret:
 *   never logged), and how far the paywall has read the channel's co-signed rounds for payments.
 *
 * Both stores implement it (lmdb-payments.ts, redis-payments.ts) and one conformance suite checks both.
 */
import type { ChannelId } from '../../fsm/types.js';

/** One co-signed round's transfers to the merchant that carry a payment id. */
export interface PaymentCredit {
  channelId: ChannelId;
  round: number;
  amount: bigint;
}

export interface PaymentRecord {
  /** the sum of the transfers credited to the id */
  paid: bigint;
  /** a request was served for it */
  spent: boolean;
}

/** `spent`: the request may be served; otherwise why not. */
export type SpendResult = 'spent' | 'not_paid' | 'insufficient_amount' | 'already_spent';

export interface MerchantChannel {
  channelId: ChannelId;
  /** the merchant participant's current fsm_id: a secret, as any client's */
  fsmId: string;
  /** every round up to this one was read for payments */
  scannedRound: number;
}

export interface PaymentStore {
  /**
   * Adds a round's transfer to the id's paid amount. A round is counted once: crediting the same
   * channel round again changes nothing ('duplicate'), so a scan may safely be repeated after a crash.
   */
  credit(id: string, credit: PaymentCredit): Promise<'credited' | 'duplicate'>;
  payment(id: string): Promise<PaymentRecord | null>;
  /** Atomically marks the id spent if it is paid at least `price` and not spent yet; otherwise says why not. */
  spend(id: string, price: bigint): Promise<SpendResult>;
  /** Writes (or replaces) one of a merchant's channels. */
  saveMerchantChannel(merchant: string, channel: MerchantChannel): Promise<void>;
  merchantChannels(merchant: string): Promise<MerchantChannel[]>;
  forgetMerchantChannel(merchant: string, channelId: ChannelId): Promise<void>;
}

/** A payment record as stored: JSON with the amount as a decimal string and the rounds counted. */
export interface StoredPayment {
  paid: string;
  spent: boolean;
  /** `channelId:round` of every round credited */
  rounds: string[];
}

export const creditKey = (credit: PaymentCredit): string => `${credit.channelId}:${credit.round}`;

export function decodePayment(text: string): StoredPayment {
  const damaged = () => new Error('stored record is damaged: not a payment record');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged();
  }
  const record = raw as StoredPayment;
  if (typeof record !== 'object' || record === null || typeof record.paid !== 'string' || !/^\d+$/.test(record.paid)
    || typeof record.spent !== 'boolean' || !Array.isArray(record.rounds)) throw damaged();
  return record;
}

export function encodeMerchantChannel(channel: MerchantChannel): string {
  return JSON.stringify(channel);
}

export function decodeMerchantChannel(text: string): MerchantChannel {
  let raw: MerchantChannel;
  try {
    raw = JSON.parse(text) as MerchantChannel;
  } catch {
    throw new Error('stored record is damaged: merchant channel is not JSON');
  }
  if (typeof raw?.channelId !== 'string' || !raw.channelId.startsWith('ch_') || typeof raw.fsmId !== 'string'
    || !Number.isSafeInteger(raw.scannedRound)) throw new Error('stored record is damaged: not a merchant channel');
  return { channelId: raw.channelId, fsmId: raw.fsmId, scannedRound: raw.scannedRound };
}

/** The decision of `spend`, shared by both stores (Redis runs the same rule in Lua). */
export function spendDecision(record: StoredPayment | null, price: bigint): SpendResult {
  if (!record) return 'not_paid';
  if (record.spent) return 'already_spent';
  if (BigInt(record.paid) < price) return 'insufficient_amount';
  return 'spent';
}
