/**
 * The paywall's records in the embedded store: named databases of the service's LMDB environment.
 *
 * * `payments`: payment id → the record as JSON (paid amount, spent, the channel rounds credited);
 * * `merchant-channels`: `[merchant, channelId]` → the merchant's channel as JSON.
 *
 * Credit and spend read and write inside one write transaction, so each is one atomic step; every
 * write resolves once it is on disk.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { ChannelId } from '../../fsm/types.js';
import { durably } from './embedded.js';
import {
  creditKey, decodeMerchantChannel, decodePayment, encodeMerchantChannel, spendDecision,
  type MerchantChannel, type PaymentCredit, type PaymentRecord, type PaymentStore, type SpendResult, type StoredPayment,
} from './payments.js';

export class LmdbPayments implements PaymentStore {
  private readonly payments: Database<string, string>;
  private readonly merchants: Database<string, [string, ChannelId]>;

  /** `ensureOpen` throws once the store that owns these records is closed. */
  constructor(private readonly root: RootDatabase, private readonly ensureOpen: () => void) {
    this.payments = root.openDB<string, string>({ name: 'payments', encoding: 'string' });
    this.merchants = root.openDB<string, [string, ChannelId]>({ name: 'merchant-channels', encoding: 'string' });
  }

  async credit(id: string, credit: PaymentCredit): Promise<'credited' | 'duplicate'> {
    this.ensureOpen();
    const round = creditKey(credit);
    return durably(this.root, this.root.transaction(() => {
      const stored = this.read(id);
      if (stored?.rounds.includes(round)) return 'duplicate';
      const record: StoredPayment = {
        paid: String(BigInt(stored?.paid ?? '0') + credit.amount), spent: stored?.spent ?? false, rounds: [...(stored?.rounds ?? []), round],
      };
      this.payments.put(id, JSON.stringify(record));
      return 'credited';
    }));
  }

  async payment(id: string): Promise<PaymentRecord | null> {
    this.ensureOpen();
    const stored = this.read(id);
    return stored ? { paid: BigInt(stored.paid), spent: stored.spent } : null;
  }

  async spend(id: string, price: bigint): Promise<SpendResult> {
    this.ensureOpen();
    return durably(this.root, this.root.transaction(() => {
      const stored = this.read(id);
      const decision = spendDecision(stored, price);
      if (decision === 'spent') this.payments.put(id, JSON.stringify({ ...stored!, spent: true }));
      return decision;
    }));
  }

  async saveMerchantChannel(merchant: string, channel: MerchantChannel): Promise<void> {
    this.ensureOpen();
    await durably(this.root, this.merchants.put([merchant, channel.channelId], encodeMerchantChannel(channel)));
  }

  async merchantChannels(merchant: string): Promise<MerchantChannel[]> {
    this.ensureOpen();
    // the key's second part sorts after '' and before any channel id's successor '\uffff'
    const entries = this.merchants.getRange({ start: [merchant, '' as ChannelId], end: [merchant, '\uffff' as ChannelId] });
    return Array.from(entries, ({ value }) => decodeMerchantChannel(value));
  }

  async forgetMerchantChannel(merchant: string, channelId: ChannelId): Promise<void> {
    this.ensureOpen();
    await durably(this.root, this.merchants.remove([merchant, channelId]));
  }

  private read(id: string): StoredPayment | null {
    const text = this.payments.get(id);
    return text === undefined ? null : decodePayment(text);
  }
}
