/**
 * A coin-flip game server that embeds the channel service: it is the responder of a channel with
 * every player (`initiatorId: 'any'`, kept running), with its own key and no socket of its own.
 * A player pays PRICE per round with an off-chain transfer whose metadata names its call ("heads" or
 * "tails"); once that transfer is co-signed (and persisted by the service), the house flips a coin,
 * tells the player, and pays PRIZE when the player called it right.
 *
 * Run it with `npm run build && node examples/game-server/game-server.mjs`; players connect with the
 * aepp-sdk `Channel` (see player.mjs) to the channel URL it prints.
 */
import { randomInt } from 'node:crypto';
import { AccountMemory, AeSdk, Node } from '@aeternity/aepp-sdk';
import { startEmbedded } from 'aesc-service';
import { PORT, PRICE, PRIZE, TERMS } from './terms.mjs';

/** How many responders wait for players at once: each one that gets a player is replaced. */
const WAITING = 2;

/**
 * Starts the service in this process and the house on it. `fundHouse` pays the house's stake on the
 * dev chain (a real deployment funds its key beforehand).
 */
export async function startGameServer({ embed = {}, house = AccountMemory.generate(), fundHouse } = {}) {
  const service = await startEmbedded(embed);
  const networkId = service.networkId;
  await fundHouse?.(service, house);
  const sign = (tx) => house.signTransaction(tx, { networkId });
  const stats = { opened: 0, rounds: 0, paidOut: 0n };
  const tables = new Set();
  let stopping = false;

  /** One table: one responder channel, waiting for any player, then playing with it. */
  async function openTable() {
    /** the call of the round being paid for, seen in the update the house co-signs */
    let call = null;
    let paired = false;
    const channel = await service.channel({
      ...TERMS, role: 'responder', initiatorId: 'any', responderId: house.address, port: PORT, keepRunning: true,
      // the house co-signs only what the game allows: a transfer of PRICE to it, with a call
      sign: async (tag, tx, { updates = [] } = {}) => {
        if (tag === 'responder_sign' || tag === 'shutdown_sign_ack') return sign(tx);
        if (tag !== 'update_ack') return null;
        const [transfer, meta] = updates;
        const ok = updates.length === 2 && transfer.op === 'OffChainTransfer' && transfer.to === house.address
          && BigInt(transfer.amount) === PRICE && meta.op === 'OffChainMeta' && ['heads', 'tails'].includes(meta.data);
        if (!ok) return 1; // declined: not a round of this game
        call = { player: transfer.from, guess: meta.data };
        return sign(tx);
      },
    });
    tables.add(channel);
    channel.on('statusChanged', (status) => {
      if ((status === 'halfSigned' || status === 'disconnected') && !paired && !stopping) {
        // this table got a player (or gave up waiting): put another one out
        paired = true;
        void openTable().catch(() => undefined);
      }
      if (status === 'open') stats.opened += 1;
      if (status === 'disconnected') tables.delete(channel);
    });
    channel.on('stateChanged', () => {
      // the player's payment is co-signed: play the round it paid for
      if (!call) return;
      const { player, guess } = call;
      call = null;
      void playRound(channel, player, guess);
    });
    return channel;
  }

  async function playRound(channel, player, guess) {
    const coin = randomInt(2) === 0 ? 'heads' : 'tails';
    const won = coin === guess;
    stats.rounds += 1;
    if (won) {
      const { accepted } = await channel.update(house.address, player, PRIZE, sign, ['prize']);
      if (accepted) stats.paidOut += PRIZE;
    }
    await channel.sendMessage({ coin, won }, player);
  }

  for (let i = 0; i < WAITING; i++) await openTable();
  return {
    service, house, stats,
    async stop() {
      stopping = true;
      await service.stop();
    },
  };
}

/** The dev chain's genesis account (public test data) pays the house's stake. */
export const DEV_GENESIS_SECRET = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';

export async function fundFromGenesis(service, account, amount = 10n ** 22n) {
  const aeSdk = new AeSdk({
    nodes: [{ name: 'dev', instance: new Node(service.nodeUrl) }],
    accounts: [new AccountMemory(DEV_GENESIS_SECRET)], _expectedMineRate: 1000, _microBlockCycle: 100,
  });
  await aeSdk.spend(amount.toString(), account.address);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const game = await startGameServer({ fundHouse: fundFromGenesis });
  const { channelUrl, nodeUrl } = game.service;
  process.stdout.write(`${JSON.stringify({ ready: true, channelUrl, nodeUrl, house: game.house.address, port: PORT })}\n`);
  const stop = () => void game.stop().then(() => {
    process.stdout.write(`${JSON.stringify({ stopped: true, ...game.stats, paidOut: String(game.stats.paidOut) })}\n`);
    process.exit(0);
  });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
