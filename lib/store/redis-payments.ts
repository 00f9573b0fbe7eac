/**
 * The paywall's records in Redis. A payment id's keys share a hash tag (`{pay:<id>}`) so a cluster
 * keeps them in one slot: `<prefix>{pay:<id>}` is a hash (paid, spent) and `<prefix>{pay:<id>}:rounds`
 * the set of channel rounds credited. A merchant's channels are one hash, channel id → JSON.
 *
 * Amounts are aettos, beyond 2^53, and Lua's numbers are doubles: the scripts add and compare them
 * as decimal strings.
 */
import type { Cluster, Redis } from 'ioredis';
import type { ChannelId } from '../../fsm/types.js';
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

/** Counts a round once: 0 when it was counted already, 1 when credited now. */
const CREDIT = `${DECIMALS}
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
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

type RedisWithScripts = (Redis | Cluster) & {
  paymentCredit(key: string, rounds: string, round: string, amount: string): Promise<number>;
  paymentSpend(key: string, price: string): Promise<SpendResult>;
};

export class RedisPayments implements PaymentStore {
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis | Cluster, private readonly prefix: string) {
    redis.defineCommand('paymentCredit', { numberOfKeys: 2, lua: CREDIT });
    redis.defineCommand('paymentSpend', { numberOfKeys: 1, lua: SPEND });
    this.redis = redis as RedisWithScripts;
  }

  private key(id: string): string {
    return `${this.prefix}{pay:${id}}`;
  }

  private merchantKey(merchant: string): string {
    return `${this.prefix}paywall:${merchant}:channels`;
  }

  async credit(id: string, credit: PaymentCredit): Promise<'credited' | 'duplicate'> {
    const key = this.key(id);
    const credited = await this.redis.paymentCredit(key, `${key}:rounds`, creditKey(credit), credit.amount.toString());
    return credited === 1 ? 'credited' : 'duplicate';
  }

  async payment(id: string): Promise<PaymentRecord | null> {
    const record = await this.redis.hgetall(this.key(id));
    if (record.paid === undefined) return null;
    if (!/^\d+$/.test(record.paid)) throw new Error('stored record is damaged: not a payment record');
    return { paid: BigInt(record.paid), spent: record.spent === '1' };
  }

  async spend(id: string, price: bigint): Promise<SpendResult> {
    return this.redis.paymentSpend(this.key(id), price.toString());
  }

  async saveMerchantChannel(merchant: string, channel: MerchantChannel): Promise<void> {
    await this.redis.hset(this.merchantKey(merchant), channel.channelId, encodeMerchantChannel(channel));
  }

  async merchantChannels(merchant: string): Promise<MerchantChannel[]> {
    const all = await this.redis.hgetall(this.merchantKey(merchant));
    return Object.values(all).map(decodeMerchantChannel);
  }

  async forgetMerchantChannel(merchant: string, channelId: ChannelId): Promise<void> {
    await this.redis.hdel(this.merchantKey(merchant), channelId);
  }
}
