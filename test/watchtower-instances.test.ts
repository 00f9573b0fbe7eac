/**
 * The watchtower shared out between three service instances, each a process of its own, on one Redis
 * (a key prefix of its own) and one dev chain they reach as an external node (lib/watchtower.ts,
 * lib/watchtower/sharing.ts, docs/scale-out.md):
 *
 * * every channel naming the watchtower is watched by exactly one instance: what each instance says it
 *   watches (`GET /watchtower`, and the `aesc_watchtower_channels` gauge) partitions the channels;
 * * a cheater solo-closes on an old round while the victim's client is away: exactly one slash tx is
 *   mined (counted on the chain) and exactly one posted by all the instances together, and the victim is
 *   told of it when it returns, once;
 * * the instance watching a channel is SIGKILLed, and the cheater solo-closes: once the dead instance's
 *   heartbeat has run out a survivor takes the channel over and slashes, within the lock period;
 * * a slash the chain drops (another tx of the same key took its nonce) is posted again by the
 *   watcher, and the returning victim is told of the one on chain only;
 * * the victim's client stays connected at the instance hosting its FSM, which is not the watcher: it
 *   is told `can_slash` and left the first half of the lock period to answer; it does not, and the
 *   watcher slashes then, once.
 */
import t, { type Test } from 'tap';
import { AccountMemory, buildTx, buildTxHash, Tag, unpackEntry } from '../lib/sdk.js';
import type { ChannelId } from '../fsm/types.js';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { cosign, unpackSignedTx } from './helpers/accounts.js';
import { externalChain } from './helpers/external-chain.js';
import { freePort } from './helpers/free-port.js';
import { startServiceProcess, type ServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { testStorage } from './helpers/storage.js';
import { roundOf, track, type Pair, type Role } from './helpers/tracked-pair.js';

const LEASE_TTL_MS = 3000;
const LEASE_RENEW_MS = 500;
/** blocks of 50 ms: 10 s, more than the heartbeat time and the half a watcher leaves a client hosted elsewhere */
const LOCK_PERIOD = 200;
const CHANNELS = 9;
const ROLES = ['initiator', 'responder'] as const;

interface Instance {
  name: string;
  process: ServiceProcess;
  opsUrl: string;
  dead?: boolean;
}

let nextPort = 30_000 + Math.floor(Math.random() * 10_000);

async function until<T>(check: () => Promise<T | null | undefined | false>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function watched(instance: Instance): Promise<{ instance_id: string; instances: string[]; total: number; channels: string[] }> {
  const res = await fetch(`${instance.opsUrl}/watchtower?limit=1000`);
  if (!res.ok) throw new Error(`${instance.name}: /watchtower answered ${res.status}`);
  return res.json() as Promise<any>;
}

/** A metric's value summed over its label sets that match `labels` (0 when absent). */
async function metric(instance: Instance, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${instance.opsUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#') || !line.includes(labels)) continue;
    if (line[name.length] !== ' ' && line[name.length] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function openPair(instance: Instance, accounts: AccountMemory[]): Promise<Pair & { at: Instance }> {
  const [initiator, responder] = accounts as [AccountMemory, AccountMemory];
  const port = nextPort++;
  const query = channelQuery(initiator, responder, port, { extra: { lock_period: LOCK_PERIOD, watchtower: 'true' } });
  const pair = { port, accounts: { initiator, responder }, clients: {}, fsmIds: {}, reported: { initiator: 0, responder: 0 }, at: instance } as unknown as Pair & { at: Instance };
  track(pair, 'initiator', await TestClient.connect(instance.process.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', initiator));
  track(pair, 'responder', await TestClient.connect(instance.process.channelUrl, { ...query, role: 'responder' }, 'json-rpc', responder));
  const open = await pair.clients.initiator.nextMethod('channels.info', 'open', 30_000);
  await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 30_000)));
  pair.id = open.frame.params.channel_id;
  return pair;
}

async function transfer(pair: Pair, from: Role, amount: bigint): Promise<string> {
  const to: Role = from === 'initiator' ? 'responder' : 'initiator';
  pair.clients[from].send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount });
  const [a] = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
  return a!.data.state as string;
}

/**
 * The cheater (initiator) keeps an old co-signed state and its PoI, one more transfer gives the
 * victim more, and both clients go away (their FSMs live on at the instance). Returns the close the
 * cheater can post on the old round.
 */
async function stageCheat(pair: Pair, nonce: number, stays: Role[] = []): Promise<{ closeSolo: string; oldRound: number; latestRound: number }> {
  await transfer(pair, 'initiator', 10n ** 20n);
  const oldState = await transfer(pair, 'responder', 9n * 10n ** 19n);
  pair.clients.initiator.send('channels.get.poi', { accounts: [pair.accounts.initiator.address, pair.accounts.responder.address] }, 1);
  const oldPoi = (await pair.clients.initiator.next((m) => m.method === 'result')).data.poi;
  const latest = await transfer(pair, 'initiator', 5n * 10n ** 20n);
  for (const role of ROLES) {
    if (stays.includes(role)) continue;
    pair.clients[role].close();
    await pair.clients[role].closedAndDone();
  }
  const cheater = pair.accounts.initiator;
  const closeSolo = await cosign(cheater, buildTx({
    tag: Tag.ChannelCloseSoloTx, channelId: pair.id as `ch_${string}`, fromId: cheater.address,
    payload: oldState as `tx_${string}`, poi: unpackEntry(oldPoi), ttl: 0, nonce,
  } as Parameters<typeof buildTx>[0]));
  return { closeSolo, oldRound: roundOf(oldState), latestRound: roundOf(latest) };
}

t.test('three instances on one Redis share the watchtower out', async (t: Test) => {
  const watchtower = AccountMemory.generate();
  const external = await externalChain(t, [watchtower.address as `ak_${string}`]);
  const storage = testStorage('redis');
  t.teardown(() => storage.cleanup());
  const instances: Instance[] = [];
  for (const name of ['instance-a', 'instance-b', 'instance-c']) {
    const opsPort = await freePort();
    const process = await startServiceProcess({
      direct: true, built: true, storage,
      env: {
        CHAIN_NODE_URL: external.url, WATCHTOWER: 'true', WATCHTOWER_SECRET_KEY: watchtower.secretKey, INSTANCE_ID: name,
        LEASE_TTL_MS: String(LEASE_TTL_MS), LEASE_RENEW_MS: String(LEASE_RENEW_MS), OPS_PORT: String(opsPort),
      },
    });
    const instance: Instance = { name, process, opsUrl: `http://127.0.0.1:${opsPort}` };
    t.teardown(() => (instance.dead ? undefined : process.kill()));
    instances.push(instance);
  }
  const live = () => instances.filter((i) => !i.dead);
  // every slash tx any instance posts, taken or refused by the chain
  const postedSlashes: string[] = [];
  const postTx = external.chain.postTx.bind(external.chain);
  /** set by a test: runs before the next slash reaches the chain */
  let beforeSlash: ((slash: { nonce: number }) => Promise<void>) | null = null;
  external.chain.postTx = async (signedTx) => {
    const { encodedTx } = unpackSignedTx(signedTx);
    if (encodedTx.tag === Tag.ChannelSlashTx) {
      postedSlashes.push((encodedTx as unknown as { channelId: string }).channelId);
      const hook = beforeSlash;
      beforeSlash = null;
      await hook?.({ nonce: Number((encodedTx as unknown as { nonce: number }).nonce) });
    }
    return postTx(signedTx);
  };
  const slashesPosted = (id: string) => postedSlashes.filter((c) => c === id).length;
  const accounts = await fundFromGenesis(genesisSdk(external.url), 2 * CHANNELS);
  // the channels are opened at all three instances; each FSM runs where its clients connected
  const pairs = await Promise.all(Array.from({ length: CHANNELS }, (_, i) => openPair(instances[i % 3]!, accounts.slice(2 * i, 2 * i + 2))));
  const ids = pairs.map((p) => p.id).sort();
  const watcherOf = async (id: string): Promise<Instance[]> => {
    const answers = await Promise.all(live().map(async (i) => [i, await watched(i)] as const));
    return answers.filter(([, w]) => w.channels.includes(id)).map(([i]) => i);
  };

  /** the instance watching each channel, once shared out */
  const watcherName = new Map<string, string>();
  await t.test('each channel is watched by exactly one instance', async (t) => {
    // the instances learn of the channels stored at the others from the join feed, at their next look
    const views = await until(async () => {
      const all = await Promise.all(instances.map(watched));
      return all.reduce((n, v) => n + v.total, 0) === CHANNELS && new Set(all.flatMap((v) => v.channels)).size === CHANNELS ? all : null;
    }, 'the channels to be shared out');
    t.same([...new Set(views.flatMap((v) => v.channels))].sort(), ids, 'together they watch every channel');
    t.equal(views.reduce((n, v) => n + v.channels.length, 0), CHANNELS, 'and none twice');
    for (const [i, view] of views.entries()) {
      t.same(view.instances, ['instance-a', 'instance-b', 'instance-c'], `${instances[i]!.name} sees all three alive`);
      t.equal(view.instance_id, instances[i]!.name);
      t.equal(await metric(instances[i]!, 'aesc_watchtower_channels'), view.total, `${instances[i]!.name}: the gauge says ${view.total}`);
      t.comment(`${instances[i]!.name} watches ${view.total} of ${CHANNELS}`);
      for (const id of view.channels) watcherName.set(id, view.instance_id);
    }
    const hostedElsewhere = pairs.filter((p, i) => !views[instances.indexOf(p.at)]!.channels.includes(p.id)).length;
    t.comment(`${hostedElsewhere} of ${CHANNELS} channels are watched by an instance other than the one hosting their FSMs`);
  });

  // the cases worth seeing: a channel watched by an instance that does not host its FSMs (the victim's
  // FSM waits at another live instance), and a watcher killed with the FSMs it hosts (hosted nowhere)
  const elsewhere = pairs.find((p) => watcherName.get(p.id) !== p.at.name) ?? pairs[0]!;
  const together = pairs.find((p) => p !== elsewhere && watcherName.get(p.id) === p.at.name) ?? pairs.find((p) => p !== elsewhere)!;

  await t.test('a solo close on an old round: one slash on chain, the victim told once', async (t) => {
    const pair = elsewhere;
    const cheat = await stageCheat(pair, await external.chain.nextNonce(pair.accounts.initiator.address));
    const [watcher] = await watcherOf(pair.id);
    t.comment(`the channel's FSMs are at ${pair.at.name}, its watcher is ${watcher!.name}`);
    await external.chain.postTx(cheat.closeSolo as `tx_${string}`);
    const closing = await until(async () => (await external.chain.channel(pair.id as ChannelId))?.lockedUntil || null, 'the solo close to be mined');
    t.equal((await external.chain.channel(pair.id as ChannelId))?.round, cheat.oldRound, 'the chain closes on the old round');
    const slashed = await until(async () => {
      const c = await external.chain.channel(pair.id as ChannelId);
      return c && c.round === cheat.latestRound ? c : null;
    }, 'the slash');
    t.ok(await external.chain.height() < closing, 'slashed within the lock period');
    t.ok(slashed.lockedUntil > closing, 'the slash reset the lock');
    // a few more blocks: an instance that would post again has had its chance
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_RENEW_MS + 500));
    t.equal(slashTxs(external.chain, pair.id), 1, 'exactly one slash tx on chain');
    t.equal(slashesPosted(pair.id), 1, 'and exactly one posted to the chain by the three instances');
    // the counter counts protected participants (both named the watchtower): all at one instance
    const posted = await Promise.all(instances.map((i) => metric(i, 'aesc_watchtower_actions_total', 'outcome="posted"')));
    t.same(posted.filter((n) => n > 0), [2], `one instance slashed, for both participants (${posted})`);

    // the victim comes back where its FSM lives, and hears of the slash; a second return hears nothing more
    const victim = pair.accounts.responder;
    const query = { role: 'responder', port: pair.port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds.responder };
    const back = await TestClient.connect(pair.at.process.channelUrl, query, 'json-rpc', victim);
    const report = await back.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'watchtower_slash');
    t.equal(unpackSignedTx(report.data.tx).encodedTx.tag, Tag.ChannelSlashTx, 'told of the slash');
    t.equal((unpackSignedTx(report.data.tx).encodedTx as unknown as { fromId: string }).fromId, watchtower.address, 'sent by the watchtower');
    await back.quiet(300);
    t.equal(back.sequence().filter((s) => s === 'on_chain_tx:watchtower_slash').length, 1, 'once');
    back.close();
    await back.closedAndDone();
    const again = await TestClient.connect(pair.at.process.channelUrl, query, 'json-rpc', victim);
    await again.nextMethod('channels.info', 'fsm_up');
    await again.quiet(500);
    t.notOk(again.sequence().includes('on_chain_tx:watchtower_slash'), 'not told again on its next return');
    again.close();
  });

  await t.test('the watching instance is killed: a survivor takes the channel over and slashes', async (t) => {
    const pair = together;
    const cheat = await stageCheat(pair, await external.chain.nextNonce(pair.accounts.initiator.address));
    const [watcher] = await watcherOf(pair.id);
    t.comment(`the channel's FSMs are at ${pair.at.name}, its watcher ${watcher!.name} is killed`);
    await watcher!.process.kill();
    watcher!.dead = true;
    const killedAt = Date.now();
    await external.chain.postTx(cheat.closeSolo as `tx_${string}`);
    const closing = await until(async () => (await external.chain.channel(pair.id as ChannelId))?.lockedUntil || null, 'the solo close to be mined');
    await until(async () => {
      const c = await external.chain.channel(pair.id as ChannelId);
      return c && c.round === cheat.latestRound;
    }, 'a survivor\'s slash', 30_000);
    const slashedMs = Date.now() - killedAt;
    t.ok(await external.chain.height() < closing, 'slashed within the lock period');
    t.ok(slashedMs >= LEASE_TTL_MS - LEASE_RENEW_MS, `after the dead instance's heartbeat ran out (${slashedMs} ms after the kill)`);
    t.comment(`slashed ${slashedMs} ms after the kill (heartbeat time ${LEASE_TTL_MS} ms)`);
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_RENEW_MS + 500));
    t.equal(slashTxs(external.chain, pair.id), 1, 'exactly one slash tx on chain');
    t.equal(slashesPosted(pair.id), 1, 'and exactly one posted, by a survivor');

    const views = await Promise.all(live().map(watched));
    for (const view of views) t.same(view.instances, live().map((i) => i.name).sort(), `${view.instance_id}: the dead instance is out of the live set`);
    t.equal(views.filter((v) => v.channels.includes(pair.id)).length, 1, 'the channel has one watcher again');
    const others = ids.filter((id) => id !== elsewhere.id && id !== pair.id);
    const all = views.flatMap((v) => v.channels);
    for (const id of others) t.equal(all.filter((c) => c === id).length, 1, `${id.slice(0, 12)}…: watched once by the survivors`);
  });

  const droppedPair = pairs.find((p) => p !== elsewhere && p !== together && !p.at.dead);
  await t.test('a slash the chain drops (its nonce taken by another tx of the watchtower key) is posted again, and told once', async (t) => {
    const pair = droppedPair!;
    const cheat = await stageCheat(pair, await external.chain.nextNonce(pair.accounts.initiator.address));
    // another instance's tx with the same key takes the slash's nonce first: the slash is pooled, then dropped
    beforeSlash = async ({ nonce }) => {
      const spend = buildTx({ tag: Tag.SpendTx, senderId: watchtower.address, recipientId: watchtower.address, amount: 1n, nonce } as Parameters<typeof buildTx>[0]);
      await postTx(await cosign(watchtower, spend) as `tx_${string}`);
    };
    await external.chain.postTx(cheat.closeSolo as `tx_${string}`);
    const closing = await until(async () => (await external.chain.channel(pair.id as ChannelId))?.lockedUntil || null, 'the solo close to be mined');
    await until(async () => (await external.chain.channel(pair.id as ChannelId))?.round === cheat.latestRound, 'the second slash', 30_000);
    t.equal(beforeSlash, null, 'the first slash met the taken nonce');
    t.ok(await external.chain.height() < closing, 'slashed within the lock period');
    t.equal(slashesPosted(pair.id), 2, 'two slashes posted: the dropped one and its replacement');
    t.equal(slashTxs(external.chain, pair.id), 1, 'one slash on chain');
    const victim = pair.accounts.responder;
    const query = { role: 'responder', port: pair.port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds.responder };
    const back = await TestClient.connect(pair.at.process.channelUrl, query, 'json-rpc', victim);
    await back.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'watchtower_slash');
    await back.quiet(300);
    const told = back.received.filter((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'watchtower_slash');
    t.equal(told.length, 1, 'the victim is told of one slash');
    const minedHash = external.chain.generation(slashHeights(external.chain, pair.id)[0]!)!.find((m) => (m.tx as { tag: number }).tag === Tag.ChannelSlashTx)!.hash;
    t.equal(buildTxHash(told[0]!.data.tx), minedHash, 'the one on chain');
    back.close();
  });

  await t.test('a victim connected at another instance than the watcher is left half the lock period to answer', async (t) => {
    const pair = await (async () => {
      for (const p of pairs) {
        if (p === elsewhere || p === together || p === droppedPair || p.at.dead) continue;
        const [watcher] = await watcherOf(p.id);
        if (watcher && watcher !== p.at) return p;
      }
      return null;
    })();
    if (!pair) return void t.comment('skipped: no channel left whose watcher is another live instance than its host');
    const cheat = await stageCheat(pair, await external.chain.nextNonce(pair.accounts.initiator.address), ['responder']);
    await external.chain.postTx(cheat.closeSolo as `tx_${string}`);
    const closing = await until(async () => (await external.chain.channel(pair.id as ChannelId))?.lockedUntil || null, 'the solo close to be mined');
    await pair.clients.responder.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'can_slash', 20_000);
    t.pass('the connected victim is told it can slash');
    await until(async () => (await external.chain.channel(pair.id as ChannelId))?.round === cheat.latestRound, 'the watcher\'s slash', 30_000);
    const [height, ...more] = slashHeights(external.chain, pair.id);
    t.same(more, [], 'one slash');
    t.ok(height! >= closing - LOCK_PERIOD / 2, `not before half the lock period (mined at ${height}, the lock ran to ${closing})`);
    t.ok(height! < closing, 'and within it');
    t.equal(slashesPosted(pair.id), 1, 'posted once');
    pair.clients.responder.close();
  });
});

/** The slash txs of a channel mined so far, with the heights they were mined at. */
function slashHeights(chain: { generation(height: number): Array<{ tx: unknown }> | null }, id: string): number[] {
  const heights: number[] = [];
  for (let h = 0; ; h++) {
    const txs = chain.generation(h);
    if (!txs) return heights;
    for (const { tx } of txs) {
      const { tag, channelId } = tx as { tag: number; channelId?: string };
      if (tag === Tag.ChannelSlashTx && channelId === id) heights.push(h);
    }
  }
}

/** The slash txs of a channel mined so far. */
function slashTxs(chain: { height(): Promise<number>; generation(height: number): Array<{ tx: unknown }> | null }, id: string): number {
  let count = 0;
  for (let h = 0; ; h++) {
    const txs = chain.generation(h);
    if (!txs) return count;
    for (const { tx } of txs) {
      const { tag, channelId } = tx as { tag: number; channelId?: string };
      if (tag === Tag.ChannelSlashTx && channelId === id) count++;
    }
  }
}
