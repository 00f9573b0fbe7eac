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
  const debit = (role: Role, account: AccountId, amount: bigint): Refusal | null => {
    next[role] -= amount;
    return next[role] < params.channelReserve ? { reason: 'insufficient_balance', detail: `${account} would fall below the channel reserve` } : null;
  };
  for (const update of updates) {
    if (update.op === 'OffChainMeta') continue;
    if (update.amount < 0n) return { reason: 'negative_amount' };
    switch (update.op) {
      case 'OffChainTransfer': {
        const from = roleOf(params, update.from);
        const to = roleOf(params, update.to);
        if (!from || !to) return { reason: 'invalid_pubkeys', detail: `${from ? update.to : update.from} is not a participant` };
        if (from === to) return { reason: 'invalid_pubkeys', detail: 'from and to are the same account' };
        next[to] += update.amount;
        const refused = debit(from, update.from, update.amount);
        if (refused) return refused;
        break;
      }
      case 'OffChainDeposit': {
        const from = roleOf(params, update.from);
        if (!from) return { reason: 'invalid_pubkeys', detail: `${update.from} is not a participant` };
        next[from] += update.amount;
        break;
      }
      case 'OffChainWithdrawal': {
        const to = roleOf(params, update.to);
        if (!to) return { reason: 'invalid_pubkeys', detail: `${update.to} is not a participant` };
        const refused = debit(to, update.to, update.amount);
        if (refused) return refused;
        break;
      }
    }
  }
  return { balances: next };
}

export function isRefusal<T extends object>(result: T | Refusal): result is Refusal {
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

/**
 * The final amounts of a mutual close, as the node pays the fee out of the balances: half each, the
 * initiator paying the odd aetto; one side that cannot pay its half leaves the rest to the other.
 */
export function closeMutualFinals(balances: Balances, fee: bigint): Balances | Refusal {
  const { initiator: i, responder: r } = balances;
  if (i + r < fee) return { reason: 'insufficient_balance', detail: 'the balances cannot pay the close fee' };
  const ceil = fee - fee / 2n;
  const floor = fee / 2n;
  if (i >= ceil && r >= floor) return { initiator: i - ceil, responder: r - floor };
  if (r >= ceil && i >= floor) return { initiator: i - floor, responder: r - ceil };
  return i > r ? { initiator: i - fee + r, responder: 0n } : { initiator: 0n, responder: r - fee + i };
}

/**
 * How many blocks a channel tx must be buried under (aesc_fsm min_depth): `plain` takes the factor as
 * given; `txfee` derives it from the fee, ceil((fee / min gas price) ^ (1 / factor)), so a tx that
 * paid more waits longer before it is trusted.
 */
export function minimumDepth(strategy: 'txfee' | 'plain', factor: number, fee: bigint, minGasPrice = 1_000_000_000n): number {
  if (strategy === 'plain') return factor;
  if (factor <= 0) return 1;
  return Math.ceil(Math.pow(Number(fee) / Number(minGasPrice), 1 / factor));
}

/** The updates a deposit or withdraw round lists for the clients. */
export function onchainUpdates(kind: 'deposit' | 'withdraw', account: AccountId, amount: bigint): OffchainUpdate[] {
  return kind === 'deposit' ? [{ op: 'OffChainDeposit', from: account, amount }] : [{ op: 'OffChainWithdrawal', to: account, amount }];
}
