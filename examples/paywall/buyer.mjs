/**
 * A buyer at shop.mjs: a wallet with the unmodified aepp-sdk `Channel` over WebSocket. For each
 * article it asks for, it gets 402, pays the price over its channel with the shop (the transfer's
 * meta carries the payment id), retries with AESC-Payment-Id and gets the article. It opens the
 * channel the first 402 describes, or comes back to the one kept in STATE_FILE.
 *
 * SHOP_URL and NODE_URL come from the environment; ARTICLES (comma-separated names, default two);
 * BUYER_SECRET a funded key (default: a new key funded from the dev chain's genesis account);
 * STATE_FILE where the buyer keeps its channel between runs (its fsm_id is a secret: keep the file private).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AccountMemory, AeSdk, Channel, Node } from '@aeternity/aepp-sdk';

const { SHOP_URL, NODE_URL, STATE_FILE, NETWORK_ID = 'ae_dev' } = process.env;
const ARTICLES = (process.env.ARTICLES ?? 'state-channels,http-402').split(',');
const DEV_GENESIS_SECRET = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';

const me = process.env.BUYER_SECRET ? new AccountMemory(process.env.BUYER_SECRET) : AccountMemory.generate();
if (!process.env.BUYER_SECRET) {
  const chain = new AeSdk({ nodes: [{ name: 'dev', instance: new Node(NODE_URL) }], accounts: [new AccountMemory(DEV_GENESIS_SECRET)], _expectedMineRate: 1000, _microBlockCycle: 100 });
  await chain.spend((10n ** 19n).toString(), me.address);
}
const sign = (tx) => me.signTransaction(tx, { networkId: NETWORK_ID });

/** The channel with the shop, opened on the terms a 402 states, or reestablished from STATE_FILE. */
async function channelWith(offer) {
  const kept = STATE_FILE && existsSync(STATE_FILE) ? JSON.parse(readFileSync(STATE_FILE, 'utf8')) : null;
  const { channel: terms } = offer;
  const channel = await Channel.initialize({
    url: offer.gateway, role: 'initiator', host: 'localhost', initiatorId: me.address, responderId: terms.responderId, port: terms.port,
    initiatorAmount: BigInt(terms.initiatorAmount), responderAmount: BigInt(terms.responderAmount), pushAmount: 0n,
    channelReserve: BigInt(terms.channelReserve), lockPeriod: terms.lockPeriod,
    minimumDepth: terms.minimumDepth, minimumDepthStrategy: terms.minimumDepthStrategy,
    sign: (_tag, tx) => sign(tx),
    ...(kept && { reestablish: true, existingChannelId: kept.channelId, existingFsmId: kept.fsmId }),
  });
  await new Promise((resolve, reject) => {
    channel.on('statusChanged', (status) => {
      if (status === 'open') resolve();
      if (status === 'disconnected') reject(new Error('the channel with the shop did not open'));
    });
  });
  return { channel, reestablished: Boolean(kept) };
}

let channel;
let reestablished = false;
const bought = [];
for (const name of ARTICLES) {
  const url = `${SHOP_URL}/articles/${name}`;
  const unpaid = await fetch(url);
  if (unpaid.status !== 402) throw new Error(`expected 402, got ${unpaid.status}`);
  const offer = await unpaid.json();
  const paymentId = unpaid.headers.get('AESC-Payment-Id');
  if (!channel) ({ channel, reestablished } = await channelWith(offer));
  const price = BigInt(unpaid.headers.get('AESC-Price'));
  const paid = await channel.update(me.address, unpaid.headers.get('AESC-Receiver'), price, sign, [paymentId]);
  if (!paid.accepted) throw new Error('the shop did not co-sign the payment');
  const res = await fetch(url, { headers: { 'AESC-Payment-Id': paymentId } });
  const again = await fetch(url, { headers: { 'AESC-Payment-Id': paymentId } });
  bought.push({ name, status: res.status, text: await res.text(), reused: again.headers.get('AESC-Error') });
}
const balance = (await channel.balances([me.address]))[me.address];
// left, not closed: the channel stays open on chain, and the next run reestablishes it
await channel.leave();
if (STATE_FILE) writeFileSync(STATE_FILE, JSON.stringify({ channelId: channel.id(), fsmId: channel.fsmId() }), { mode: 0o600 });
process.stdout.write(`${JSON.stringify({ buyer: me.address, channelId: channel.id(), reestablished, bought, balance: String(balance), round: channel.round() })}\n`);
