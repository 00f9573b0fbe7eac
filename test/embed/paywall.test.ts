/**
 * The HTTP 402 paywall, on each store: real HTTP requests to a node:http server protected by
 * `protect(price)`, a payer with the unmodified aepp-sdk `Channel` over WebSocket paying the merchant
 * hosted in-process. An unpaid request gets 402 and the payment headers; a co-signed transfer with the
 * payment id in its meta pays for exactly one request; every `AESC-Error`; a double spend under
 * concurrency; a restart that loses nothing and keeps the payer's channel working; 503 when the store fails.
 */
import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { AccountMemory, Channel, encode, Encoding } from '../../lib/sdk.js';
import { Redis } from 'ioredis';
import { startPaywall, type Paywall, type PaymentRequired } from '../../lib/embed/paywall.js';
import { startEmbedded, type EmbeddedService } from '../../lib/embed/start.js';
import { NETWORK_ID } from '../helpers/accounts.js';
import { cleanup, fund, reaches } from '../helpers/embedded.js';
import { genesisSdk, lineLogger, testSettings } from '../helpers/service.js';
import type { OpenedStore } from '../../lib/store/open-store.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { testStorage, type StoreKind, type TestStorage } from '../helpers/storage.js';

type Tx = `tx_${string}`;
type Options = Parameters<typeof Channel.initialize>[0];

const PRICE = 10n ** 15n;
const DEPOSIT = 10n ** 18n;
let nextPort = 30_000 + Math.floor(Math.random() * 10_000);

const signer = (account: AccountMemory) => async (tx: Tx) => account.signTransaction(tx, { networkId: NETWORK_ID });

interface Shop {
  embedded: EmbeddedService;
  paywall: Paywall;
  url: string;
  /** the requests the resource was served for */
  served: number;
  /** starts the paywall (again) on the running service */
  openPaywall(): Promise<void>;
  stop(): Promise<void>;
}

/** The service embedded, the merchant's paywall on it, and a node:http server whose one resource costs PRICE. */
async function openShop(storage: TestStorage, merchant: AccountMemory, port: number, fundMerchant = false, logged: string[] = []): Promise<Shop> {
  const log = lineLogger((line) => logged.push(line));
  const embedded = await startEmbedded({ env: {}, config: testSettings(storage), log });
  if (fundMerchant) await genesisSdk(embedded.nodeUrl).spend((10n ** 21n).toString(), merchant.address, { blocks: 200 });
  const shop = { embedded, url: '', served: 0 } as unknown as Shop;
  shop.openPaywall = async () => {
    shop.paywall = await startPaywall(embedded, {
      account: merchant.address, sign: (_tag, tx) => signer(merchant)(tx), port,
      channel: { initiatorAmount: DEPOSIT, responderAmount: 0n, channelReserve: 0n, lockPeriod: 10 },
      log,
    });
  };
  await shop.openPaywall();
  const server: Server = createServer((req, res) => {
    void shop.paywall.protect(PRICE)(req, res, () => {
      shop.served += 1;
      res.end('the resource');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  shop.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/article`;
  shop.stop = async () => {
    await new Promise((resolve) => server.close(resolve));
    await shop.paywall.close();
    await embedded.stop();
  };
  return shop;
}

/**
 * Puts the store back as a crash right after a round was persisted would have left it: the payment
 * not credited, the merchant's channel read only up to `round` (the layouts are the stores' own).
 */
async function undoCredit(storage: TestStorage, merchant: string, paymentId: string, round: number): Promise<void> {
  const opened = await storage.open();
  const [record] = await opened.store.payments.merchantChannels(merchant);
  await opened.store.payments.saveMerchantChannel(merchant, { ...record!, scannedRound: round });
  if (opened.backend.kind === 'embedded') {
    await opened.backend.db.root.openDB<string, string>({ name: 'payments', encoding: 'string' }).remove(paymentId);
  } else {
    const redis = new Redis(storage.redis.url);
    await redis.del(`${storage.redis.keyPrefix}{pay:${paymentId}}`, `${storage.redis.keyPrefix}{pay:${paymentId}}:rounds`);
    await redis.quit();
  }
  t.equal(await opened.store.payments.payment(paymentId), null);
  await opened.close();
}

/** The id with one bit of its MAC flipped. */
function forge(id: string): string {
  const bytes = Buffer.from(id.slice(3), 'base64url');
  bytes[20]! ^= 1;
  return `pi_${bytes.toString('base64url')}`;
}

/** The same bytes spelt another way (a spare bit of the last base64url character set). */
function respell(id: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return id.slice(0, -1) + alphabet[alphabet.indexOf(id.at(-1)!) ^ 1];
}

async function withStore(storage: TestStorage, use: (store: OpenedStore['store']) => Promise<void>): Promise<void> {
  const opened = await storage.open();
  await use(opened.store);
  await opened.close();
}

async function get(url: string, paymentId?: string) {
  const res = await fetch(url, { headers: paymentId === undefined ? {} : { 'AESC-Payment-Id': paymentId } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: res.status === 402 ? JSON.parse(text) as PaymentRequired : null };
}

/** The payer's channel with the merchant, opened with what a 402 says. */
async function payerChannel(payer: AccountMemory, offer: PaymentRequired, existing?: { channelId: string; fsmId: string }) {
  const channel = await Channel.initialize({
    url: offer.gateway, role: 'initiator', host: 'localhost', initiatorId: payer.address, ...offer.channel,
    initiatorAmount: BigInt(offer.channel.initiatorAmount), responderAmount: BigInt(offer.channel.responderAmount),
    channelReserve: BigInt(offer.channel.channelReserve), pushAmount: 0n, sign: (_tag: string, tx: Tx) => signer(payer)(tx),
    ...(existing && { reestablish: true, existingChannelId: existing.channelId, existingFsmId: existing.fsmId }),
  } as unknown as Options);
  await reaches(channel, 'open');
  return channel;
}

const pay = (channel: Channel, payer: AccountMemory, offer: PaymentRequired, amount: bigint, meta = [offer.paymentId]) =>
  channel.update(payer.address, offer.receiver, amount as unknown as number, signer(payer), meta);

for (const kind of ['embedded', 'redis'] as StoreKind[]) {
  t.test(`${kind} store`, async (t) => {
    const storage = testStorage(kind);
    t.teardown(() => cleanup(storage));
    const merchant = AccountMemory.generate();
    const port = nextPort++;
    const logged: string[] = [];
    let shop = await openShop(storage, merchant, port, true, logged);
    t.teardown(() => shop.stop());
    const [payer] = await fund(shop.embedded.nodeUrl, 1);

    let channel!: Channel;
    let spentBeforeRestart!: string;
    let paidBeforeRestart!: string;

    await t.test('an unpaid request gets 402 with the payment headers', async (t) => {
      const res = await get(shop.url);
      t.equal(res.status, 402);
      t.equal(res.headers.get('aesc-receiver'), merchant.address);
      t.equal(res.headers.get('aesc-price'), PRICE.toString());
      t.match(res.headers.get('aesc-payment-id'), /^pi_[A-Za-z0-9_-]{43}$/);
      t.equal(res.headers.get('aesc-gateway'), shop.embedded.channelUrl);
      t.equal(res.headers.get('aesc-error'), null, 'no error: nothing was tried');
      t.same(res.body, {
        receiver: merchant.address, price: PRICE.toString(), paymentId: res.headers.get('aesc-payment-id'), gateway: shop.embedded.channelUrl,
        channel: {
          responderId: merchant.address, port, initiatorAmount: DEPOSIT.toString(), responderAmount: '0', channelReserve: '0',
          lockPeriod: 10, minimumDepth: 0, minimumDepthStrategy: 'plain',
        },
      });
      t.not((await get(shop.url)).body!.paymentId, res.body!.paymentId, 'every 402 a fresh id');
      t.equal(shop.served, 0);
    });

    await t.test('ids not issued by the merchant: unknown_payment_id', async (t) => {
      const issued = (await get(shop.url)).body!.paymentId;
      for (const id of [forge(issued), respell(issued), 'pi_guess', 'garbage', `pi_${'A'.repeat(43)}`, `${issued},${issued}`]) {
        const res = await get(shop.url, id);
        t.equal(res.status, 402, id);
        t.equal(res.headers.get('aesc-error'), 'unknown_payment_id', id);
        t.not(res.body!.paymentId, id, 'a fresh id to pay instead');
      }
    });

    await t.test('the payer pays over its channel: not_paid, insufficient_amount, then served once, then already_spent', async (t) => {
      const offer = (await get(shop.url)).body!;
      const notYet = await get(shop.url, offer.paymentId);
      t.equal(notYet.status, 402);
      t.equal(notYet.headers.get('aesc-error'), 'not_paid');
      t.equal(notYet.body!.paymentId, offer.paymentId, 'the same id, still to be paid');

      channel = await payerChannel(payer!, offer);
      t.equal((await pay(channel, payer!, offer, PRICE - 1n)).accepted, true, 'one aetto short');
      const short = await get(shop.url, offer.paymentId);
      t.equal(short.headers.get('aesc-error'), 'insufficient_amount');
      t.equal(short.body!.paid, (PRICE - 1n).toString());
      t.equal(short.body!.paymentId, offer.paymentId, 'the same id, to top up');
      t.equal((await pay(channel, payer!, offer, 1n)).accepted, true, 'topped up');

      const served = await get(shop.url, offer.paymentId);
      t.equal(served.status, 200);
      t.equal(served.text, 'the resource');
      t.equal(shop.served, 1);
      const again = await get(shop.url, offer.paymentId);
      t.equal(again.status, 402);
      t.equal(again.headers.get('aesc-error'), 'already_spent');
      t.not(again.body!.paymentId, offer.paymentId, 'a fresh id to pay instead');
      t.equal(shop.served, 1, 'one id, one request');
      t.same(await channel.balances([payer!.address, merchant.address]), { [payer!.address]: String(DEPOSIT - PRICE), [merchant.address]: String(PRICE) });
      spentBeforeRestart = offer.paymentId;
    });

    await t.test('what the merchant does not co-sign', async (t) => {
      const offer = (await get(shop.url)).body!;
      t.equal((await pay(channel, payer!, offer, PRICE, [forge(offer.paymentId)])).accepted, false, 'a transfer naming an id the merchant did not issue');
      t.equal((await pay(channel, payer!, offer, PRICE, [spentBeforeRestart])).accepted, false, 'a transfer naming an id already spent');
      t.equal((await pay(channel, payer!, offer, PRICE, [offer.paymentId, (await get(shop.url)).body!.paymentId])).accepted, false, 'two ids in one transfer');
      t.equal(channel.round(), 3, 'nothing declined was co-signed');
      t.equal((await get(shop.url, offer.paymentId)).headers.get('aesc-error'), 'not_paid');
    });

    await t.test('concurrent requests with one paid id: exactly one is served', async (t) => {
      const offer = (await get(shop.url)).body!;
      t.equal((await pay(channel, payer!, offer, PRICE)).accepted, true);
      const before = shop.served;
      const results = await Promise.all(Array.from({ length: 12 }, () => get(shop.url, offer.paymentId)));
      t.equal(results.filter((r) => r.status === 200).length, 1, 'one 200');
      t.same(results.filter((r) => r.status === 402).map((r) => r.headers.get('aesc-error')), Array(11).fill('already_spent'));
      t.equal(shop.served, before + 1);
    });

    await t.test('the paywall stopped and started again in a running service takes its live channels back', async (t) => {
      await shop.paywall.close();
      await shop.openPaywall();
      const offer = (await get(shop.url)).body!;
      t.equal((await pay(channel, payer!, offer, PRICE)).accepted, true, 'the payer, connected all along, pays');
      t.equal((await get(shop.url, offer.paymentId)).status, 200);
      t.same((await shop.embedded.service.store.payments.merchantChannels(merchant.address)).map((c) => c.channelId), [channel.id()]);
    });

    await t.test('a restart loses nothing: a paid id is served once after it, a spent one stays spent, the payer\'s channel works', async (t) => {
      const offer = (await get(shop.url)).body!;
      t.equal((await pay(channel, payer!, offer, PRICE)).accepted, true);
      paidBeforeRestart = offer.paymentId;
      const ids = { channelId: channel.id(), fsmId: channel.fsmId() };
      const round = channel.round();
      await shop.stop();
      channel.disconnect();

      shop = await openShop(storage, merchant, port, false, logged);
      t.equal((await get(shop.url, paidBeforeRestart)).status, 200, 'paid before the restart, served after it');
      t.equal((await get(shop.url, paidBeforeRestart)).headers.get('aesc-error'), 'already_spent', 'once');
      t.equal((await get(shop.url, spentBeforeRestart)).headers.get('aesc-error'), 'already_spent', 'spent before the restart stays spent');

      // the payer comes back on its existing channel (the gateway moved: the test's ports are ephemeral);
      // the merchant reestablished its side at start
      const next = (await get(shop.url)).body!;
      channel = await payerChannel(payer!, next, ids);
      t.equal(channel.id(), ids.channelId);
      t.equal(channel.round(), round, 'the same channel, the same round');
      t.equal((await pay(channel, payer!, next, PRICE)).accepted, true, 'paid over the channel opened before the restart');
      t.equal((await get(shop.url, next.paymentId)).status, 200);
    });

    await t.test('a payment co-signed but not yet credited when the process died is credited at the next start', async (t) => {
      const offer = (await get(shop.url)).body!;
      t.equal((await pay(channel, payer!, offer, PRICE)).accepted, true);
      const ids = { channelId: channel.id(), fsmId: channel.fsmId() };
      await shop.stop();
      channel.disconnect();
      await undoCredit(storage, merchant.address, offer.paymentId, channel.round()! - 1);
      const neverOpened = encode(randomBytes(32), Encoding.Channel);
      await withStore(storage, (store) => store.payments.saveMerchantChannel(merchant.address, { channelId: neverOpened, fsmId: 'ba_x', scannedRound: 0 }));

      shop = await openShop(storage, merchant, port, false, logged);
      t.equal((await get(shop.url, offer.paymentId)).status, 200, 'read from the merchant\'s co-signed history at start');
      t.equal((await get(shop.url, offer.paymentId)).headers.get('aesc-error'), 'already_spent');
      channel = await payerChannel(payer!, (await get(shop.url)).body!, ids);
      t.equal(channel.id(), ids.channelId);
      t.same((await shop.embedded.service.store.payments.merchantChannels(merchant.address)).map((c) => c.channelId), [ids.channelId],
        'a channel that never opened is forgotten at start');
    });

    await t.test('a payer that leaves comes back on its channel and pays again', async (t) => {
      const { channelId } = await channel.leave();
      const offer = (await get(shop.url)).body!;
      channel = await payerChannel(payer!, offer, { channelId, fsmId: channel.fsmId() });
      t.equal((await pay(channel, payer!, offer, PRICE)).accepted, true);
      t.equal((await get(shop.url, offer.paymentId)).status, 200);
      channel.disconnect();
    });

    await t.test('no secret reaches the log', async (t) => {
      const [record] = await shop.embedded.service.store.payments.merchantChannels(merchant.address);
      const key = await shop.embedded.service.store.serviceValue(`paywall-key:${merchant.address}`, () => 'unused');
      t.ok(logged.some((line) => line.includes('paywall:')), 'the paywall logs (the declined transfers)');
      for (const secret of [record!.fsmId, channel.fsmId(), key]) t.notOk(logged.some((line) => line.includes(secret)), 'a secret is not logged');
    });
  });
}

/** A request with a payment id while the store does not answer: 503, and nothing but that. */
async function unavailable(t: Test, shop: Shop, paymentId: string) {
  const res = await fetch(shop.url, { headers: { 'AESC-Payment-Id': paymentId } });
  t.equal(res.status, 503);
  t.equal(res.headers.get('retry-after'), '1');
  t.same(await res.json(), { error: 'store_unavailable' });
  t.equal(shop.served, 0);
}

t.test('the embedded store is closed: 503', async (t) => {
  const storage = testStorage('embedded');
  t.teardown(() => cleanup(storage));
  const shop = await openShop(storage, AccountMemory.generate(), nextPort++, true);
  t.teardown(() => shop.stop());
  const offer = (await get(shop.url)).body!;
  await shop.embedded.service.store.close();
  await unavailable(t, shop, offer.paymentId);
});

t.test('Redis goes away: 503', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const storage = testStorage('redis', redis.url);
  const shop = await openShop(storage, AccountMemory.generate(), nextPort++, true);
  t.teardown(() => shop.stop());
  const offer = (await get(shop.url)).body!;
  await redis.stop();
  await unavailable(t, shop, offer.paymentId);
});
