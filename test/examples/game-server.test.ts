/**
 * examples/game-server, run as a backend would run it: the game server in its own process (the
 * service embedded, the house a responder for any initiator), three players at once in processes of
 * their own with the unmodified aepp-sdk `Channel` over WebSocket. Each pays per round, is paid when
 * it wins, has a round the game does not allow declined, and leaves; the server stops on SIGTERM.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package-root.js';
import { jsonLines } from '../helpers/json-lines.js';
import { untapped } from '../helpers/untapped.js';
import { fundFromGenesis, genesisSdk } from '../helpers/service.js';

const EXAMPLE = join(PACKAGE_ROOT, 'examples', 'game-server');
const PRICE = 10n ** 17n;
const PRIZE = 2n * PRICE;
const STAKE = 10n ** 19n;
const ROUNDS = 4;

const dataDir = mkdtempSync(join(tmpdir(), 'aesc-game-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

/** The JSON lines a process prints, as they come; its exit code at the end. */
const lines = (child: ChildProcess) => jsonLines(child, (line) => line.startsWith('{"ready"') || line.startsWith('{"stopped"') || line.startsWith('{"player"'));

t.test('three players play the game server over the SDK, pay per round and get paid when they win', async (t) => {
  const server = spawn(...untapped(process.execPath, [join(EXAMPLE, 'game-server.mjs')]), {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, WS_PORT: '0', HTTP_PORT: '0', OPS_PORT: '0', DATA_DIR: dataDir, BLOCK_INTERVAL_MS: '50', LOG_LEVEL: 'warn', NETWORK_ID: 'ae_dev', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL'); });
  const out = lines(server);
  const ready = await out.next() as { channelUrl: string; nodeUrl: string; house: string };
  t.match(ready.channelUrl, /^ws:\/\/127\.0\.0\.1:\d+\/channel$/);

  const players = await fundFromGenesis(genesisSdk(ready.nodeUrl), 3, 10n ** 20n);

  const runs = players.map((player) => {
    const child = spawn(...untapped(process.execPath, [join(EXAMPLE, 'player.mjs')]), {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, CHANNEL_URL: ready.channelUrl, NODE_URL: ready.nodeUrl, HOUSE: ready.house, PLAYER_SECRET: player.secretKey, ROUNDS: String(ROUNDS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const printed = lines(child);
    return Promise.all([printed.next(), printed.exit]);
  });
  let wins = 0;
  for (const [index, [result, code]] of (await Promise.all(runs)).entries()) {
    const { player, results, cheatAccepted, balance, round } = result as { player: string; results: boolean[]; cheatAccepted: boolean; balance: string; round: number };
    t.equal(code, 0, `player ${index} exits 0`);
    t.equal(player, players[index]!.address);
    t.equal(results.length, ROUNDS, 'every round paid for was played');
    t.equal(cheatAccepted, false, 'a payment below the price is declined by the house');
    const won = results.filter(Boolean).length;
    wins += won;
    t.equal(BigInt(balance), STAKE - BigInt(ROUNDS) * PRICE + BigInt(won) * PRIZE, 'paid per round, paid when it won');
    t.equal(round, 1 + ROUNDS + won, 'one co-signed round per payment and per prize');
  }

  server.kill('SIGTERM');
  const stopped = await out.next() as { opened: number; rounds: number; paidOut: string };
  t.equal(await out.exit, 0);
  t.equal(stopped.opened, players.length, 'one channel per player, each opened on a waiting responder');
  t.equal(stopped.rounds, players.length * ROUNDS);
  t.equal(BigInt(stopped.paidOut), BigInt(wins) * PRIZE);
});
