/**
 * WORKERS=2: the service as its own process (lib/main.ts, the build run with node) forking two
 * workers behind one WebSocket port, on the test Redis under a key prefix of its own. Real clients
 * connect one after another, the primary hands each socket to the worker its channel hashes to (a
 * channel's two participants to the same one) or, naming none, to the next in turn, and each worker's
 * own ops listener (found through the primary's /workers) says which FSMs it hosts: channels whose two
 * FSMs are on different workers open over the peer link between instances, transfer and close; a
 * peer from another service reaches responders on either worker through one public port; a worker
 * SIGKILLed is started again and its clients reestablish; a cheater's solo close on an old round while
 * both clients are away is slashed by the worker watching the channel, once; SIGTERM to the primary
 * drains both workers.
 * The same on a private Redis Cluster: a channel across the two workers opens, transfers and closes.
 * WORKERS > 1 on the embedded store, and bad values, are refused.
 */
import { availableParallelism } from 'node:os';
import t, { type Test } from 'tap';
import { buildTx, Tag, unpackEntry } from '../lib/sdk.js';
import { cosign } from './helpers/accounts.js';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { npmStart } from './helpers/npm-start.js';
import { startServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { startRedisCluster } from './helpers/redis-cluster.js';
import { testStorage } from './helpers/storage.js';
import { roundOf } from './helpers/tracked-pair.js';
import { loadConfig } from '../lib/config.js';

/** the node's channel_open carries amounts in 64 bits: across instances at most about 18 AE each */
const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
let nextPort = 30_000 + Math.floor(Math.random() * 10_000);

interface WorkerRow { worker: number; pid: number | null; up: boolean; restarts: number; ops_url: string | null }

/** a watched channel's lock period, in the dev chain's blocks (500 ms): time enough for a slash */
const WATCHED_LOCK_PERIOD = 20;

const PEER_ENV = { PEER_REDIAL_DELAY_MS: '200', PEER_CONNECT_TIMEOUT_MS: '1000', PEER_HANDSHAKE_TIMEOUT_MS: '5000' };

async function startWorkers(t: Test, env: Record<string, string> = {}) {
  const service = await startServiceProcess({
    direct: true, built: true, storage: testStorage('redis'), startTimeoutMs: 180_000,
    env: { WORKERS: '2', LOG_LEVEL: 'info', ...PEER_ENV, ...env },
  });
  t.teardown(() => service.stop());
  await service.printed('"workers":2', 180_000);
  const started = service.output().split('\n').map((line) => { try { return JSON.parse(line); } catch { return null; } })
    .find((line) => line?.message === 'service started' && line.workers === 2);
  const opsUrl: string = started.ops_url;
  const sdk = genesisSdk(service.nodeUrl);
  const workers = async (): Promise<WorkerRow[]> => ((await (await fetch(`${opsUrl}/workers`)).json()) as { workers: WorkerRow[] }).workers;
  /** channel id → the workers hosting its initiator's and responder's FSMs */
  const placement = async (): Promise<Map<string, { initiator?: number; responder?: number }>> => {
    const where = new Map<string, { initiator?: number; responder?: number }>();
    for (const w of await workers()) {
      if (!w.ops_url) continue;
      const list = await (await fetch(`${w.ops_url}/channels?limit=1000`)).json() as { channels: Array<{ channel_id: string; initiator: unknown; responder: unknown }> };
      for (const ch of list.channels) {
        const entry = where.get(ch.channel_id) ?? {};
        if (ch.initiator) entry.initiator = w.worker;
        if (ch.responder) entry.responder = w.worker;
        where.set(ch.channel_id, entry);
      }
    }
    return where;
  };
  return { service, opsUrl, workers, placement, funded: (n: number) => fundFromGenesis(sdk, n, 10n ** 20n) };
}

type Workers = Awaited<ReturnType<typeof startWorkers>>;

/**
 * A channel opened by two clients connecting one after the other (the initiator first, as the
 * aepp-sdk's tests do). Both name the channel's port and participants, so the primary hands both
 * sockets to the one worker the channel hashes to. With `anyInitiator` the responder takes any
 * initiator (`initiator_id=any`): its request names no channel the primary could hash, so its socket
 * goes to the next worker in turn, and `between` sockets opened and closed before it move that turn on.
 */
async function openChannel(s: Workers, between = 0, anyInitiator = false, extra: Record<string, string | number> = {}) {
  const [initiatorAccount, responderAccount] = await s.funded(2);
  const port = nextPort++;
  const query = channelQuery(initiatorAccount!, responderAccount!, port, { ...AMOUNTS, extra });
  const initiator = await TestClient.connect(s.service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', initiatorAccount!);
  for (let i = 0; i < between; i++) {
    // a socket without parameters: refused by whichever worker it is handed to
    const spare = await TestClient.connect(s.service.channelUrl, {}, 'json-rpc', null);
    await spare.closedAndDone();
  }
  const responder = await TestClient.connect(s.service.channelUrl, { ...query, role: 'responder', ...(anyInitiator && { initiator_id: 'any' }) }, 'json-rpc', responderAccount!);
  const [iUp, rUp] = await Promise.all([initiator.nextMethod('channels.info', 'fsm_up', 60_000), responder.nextMethod('channels.info', 'fsm_up', 60_000)]);
  const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open', 60_000), responder.nextMethod('channels.info', 'open', 60_000)]);
  await Promise.all([initiator.nextMethod('channels.update', undefined, 30_000), responder.nextMethod('channels.update', undefined, 30_000)]);
  return {
    initiator, responder, initiatorAccount: initiatorAccount!, responderAccount: responderAccount!, port,
    channelId: iOpen.frame.params.channel_id as string,
    fsmIds: { initiator: iUp.data.fsm_id as string, responder: rUp.data.fsm_id as string },
  };
}

type Opened = Awaited<ReturnType<typeof openChannel>>;

async function transfer(ch: Pick<Opened, 'initiator' | 'responder'>, by: 'initiator' | 'responder', from: string, to: string, amount: number): Promise<[string, string]> {
  ch[by].send('channels.update.new', { from, to, amount });
  const [i, r] = await Promise.all([ch.initiator.nextMethod('channels.update', undefined, 30_000), ch.responder.nextMethod('channels.update', undefined, 30_000)]);
  return [i.data.state as string, r.data.state as string];
}

async function balances(client: TestClient, ch: Opened): Promise<Record<string, string>> {
  client.send('channels.get.balances', { accounts: [ch.initiatorAccount.address, ch.responderAccount.address] }, 7);
  const reply = await client.next((m) => m.method === 'result' || m.method === 'channels.get.balances');
  return Object.fromEntries((reply.data as Array<{ account: string; balance: string | number }>).map((b) => [b.account, String(b.balance)]));
}

/**
 * A channel whose two FSMs are on different workers, within `tries` channels: a responder open to any
 * initiator goes to the next worker in turn, so its channel may cross them (the caller checks it did).
 */
async function openAcrossWorkers(s: Workers, tries: number) {
  let ch = await openChannel(s, 0, true);
  let where = (await s.placement()).get(ch.channelId)!;
  for (let n = 1; n < tries && where.initiator === where.responder; n++) {
    ch = await openChannel(s, n % 2, true);
    where = (await s.placement()).get(ch.channelId)!;
  }
  return { ch, where };
}

/** 100 one way and 7 back: both FSMs hold each round, and the balances say each transfer counted once. */
async function transfersBothWays(t: Test, ch: Opened): Promise<void> {
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  const [a1, b1] = await transfer(ch, 'initiator', i, r, 100);
  const [a2, b2] = await transfer(ch, 'responder', r, i, 7);
  t.ok(a1 === b1 && a2 === b2, 'both FSMs hold each co-signed round');
  const after = await balances(ch.initiator, ch);
  t.same(after, await balances(ch.responder, ch), 'the same balances on both sides');
  t.equal(BigInt(after[r]!), 10n ** 18n + 93n, 'each transfer counted once');
}

async function nodeApi(s: Workers, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${s.service.nodeUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function until<T>(check: () => Promise<T | null | undefined | false>, what: string, ms = 30_000): Promise<T> {
  for (const deadline = Date.now() + ms; ;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The slash txs of a channel mined from `from` to the top, read through the node API. */
async function slashesOnChain(s: Workers, channelId: string, from: number): Promise<string[]> {
  const top = (await nodeApi(s, '/v3/key-blocks/current/height')).height as number;
  const hashes: string[] = [];
  for (let h = from; h <= top; h++) {
    for (const mh of (await nodeApi(s, `/v3/generations/height/${h}`)).micro_blocks as string[]) {
      for (const tx of (await nodeApi(s, `/v3/micro-blocks/hash/${mh}/transactions`)).transactions) {
        if (tx.tx.type === 'ChannelSlashTx' && tx.tx.channel_id === channelId) hashes.push(tx.hash);
      }
    }
  }
  return hashes;
}

/**
 * The cheater (initiator) keeps an old co-signed state and its PoI, one more transfer gives the victim
 * more, both clients go away (their FSMs live on at their worker), and the cheater solo-closes on the
 * old round: the worker watching the channel, which may or may not be the one hosting its FSMs,
 * answers at once with one slash, mined within the lock period.
 */
async function watchtowerAnswersOnce(t: Test, s: Workers, ch: Opened): Promise<void> {
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  await transfer(ch, 'initiator', i, r, 100);
  const [old] = await transfer(ch, 'responder', r, i, 90);
  ch.initiator.send('channels.get.poi', { accounts: [i, r] }, 1);
  const oldPoi = (await ch.initiator.next((m) => m.method === 'result')).data.poi;
  const [latest] = await transfer(ch, 'initiator', i, r, 500);
  const host = (await s.placement()).get(ch.channelId)!.initiator;
  const watchers = await until(async () => {
    const views = await Promise.all((await s.workers()).map(async (w) => ({
      worker: w.worker, channels: ((await (await fetch(`${w.ops_url}/watchtower?limit=1000`)).json()) as { channels: string[] }).channels,
    })));
    const found = views.filter((v) => v.channels.includes(ch.channelId)).map((v) => v.worker);
    return found.length ? found : null;
  }, 'a worker to watch the channel');
  t.equal(watchers.length, 1, `one worker watches the channel (worker ${watchers[0]}; its FSMs are at worker ${host})`);
  for (const client of [ch.initiator, ch.responder]) {
    client.close();
    await client.closedAndDone();
  }
  const nonce = (await nodeApi(s, `/v3/accounts/${i}/next-nonce`)).next_nonce as number;
  const closeSolo = await cosign(ch.initiatorAccount, buildTx({
    tag: Tag.ChannelCloseSoloTx, channelId: ch.channelId as `ch_${string}`, fromId: i, payload: old as `tx_${string}`, poi: unpackEntry(oldPoi), ttl: 0, nonce,
  } as Parameters<typeof buildTx>[0]));
  await nodeApi(s, '/v3/transactions', { tx: closeSolo });
  const closing = await until(async () => {
    const c = await nodeApi(s, `/v3/channels/${ch.channelId}`);
    return c.locked_until > 0 ? c : null;
  }, 'the solo close to be mined');
  t.equal(closing.round, roundOf(old), 'the chain closes on the old round');
  const slashed = await until(async () => {
    const c = await nodeApi(s, `/v3/channels/${ch.channelId}`);
    return c.round === roundOf(latest) ? c : null;
  }, 'the watchtower\'s slash');
  const top = (await nodeApi(s, '/v3/key-blocks/current/height')).height as number;
  t.ok(top < closing.locked_until, 'slashed within the lock period');
  t.ok(slashed.locked_until > closing.locked_until, 'the slash reset the lock');
  // a few more blocks: a worker that would post again has had its chance
  await until(async () => (await nodeApi(s, '/v3/key-blocks/current/height')).height >= top + 4, 'four more blocks');
  const onChain = await slashesOnChain(s, ch.channelId, closing.locked_until - WATCHED_LOCK_PERIOD);
  t.equal(onChain.length, 1, 'exactly one slash tx on chain');
  if (watchers[0] !== host && onChain.length === 1) {
    const minedAt = (await nodeApi(s, `/v3/transactions/${onChain[0]}`)).block_height as number;
    t.ok(minedAt < closing.locked_until - WATCHED_LOCK_PERIOD / 2, `the watcher, not the FSMs' host, answered at once for clients attached nowhere (mined at ${minedAt}, the lock ran to ${closing.locked_until})`);
  }
  const posted = jsonLines(s.service.output()).filter((l) => l.message === 'watchtower slashed' && l.channel_id === ch.channelId);
  t.same([...new Set(posted.map((l) => l.tx_hash))], onChain, 'the one the workers posted, for both protected participants');
  t.equal(new Set(posted.map((l) => l.worker)).size, 1, 'by one worker');
  const summed = Number(/^aesc_watchtower_actions_total\{[^}]*outcome="posted"[^}]*\} (\d+)/m.exec(await (await fetch(`${s.opsUrl}/metrics`)).text())?.[1]);
  t.equal(summed, 2, 'the primary\'s /metrics: two actions posted over the workers, one per protected participant');
}

const jsonLines = (text: string) => text.split('\n').flatMap((line) => { try { return [JSON.parse(line)]; } catch { return []; } });

t.test('WORKERS=2: both workers host FSMs; channels across them open, transfer and close; SIGTERM drains both', async (t) => {
  const s = await startWorkers(t);
  const rows = await s.workers();
  t.equal(rows.length, 2, 'the primary lists two workers');
  t.ok(rows.every((w) => w.up && w.pid && w.ops_url), 'each up, with its pid and ops listener');

  // a channel named by both its participants: both sockets go to the worker it hashes to
  const channels: Opened[] = [];
  for (let n = 0; n < 3; n++) channels.push(await openChannel(s));
  let where = await s.placement();
  for (const ch of channels) t.equal(where.get(ch.channelId)!.initiator, where.get(ch.channelId)!.responder, 'a channel\'s two FSMs on one worker, paired in-process');
  t.notMatch(s.service.output(), 'responder found at another instance', 'none needed the peer link between workers');
  // responders open to any initiator go to the workers in turn: some channels cross workers
  for (let tries = 0, across = 0; tries < 8 && across < 2; tries++) {
    const ch = await openChannel(s, tries % 2, true);
    channels.push(ch);
    const placed = (await s.placement()).get(ch.channelId)!;
    if (placed.initiator !== placed.responder) across++;
  }
  where = await s.placement();
  const across = channels.filter((ch) => where.get(ch.channelId)!.initiator !== where.get(ch.channelId)!.responder);
  const hosts = new Set([...where.values()].flatMap((w) => [w.initiator, w.responder]));
  t.same([...hosts].sort(), [0, 1], 'FSMs on both workers');
  t.ok(across.length >= 1, `channels whose FSMs are on different workers: ${across.length} of ${channels.length}`);
  t.match(s.service.output(), 'responder found at another instance', 'those paired through the store and the peer link between instances');
  for (const ch of channels) t.ok(where.get(ch.channelId)!.initiator !== undefined && where.get(ch.channelId)!.responder !== undefined, 'each FSM is hosted by one worker');

  // the ops side: the primary sums the workers' metrics, each worker shows its own share
  const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
  const summed = gauge(await (await fetch(`${s.opsUrl}/metrics`)).text(), 'aesc_client_connections');
  const shares = await Promise.all((await s.workers()).map(async (w) => gauge(await (await fetch(`${w.ops_url}/metrics`)).text(), 'aesc_client_connections')));
  t.equal(summed, 2 * channels.length, `the primary's /metrics: every client connection, summed over the workers (${shares.join(' + ')})`);
  t.equal(shares.reduce((a, b) => a + b, 0), summed, 'each worker counts its own');
  t.ok(shares.every((n) => n > 0), 'both have some');
  const ready = await fetch(`${s.opsUrl}/ready`);
  t.equal(ready.status, 200, 'the primary is ready when every worker is');

  for (const ch of channels) await transfersBothWays(t, ch);

  // the watchtower, shared out between the workers as between instances: a solo close is answered once
  await watchtowerAnswersOnce(t, s, await openChannel(s, 0, false, { watchtower: 'true', lock_period: WATCHED_LOCK_PERIOD }));

  // a mutual close across workers: co-signed over the link, posted, both FSMs end
  const closing = across[0]!;
  closing.responder.send('channels.shutdown');
  await Promise.all([closing.initiator.nextMethod('channels.info', 'died', 60_000), closing.responder.nextMethod('channels.info', 'died', 60_000)]);
  t.ok(closing.responder.sequence().includes('info:closed_confirmed'), 'the close is confirmed on chain');
  const onchain = await fetch(`${s.service.nodeUrl}/v3/channels/${closing.channelId}`);
  t.equal(onchain.status, 404, 'the channel is closed on chain');

  // SIGTERM to the primary alone: it stops both workers, then itself, and exits 0
  process.kill(s.service.pid, 'SIGTERM');
  const code = await s.service.terminate();
  t.equal(code, 0, 'exit code 0');
  const stopped = jsonLines(s.service.output()).filter((l) => l.message === 'service stopped');
  t.same(stopped.map((l) => l.worker ?? 'primary').sort(), [0, 1, 'primary'].sort(), 'both workers and then the primary stopped');
  t.equal(stopped.at(-1).worker, undefined, 'the primary last');
  for (const ch of channels) { ch.initiator.close(); ch.responder.close(); }
});

// Another operator's service (its own process and store, as a node would be) dials the one public peer
// port of a WORKERS=2 service, where responders wait on both workers: the worker that holds the port
// takes its own responders' sessions and relays the others' to the worker they wait at.
t.test('a peer from another service reaches responders on either worker through the one public port', async (t) => {
  const s = await startWorkers(t, { PEER_HOST: '127.0.0.2' });
  const other = await startServiceProcess({
    direct: true, built: true, storage: testStorage('embedded'), env: { ...PEER_ENV, CHAIN_NODE_URL: s.service.nodeUrl, PEER_HOST: '127.0.0.3' },
  });
  t.teardown(() => other.stop());
  const port = nextPort++;
  const channels: Opened[] = [];
  // every responder waits on one port, as a node's operator would have them, open to any initiator: the primary hands their sockets out in turn
  const waiting = [];
  for (let n = 0; n < 4; n++) {
    const [initiatorAccount, responderAccount] = await s.funded(2);
    const query = channelQuery(initiatorAccount!, responderAccount!, port, AMOUNTS);
    const responder = await TestClient.connect(s.service.channelUrl, { ...query, role: 'responder', initiator_id: 'any' }, 'json-rpc', responderAccount!);
    const rUp = await responder.nextMethod('channels.info', 'fsm_up', 60_000);
    waiting.push({ query, responder, rUp, initiatorAccount: initiatorAccount!, responderAccount: responderAccount! });
  }
  for (const w of waiting) {
    const initiator = await TestClient.connect(other.channelUrl, { ...w.query, role: 'initiator', host: '127.0.0.2' }, 'json-rpc', w.initiatorAccount);
    const iUp = await initiator.nextMethod('channels.info', 'fsm_up', 60_000);
    const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open', 60_000), w.responder.nextMethod('channels.info', 'open', 60_000)]);
    await Promise.all([initiator.nextMethod('channels.update', undefined, 30_000), w.responder.nextMethod('channels.update', undefined, 30_000)]);
    channels.push({
      initiator, responder: w.responder, initiatorAccount: w.initiatorAccount, responderAccount: w.responderAccount, port,
      channelId: iOpen.frame.params.channel_id as string, fsmIds: { initiator: iUp.data.fsm_id as string, responder: w.rUp.data.fsm_id as string },
    });
  }
  const where = await s.placement();
  const workersOfResponders = new Set(channels.map((ch) => where.get(ch.channelId)?.responder));
  t.same([...workersOfResponders].sort(), [0, 1], 'the responders wait on both workers');
  t.ok(channels.every((ch) => where.get(ch.channelId)?.initiator === undefined), 'every initiator is on the other service');
  t.match(s.service.output(), 'peer session relayed to another instance', 'the worker holding the port relayed the others\' sessions');

  for (const ch of channels) await transfersBothWays(t, ch);
  // mutual closes co-signed over the links, relayed or not, posted on chain
  await Promise.all(channels.map(async (ch) => {
    ch.responder.send('channels.shutdown');
    await Promise.all([ch.initiator.nextMethod('channels.info', 'died', 60_000), ch.responder.nextMethod('channels.info', 'died', 60_000)]);
  }));
  for (const ch of channels) t.equal((await fetch(`${s.service.nodeUrl}/v3/channels/${ch.channelId}`)).status, 404, 'closed on chain');
  for (const ch of channels) { ch.initiator.close(); ch.responder.close(); }
});

t.test('a worker SIGKILLed is started again, and its clients reestablish', async (t) => {
  const s = await startWorkers(t);
  const { ch, where } = await openAcrossWorkers(s, 8);
  t.not(where.initiator, where.responder, 'a channel across the two workers');
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  await transfer(ch, 'initiator', i, r, 10);

  const victim = (await s.workers()).find((w) => w.worker === where.responder)!;
  ch.initiator.mark();
  process.kill(victim.pid!, 'SIGKILL');
  await ch.responder.closedAndDone();
  await ch.initiator.nextMethod('channels.info', 'peer_disconnected', 60_000);
  await s.service.printed('worker died; starting another', 30_000);
  const deadline = Date.now() + 180_000;
  let again: WorkerRow | undefined;
  while (Date.now() < deadline) {
    again = (await s.workers()).find((w) => w.worker === victim.worker);
    if (again?.up) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.ok(again?.up, 'the worker is up again');
  t.not(again!.pid, victim.pid, 'as a new process');
  t.equal(again!.restarts, 1, 'counted as a restart');

  // the responder's client comes back. On the new worker (same instance id) it takes its lease back at
  // once; on the other one it is refused while the dead worker's lease runs (fsm_owned_elsewhere, as
  // a client of a killed instance is), and tries again, as a client should
  let back: TestClient | undefined;
  let refusals = 0;
  for (const until = Date.now() + 60_000; !back && Date.now() < until;) {
    const client = await TestClient.connect(s.service.channelUrl, {
      role: 'responder', port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds.responder,
    }, 'json-rpc', ch.responderAccount);
    try {
      await client.nextMethod('channels.info', 'fsm_up', 60_000);
      back = client;
    } catch (err) {
      if (!/fsm_owned_elsewhere/.test((err as Error).message)) throw err;
      refusals += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  t.ok(back, `the responder is served again (after ${refusals} refusals while the dead worker's lease ran)`);
  if (!back) return;
  await Promise.all([back.nextMethod('channels.update', undefined, 60_000), ch.initiator.nextMethod('channels.update', undefined, 60_000)]);
  const now = { initiator: ch.initiator, responder: back };
  const [a, b] = await transfer(now, 'responder', r, i, 3);
  t.equal(a, b, 'the channel goes on after the reestablish');
  const after = await balances(back, ch);
  t.same(after, await balances(ch.initiator, ch), 'the same balances on both sides');
  t.equal(BigInt(after[r]!), 10n ** 18n + 7n, 'nothing lost, nothing counted twice');
  ch.initiator.close(); back.close();
});

t.test('WORKERS=2 on a Redis Cluster: a channel across the two workers opens, transfers both ways and closes', async (t) => {
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const s = await startWorkers(t, { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes });
  const stores = jsonLines(s.service.output()).filter((l) => l.message === 'store: Redis Cluster');
  t.ok(stores.length >= 2 && stores.every((l) => l.min_replicas === 1), `the workers on the cluster, each write waiting for a replica (${stores.length} stores opened)`);
  const { ch, where } = await openAcrossWorkers(s, 6);
  t.not(where.initiator, where.responder, 'a channel whose FSMs are on different workers');
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  const [a1, b1] = await transfer(ch, 'initiator', i, r, 100);
  const [a2, b2] = await transfer(ch, 'responder', r, i, 7);
  t.ok(a1 === b1 && a2 === b2, 'both FSMs hold each co-signed round');
  const after = await balances(ch.initiator, ch);
  t.same(after, await balances(ch.responder, ch), 'the same balances on both sides');
  t.equal(BigInt(after[r]!), 10n ** 18n + 93n, 'each transfer counted once');

  ch.initiator.send('channels.shutdown');
  await Promise.all([ch.initiator.nextMethod('channels.info', 'died', 60_000), ch.responder.nextMethod('channels.info', 'died', 60_000)]);
  t.ok(ch.initiator.sequence().includes('info:closed_confirmed'), 'the close is confirmed on chain');
  t.equal((await fetch(`${s.service.nodeUrl}/v3/channels/${ch.channelId}`)).status, 404, 'the channel is closed on chain');
  ch.initiator.close(); ch.responder.close();
});

t.test('WORKERS > 1 on the embedded store, and bad values, are refused with their reason', async (t) => {
  const started = await npmStart({ WORKERS: '2' });
  t.teardown(() => started.kill());
  const exit = await started.exited;
  t.equal(exit.code, 1, 'npm start exits 1');
  t.equal(started.stderr().trim().split('\n').length, 1, 'one line on stderr');
  t.match(started.stderr(), /^aesc-service: WORKERS=2: the embedded store \(DATA_DIR\) serves one process only; must be 1 unless REDIS_URL or REDIS_CLUSTER_NODES is set/);

  for (const bad of ['0', '-1', 'abc', '65', '1.5', '']) {
    t.throws(() => loadConfig({ WORKERS: bad, REDIS_URL: 'redis://127.0.0.1:6379' }), { message: `WORKERS=${bad === '' ? '""' : bad}: must be auto (one per core) or an integer >= 1 and <= 64` }, `WORKERS=${bad}`);
  }
  if (availableParallelism() > 1) t.throws(() => loadConfig({ WORKERS: 'auto' }), { message: /^WORKERS=auto \(\d+ cores\): the embedded store/ }, 'auto on several cores, embedded');
  t.equal(loadConfig({ WORKERS: '3', REDIS_URL: 'redis://127.0.0.1:6379' }).workers, 3, 'a number of workers on Redis');
  t.equal(loadConfig({ WORKERS: '2', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).workers, 2, 'or on Redis Cluster');
  t.equal(loadConfig({ WORKERS: 'auto', REDIS_URL: 'redis://127.0.0.1:6379' }).workers, 'auto', 'auto');
});
