/**
 * A player of game-server.mjs: a wallet with the unmodified aepp-sdk `Channel` over WebSocket. It
 * funds itself from the dev chain's genesis account (unless PLAYER_SECRET is a funded key), opens a channel to the house, plays ROUNDS
 * rounds (pay PRICE with its call in the metadata, wait for the coin) and prints what happened.
 *
 * CHANNEL_URL, NODE_URL, HOUSE (the house's account) and ROUNDS come from the environment.
 */
import { AccountMemory, AeSdk, Channel, Node } from '@aeternity/aepp-sdk';
import { DEV_GENESIS_SECRET } from './game-server.mjs';
import { PORT, PRICE, TERMS } from './terms.mjs';

const { CHANNEL_URL, NODE_URL, HOUSE, NETWORK_ID = 'ae_dev' } = process.env;
const ROUNDS = Number(process.env.ROUNDS ?? 3);

// a funded key (PLAYER_SECRET), or a new one funded from the dev chain's genesis account
const me = process.env.PLAYER_SECRET ? new AccountMemory(process.env.PLAYER_SECRET) : AccountMemory.generate();
if (!process.env.PLAYER_SECRET) {
  const aeSdk = new AeSdk({
    nodes: [{ name: 'dev', instance: new Node(NODE_URL) }],
    accounts: [new AccountMemory(DEV_GENESIS_SECRET)], _expectedMineRate: 1000, _microBlockCycle: 100,
  });
  await aeSdk.spend((10n ** 20n).toString(), me.address);
}
const sign = (tx) => me.signTransaction(tx, { networkId: NETWORK_ID });

const channel = await Channel.initialize({
  ...TERMS, url: CHANNEL_URL, role: 'initiator', host: 'localhost', port: PORT,
  initiatorId: me.address, responderId: HOUSE, sign: (_tag, tx) => sign(tx),
});
await new Promise((resolve) => channel.on('statusChanged', (s) => { if (s === 'open') resolve(); }));

const results = [];
let nextResult;
channel.on('message', (message) => nextResult?.(JSON.parse(message.info)));
for (let round = 0; round < ROUNDS; round++) {
  const guess = round % 2 ? 'tails' : 'heads';
  const result = new Promise((resolve) => { nextResult = resolve; });
  const paid = await channel.update(me.address, HOUSE, PRICE.toString(), sign, [guess]);
  if (!paid.accepted) throw new Error(`round ${round} was not accepted`);
  const { won } = await result;
  results.push(won);
}
// a round the game does not allow is declined
const cheat = await channel.update(me.address, HOUSE, '1', sign, ['heads']);
const balances = await channel.balances([me.address, HOUSE]);
await channel.leave();
process.stdout.write(`${JSON.stringify({ player: me.address, results, cheatAccepted: cheat.accepted, balance: String(balances[me.address]), round: channel.round() })}\n`);
