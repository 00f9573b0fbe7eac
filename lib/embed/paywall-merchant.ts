/**
 * The paywall's merchant: a participant hosted in-process that is the responder for any payer on its
 * port, co-signs only what pays it, and credits payment ids from its co-signed rounds.
 *
 * * New payers: a few responders wait at once (`initiatorId: 'any'`, kept running); each one a payer
 *   takes is replaced.
 * * Payments are read from the merchant's own co-signed history in the store, never from what a
 *   payer says: a round counts once the service has persisted it, and a round missed by a crash is
 *   read at the next start (each channel keeps how far it was read; crediting a round twice is a no-op).
 * * Its channels survive a restart: each channel's id and the merchant's fsm_id (a secret, never
 *   logged) are kept in the store, and `start` reestablishes them, so a payer's channel keeps working.
 */
import { Tag, unpackTx, type Encoded } from '../sdk.js';
import type { AccountId, ChannelId, CoSignedState } from '../../fsm/types.js';
import { channelId as channelIdOf } from '../tx/channel-kit.js';
import type { Logger } from '../log.js';
import type { MerchantChannel, PaymentStore } from '../store/payments.js';
import { ChannelRefusedError, type EmbeddedChannel, type EmbeddedChannelOptions } from './channel.js';
import type { SignTxWithTag } from './handlers.js';
import { looksLikePaymentId, type PaymentIds } from './paywall-ids.js';
import type { EmbeddedService } from './start.js';

/** The channel every payer opens with the merchant: the responder accepts these terms and no others. */
export interface PaywallChannelTerms {
  /** what a payer locks */
  initiatorAmount: bigint;
  /** what the merchant locks */
  responderAmount: bigint;
  channelReserve: bigint;
  lockPeriod: number;
  minimumDepth: number;
  minimumDepthStrategy: 'txfee' | 'plain';
}

export interface MerchantOptions {
  service: EmbeddedService;
  account: Encoded.AccountAddress;
  sign: SignTxWithTag;
  port: number;
  terms: PaywallChannelTerms;
  waiting: number;
  ids: PaymentIds;
  store: PaymentStore;
  log: Logger;
}

/** A transfer to the merchant carrying one payment id, as read from a co-signed round. */
export interface Payment {
  id: string;
  amount: bigint;
}

/** What a round pays: the net transfer to the merchant, if positive and the round's meta names exactly one id it issued. */
export function paymentOf(state: Pick<CoSignedState, 'updates'>, merchant: string, ids: PaymentIds): Payment | null {
  let amount = 0n;
  const named: string[] = [];
  for (const update of state.updates) {
    if (update.op === 'OffChainTransfer') {
      if (update.to === merchant) amount += update.amount;
      if (update.from === merchant) amount -= update.amount;
    }
    if (update.op === 'OffChainMeta' && looksLikePaymentId(update.data)) named.push(update.data);
  }
  if (amount <= 0n || named.length !== 1 || !ids.verify(named[0]!)) return null;
  return { id: named[0]!, amount };
}

/** A reason to decline a payer's proposal, or null to co-sign it. */
async function refusalOf(updates: unknown[], merchant: string, ids: PaymentIds, store: PaymentStore): Promise<string | null> {
  const named: string[] = [];
  for (const update of updates as Array<{ op?: string; to?: string; data?: unknown }>) {
    if (update.op === 'OffChainTransfer') {
      if (update.to !== merchant) return 'a transfer away from the merchant';
    } else if (update.op === 'OffChainMeta') {
      if (typeof update.data === 'string' && looksLikePaymentId(update.data)) named.push(update.data);
    } else {
      return `an update of kind ${String(update.op)}`;
    }
  }
  if (named.length > 1) return 'more than one payment id';
  // a payer is spared paying for an id that can never serve a request
  if (named.length === 1) {
    if (!ids.verify(named[0]!)) return 'a payment id this merchant did not issue';
    if ((await store.payment(named[0]!))?.spent) return 'a payment id already spent';
  }
  return null;
}

/** The id of the channel a create tx makes, or null when `tx` is not one. */
function createdChannelId(tx: Encoded.Transaction): ChannelId | null {
  try {
    const create = unpackTx(tx, Tag.ChannelCreateTx) as unknown as { initiator: AccountId; responder: AccountId; nonce: number };
    return channelIdOf(create.initiator, create.nonce, create.responder);
  } catch {
    return null;
  }
}

/** What the merchant co-signs, and with the backend's own sign callback. */
const ALWAYS_SIGNED = new Set(['responder_sign', 'deposit_ack', 'withdraw_ack', 'shutdown_sign_ack']);

/** Refusals to reestablish that no later attempt gets past. */
const PERMANENT_REFUSALS = new Set(['channel_not_found', 'not_found', 'invalid_fsm_id', 'broken_encoding']);

/** The code a declined sign request answers with (the SDK's: any number declines). */
const DECLINED = 1;

export class Merchant {
  /** the merchant's participants by channel, once their channel exists */
  private readonly channels = new Map<ChannelId, { channel: EmbeddedChannel; record: MerchantChannel }>();
  /** a participant's channel id as soon as the merchant knows it (the participant learns it only once open) */
  private readonly idsByParticipant = new WeakMap<EmbeddedChannel, ChannelId>();
  private readonly waiting = new Set<EmbeddedChannel>();
  /** each channel's record is written and read for payments one step at a time */
  private readonly queues = new Map<ChannelId, Promise<void>>();
  private stopping = false;

  constructor(private readonly options: MerchantOptions) {}

  /** Reestablishes the merchant's channels kept in the store, then puts out the responders for new payers. */
  async start(): Promise<void> {
    const { store, account } = this.options;
    for (const record of await store.merchantChannels(account)) await this.reestablish(record);
    for (let i = 0; i < this.options.waiting; i++) await this.openTable();
  }

  /** Resolves once every payment already co-signed has been credited. */
  async settled(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  /** Stops hosting: the participants are disconnected (their FSMs live on until the service stops). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.settled();
    for (const channel of [...this.waiting]) channel.disconnect();
    for (const { channel } of this.channels.values()) channel.disconnect();
  }

  /** `table` is the participant once it exists (sign requests come after that). */
  private channelOptions(table: { channel?: EmbeddedChannel } = {}): EmbeddedChannelOptions {
    const { account, port, terms } = this.options;
    return {
      ...terms, role: 'responder', initiatorId: 'any', responderId: account, port, keepRunning: true,
      sign: (tag, tx, signOptions) => this.sign(table, tag, tx, signOptions),
    };
  }

  private async sign(table: { channel?: EmbeddedChannel }, tag: string, tx: Encoded.Transaction, signOptions: { updates?: unknown[] } = {}) {
    const { account, ids, store, log } = this.options;
    if (tag === 'responder_sign') {
      // kept before our signature can make the channel: a crash right after it opens leaves the merchant
      // what it needs to reestablish (a channel that never opens is forgotten at the next start)
      const channelId = createdChannelId(tx);
      if (!channelId || !table.channel) return DECLINED;
      const record = this.register(table.channel, { channelId, fsmId: table.channel.fsmId(), scannedRound: 0 });
      try {
        await this.enqueue(channelId, () => store.saveMerchantChannel(account, record), { rethrow: true });
      } catch {
        return DECLINED;
      }
    } else if (tag === 'update_ack') {
      const refusal = await refusalOf(signOptions.updates ?? [], account, ids, store).catch(() => 'the store did not answer');
      if (refusal) {
        log.info('paywall: a payer\'s update was declined', { reason: refusal });
        return DECLINED;
      }
    } else if (!ALWAYS_SIGNED.has(tag)) {
      return DECLINED;
    }
    return this.options.sign(tag, tx, signOptions);
  }

  /** A responder waiting for a new payer; replaced as soon as a payer takes it. */
  private async openTable(): Promise<void> {
    if (this.stopping) return;
    const table: { channel?: EmbeddedChannel } = {};
    const channel = await this.options.service.channel(this.channelOptions(table));
    table.channel = channel;
    this.waiting.add(channel);
    let replaced = false;
    channel.on('statusChanged', (status) => {
      if ((status === 'halfSigned' || status === 'disconnected') && !replaced) {
        replaced = true;
        this.waiting.delete(channel);
        if (!this.stopping) {
          void this.openTable().catch((err: Error) => this.options.log.warn('paywall: a responder for new payers could not start', { error: err.message }));
        }
      }
    });
    this.follow(channel);
  }

  /** A channel kept from before: reestablished (or reconnected to its live FSM) under a new fsm_id, stored at once. */
  private async reestablish(record: MerchantChannel): Promise<void> {
    const { service, account, log } = this.options;
    const live = service.service.registry.find(record.channelId, 'responder');
    let channel: EmbeddedChannel;
    try {
      channel = await service.channel({
        ...this.channelOptions(), existingChannelId: record.channelId as Encoded.Channel, existingFsmId: record.fsmId, reestablish: !live,
      });
    } catch (err) {
      if (!(err instanceof ChannelRefusedError)) throw err;
      if (!(await this.gone(record.channelId, err.reason))) {
        // the service is full, say, or another participant object holds it: the next start tries again
        log.warn('paywall: a merchant channel could not be reestablished now', { channel_id: record.channelId, reason: err.reason });
        return;
      }
      log.warn('paywall: a merchant channel cannot be reestablished and is forgotten', { channel_id: record.channelId, reason: err.reason });
      await this.options.store.forgetMerchantChannel(account, record.channelId);
      return;
    }
    const current = this.register(channel, { ...record, fsmId: channel.fsmId() });
    await this.enqueue(record.channelId, () => this.options.store.saveMerchantChannel(account, current));
    this.follow(channel);
    // rounds co-signed after the last read (a crash in between) are read now, before any payer is back
    this.sync(channel);
  }

  /** Whether a refusal to reestablish is for good: closed, never made, unknown, or its fsm_id replaced. */
  private async gone(channelId: ChannelId, reason: string): Promise<boolean> {
    if (PERMANENT_REFUSALS.has(reason)) return true;
    return reason === 'not_allowed_now' && (await this.options.service.service.store.load(channelId, 'responder'))?.closed === true;
  }

  private register(channel: EmbeddedChannel, record: MerchantChannel): MerchantChannel {
    this.channels.set(record.channelId, { channel, record });
    this.idsByParticipant.set(channel, record.channelId);
    return record;
  }

  private follow(channel: EmbeddedChannel): void {
    channel.on('stateChanged', () => this.sync(channel));
    channel.on('statusChanged', (status) => {
      if (status === 'open') this.sync(channel);
      if (status === 'disconnected') {
        const id = this.idOf(channel);
        if (id && this.channels.get(id)?.channel === channel) this.channels.delete(id);
      }
    });
    channel.on('error', (err) => this.options.log.warn('paywall: merchant channel error', { error: err.message }));
  }

  private idOf(channel: EmbeddedChannel): ChannelId | null {
    const known = this.idsByParticipant.get(channel);
    if (known) return known;
    try {
      return channel.id() as ChannelId;
    } catch {
      return null;
    }
  }

  /**
   * Credits the payments of the channel's co-signed rounds not read yet. Called on every co-signed
   * round, before the payer hears the round is co-signed, so a retry after a payment finds its credit
   * under way.
   */
  private sync(channel: EmbeddedChannel): void {
    const channelId = this.idOf(channel);
    if (!channelId) return;
    const { account, store } = this.options;
    let record = this.channels.get(channelId)?.record;
    if (!record) {
      // registered when the merchant signed its creation; this is a channel that slipped past that
      const added = this.register(channel, { channelId, fsmId: channel.fsmId(), scannedRound: 0 });
      void this.enqueue(channelId, () => store.saveMerchantChannel(account, added));
      record = added;
    }
    const scanned = record;
    void this.enqueue(channelId, async () => {
      const rounds = await this.options.service.service.store.history(channelId, 'responder', scanned.scannedRound + 1);
      if (!rounds.length) return;
      for (const state of rounds) {
        const payment = paymentOf(state, account, this.options.ids);
        if (payment) await store.credit(payment.id, { channelId, round: state.round, amount: payment.amount });
      }
      scanned.scannedRound = rounds[rounds.length - 1]!.round;
      await store.saveMerchantChannel(account, scanned);
    });
  }

  /**
   * Runs `step` after the channel's earlier steps. A failure is logged (the next sync tries again)
   * and, with `rethrow`, also rejects what this returns; the queue goes on either way.
   */
  private enqueue(channelId: ChannelId, step: () => Promise<void>, { rethrow = false } = {}): Promise<void> {
    const previous = this.queues.get(channelId) ?? Promise.resolve();
    const run = previous.then(step);
    const next = run.catch((err: Error) => {
      this.options.log.warn('paywall: could not record a merchant channel\'s payments', { channel_id: channelId, error: err.message });
    });
    this.queues.set(channelId, next);
    void next.then(() => { if (this.queues.get(channelId) === next) this.queues.delete(channelId); });
    return rethrow ? run : next;
  }
}
