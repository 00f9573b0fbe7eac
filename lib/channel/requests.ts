/**
 * What each client method means: its params schema and how it becomes an FSM event or a query.
 * Checked here, so nothing unvalidated reaches an FSM.
 */
import type { ChannelEvent } from '../../fsm/channel-machine.js';
import type { Reason } from '../../fsm/reasons.js';
import type { AccountId, DisputeKind, SignTag } from '../../fsm/types.js';
import { parseAmount } from '../amounts.js';
import type { Json } from '../json.js';
import { describeErrors, validator } from '../schemas.js';
import { decode } from '../tx/encoding.js';
import { MIN_GAS_PRICE } from '../tx/gas-price.js';
import type { ClientRequest } from './client.js';
import type { HistoryFilter } from './reporting.js';

export type Query = 'balances' | 'offchain_state' | 'poi' | 'ping' | 'stop' | 'assume_minimum_depth' | 'history';

/**
 * An operation that ends on chain: the session adds the proposer's nonce (and, for a co-signed one,
 * the block it is pinned to) before the FSM sees it.
 */
export interface OnchainRequest {
  op: 'deposit' | 'withdraw' | 'shutdown' | DisputeKind;
  amount: bigint;
  /** the client may fix these itself, as the node allows */
  nonce?: number;
  fee?: bigint;
  gasPrice?: bigint;
  /** deposit and withdraw: kept in the round's updates, and the block to pin the round to */
  meta?: string[];
  blockHash?: string;
  request: Json;
}

export type Interpreted =
  /** `pin`: the session pins the proposal to a block first (`blockHash`, or the one its window picks) */
  | { kind: 'event'; event: ChannelEvent; pin?: { blockHash?: string } }
  | { kind: 'onchain'; onchain: OnchainRequest }
  /** `accounts` holds the accounts asked about (or, for assume_minimum_depth, the tx hash) */
  | { kind: 'query'; query: Query; accounts: string[]; filter?: HistoryFilter }
  | { kind: 'refused'; reason: Reason; detail?: string };

/** The method a client answers a sign request on, by the tag it was asked with (the node accepts both names of a dispute). */
const SIGN_REPLIES: Record<string, SignTag> = {
  'channels.initiator_sign': 'initiator_sign', 'channels.responder_sign': 'responder_sign',
  'channels.update': 'update', 'channels.update_ack': 'update_ack',
  'channels.deposit_tx': 'deposit_tx', 'channels.deposit_ack': 'deposit_ack',
  'channels.withdraw_tx': 'withdraw_tx', 'channels.withdraw_ack': 'withdraw_ack',
  'channels.shutdown_sign': 'shutdown_sign', 'channels.shutdown_sign_ack': 'shutdown_sign_ack',
  'channels.close_solo_sign': 'close_solo_sign', 'channels.close_solo_tx': 'close_solo_sign',
  'channels.slash_sign': 'slash_tx', 'channels.slash_tx': 'slash_tx',
  'channels.settle_sign': 'settle_sign', 'channels.settle_tx': 'settle_sign',
  'channels.snapshot_solo_sign': 'snapshot_solo_tx', 'channels.snapshot_solo_tx': 'snapshot_solo_tx',
};
const NEEDS_VM = /^channels\.(update\.(new_contract|call_contract)|force_progress|dry_run\.|get\.contract|clean_contract_calls)/;

const schema = (def: string) => validator(`client-requests.schema.json#/$defs/${def}`);

/** Every transfer names two accounts: decoded through lib/tx's codec, which remembers the few a channel has. */
export function isAccountId(value: string): value is AccountId {
  if (!value.startsWith('ak_')) return false;
  try {
    return decode(value as AccountId).length === 32;
  } catch {
    return false;
  }
}

/**
 * `fee`, `gas_price` and `nonce` as the node reads them: integers, as JSON numbers or strings of digits.
 * A gas price below the minimum would make a fee the chain never takes (the node's too_low_fee).
 */
function chainTerms(params: Record<string, Json>): Pick<OnchainRequest, 'fee' | 'gasPrice' | 'nonce'> | Interpreted {
  const terms: Pick<OnchainRequest, 'fee' | 'gasPrice' | 'nonce'> = {};
  for (const name of ['fee', 'gas_price', 'nonce'] as const) {
    if (params[name] === undefined) continue;
    const value = parseAmount(params[name]);
    if (typeof value !== 'bigint') return { kind: 'refused', reason: value, detail: `${name} must be a non-negative integer` };
    if (name === 'fee') terms.fee = value;
    else if (name === 'gas_price') {
      if (value < MIN_GAS_PRICE) return { kind: 'refused', reason: 'value_too_low', detail: `gas_price ${value} is below the minimum gas price ${MIN_GAS_PRICE}` };
      terms.gasPrice = value;
    } else {
      if (value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: 'refused', reason: 'invalid_params', detail: 'nonce must be an account nonce, 1 or more' };
      terms.nonce = Number(value);
    }
  }
  return terms;
}

/** A block hash as the node reads one: a key block's `kh_…` or a micro block's `mh_…`, 32 bytes. */
function checkBlockHash(params: Record<string, Json>): Interpreted | null {
  const hash = params.block_hash;
  if (hash === undefined || isBlockHash(hash as string)) return null;
  return { kind: 'refused', reason: 'broken_encoding', detail: 'block_hash must be a block hash (kh_… or mh_…)' };
}

function isBlockHash(value: string): boolean {
  if (!value.startsWith('kh_') && !value.startsWith('mh_')) return false;
  try {
    return decode(value as AccountId).length === 32;
  } catch {
    return false;
  }
}

/** The node reads `meta` as a list of strings and refuses anything else with its own code. */
function checkMeta(params: Record<string, Json>): Interpreted | null {
  const { meta } = params;
  if (meta === undefined || (Array.isArray(meta) && meta.every((m) => typeof m === 'string'))) return null;
  return { kind: 'refused', reason: 'invalid_meta_object', detail: 'meta must be a list of strings' };
}

/**
 * The amount of a transfer, deposit or withdraw: the node takes a JSON number only there (a string is
 * `not_a_number`, however many digits it has), of any size.
 */
function requestAmount(value: Json | undefined): bigint | Interpreted {
  if (typeof value === 'string') return { kind: 'refused', reason: 'not_a_number', detail: 'amount must be a JSON number, not a string' };
  const amount = parseAmount(value);
  return typeof amount === 'bigint' ? amount : { kind: 'refused', reason: amount };
}

function checkParams(def: string, params: Record<string, Json>): Interpreted | null {
  const validate = schema(def);
  return validate(params) ? null : { kind: 'refused', reason: 'invalid_params', detail: describeErrors(validate.errors) };
}

export function interpret(request: ClientRequest): Interpreted {
  const { method, params } = request;
  const withRequest = { request: request.raw };

  if (method === 'channels.update.new') {
    const bad = checkMeta(params) ?? checkParams('updateNew', params) ?? checkBlockHash(params);
    if (bad) return bad;
    const amount = requestAmount(params.amount);
    if (typeof amount !== 'bigint') return amount;
    const from = params.from as string;
    const to = params.to as string;
    if (!isAccountId(from) || !isAccountId(to)) return { kind: 'refused', reason: 'broken_encoding_accounts', detail: 'from and to must be account ids (ak_…)' };
    return {
      kind: 'event',
      event: { type: 'CLIENT.UPDATE_NEW', from, to, amount, meta: (params.meta as string[] | undefined) ?? [], ...withRequest },
      pin: params.block_hash === undefined ? {} : { blockHash: params.block_hash as string },
    };
  }

  const signTag = Object.hasOwn(SIGN_REPLIES, method) ? SIGN_REPLIES[method] : undefined;
  if (signTag) {
    const bad = checkParams('signReply', params);
    if (bad) return bad;
    if (typeof params.error === 'number') {
      const code = params.error;
      if (code < 1 || code > 65535) return { kind: 'refused', reason: 'invalid_error_code' };
      return { kind: 'event', event: { type: 'CLIENT.ABORT', tag: signTag, code, ...withRequest } };
    }
    return { kind: 'event', event: { type: 'CLIENT.SIGNED', tag: signTag, signedTx: params.signed_tx as string, ...withRequest } };
  }

  switch (method) {
    case 'channels.deposit':
    case 'channels.withdraw':
    case 'channels.shutdown':
    case 'channels.close_solo':
    case 'channels.slash':
    case 'channels.settle':
    case 'channels.snapshot_solo': {
      const op = method.slice('channels.'.length) as OnchainRequest['op'];
      const needsAmount = op === 'deposit' || op === 'withdraw';
      const bad = (needsAmount ? checkMeta(params) ?? checkParams('onchainAmount', params) ?? checkBlockHash(params) : checkParams('shutdown', params));
      if (bad) return bad;
      let amount = 0n;
      if (needsAmount) {
        const parsed = requestAmount(params.amount);
        if (typeof parsed !== 'bigint') return parsed;
        if (parsed === 0n) return { kind: 'refused', reason: 'value_too_low', detail: `a ${op} of 0` };
        amount = parsed;
      }
      const terms = chainTerms(params);
      if ('kind' in terms) return terms;
      const pinning = needsAmount && {
        meta: (params.meta as string[] | undefined) ?? [],
        ...(params.block_hash !== undefined && { blockHash: params.block_hash as string }),
      };
      return { kind: 'onchain', onchain: { op, amount, request: request.raw, ...terms, ...pinning } };
    }
    case 'channels.message': {
      const bad = checkParams('message', params);
      if (bad) return bad;
      const to = params.to as string;
      if (!isAccountId(to)) return { kind: 'refused', reason: 'broken_encoding_accounts', detail: 'to must be an account id (ak_…)' };
      const from = params.from as string | undefined;
      if (from !== undefined && !isAccountId(from)) return { kind: 'refused', reason: 'broken_encoding_accounts', detail: 'from must be an account id (ak_…)' };
      return { kind: 'event', event: { type: 'CLIENT.MESSAGE', to, ...(from !== undefined && { from }), info: params.info as string, ...withRequest } };
    }
    case 'channels.history.fetch':
      return checkParams('historyFetch', params) ?? { kind: 'query', query: 'history', accounts: [], filter: params as HistoryFilter };
    case 'channels.leave':
      return checkParams('empty', params) ?? { kind: 'event', event: { type: 'CLIENT.LEAVE', ...withRequest } };
    case 'channels.get.offchain_state':
      return checkParams('empty', params) ?? { kind: 'query', query: 'offchain_state', accounts: [] };
    case 'channels.get.balances':
    case 'channels.get.poi': {
      const bad = checkParams('accounts', params);
      if (bad) return bad;
      const accounts = params.accounts as string[];
      const broken = accounts.find((a) => !isAccountId(a));
      if (broken !== undefined) return { kind: 'refused', reason: 'broken_encoding_accounts', detail: `${broken.slice(0, 60)} is not an account id` };
      if (method === 'channels.get.poi' && (params.contracts as string[] | undefined)?.length) {
        return { kind: 'refused', reason: 'not_found', detail: 'this channel has no contracts' };
      }
      return { kind: 'query', query: method === 'channels.get.poi' ? 'poi' : 'balances', accounts };
    }
    case 'channels.assume_minimum_depth': {
      const bad = checkParams('txHash', params);
      if (bad) return bad;
      return { kind: 'query', query: 'assume_minimum_depth', accounts: [params.tx_hash as string] };
    }
    case 'channels.system': {
      const bad = checkParams('system', params);
      if (bad) return bad;
      return { kind: 'query', query: params.action === 'ping' ? 'ping' : 'stop', accounts: [] };
    }
  }
  if (NEEDS_VM.test(method)) return { kind: 'refused', reason: 'method_not_found', detail: 'contracts need a FATE VM, which this service does not run' };
  return { kind: 'refused', reason: 'method_not_found', detail: method };
}
