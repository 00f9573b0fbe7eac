/**
 * A Redis Cluster master SIGKILLed during traffic, and a shard whose replica stops answering, on a
 * private six-node cluster (3 masters, 3 replicas, cluster-node-timeout 1 s). Each co-signed write
 * waits for a replica (REDIS_MIN_REPLICAS, auto: 1 here) before anyone hears of it, so whatever a
 * client was told is on a replica when its master dies, and comes back from the promoted one; a write
 * no replica confirmed is refused to the clients, undone, and the channel goes on once a replica is
 * back. Writes caught in a failover are sent again to the new master.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../lib/config.js';
import { RedisStore } from '../lib/store/redis-store.js';
import { StoreUnavailableError } from '../lib/store/store.js';
import type { ChannelId } from '../fsm/types.js';
import { unpackSignedTx } from './helpers/accounts.js';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import type { TestClient } from './helpers/client.js';
import { startRedisCluster, type PrivateCluster } from './helpers/redis-cluster.js';
import { startTestService, type TestService } from './helpers/service.js';

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
  const replicaBackAt = Date.now();
  // the channel on the dead master goes on, on the promoted one
  for (const until = Date.now() + 30_000; Date.now() < until;) {
    if (successes.get(victim)!.filter((at) => at > replicaBackAt).length >= 5) break;
    await sleep(100);
  }
  stop = true;
  await Promise.all(traffic);

  t.comment(`master ${moved.from} cut off from its replica ${moved.to} for ${killedAt - cutAt} ms, then killed; ${moved.to} promoted after `
    + `${promotedAt - killedAt} ms; ${moved.from} back as its replica after ${replicaBackAt - promotedAt} ms more`);
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
