/**
 * Pure protocol rules: what a transfer does to the balances, when it is refused, whether the peer's
 * channel_open matches what our client asked for. No I/O; unit tests call these directly.
 */
import type { Reason } from './reasons.js';
import type { AccountId, Balances, ChannelParams, OffchainUpdate, Role } from './types.js';

export type Refusal = { reason: Reason; detail?: string };
export type Applied = { balances: Balances } | Refusal;

export function roleOf(params: ChannelParams, account: AccountId): Role | null {
  if (account === params.initiatorId) return 'initiator';
  if (account === params.responderId) return 'responder';
  return null;
}

export function accountOf(params: ChannelParams, role: Role): AccountId {
  return role === 'initiator' ? params.initiatorId : params.responderId;
}

/**
 * Applies the updates of one round to the balances, refusing anything that would move coins from or to
 * a non-participant, below zero, or leave the payer under the channel reserve.
 */
export function applyUpdates(params: ChannelParams, balances: Balances, updates: OffchainUpdate[]): Applied {
  const next = { ...balances };
  for (const update of updates) {
    if (update.op !== 'OffChainTransfer') continue;
    const from = roleOf(params, update.from);
    const to = roleOf(params, update.to);
    if (!from || !to) return { reason: 'invalid_pubkeys', detail: `${from ? update.to : update.from} is not a participant` };
    if (from === to) return { reason: 'invalid_pubkeys', detail: 'from and to are the same account' };
    if (update.amount < 0n) return { reason: 'negative_amount' };
    next[from] -= update.amount;
    next[to] += update.amount;
    if (next[from] < params.channelReserve) {
      return { reason: 'insufficient_balance', detail: `${update.from} would fall below the channel reserve` };
    }
  }
  return { balances: next };
}

export function isRefusal(result: Applied): result is Refusal {
  return 'reason' in result;
}

/** The updates of a transfer request: the transfer, then one meta entry per meta string. */
export function transferUpdates(from: AccountId, to: AccountId, amount: bigint, meta: string[] = []): OffchainUpdate[] {
  return [{ op: 'OffChainTransfer', from, to, amount }, ...meta.map((data) => ({ op: 'OffChainMeta' as const, data }))];
}

/**
 * Checks a channel_open from the initiator against the responder's own parameters. The responder may
 * have left the initiator open (`any`), which its caller resolves before this check.
 */
export function openMismatch(own: ChannelParams, proposed: ChannelParams): Refusal | null {
  const fields = [
    'initiatorId', 'responderId', 'initiatorAmount', 'responderAmount', 'pushAmount', 'channelReserve', 'lockPeriod',
  ] as const;
  for (const field of fields) {
    if (own[field] !== proposed[field]) return { reason: 'value_too_low', detail: `${field} does not match the responder's` };
  }
  return null;
}

/** Refuses opening parameters the node refuses: amounts below the reserve after the push. */
export function openParamsRefusal(params: ChannelParams): Refusal | null {
  if (params.pushAmount > params.initiatorAmount) return { reason: 'value_too_low', detail: 'push_amount exceeds initiator_amount' };
  if (params.initiatorAmount - params.pushAmount < params.channelReserve) {
    return { reason: 'value_too_low', detail: 'initiator_amount minus push_amount is below channel_reserve' };
  }
  if (params.responderAmount + params.pushAmount < params.channelReserve) {
    return { reason: 'value_too_low', detail: 'responder_amount plus push_amount is below channel_reserve' };
  }
  if (params.initiatorId === params.responderId) return { reason: 'invalid_pubkeys', detail: 'initiator and responder are the same account' };
  return null;
}
