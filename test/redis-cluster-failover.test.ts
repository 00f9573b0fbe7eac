/**
 * A Redis Cluster master SIGKILLed during traffic, and a shard whose replica stops answering, on a
 * private six-node cluster (3 masters, 3 replicas, cluster-node-timeout 1 s). Each co-signed write
 * waits for a replica (REDIS_MIN_REPLICAS, auto: 1 here) before anyone hears of it, so whatever a
 * client was told is on a replica when its master dies, and comes back from the promoted one; a write
 * no replica confirmed is refused to the clients, undone, and the channel goes on once a replica is
 * back. Writes caught in a failover are sent again to the new master. The other writes a failover
 * must not lose (a channel marked closed, an on-chain tx forgotten, the watchtower's records, the
 * paywall's) wait the same way: on the promoted replica after a master killed the moment they return,
 * and failed, naming the shortfall, when no replica confirmed them.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../lib/config.js';
import { RedisStore } from '../lib/store/redis-store.js';
import { ReplicaShortfallError } from '../lib/store/replicated-writes.js';
import { StoreUnavailableError, type WatchtowerAction } from '../lib/store/store.js';
import type { ChannelId } from '../fsm/types.js';
import { unpackSignedTx } from './helpers/accounts.js';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import type { TestClient } from './helpers/client.js';
import { startRedisCluster, type PrivateCluster } from './helpers/redis-cluster.js';
import { startTestService, type TestService } from './helpers/service.js';
import { newChannelId, params, state } from './helpers/store-conformance.js';

const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
let cluster: PrivateCluster;

/** The round of a co-signed state: the channel's create tx (round 1) has no round field. */
const roundOf = (signedTx: string) => Number(unpackSignedTx(signedTx).encodedTx.round ?? 1);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every co-signed state either client of a channel was told of (channels.update), by round. */
function told(ch: OpenedChannel): Map<number, string> {
  const rounds = new Map<number, string>();
  for (const client of [ch.initiator, ch.responder]) {
    for (const m of client.received) if (m.method === 'channels.update') rounds.set(roundOf(m.data.state), m.data.state);
  }
  return rounds;
}

/** One transfer: 'ok' once both clients heard of the round, else the initiator's refusal (nobody heard of it). */
async function transfer(ch: OpenedChannel, amount = 1): Promise<'ok' | string> {
  ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount });
  const reply = await ch.initiator.next((m) => ['channels.update', 'channels.conflict', 'error'].includes(m.method), 30_000);
  if (reply.method !== 'channels.update') return `${reply.method} ${JSON.stringify(reply.data)}`;
  await ch.responder.nextMethod('channels.update', undefined, 30_000);
  return 'ok';
}

/** What a client heard after `mark`: its error frames' details, joined. */
const heard = (client: TestClient, mark: number) => client.received.slice(mark).map((m) => `${m.method} ${JSON.stringify(m.data)}`).join('\n');

let service: TestService;
const keyPrefix = `${prefix}service:`;
const recordKey = (ch: OpenedChannel) => `${keyPrefix}{${ch.channelId}}:initiator`;

t.before(async () => {
  cluster = await startRedisCluster();
  service = await startTestService({ redis: { url: '', clusterNodes: cluster.nodes, keyPrefix, replicaWaitMs: 300 } });
});
t.teardown(async () => {
  await service?.stop();
  await cluster?.stop();
});

/** Both records of the channel hold exactly the rounds its clients were told of, each once, as told. */
async function checkStored(t: Test, ch: OpenedChannel, what: string) {
  const rounds = told(ch);
  const last = Math.max(...rounds.keys());
  for (const role of ['initiator', 'responder'] as const) {
    const stored = await service.store.load(ch.channelId as ChannelId, role);
    t.equal(stored?.state.round, last, `${what}, ${role}: the stored round is the last one the clients were told of (${last})`);
    const history = await service.store.history(ch.channelId as ChannelId, role);
    t.same(history.map((s) => s.round), Array.from({ length: last }, (_, i) => i + 1), `${what}, ${role}: every round once in the history`);
    const differing = [...rounds].filter(([round, state]) => history[round - 1]?.signedTx !== state).map(([round]) => round);
    t.same(differing, [], `${what}, ${role}: every round told is stored as told`);
  }
}

t.test('REDIS_MIN_REPLICAS: bad values, and more replicas than the masters have, are refused with their reason', async (t) => {
  for (const bad of ['-1', '17', 'x', '1.5']) {
    t.throws(() => loadConfig({ REDIS_MIN_REPLICAS: bad, REDIS_CLUSTER_NODES: cluster.nodes }), new ConfigError(
      `REDIS_MIN_REPLICAS=${bad}: must be auto (1 on a Redis Cluster whose every master has a replica, else 0) or an integer >= 0 and <= 16`,
    ), `REDIS_MIN_REPLICAS=${bad}`);
  }
  t.throws(() => loadConfig({ REDIS_MIN_REPLICAS: '1' }), new ConfigError(
    'REDIS_MIN_REPLICAS=1: needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded store has no replicas; its commits are fsynced instead); must be auto or 0 without them',
  ));
  t.throws(() => loadConfig({ REDIS_REPLICA_WAIT_MS: '5', REDIS_CLUSTER_NODES: cluster.nodes }), /^REDIS_REPLICA_WAIT_MS=5: must be an integer >= 10 and <= 60000$/);
  t.equal(loadConfig({ REDIS_CLUSTER_NODES: cluster.nodes }).redis.minReplicas, 'auto', 'auto by default');
  t.equal(loadConfig({ REDIS_MIN_REPLICAS: '0' }).redis.minReplicas, 0, '0 needs no Redis');

  const refused = await RedisStore.connectCluster({ nodes: cluster.nodes, keyPrefix: prefix, replicas: { minReplicas: 2, waitMs: 300 } }).catch((err: Error) => err);
  t.ok(refused instanceof StoreUnavailableError, 'two replicas asked of masters with one: start-up refused');
  t.match((refused as Error).message, /^REDIS_MIN_REPLICAS=2: the master 127\.0\.0\.1:\d+ has 1 replica, so no write could be confirmed; must be at most the replicas every master has \(or auto\)$/, 'naming a master');
  const auto = await RedisStore.connectCluster({ nodes: cluster.nodes, keyPrefix: prefix });
  t.equal(auto.minReplicas, 1, 'auto on a cluster whose every master has a replica: 1');
  await auto.close();
});

t.test('a shard whose replica stops answering: the round is refused to both clients and undone; back on, the channel goes on', async (t) => {
  const ch = await openChannel(service, 'json-rpc');
  t.equal(await transfer(ch), 'ok');
  const { master, replica } = await cluster.shardOf(recordKey(ch));
  const before = Math.max(...told(ch).keys());

  cluster.pause(replica);
  let resumed = false;
  t.teardown(() => { if (!resumed) cluster.resume(replica); });
  const marks = [ch.initiator.mark(), ch.responder.mark()] as const;
  const refused = await transfer(ch);
  t.match(refused, /^channels\.conflict/, 'the initiator gets a conflict');
  const reason = await ch.responder.next((m) => m.method === 'channels.error' || m.method === 'channels.conflict', 10_000);
  await ch.initiator.quiet(); await ch.responder.quiet();
  t.match(heard(ch.initiator, marks[0]) + heard(ch.responder, marks[1]), /reached 0 of the 1 replicas REDIS_MIN_REPLICAS asks for within 300 ms; it was undone/,
    `a client is told why (${reason.method})`);
  t.equal(Math.max(...told(ch).keys()), before, 'nobody was told of the round');
  await checkStored(t, ch, `replica ${replica} of ${master} stopped`);

  cluster.resume(replica);
  resumed = true;
  let result = '';
  for (const until = Date.now() + 20_000; result !== 'ok' && Date.now() < until;) {
    result = await transfer(ch);
    if (result !== 'ok') await sleep(200);
  }
  t.equal(result, 'ok', 'with the replica back, transfers go through');
  t.equal(Math.max(...told(ch).keys()), before + 1, 'on the next round: the refused one was not skipped');
  await checkStored(t, ch, 'replica back');
  ch.initiator.close(); ch.responder.close();
});

/** An action of the watchtower for the tx `txHash`. */
const slash = (txHash: string): WatchtowerAction => ({ action: 'slash', txHash, signedTx: `tx_${txHash}`, onchainRound: 4, round: 5, height: 100 });

/** A name from `make` whose key (`keyOf`) a given master serves: a few tries, a third of the slots are each master's. */
async function onMaster(master: number, make: () => string, keyOf: (name: string) => string): Promise<string> {
  for (;;) {
    const name = make();
    if ((await cluster.shardOf(keyOf(name))).master === master) return name;
  }
}

/** A read right after a failover: the client may still be learning where the slots went. */
async function settledRead<T>(read: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await read();
    } catch (err) {
      if (tries >= 50) throw err;
      await sleep(100);
    }
  }
}

/** A store of its own, waiting for one replica, with a channel, a payment id and a merchant all on one master. */
async function storeOnOneShard(t: Test, waitMs: number) {
  const keyPrefix = `${prefix}${randomBytes(4).toString('hex')}:`;
  const store = await RedisStore.connectCluster({ nodes: cluster.nodes, keyPrefix, replicas: { minReplicas: 1, waitMs } });
  t.teardown(() => store.close());
  const channelId = newChannelId();
  const key = `${keyPrefix}{${channelId}}:initiator`;
  const { master, replica } = await cluster.shardOf(key);
  const paymentId = await onMaster(master, () => randomBytes(8).toString('hex'), (id) => `${keyPrefix}{pay:${id}}`);
  const merchant = await onMaster(master, () => `ak_${randomBytes(8).toString('hex')}`, (m) => `${keyPrefix}paywall:${m}:channels`);
  await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' });
  return { store, channelId, key, replica, paymentId, merchant };
}

t.test('the writes besides rounds that a failover must not lose are on a replica when they return: a master killed right then loses none', async (t) => {
  // a wait long enough for a replica cut off and woken to reconnect (it tries every second) and catch up
  const { store, channelId, key, replica, paymentId, merchant } = await storeOnOneShard(t, 5000);
  await store.saveOnchain(channelId, 'initiator', 'deposit', state(2));
  await store.addWatchtowerAction(channelId, 'initiator', slash('th_refused'));
  await store.payments.credit(paymentId, { channelId, round: 2, amount: 10n ** 20n });

  // the worst moment for asynchronous replication: the replica cut off (and paused, so it cannot come
  // back at once) as the writes are made; a write that returned without a replica dies with the master
  cluster.pause(replica);
  await cluster.cutReplicas(key);
  const writes = [
    store.payments.spend(paymentId, 10n ** 20n),
    store.payments.credit(paymentId, { channelId, round: 3, amount: 1n }),
    store.payments.saveMerchantChannel(merchant, { channelId, fsmId: 'fsm_new', scannedRound: 3 }),
    store.addWatchtowerAction(channelId, 'initiator', slash('th_posted')),
    store.dropWatchtowerAction(channelId, 'initiator', 'th_refused'),
    store.markClosed(channelId, 'initiator'),
    store.forgetOnchain(channelId, 'initiator'),
  ] as const;
  const woken = sleep(300).then(() => cluster.resume(replica));
  // the master dies the moment the first of them is back (they share one WAIT: all are back then)
  await Promise.race(writes);
  const moved = await cluster.killMaster(key);
  await woken;
  const [spent] = await Promise.all(writes);
  t.equal(spent, 'spent', 'the payment was spent');
  await cluster.restart(moved.from);

  const stored = await settledRead(() => store.load(channelId, 'initiator'));
  t.equal(stored?.closed, true, `marked closed, on ${moved.to} promoted after ${moved.from} was killed`);
  t.equal(stored?.onchain, null, 'the on-chain tx forgotten');
  t.same((await settledRead(() => store.takeWatchtowerActions(channelId, 'initiator'))).map((a) => a.txHash), ['th_posted'],
    "the watchtower's action recorded, the dropped one gone");
  t.same(await settledRead(() => store.payments.payment(paymentId)), { paid: 10n ** 20n + 1n, spent: true }, 'both credits, and spent');
  t.same(await settledRead(() => store.payments.merchantChannels(merchant)), [{ channelId, fsmId: 'fsm_new', scannedRound: 3 }], "the merchant's channel with its new fsm_id");
});

t.test('such a write that no replica confirmed fails naming the shortfall; an action, a spend are taken back', async (t) => {
  const { store, channelId, replica, paymentId } = await storeOnOneShard(t, 300);
  await store.payments.credit(paymentId, { channelId, round: 2, amount: 5n });

  cluster.pause(replica);
  let resumed = false;
  t.teardown(() => { if (!resumed) cluster.resume(replica); });
  const [closed, recorded, spent] = await Promise.allSettled([
    store.markClosed(channelId, 'initiator'),
    store.addWatchtowerAction(channelId, 'initiator', slash('th_unconfirmed')),
    store.payments.spend(paymentId, 5n),
  ]);
  cluster.resume(replica);
  resumed = true;
  const shortfall = /^the write reached 0 of the 1 replicas REDIS_MIN_REPLICAS asks for within 300 ms; /;
  for (const [what, result, then] of [['markClosed', closed, 'it stays on the master'], ['the action', recorded, 'it was undone'], ['the spend', spent, 'it was undone']] as const) {
    t.equal(result.status, 'rejected', `${what} fails`);
    const err = (result as PromiseRejectedResult).reason as Error;
    t.ok(err instanceof ReplicaShortfallError, `${what}: a ReplicaShortfallError`);
    t.match(err.message, shortfall, `${what}: naming the shortfall`);
    t.match(err.message, `${then} and counts as failed`, `${what}: ${then}`);
  }
  t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [], 'the action is not recorded: its slash is not posted, and its client told nothing');
  t.same(await store.payments.payment(paymentId), { paid: 5n, spent: false }, 'the payment is unspent: no request was served for it');
});

t.test('a master SIGKILLed during transfers on several channels, its replica behind: the replica takes over, nothing told is lost, nothing written twice', async (t) => {
  const channels: OpenedChannel[] = [await openChannel(service, 'json-rpc')];
  const victim = channels[0]!;
  const { master } = await cluster.shardOf(recordKey(victim));
  // two more channels, at least one on another master
  const masters = [master];
  while (channels.length < 3 || (masters.every((m) => m === master) && channels.length < 8)) {
    const ch = await openChannel(service, 'json-rpc');
    channels.push(ch);
    masters.push((await cluster.shardOf(recordKey(ch))).master);
  }

  let stop = false;
  const failures = new Map<OpenedChannel, number[]>(channels.map((ch) => [ch, []]));
  const successes = new Map<OpenedChannel, number[]>(channels.map((ch) => [ch, []]));
  const reasons: string[] = [];
  const traffic = channels.map(async (ch) => {
    while (!stop) {
      const sent = Date.now();
      const result = await transfer(ch);
      if (result === 'ok') successes.get(ch)!.push(sent);
      else {
        failures.get(ch)!.push(sent);
        reasons.push(result);
        await sleep(100);
      }
    }
  });

  await sleep(700);
  // the worst moment for asynchronous replication: the dying master's replica has not had its latest
  // writes (its link is cut and it is paused, so it cannot catch up), yet it is the one promoted
  const { replica } = await cluster.shardOf(recordKey(victim));
  const cutAt = Date.now();
  cluster.pause(replica);
  await cluster.cutReplicas(recordKey(victim));
  await sleep(500);
  const killedAt = Date.now();
  const moved = await cluster.killMaster(recordKey(victim), () => cluster.resume(replica));
  const promotedAt = Date.now();
  await cluster.restart(moved.from);
  // back, synced, and confirming writes within the service's wait
  await cluster.confirming(recordKey(victim), 300);
  const replicaBackAt = Date.now();
  // the channel on the dead master goes on, on the promoted one
  for (const until = Date.now() + 30_000; Date.now() < until;) {
    if (successes.get(victim)!.filter((at) => at > replicaBackAt).length >= 5) break;
    await sleep(100);
  }
  stop = true;
  await Promise.all(traffic);

  t.comment(`master ${moved.from} cut off from its replica ${moved.to} for ${killedAt - cutAt} ms, then killed; ${moved.to} promoted after `
    + `${promotedAt - killedAt} ms; ${moved.from} back as its replica, confirming writes, after ${replicaBackAt - promotedAt} ms more`);
  for (const [i, ch] of channels.entries()) {
    const on = masters[i] === master ? 'the dead master' : `master ${masters[i]}`;
    const ok = successes.get(ch)!;
    const failed = failures.get(ch)!;
    t.comment(`channel ${i} on ${on}: ${ok.length} transfers, ${ok.filter((at) => at >= cutAt && at <= replicaBackAt).length} of them while the shard recovered; ${failed.length} refused`);
    t.ok(ok.filter((at) => at > replicaBackAt).length >= 1, `channel ${i} (on ${on}) goes on afterwards`);
    t.same(failed.filter((at) => at < cutAt - 1000 || at > replicaBackAt), [], `channel ${i}: refusals only while its shard had no replica to confirm`);
    if (masters[i] !== master) t.ok(failed.length <= 1, `channel ${i}, on a master that lived: at most the transfer in flight refused (${failed.length})`);
  }
  if (reasons.length) t.comment(`refusals: ${[...new Set(reasons.map((r) => r.replace(/\d+/g, 'N')))].join(' | ')}`);
  for (const [i, ch] of channels.entries()) await checkStored(t, ch, `channel ${i}`);
  for (const ch of channels) { ch.initiator.close(); ch.responder.close(); }
});
