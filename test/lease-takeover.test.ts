/**
 * Two service instances as processes of their own on one store, each FSM owned by one of them under a
 * lease (lib/channel/ownership.ts), on a real Redis (a key prefix of its own) and on a private Redis
 * Cluster; the chain is a dev chain both reach as an external node, as a real network would be.
 *
 * * A paused instance (SIGSTOP) keeps its FSMs' leases until they run out: a client reestablishing at
 *   the other instance is refused meanwhile (`fsm_owned_elsewhere`, naming the owner), then served
 *   there. When the paused instance wakes, it is fenced off: its FSMs stop, their clients are told
 *   `lease_lost`, and it writes nothing, though a request for an update was waiting for it.
 * * An instance whose leases ran out while it ran (made to, with PEXPIRE, as a pause or a partition as
 *   long as the lease time would) and were taken over: the update it is asked for next gets both
 *   signatures, then its round write is refused by the store's script, nothing is written or reported
 *   co-signed, and its FSMs stop with `lease_lost`.
 * * An instance SIGKILLed under traffic: its channels are taken over by the other instance once the
 *   leases run out, with every round any client was told about in the store, each round once, and the
 *   next transfer exactly the next round.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Cluster, Redis } from 'ioredis';
import type { ChannelId } from '../fsm/types.js';
import { RedisStore } from '../lib/store/redis-store.js';
import { externalChain } from './helpers/external-chain.js';
import { startServiceProcess } from './helpers/process-service.js';
import { startRedisCluster } from './helpers/redis-cluster.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { REDIS_URL, storageAt, testStorage } from './helpers/storage.js';
import { openPair, reestablish, ROLES, transfer, upTo } from './helpers/instance-pair.js';
import { roundOf, type Pair, type Role } from './helpers/tracked-pair.js';

const LEASE_TTL_MS = 3000;
const LEASE_RENEW_MS = 500;
const CHANNELS = 2;

interface Backend {
  name: string;
  env: Record<string, string>;
  keyPrefix: string;
  openStore(): Promise<RedisStore>;
  /** a plain client of the store's Redis (or Cluster), to act as Redis itself would */
  raw(): Redis | Cluster;
  stop(): Promise<void>;
}

/** Transfers back and forth until the socket goes (the kill). */
async function stream(pair: Pair): Promise<void> {
  for (let n = 0; ; n++) {
    const [from, to]: [Role, Role] = n % 2 ? ['responder', 'initiator'] : ['initiator', 'responder'];
    const sender = pair.clients[from];
    if (sender.closed) return;
    sender.send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount: 1 });
    try {
      await Promise.all(ROLES.map((r) => pair.clients[r].next((m) => m.method === 'channels.update' || m.method === 'channels.conflict' || m.method === 'error', 5000)));
    } catch {
      return;
    }
  }
}

/** Each participant's stored round, and whether its history holds every round once, from 1 up. */
async function storedRounds(backend: Backend, pair: Pair): Promise<Record<Role, { round: number; history: number[] }>> {
  const store = await backend.openStore();
  try {
    const entries = await Promise.all(ROLES.map(async (role) => [role, {
      round: (await store.load(pair.id as ChannelId, role))?.state.round ?? 0,
      history: (await store.history(pair.id as ChannelId, role)).map((s) => s.round),
    }] as const));
    return Object.fromEntries(entries) as Record<Role, { round: number; history: number[] }>;
  } finally {
    await store.close();
  }
}

async function twoInstances(t: Test, backend: Backend): Promise<void> {
  const { url: chainUrl } = await externalChain(t);
  const env = (instance: string) => ({
    ...backend.env, CHAIN_NODE_URL: chainUrl, WATCHTOWER: 'false', INSTANCE_ID: instance,
    LEASE_TTL_MS: String(LEASE_TTL_MS), LEASE_RENEW_MS: String(LEASE_RENEW_MS),
  });
  const storage = testStorage('redis'); // unused by the services (their env names the store); its cleanup is the backend's
  const a = await startServiceProcess({ direct: true, built: true, storage, env: env('instance-a') });
  let aStopped = false;
  t.teardown(async () => {
    if (aStopped) process.kill(a.pid, 'SIGCONT');
    await a.kill();
  });
  const b = await startServiceProcess({ direct: true, built: true, storage, env: env('instance-b') });
  t.teardown(() => b.kill());
  const aeSdk = genesisSdk(chainUrl);
  const accounts = await fundFromGenesis(aeSdk, 2 * (2 + CHANNELS));

  await t.test('a paused instance loses its FSMs to the other once its leases run out, and is fenced off when it wakes', async (t) => {
    const pair = await openPair(a, accounts.slice(0, 2));
    for (let n = 0; n < 3; n++) await transfer(pair, n);
    const before = pair.reported.initiator;
    t.equal(before, 4, 'three transfers at instance A');
    const old = { ...pair.clients };

    process.kill(a.pid, 'SIGSTOP');
    aStopped = true;
    const pausedAt = Date.now();
    const refused = await reestablish(t, b, pair, 'responder', 'instance-a');
    await reestablish(t, b, pair, 'initiator', 'instance-a');
    const tookOverMs = Date.now() - pausedAt;
    t.ok(refused > 0, `refused ${refused} times while A's lease ran`);
    t.comment(`B served the channel ${tookOverMs} ms after A was paused (lease time ${LEASE_TTL_MS} ms)`);
    // the reestablish ends with each client told the latest co-signed state
    const restored = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
    t.same(restored.map((m) => roundOf(m.data.state)), [before, before], 'both reestablished at B on the round A left');
    let round = 0;
    for (let n = 0; n < 3; n++) round = await transfer(pair, n);
    t.equal(round, before + 3, 'B carries on from the round A left');

    // a request waits for A in its socket: A finds it when it wakes, with its FSMs' leases gone
    old.initiator.send('channels.update.new', { from: pair.accounts.initiator.address, to: pair.accounts.responder.address, amount: 5 });
    process.kill(a.pid, 'SIGCONT');
    aStopped = false;
    for (const role of ROLES) {
      const lost = await old[role].next((m) => m.method === 'channels.error' && m.data.message === 'lease_lost', 20_000);
      t.match(JSON.stringify(lost.frame), /another service instance took this FSM over/, `${role} at A: told its FSM was taken over`);
      await old[role].next(() => false, 20_000).catch(() => undefined);
      t.match(old[role].closed, { reason: 'lease_lost' }, `${role} at A: its socket closed`);
    }

    const stored = await storedRounds(backend, pair);
    for (const role of ROLES) {
      t.equal(stored[role].round, round, `${role}: the stored round is B's last; A wrote nothing`);
      t.same(stored[role].history, upTo(round), `${role}: every round once`);
    }
    t.equal(await transfer(pair, 0), round + 1, 'and B goes on with the next round');
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test('an instance whose leases ran out while it ran, and were taken over: its next round write is refused, nothing written, its FSMs stop', async (t) => {
    // renewing seldom, with a long lease: its leases are made to run out now (PEXPIRE), as they would
    // have after a pause or a partition as long as the lease time; its FSMs never sleep, so they stay
    // awake and sure of their leases (a sleeping one checks its lease as it wakes: test/lease-hibernation.test.ts)
    const d = await startServiceProcess({
      direct: true, built: true, storage, env: { ...env('instance-d'), LEASE_TTL_MS: '120000', LEASE_RENEW_MS: '60000', HIBERNATE_AFTER_MS: '0' },
    });
    t.teardown(() => d.kill());
    const pair = await openPair(d, accounts.slice(2 + 2 * CHANNELS, 4 + 2 * CHANNELS));
    for (let n = 0; n < 2; n++) await transfer(pair, n);
    const before = pair.reported.initiator;
    const old = { ...pair.clients };
    const raw = backend.raw();
    for (const role of ROLES) t.equal(await raw.pexpire(`${backend.keyPrefix}{${pair.id}}:${role}:lease`, 1), 1, `${role}: D's lease is made to run out`);
    await raw.quit();

    await reestablish(t, b, pair, 'responder', 'instance-d');
    await reestablish(t, b, pair, 'initiator', 'instance-d');
    const restored = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
    t.same(restored.map((m) => roundOf(m.data.state)), [before, before], 'B took the channel over on the round D left');
    const round = await transfer(pair, 0);
    t.equal(round, before + 1);

    // D still believes it owns both FSMs: an update there gets both signatures, then its write is fenced
    old.initiator.send('channels.update.new', { from: pair.accounts.initiator.address, to: pair.accounts.responder.address, amount: 5 });
    await old.initiator.nextMethod('channels.sign.update', undefined, 20_000);
    await old.responder.nextMethod('channels.sign.update_ack', undefined, 20_000);
    for (const role of ROLES) {
      const lost = await old[role].next((m) => m.method === 'channels.error' && m.data.message === 'lease_lost', 20_000);
      t.match(lost.data.detail, /another service instance took this FSM over/, `${role} at D: told its FSM was taken over`);
      await old[role].next(() => false, 20_000).catch(() => undefined);
      t.match(old[role].closed, { reason: 'lease_lost' }, `${role} at D: its socket closed`);
      t.notOk(old[role].received.some((m) => m.method === 'channels.update' && roundOf(m.data.state) > before), `${role} at D: never told of a new round`);
      const conflicts = old[role].received.filter((m) => m.method === 'channels.conflict').map((m) => m.data.round);
      t.ok(conflicts.every((r) => r === before), `${role} at D: any conflict keeps its last round (${conflicts.join(', ') || 'none'})`);
    }
    t.match(d.output(), /a round write was fenced off/, 'D logged the fenced write');

    const stored = await storedRounds(backend, pair);
    for (const role of ROLES) {
      t.equal(stored[role].round, round, `${role}: the stored round is B's; D's write changed nothing`);
      t.same(stored[role].history, upTo(round), `${role}: every round once`);
    }
    t.equal(await transfer(pair, 1), round + 1, 'B goes on with the next round');
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test('an instance SIGKILLed under traffic: its channels are taken over by the other once the leases run out, nothing lost or written twice', async (t) => {
    const c = await startServiceProcess({ direct: true, built: true, storage, env: env('instance-c') });
    let cAlive = true;
    t.teardown(() => cAlive && c.kill());
    const pairs: Pair[] = [];
    for (let i = 0; i < CHANNELS; i++) pairs.push(await openPair(c, accounts.slice(2 + 2 * i, 4 + 2 * i)));
    const traffic = pairs.map(stream);
    // under way on every channel, then at a random moment
    while (pairs.some((pair) => pair.reported.initiator < 4)) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 400)));
    await c.kill();
    cAlive = false;
    const killedAt = Date.now();
    await Promise.all(traffic);

    for (const pair of pairs) {
      const stored = await storedRounds(backend, pair);
      for (const role of ROLES) t.ok(stored[role].round >= pair.reported[role], `${role}: every round it was told of is stored (${pair.reported[role]} ≤ ${stored[role].round})`);
      const expected = Math.max(stored.initiator.round, stored.responder.round);
      await reestablish(t, b, pair, 'responder', 'instance-c');
      await reestablish(t, b, pair, 'initiator', 'instance-c');
      const [i, r] = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
      t.equal(roundOf(i!.data.state), expected, `reestablished at B on round ${expected}`);
      t.equal(roundOf(r!.data.state), expected);
      t.equal(await transfer(pair, 0), expected + 1, 'the next transfer is exactly the next round');
      const after = await storedRounds(backend, pair);
      for (const role of ROLES) t.same(after[role].history, upTo(expected + 1), `${role}: every round once`);
    }
    const tookOverMs = Date.now() - killedAt;
    t.ok(tookOverMs < LEASE_TTL_MS + 15_000, `taken over within the lease time and the reestablishes (${tookOverMs} ms)`);
    for (const pair of pairs) for (const role of ROLES) pair.clients[role].close();
  });
}

t.test('on Redis', async (t) => {
  const keyPrefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
  const backend: Backend = {
    name: 'redis',
    env: { REDIS_URL, REDIS_CLUSTER_NODES: '', REDIS_KEY_PREFIX: keyPrefix },
    keyPrefix,
    openStore: () => RedisStore.connect({ url: REDIS_URL, keyPrefix }),
    raw: () => new Redis(REDIS_URL),
    stop: () => storageAt(tmpdir(), { url: REDIS_URL, keyPrefix }).cleanup(),
  };
  t.teardown(() => backend.stop());
  await twoInstances(t, backend);
});

t.test('on a Redis Cluster', async (t) => {
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const keyPrefix = 'aesc-test:';
  const backend: Backend = {
    name: 'cluster',
    env: { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes, REDIS_KEY_PREFIX: keyPrefix },
    keyPrefix,
    openStore: () => RedisStore.connectCluster({ nodes: cluster.nodes, keyPrefix }),
    raw: () => new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port }))),
    stop: async () => undefined,
  };
  await twoInstances(t, backend);
});
