/**
 * A shop that sells articles over an HTTP 402 paywall: the channel service runs in this process, the
 * shop's account is the merchant (the responder of a channel with every buyer), and each article
 * costs PRICE aettos, paid over that channel.
 *
 *   GET /articles/<name>                 → 402 with AESC-Receiver, AESC-Price, AESC-Payment-Id, AESC-Gateway
 *   GET /articles/<name> + AESC-Payment-Id, once paid → 200 and the article (one request per payment id)
 *
 * Run it with `npm run build && node examples/paywall/shop.mjs`; buyers use buyer.mjs (the aepp-sdk
 * `Channel` over WebSocket). SHOP_PORT picks the HTTP port (default 8402); SHOP_SECRET the shop's key
 * (default: a new one each run); the service reads the environment as `npm start` does (DATA_DIR,
 * REDIS_URL, WS_PORT…). Restart it with the same key on the same store and every buyer's channel
 * keeps working.
 */
import { createServer } from 'node:http';
import { AccountMemory, AeSdk, Node } from '@aeternity/aepp-sdk';
import { startEmbedded, startPaywall } from 'aesc-service';

/** what an article costs, in aettos */
export const PRICE = 10n ** 15n;
/** the port buyers' channels name to meet the shop */
export const CHANNEL_PORT = 4402;
/** The dev chain's genesis account (public test data) funds the shop's key the first time. */
const DEV_GENESIS_SECRET = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';

// the shop's key: SHOP_SECRET, so that a restart is the same shop with the same channels
const shop = process.env.SHOP_SECRET ? new AccountMemory(process.env.SHOP_SECRET) : AccountMemory.generate();
const service = await startEmbedded();
const chain = new AeSdk({ nodes: [{ name: 'dev', instance: new Node(service.nodeUrl) }], accounts: [new AccountMemory(DEV_GENESIS_SECRET)], _expectedMineRate: 1000, _microBlockCycle: 100 });
if (BigInt(await chain.getBalance(shop.address)) === 0n) await chain.spend((10n ** 20n).toString(), shop.address);

const paywall = await startPaywall(service, {
  account: shop.address,
  // the shop's own key signs what the paywall agrees to co-sign
  sign: (_tag, tx) => shop.signTransaction(tx, { networkId: service.networkId }),
  port: CHANNEL_PORT,
  // every buyer locks 1 AE; the shop locks nothing (it only receives)
  channel: { initiatorAmount: 10n ** 18n, lockPeriod: 10 },
});

const article = paywall.protect(PRICE);
let served = 0;
const http = createServer((req, res) => {
  const name = /^\/articles\/([a-z0-9-]+)$/.exec(req.url ?? '')?.[1];
  if (!name) {
    res.writeHead(404).end();
    return;
  }
  void article(req, res, () => {
    served += 1;
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`The article "${name}", paid for.\n`);
  });
});
await new Promise((resolve) => http.listen(Number(process.env.SHOP_PORT ?? 8402), '127.0.0.1', resolve));

const shopUrl = `http://127.0.0.1:${http.address().port}`;
process.stdout.write(`${JSON.stringify({ shop: 'ready', shopUrl, channelUrl: service.channelUrl, nodeUrl: service.nodeUrl, merchant: shop.address })}\n`);

const stop = async () => {
  await new Promise((resolve) => http.close(resolve));
  await paywall.close();
  await service.stop();
  process.stdout.write(`${JSON.stringify({ shop: 'stopped', served })}\n`);
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
