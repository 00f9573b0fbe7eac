/**
 * The paywall's records in Redis. A payment id's keys share a hash tag (`{pay:<id>}`) so a cluster
 * keeps them in one slot: `<prefix>{pay:<id>}` is a hash (paid, spent) and `<prefix>{pay:<id>}:rounds`
 * the set of channel rounds credited. A merchant's channels are one hash, channel id → JSON.
 *
 * Credits, spends and a merchant's channel records wait for as many replicas as a round
 * (replicated-writes.ts): a failover that lost one would lose a payment, serve a request twice, or
 * leave the merchant an fsm_id that no longer opens its channel. Forgetting a merchant's channel does
 * not wait: lost, the channel comes back, and its next reestablish is refused for good and forgets it again.
 *
 * Amounts are aettos, beyond 2^53, and Lua's numbers are doubles: the scripts add and compare them
 * as decimal strings.
 */
import type { Cluster, Redis } from 'ioredis';
import type { ChannelId } from '../../fsm/types.js';
import type { ReplicatedWrites } from './replicated-writes.js';
import {
  creditKey, decodeMerchantChannel, encodeMerchantChannel,
  type MerchantChannel, type PaymentCredit, type PaymentRecord, type PaymentStore, type SpendResult,
} from './payments.js';

const DECIMALS = `
local function add(a, b)
  local result, carry = {}, 0
  local i, j = #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local sum = carry + (i > 0 and tonumber(a:sub(i, i)) or 0) + (j > 0 and tonumber(b:sub(j, j)) or 0)
    table.insert(result, 1, tostring(sum % 10))
    carry = math.floor(sum / 10)
    i, j = i - 1, j - 1
  end
  local text = table.concat(result):gsub('^0+', '')
  if text == '' then return '0' end
  return text
end
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
`;

/**
 * Counts a round once: 0 when it was counted already, 1 when credited now. One counted already is
 * touched: the credit may be an earlier attempt's that no replica confirmed, and the WAIT after this
 * one then covers it.
 */
const CREDIT = `${DECIMALS}
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], 'paid', redis.call('HGET', KEYS[1], 'paid') or '0')
  return 0
end
local paid = redis.call('HGET', KEYS[1], 'paid') or '0'
redis.call('HSET', KEYS[1], 'paid', add(paid, ARGV[2]))
return 1
`;

/** The same rule as spendDecision in payments.ts, as one atomic step. */
const SPEND = `${DECIMALS}
local paid = redis.call('HGET', KEYS[1], 'paid')
if not paid then return 'not_paid' end
if redis.call('HGET', KEYS[1], 'spent') == '1' then return 'already_spent' end
if less(paid, ARGV[1]) then return 'insufficient_amount' end
redis.call('HSET', KEYS[1], 'spent', '1')
return 'spent'
`;

/** The scripts, defined by the store on each master it writes to (redis-store.ts): name, number of keys, Lua. */
export const PAYMENT_SCRIPTS: Array<[string, number, string]> = [['paymentCredit', 2, CREDIT], ['paymentSpend', 1, SPEND]];

type RedisWithScripts = Redis & {
  paymentCredit(key: string, rounds: string, round: string, amount: string): Promise<number>;
  paymentSpend(key: string, price: string): Promise<SpendResult>;
};

export class RedisPayments implements PaymentStore {
  /**
   * `writes`: the store's replicated writes; `scripted`: a master's connection with the store's scripts
   * (PAYMENT_SCRIPTS among them) defined on it.
   */
  constructor(private readonly redis: Redis | Cluster, private readonly prefix: string,
    private readonly writes: ReplicatedWrites, private readonly scripted: (node: Redis) => Redis) {}

  private node(node: Redis): RedisWithScripts {
    return this.scripted(node) as RedisWithScripts;
  }

  private key(id: string): string {
    return `${this.prefix}{pay:${id}}`;
  }

  private merchantKey(merchant: string): string {
    return `${this.prefix}paywall:${merchant}:channels`;
  }

  async credit(id: string, credit: PaymentCredit): Promise<'credited' | 'duplicate'> {
    const key = this.key(id);
    // not undone when the replicas fall short: the round did pay, and the scan that credits it runs
    // again (a duplicate then, which waits for the replicas too); a spend of it waits for the replicas
    // on the same master's connection, so is confirmed only once the credit is
    const credited = await this.writes.run({
      key, send: (node) => this.node(node).paymentCredit(key, `${key}:rounds`, creditKey(credit), credit.amount.toString()), wrote: () => true,
    });
    return credited === 1 ? 'credited' : 'duplicate';
  }

  async payment(id: string): Promise<PaymentRecord | null> {
    const record = await this.redis.hgetall(this.key(id));
    if (record.paid === undefined) return null;
    if (!/^\d+$/.test(record.paid)) throw new Error('stored record is damaged: not a payment record');
    return { paid: BigInt(record.paid), spent: record.spent === '1' };
  }

  /** When the replicas fall short the id is unspent again (nobody else can have spent it meanwhile) and the spend fails: no request is served. */
  async spend(id: string, price: bigint): Promise<SpendResult> {
    const key = this.key(id);
    return this.writes.run({
      key,
      send: (node) => this.node(node).paymentSpend(key, price.toString()),
      wrote: (result) => result === 'spent',
      undo: (node) => node.hdel(key, 'spent'),
    });
  }

  /** Not undone when the replicas fall short: the fsm_id in it is the channel's current one, the one to keep. */
  async saveMerchantChannel(merchant: string, channel: MerchantChannel): Promise<void> {
    const key = this.merchantKey(merchant);
    await this.writes.run({ key, send: (node) => node.hset(key, channel.channelId, encodeMerchantChannel(channel)), wrote: () => true });
  }

  async merchantChannels(merchant: string): Promise<MerchantChannel[]> {
    const all = await this.redis.hgetall(this.merchantKey(merchant));
    return Object.values(all).map(decodeMerchantChannel);
  }

  async forgetMerchantChannel(merchant: string, channelId: ChannelId): Promise<void> {
    await this.redis.hdel(this.merchantKey(merchant), channelId);
  }
}
