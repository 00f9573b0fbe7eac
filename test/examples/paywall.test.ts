/**
 * examples/paywall, run as a backend would run it: the shop in its own process (the service embedded,
 * its account the merchant behind an HTTP 402 paywall), two buyers at once in processes of their own
 * with the unmodified aepp-sdk `Channel` over WebSocket. Each gets 402, opens a channel with the shop,
 * pays per article, gets each article once per payment. Then the shop restarts on the same store and a
 * buyer comes back to its channel and buys again; the shop stops on SIGTERM.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountMemory } from '../../lib/sdk.js';
import { PACKAGE_ROOT } from '../../lib/package-root.js';
import { jsonLines } from '../helpers/json-lines.js';
import { untapped } from '../helpers/untapped.js';
import { genesisSdk } from '../helpers/service.js';

const EXAMPLE = join(PACKAGE_ROOT, 'examples', 'paywall');
const PRICE = 10n ** 15n;
const DEPOSIT = 10n ** 18n;

const dir = mkdtempSync(join(tmpdir(), 'aesc-shop-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const shopKey = AccountMemory.generate();

interface Bought { name: string; status: number; text: string; reused: string | null }
interface BuyerResult { buyer: string; channelId: string; reestablished: boolean; bought: Bought[]; balance: string; round: number }

function startShop() {
  const shop = spawn(...untapped(process.execPath, [join(EXAMPLE, 'shop.mjs')]), {
    cwd: PACKAGE_ROOT,
    env: {
      ...process.env, SHOP_SECRET: shopKey.secretKey, SHOP_PORT: '0', WS_PORT: '0', HTTP_PORT: '0', OPS_PORT: '0',
      DATA_DIR: join(dir, 'data'), BLOCK_INTERVAL_MS: '50', LOG_LEVEL: 'warn', NETWORK_ID: 'ae_dev', REDIS_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (shop.exitCode === null) shop.kill('SIGKILL'); });
  return { process: shop, out: jsonLines(shop, (line) => line.startsWith('{"shop"')) };
}

function runBuyer(ready: { shopUrl: string; nodeUrl: string }, buyer: AccountMemory, articles: string[], stateFile: string) {
  const child = spawn(...untapped(process.execPath, [join(EXAMPLE, 'buyer.mjs')]), {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, SHOP_URL: ready.shopUrl, NODE_URL: ready.nodeUrl, BUYER_SECRET: buyer.secretKey, ARTICLES: articles.join(','), STATE_FILE: stateFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const printed = jsonLines(child, (line) => line.startsWith('{"buyer"'));
  return Promise.all([printed.next() as Promise<unknown> as Promise<BuyerResult>, printed.exit]);
}

t.test('buyers get 402, pay over their channels with the shop, get each article once; a restart keeps their channels', async (t) => {
  let shop = startShop();
  let ready = await shop.out.next() as { shopUrl: string; channelUrl: string; nodeUrl: string; merchant: string };
  t.equal(ready.merchant, shopKey.address);
  t.match(ready.shopUrl, /^http:\/\/127\.0\.0\.1:\d+$/);

  // funded one after another: they all spend from the genesis account
  const sdk = genesisSdk(ready.nodeUrl);
  const buyers = [AccountMemory.generate(), AccountMemory.generate()];
  for (const buyer of buyers) await sdk.spend((10n ** 19n).toString(), buyer.address, { blocks: 200 });
  const states = buyers.map((_, i) => join(dir, `buyer-${i}.json`));
  const articles = [['state-channels', 'http-402'], ['aeternity']];

  const runs = await Promise.all(buyers.map((buyer, i) => runBuyer(ready, buyer, articles[i]!, states[i]!)));
  const channels: string[] = [];
  for (const [index, [result, code]] of runs.entries()) {
    t.equal(code, 0, `buyer ${index} exits 0`);
    t.equal(result.buyer, buyers[index]!.address);
    t.equal(result.reestablished, false, 'a new channel');
    t.same(result.bought.map((b) => [b.name, b.status, b.text, b.reused]), articles[index]!.map((name) => [name, 200, `The article "${name}", paid for.\n`, 'already_spent']),
      'each article served once its payment is co-signed, and only once per payment id');
    t.equal(BigInt(result.balance), DEPOSIT - BigInt(articles[index]!.length) * PRICE, 'paid the price per article');
    t.equal(result.round, 1 + articles[index]!.length, 'one co-signed round per article');
    channels.push(result.channelId);
  }
  t.not(channels[0], channels[1], 'a channel per buyer');

  shop.process.kill('SIGTERM');
  t.same(await shop.out.next(), { shop: 'stopped', served: 3 });
  t.equal(await shop.out.exit, 0);

  // the shop again, on the same store: the first buyer's channel still works
  shop = startShop();
  ready = await shop.out.next() as typeof ready;
  const [again, code] = await runBuyer(ready, buyers[0]!, ['restarts'], states[0]!);
  t.equal(code, 0);
  t.equal(again.reestablished, true, 'reestablished, not opened anew');
  t.equal(again.channelId, channels[0]);
  t.same(again.bought.map((b) => b.status), [200]);
  t.equal(BigInt(again.balance), DEPOSIT - 3n * PRICE);
  t.equal(again.round, 4);
  shop.process.kill('SIGTERM');
  t.same(await shop.out.next(), { shop: 'stopped', served: 1 });
  t.equal(await shop.out.exit, 0);
});
