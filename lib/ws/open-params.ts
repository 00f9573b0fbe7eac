/**
 * The URL query of a channel WebSocket, parsed into what admission takes (lib/channel/open-request.ts):
 * a new channel's parameters, or the channel and fsm_id to reestablish. Names and refusals follow the
 * node (channel-api §2).
 */
import { decode } from '../sdk.js';
import type { AccountId, BlockHashDelta, ChannelId, ChannelParams, Role, Timeouts } from '../../fsm/types.js';
import { DEFAULT_BLOCK_HASH_DELTA } from '../../fsm/types.js';
import { openParamsRefusal } from '../../fsm/protocol.js';
import { parseAmount } from '../amounts.js';
import { describeErrors, schemaOf, validator } from '../schemas.js';
import type { OpenRefusal, OpenRequest } from '../channel/open-request.js';
import { isAccountId } from '../channel/requests.js';
import { MIN_GAS_PRICE } from '../tx/gas-price.js';
import { reportParams } from './report-params.js';

export type { OpenRefusal, OpenRequest };

/** The node's defaults where the URL says nothing: txfee strategy with factor 10, or 3 blocks when plain. */
const DEFAULT_PORT = 3114;
const DEFAULT_MINIMUM_DEPTH = { txfee: 10, plain: 3 } as const;

/** Every parameter the node reads, and this service's own: the rest are unknown. */
let known: Set<string> | undefined;
function knownParams(): Set<string> {
  known ??= new Set(Object.keys(schemaOf('open-params.schema.json')!.properties as object));
  return known;
}

type Query = Record<string, string>;

/**
 * A string that does not share memory with the URL it was read from: V8 keeps a slice's whole parent
 * string alive, and the ids live as long as the channel does.
 */
function ownString(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

export function parseOpenParams(search: URLSearchParams): OpenRequest | OpenRefusal {
  const query: Query = {};
  for (const [key, value] of search) query[key] = value;
  const validate = validator<Query>('open-params.schema.json');
  if (!validate(query)) return { reason: 'invalid_params', detail: describeErrors(validate.errors) };

  const port = query.port ? Number(query.port) : DEFAULT_PORT;
  if (port < 1 || port > 65535) return { reason: 'invalid_params', detail: `port must be between 1 and 65535, not ${port}` };
  const timeouts = Object.fromEntries(Object.entries(query)
    .filter(([key]) => key.startsWith('timeout_'))
    .map(([key, value]) => [key.slice('timeout_'.length), Number(value)])) as Partial<Timeouts>;
  const zero = Object.entries(timeouts).find(([, ms]) => ms < 1);
  if (zero) return { reason: 'invalid_params', detail: `timeout_${zero[0]} must be at least 1 (milliseconds)` };

  const reporting = reportParams(query);
  if ('reason' in reporting) return reporting;
  const blockHashDelta = blockHashDeltaOf(query);
  if (typeof blockHashDelta === 'string') return { reason: 'invalid_params', detail: blockHashDelta };

  const role = query.role as Role;
  const common = {
    ...reporting,
    role,
    port,
    ...(role === 'initiator' && query.host && { host: ownString(query.host) }),
    // a responder stays up for a reestablish unless told otherwise, as the aepp-sdk relies on
    keepRunning: role === 'responder' && query.keep_running !== 'false',
    watchtower: query.watchtower === 'true',
    timeouts,
    blockHashDelta,
    unknown: Object.keys(query).filter((key) => !knownParams().has(key)),
  };

  if (query.existing_channel_id !== undefined || query.existing_fsm_id !== undefined) {
    if (!query.existing_fsm_id) return { reason: 'missing_fsm_id', detail: 'existing_fsm_id is required to reestablish' };
    const channelId = query.existing_channel_id ?? '';
    if (!isChannelId(channelId)) return { reason: 'broken_encoding', detail: 'existing_channel_id is not a channel id' };
    const recovery = query.offchain_tx === undefined ? undefined : {
      offchainTx: query.offchain_tx,
      ...(query.offchain_poi !== undefined && { poi: query.offchain_poi }),
      ...minimumDepthOf(query),
    };
    return { ...common, kind: 'reestablish', channelId, fsmId: query.existing_fsm_id, ...(recovery && { recovery }) };
  }

  const missing = ['initiator_id', 'responder_id', 'initiator_amount', 'responder_amount', 'channel_reserve', 'lock_period']
    .find((name) => query[name] === undefined);
  if (missing) return { reason: 'invalid_params', detail: `missing ${missing}` };

  const anyInitiator = role === 'responder' && query.initiator_id === 'any';
  const ids = [anyInitiator ? undefined : query.initiator_id, query.responder_id].filter((id): id is string => id !== undefined);
  if (!ids.every(isAccountId)) return { reason: 'invalid_pubkeys', detail: 'initiator_id and responder_id must be account ids (ak_…)' };

  const amounts: Record<string, bigint> = {};
  for (const name of ['initiator_amount', 'responder_amount', 'push_amount', 'channel_reserve', 'lock_period', 'fee']) {
    if (query[name] === undefined) continue;
    const value = parseAmount(query[name]);
    if (value === 'not_a_number') return { reason: 'not_a_number', detail: `${name} is not an integer` };
    if (value === 'negative_amount') return { reason: 'value_too_low', detail: `${name} is negative` };
    amounts[name] = value;
  }
  const gasPrice = query.gas_price === undefined ? undefined : BigInt(query.gas_price);
  if (gasPrice !== undefined && gasPrice < MIN_GAS_PRICE) {
    return { reason: 'value_too_low', detail: `gas_price is below the minimum gas price ${MIN_GAS_PRICE}` };
  }

  const params: ChannelParams = {
    initiatorId: ownString(anyInitiator ? query.responder_id! : query.initiator_id!) as AccountId,
    responderId: ownString(query.responder_id!) as AccountId,
    initiatorAmount: amounts.initiator_amount!,
    responderAmount: amounts.responder_amount!,
    pushAmount: amounts.push_amount ?? 0n,
    channelReserve: amounts.channel_reserve!,
    lockPeriod: amounts.lock_period!,
    ...minimumDepthOf(query),
    initiatorDelegateIds: [],
    responderDelegateIds: [],
  };
  const refusal = anyInitiator ? null : openParamsRefusal(params);
  if (refusal) return { reason: refusal.reason, detail: refusal.detail ?? refusal.reason };

  return {
    ...common,
    kind: 'new',
    params,
    anyInitiator,
    ttl: query.ttl ? Number(query.ttl) : 0,
    ...(amounts.fee !== undefined && { fee: amounts.fee }),
    ...(gasPrice !== undefined && { gasPrice }),
    ...(query.nonce !== undefined && { nonce: Number(query.nonce) }),
  };
}

/**
 * The window of a pinned block (bh_delta_*), each left out taking the node's default. The node falls
 * back to all three defaults when any is missing or they do not fit; the service refuses what does not
 * fit, so a client is never held to a window it did not ask for.
 */
function blockHashDeltaOf(query: Query): BlockHashDelta | string {
  const given = (name: string, fallback: number) => (query[name] === undefined ? fallback : Number(query[name]));
  const delta: BlockHashDelta = {
    notNewerThan: given('bh_delta_not_newer_than', DEFAULT_BLOCK_HASH_DELTA.notNewerThan),
    notOlderThan: given('bh_delta_not_older_than', DEFAULT_BLOCK_HASH_DELTA.notOlderThan),
    pick: given('bh_delta_pick', DEFAULT_BLOCK_HASH_DELTA.pick),
  };
  if (delta.notNewerThan < 0 || delta.notOlderThan < 0 || delta.pick < 0) return 'bh_delta_* must not be negative';
  if (delta.notOlderThan < delta.notNewerThan + delta.pick) {
    return `bh_delta_not_older_than (${delta.notOlderThan}) must be at least bh_delta_not_newer_than + bh_delta_pick (${delta.notNewerThan + delta.pick})`;
  }
  return delta;
}

function minimumDepthOf(query: Query): { minimumDepth: number; minimumDepthStrategy: 'txfee' | 'plain' } {
  const strategy = (query.minimum_depth_strategy as 'txfee' | 'plain' | undefined) ?? 'txfee';
  return { minimumDepth: query.minimum_depth ? Number(query.minimum_depth) : DEFAULT_MINIMUM_DEPTH[strategy], minimumDepthStrategy: strategy };
}

function isChannelId(value: string): value is ChannelId {
  if (!value.startsWith('ch_')) return false;
  try {
    return decode(value as ChannelId).length === 32;
  } catch {
    return false;
  }
}
