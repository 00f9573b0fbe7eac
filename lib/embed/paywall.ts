/**
 * An HTTP 402 paywall over state channels, after µRaiden: a request for a priced resource without a
 * payment gets 402 Payment Required with payment headers; the payer pays over its channel with the
 * merchant (a co-signed off-chain transfer whose meta carries the payment id) and retries with the id;
 * once the transfer is co-signed and persisted the request is served, one request per id.
 *
 * The merchant is a participant hosted in this process (paywall-merchant.ts); payment ids are made
 * by paywall-ids.ts; what is paid and spent lives in the service's store (lib/store/payments.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Encoded } from '@aeternity/aepp-sdk';
import { createLogger, type Logger } from '../log.js';
import { amountJson, type AmountLike } from './frames.js';
import type { SignTxWithTag } from './handlers.js';
import { paymentIds } from './paywall-ids.js';
import { Merchant, type PaywallChannelTerms } from './paywall-merchant.js';
import type { EmbeddedService } from './start.js';

export type { PaywallChannelTerms } from './paywall-merchant.js';

export interface PaywallOptions {
  /** the merchant's account: payments are transfers to it */
  account: Encoded.AccountAddress;
  /**
   * Signs for the merchant with the backend's own key, as the `sign` option of a channel. The paywall
   * calls it only for what it agrees to co-sign: opening, a payer's transfer to the merchant, a payer's
   * deposit or withdrawal, a mutual close.
   */
  sign: SignTxWithTag;
  /** the port payers name (the aepp-sdk's `port` option) to meet the merchant */
  port: number;
  /** the channel every payer opens with the merchant (the merchant accepts no other terms) */
  channel: {
    /** what a payer locks */
    initiatorAmount: AmountLike;
    /** what the merchant locks (default 0) */
    responderAmount?: AmountLike;
    /** default 0 */
    channelReserve?: AmountLike;
    lockPeriod: number;
    /** default 0 with `plain`: payments count once co-signed and persisted, not once the channel is deep on chain */
    minimumDepth?: number;
    minimumDepthStrategy?: 'txfee' | 'plain';
  };
  /** the channel WebSocket URL told to payers in `AESC-Gateway` (default: the service's `channelUrl`) */
  gateway?: string;
  /** how many merchant participants wait for new payers at once (default 2) */
  waiting?: number;
  /** a winston logger (default: JSON lines on stdout at the service's log level) */
  log?: Logger;
}

/** The error codes of `AESC-Error`. */
export type PaywallError = 'not_paid' | 'insufficient_amount' | 'already_spent' | 'unknown_payment_id';

/** What a 402 says, in its headers and in its JSON body. */
export interface PaymentRequired {
  error?: PaywallError;
  /** the merchant's account (`AESC-Receiver`) */
  receiver: Encoded.AccountAddress;
  /** aettos, a decimal string (`AESC-Price`) */
  price: string;
  /** the id to put in the transfer's meta and in the retry's `AESC-Payment-Id` header */
  paymentId: string;
  /** the channel WebSocket URL (`AESC-Gateway`) */
  gateway: string;
  /** with `insufficient_amount`: what the id has been paid so far (aettos) */
  paid?: string;
  /** the channel to open with the merchant: the aepp-sdk `Channel` options besides the payer's own */
  channel: {
    responderId: Encoded.AccountAddress;
    port: number;
    initiatorAmount: string;
    responderAmount: string;
    channelReserve: string;
    lockPeriod: number;
    minimumDepth: number;
    minimumDepthStrategy: 'txfee' | 'plain';
  };
}

export type PaywallVerdict =
  | { paid: true; paymentId: string }
  | { paid: false; status: 402; headers: Record<string, string>; body: PaymentRequired }
  | { paid: false; status: 503; headers: Record<string, string>; body: { error: 'store_unavailable' } };

/** What `protect` needs of a request: its headers (node's, express's and fastify's `request.raw` all have them). */
export type PaywallRequest = Pick<IncomingMessage, 'headers'>;

/**
 * A request handler for node:http and express: serves (calls `next`) when the request carries a
 * payment id paid at least `price`, spending it; answers 402 or 503 otherwise. Resolves with whether
 * it was paid, for plain node:http code that serves the resource itself instead of passing `next`.
 */
export type PaywallHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => Promise<boolean>;

export interface Paywall {
  /** the merchant's account */
  readonly account: Encoded.AccountAddress;
  /** the handler that protects a resource with a price in aettos */
  protect(price: AmountLike): PaywallHandler;
  /** The decision `protect` acts on, for frameworks that answer through their own reply objects (fastify). */
  verdict(req: PaywallRequest, price: AmountLike): Promise<PaywallVerdict>;
  /** Stops the merchant: its participants are disconnected (their channels are reestablished by the next `startPaywall`). */
  close(): Promise<void>;
}

const HEADER = 'aesc-payment-id';

function amountOf(value: AmountLike, name: string): bigint {
  const amount = amountJson(value);
  if (typeof amount !== 'bigint' || amount < 0n) throw new TypeError(`${name} must be a whole number of aettos, not negative`);
  return amount;
}

/**
 * Hosts the merchant in the embedded service (reestablishing its channels kept from before a
 * restart) and returns the paywall.
 */
export async function startPaywall(service: EmbeddedService, options: PaywallOptions): Promise<Paywall> {
  const { account, port } = options;
  if (typeof options.sign !== 'function') throw new TypeError('sign must be a function (tag, tx, options) => signed tx');
  const terms: PaywallChannelTerms = {
    initiatorAmount: amountOf(options.channel.initiatorAmount, 'channel.initiatorAmount'),
    responderAmount: amountOf(options.channel.responderAmount ?? 0n, 'channel.responderAmount'),
    channelReserve: amountOf(options.channel.channelReserve ?? 0n, 'channel.channelReserve'),
    lockPeriod: options.channel.lockPeriod,
    minimumDepth: options.channel.minimumDepth ?? 0,
    minimumDepthStrategy: options.channel.minimumDepthStrategy ?? 'plain',
  };
  const log = options.log ?? createLogger(service.config.logLevel);
  const channelStore = service.service.store;
  const store = channelStore.payments;
  // the key is the merchant's: ids of one merchant mean nothing to another on the same store
  const ids = paymentIds(await channelStore.serviceValue(`paywall-key:${account}`, () => randomBytes(32).toString('hex')));
  const merchant = new Merchant({ service, account, sign: options.sign, port, terms, waiting: options.waiting ?? 2, ids, store, log });
  await merchant.start();
  const gateway = options.gateway ?? service.channelUrl;

  function required(price: bigint, paymentId: string, error?: PaywallError, paid?: bigint): PaywallVerdict {
    const body: PaymentRequired = {
      ...(error && { error }),
      receiver: account, price: price.toString(), paymentId, gateway,
      ...(paid !== undefined && { paid: paid.toString() }),
      channel: {
        responderId: account, port,
        initiatorAmount: terms.initiatorAmount.toString(), responderAmount: terms.responderAmount.toString(),
        channelReserve: terms.channelReserve.toString(), lockPeriod: terms.lockPeriod,
        minimumDepth: terms.minimumDepth, minimumDepthStrategy: terms.minimumDepthStrategy,
      },
    };
    const headers: Record<string, string> = {
      'AESC-Receiver': account, 'AESC-Price': body.price, 'AESC-Payment-Id': paymentId, 'AESC-Gateway': gateway,
      ...(error && { 'AESC-Error': error }),
    };
    return { paid: false, status: 402, headers, body };
  }

  async function verdict(req: PaywallRequest, priceLike: AmountLike): Promise<PaywallVerdict> {
    const price = amountOf(priceLike, 'price');
    const header = req.headers[HEADER];
    if (header === undefined || header === '') return required(price, ids.issue());
    if (typeof header !== 'string' || !ids.verify(header)) return required(price, ids.issue(), 'unknown_payment_id');
    try {
      let result = await store.spend(header, price);
      if (result === 'not_paid' || result === 'insufficient_amount') {
        // a payment co-signed a moment ago may still be being credited
        await merchant.settled();
        result = await store.spend(header, price);
      }
      switch (result) {
        case 'spent': return { paid: true, paymentId: header };
        case 'already_spent': return required(price, ids.issue(), 'already_spent');
        case 'not_paid': return required(price, header, 'not_paid');
        case 'insufficient_amount': return required(price, header, 'insufficient_amount', (await store.payment(header))?.paid ?? 0n);
      }
    } catch (err) {
      log.warn('paywall: the store did not answer', { error: (err as Error).message });
      return { paid: false, status: 503, headers: { 'Retry-After': '1' }, body: { error: 'store_unavailable' } };
    }
  }

  return {
    account,
    protect(priceLike) {
      const price = amountOf(priceLike, 'price');
      return async (req, res, next) => {
        let decided: PaywallVerdict;
        try {
          decided = await verdict(req, price);
        } catch (err) {
          log.error('paywall: a request could not be judged', { error: (err as Error).message });
          decided = { paid: false, status: 503, headers: { 'Retry-After': '1' }, body: { error: 'store_unavailable' } };
        }
        if (decided.paid) {
          next?.();
          return true;
        }
        res.writeHead(decided.status, { ...decided.headers, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify(decided.body));
        return false;
      };
    },
    verdict,
    close: () => merchant.stop(),
  };
}
