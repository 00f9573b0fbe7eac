#!/usr/bin/env node
/**
 * A channel client over a raw WebSocket, in the JSON-RPC envelope, with nothing but `ws` and the
 * aepp-sdk (for keys, tx encoding and the genesis spend). It funds two fresh accounts from the dev
 * chain's genesis account, opens a channel between them, sends 1 AE off-chain, asks for the balances
 * and leaves. docs/api.md explains every frame it sees.
 *
 *   npm start                                   # in another terminal: the service on 3014/3013
 *   node examples/raw-client-jsonrpc.mjs
 *
 * WS_URL, NODE_URL and NETWORK_ID point it at another service.
 */
import WebSocket from 'ws';
import { AccountMemory, AeSdk, Node, Tag, buildTx, decode, hash, unpackTx } from '@aeternity/aepp-sdk';

const WS_URL = process.env.WS_URL ?? 'ws://127.0.0.1:3014/channel';
const NODE_URL = process.env.NODE_URL ?? 'http://127.0.0.1:3013';
const NETWORK_ID = process.env.NETWORK_ID ?? 'ae_dev';
/** the dev chain's genesis account: public test data, never a real key */
const GENESIS_SECRET = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';
const AE = 10n ** 18n; // amounts are aettos: beyond 2^53, so BigInt throughout

// --- JSON with big integers -------------------------------------------------------------------
// The service writes amounts as bare JSON numbers, exact to the last digit. JSON.parse would round
// any of 16 digits or more, so such numbers are quoted before parsing (strings are matched first,
// so nothing inside a string is touched) and become BigInts.
const BIG = /"(?:[^"\\]|\\.)*"|-?\d{16,}(?![.eE\d])/g;
function parse(text) {
  return JSON.parse(text.replace(BIG, (token) => (token.startsWith('"') ? token : `"#big:${token}"`)),
    (_key, value) => (typeof value === 'string' && value.startsWith('#big:') ? BigInt(value.slice(5)) : value));
}
// ...and BigInts leave as bare numbers too.
function stringify(value) {
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `#big:${v}` : v)).replace(/"#big:(-?\d+)"/g, '$1');
}

// --- signing ------------------------------------------------------------------------------------
// A sign request carries a SignedTx: RLP [11, 1, [signatures…], rlp(tx)], with zero or more
// signatures already in it. The client signs utf8(network id) ‖ blake2b-256(rlp(tx)) with ed25519
// and answers the SignedTx with its signature added.
async function cosign(account, signedTx) {
  const { signatures, encodedTx } = unpackTx(signedTx, Tag.SignedTx);
  const tx = buildTx(encodedTx); // the inner tx, tx_…
  const message = Buffer.concat([Buffer.from(NETWORK_ID, 'utf8'), hash(decode(tx))]);
  const signature = await account.unsafeSign(message);
  return buildTx({ tag: Tag.SignedTx, signatures: [...signatures, signature], encodedTx: tx });
}

// --- one participant's socket ---------------------------------------------------------------------
class Participant {
  constructor(name, account) {
    this.name = name;
    this.account = account;
    this.inbox = [];
    this.waiters = [];
    this.closed = false;
  }

  /** Connects with the channel's URL parameters and answers every sign request by signing. */
  connect(query) {
    const url = `${WS_URL}?${new URLSearchParams({ protocol: 'json-rpc', ...query })}`;
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => this.receive(parse(data.toString())));
    this.ws.on('close', () => { this.closed = true; this.wake(); });
    return new Promise((resolve, reject) => { this.ws.once('open', resolve); this.ws.once('error', reject); });
  }

  receive(msg) {
    const data = msg.params?.data;
    const what = msg.method === 'channels.info' ? `info ${data.event}` : msg.method ?? (msg.error ? `error ${msg.error.message}` : 'result');
    console.log(`${this.name} <- ${what}`);
    // channels.sign.<tag> is answered on channels.<tag>; a wallet would show `data.updates` to its
    // user (what the round changes) before signing, and answer {error: code} to refuse
    const sign = /^channels\.sign\.(.+)$/.exec(msg.method ?? '');
    if (sign) void cosign(this.account, data.signed_tx).then((signed) => this.send(`channels.${sign[1]}`, { signed_tx: signed }));
    this.inbox.push(msg);
    this.wake();
  }

  send(method, params = {}, id) {
    console.log(`${this.name} -> ${method}`);
    this.ws.send(stringify({ jsonrpc: '2.0', method, params, ...(id !== undefined && { id }) }));
  }

  wake() {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next message that matches (earlier ones that do not are dropped). */
  async next(match, what) {
    for (;;) {
      const i = this.inbox.findIndex(match);
      if (i >= 0) return this.inbox.splice(0, i + 1)[i];
      if (this.closed) throw new Error(`${this.name}: the socket closed while waiting for ${what}`);
      await new Promise((resolve) => this.waiters.push(resolve));
    }
  }

  info(event) {
    return this.next((m) => m.method === 'channels.info' && m.params.data.event === event, `info ${event}`);
  }

  method(method) {
    return this.next((m) => m.method === method, method);
  }
}

// --- the run ------------------------------------------------------------------------------------
// 1. Two fresh accounts, funded from genesis through the node HTTP API.
const aeSdk = new AeSdk({
  nodes: [{ name: 'dev', instance: new Node(NODE_URL) }],
  accounts: [new AccountMemory(GENESIS_SECRET)],
  _expectedMineRate: 1000, _microBlockCycle: 100,
});
const alice = new Participant('alice (initiator)', AccountMemory.generate());
const bob = new Participant('bob (responder)', AccountMemory.generate());
for (const { account } of [alice, bob]) await aeSdk.spend((10n * AE).toString(), account.address);

// 2. Open: both connect with the same channel parameters; the responder leaves out `host`. `port`
//    pairs the two (the responder "listens" on it); minimum_depth 0 opens as soon as the create tx is mined.
const channel = {
  initiator_id: alice.account.address, responder_id: bob.account.address,
  initiator_amount: (4n * AE).toString(), responder_amount: (4n * AE).toString(), push_amount: '0',
  channel_reserve: (AE / 10n).toString(), lock_period: '10', port: '3114',
  minimum_depth: '0', minimum_depth_strategy: 'plain',
};
await alice.connect({ ...channel, role: 'initiator', host: 'localhost' });
await bob.connect({ ...channel, role: 'responder' });
const [aliceUp] = await Promise.all([alice.info('fsm_up'), bob.info('fsm_up')]);
// keep the fsm_id: with the channel id it is the secret that reestablishes the channel after a leave
const fsmId = aliceUp.params.data.fsm_id;
const [opened] = await Promise.all([alice.info('open'), bob.info('open')]);
const channelId = opened.params.channel_id;
await Promise.all([alice.method('channels.update'), bob.method('channels.update')]);
console.log(`open: ${channelId}`);

// 3. Transfer 1 AE: alice proposes, both sign (alice on channels.sign.update, bob on
//    channels.sign.update_ack), both get channels.update with the co-signed off-chain tx.
alice.send('channels.update.new', { from: alice.account.address, to: bob.account.address, amount: AE });
const [state] = await Promise.all([alice.method('channels.update'), bob.method('channels.update')]);
const round = unpackTx(buildTx(unpackTx(state.params.data.state, Tag.SignedTx).encodedTx)).round;
console.log(`transfer done: round ${round}`);

// 4. A query with an id gets a reply with the same id.
alice.send('channels.get.balances', { accounts: [alice.account.address, bob.account.address] }, 1);
const reply = await alice.next((m) => m.id === 1, 'the balances');
const balances = Object.fromEntries(reply.result.map(({ account, balance }) => [account, BigInt(balance)]));
console.log(`balances: alice ${balances[alice.account.address]}, bob ${balances[bob.account.address]}`);
if (balances[alice.account.address] !== 3n * AE || balances[bob.account.address] !== 5n * AE) throw new Error('unexpected balances');

// 5. Leave: both get channels.leave with the latest co-signed state; alice's FSM stops and closes
//    her socket. Reconnecting with existing_channel_id and existing_fsm_id would reestablish.
alice.send('channels.leave');
await Promise.all([alice.method('channels.leave'), bob.method('channels.leave')]);
await alice.info('died');
console.log(`left; reestablish with existing_channel_id=${channelId}&existing_fsm_id=${fsmId.slice(0, 6)}…`);
bob.ws.close();
console.log('done');
