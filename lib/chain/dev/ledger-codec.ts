/**
 * How the dev chain's ledger writes its records: JSON text, the same bytes in LMDB and in Redis.
 * Amounts exceed 2^53, so every bigint is a decimal string; decoding checks each field so a damaged
 * record stops the start instead of becoming a wrong balance.
 */
import type { AccountId, ChannelId, EncodedTx, StateHash } from '../../../fsm/types.js';
import type { ChainAccount, ChannelObject } from '../types.js';
import type { MinedRecord } from './ledger.js';

export class LedgerRecordError extends Error {
  override name = 'LedgerRecordError';
}

type Raw = Record<string, unknown>;

function parse(text: string, what: string): Raw {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new LedgerRecordError(`dev chain ${what} record is damaged: not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LedgerRecordError(`dev chain ${what} record is damaged: not an object`);
  return value as Raw;
}

function amount(raw: Raw, field: string, what: string): bigint {
  const v = raw[field];
  if (typeof v !== 'string' || !/^(0|[1-9]\d*)$/.test(v)) throw new LedgerRecordError(`dev chain ${what} record is damaged: ${field}`);
  return BigInt(v);
}

function count(raw: Raw, field: string, what: string): number {
  const v = raw[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new LedgerRecordError(`dev chain ${what} record is damaged: ${field}`);
  return v;
}

function text<T extends string>(raw: Raw, field: string, what: string, prefix: string): T {
  const v = raw[field];
  if (typeof v !== 'string' || !v.startsWith(prefix)) throw new LedgerRecordError(`dev chain ${what} record is damaged: ${field}`);
  return v as T;
}

function accountList(v: unknown, what: string): AccountId[] {
  if (!Array.isArray(v) || !v.every((a) => typeof a === 'string' && a.startsWith('ak_'))) {
    throw new LedgerRecordError(`dev chain ${what} record is damaged: delegates`);
  }
  return v as AccountId[];
}

export function encodeHeight(height: number): string {
  return String(height);
}

export function decodeHeight(value: string): number {
  const height = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(height)) throw new LedgerRecordError('dev chain height record is damaged');
  return height;
}

export function encodeAccount(a: ChainAccount): string {
  return JSON.stringify({ balance: a.balance.toString(), nonce: a.nonce });
}

export function decodeAccount(value: string): ChainAccount {
  const raw = parse(value, 'account');
  return { balance: amount(raw, 'balance', 'account'), nonce: count(raw, 'nonce', 'account') };
}

export function encodeChannel(c: ChannelObject): string {
  return JSON.stringify({
    ...c,
    channelAmount: c.channelAmount.toString(),
    initiatorAmount: c.initiatorAmount.toString(),
    responderAmount: c.responderAmount.toString(),
    channelReserve: c.channelReserve.toString(),
    lockPeriod: c.lockPeriod.toString(),
  });
}

export function decodeChannel(value: string): ChannelObject {
  const what = 'channel';
  const raw = parse(value, what);
  const delegates = raw.delegates as Raw | undefined;
  if (typeof delegates !== 'object' || delegates === null) throw new LedgerRecordError('dev chain channel record is damaged: delegates');
  return {
    id: text<ChannelId>(raw, 'id', what, 'ch_'),
    initiator: text<AccountId>(raw, 'initiator', what, 'ak_'),
    responder: text<AccountId>(raw, 'responder', what, 'ak_'),
    channelAmount: amount(raw, 'channelAmount', what),
    initiatorAmount: amount(raw, 'initiatorAmount', what),
    responderAmount: amount(raw, 'responderAmount', what),
    channelReserve: amount(raw, 'channelReserve', what),
    lockPeriod: amount(raw, 'lockPeriod', what),
    round: count(raw, 'round', what),
    soloRound: count(raw, 'soloRound', what),
    stateHash: text<StateHash>(raw, 'stateHash', what, 'st_'),
    lockedUntil: count(raw, 'lockedUntil', what),
    delegates: { initiator: accountList(delegates.initiator, what), responder: accountList(delegates.responder, what) },
  };
}

export function encodeMined(m: MinedRecord): string {
  return JSON.stringify({ signedTx: m.signedTx, blockHeight: m.blockHeight });
}

export function decodeMined(value: string): MinedRecord {
  const raw = parse(value, 'mined tx');
  return { signedTx: text<EncodedTx>(raw, 'signedTx', 'mined tx', 'tx_'), blockHeight: count(raw, 'blockHeight', 'mined tx') };
}

/** A signed tx kept as it came (pool entries, a channel's last tx). */
export function decodeSignedTx(value: string, what: string): EncodedTx {
  if (!value.startsWith('tx_')) throw new LedgerRecordError(`dev chain ${what} record is damaged`);
  return value as EncodedTx;
}
