/**
 * Sleeping FSMs and their leases (lib/channel/ownership.ts, lib/channel/session.ts), with two service
 * instances as processes of their own on a real Redis (a key prefix of its own) and a dev chain both
 * reach as an external node. The lease time is long (30 s), so anything served sooner than that was
 * not waiting for a lease to run out.
 *
 * * An idle channel's FSMs fall asleep and let their leases go: the lease keys are gone and stay gone
 *   (nothing renews them). A transfer from its own client wakes them at the same instance: each takes
 *   its lease back under its old token and the channel goes on, every round once.
 * * A client at another instance reestablishes a sleeping channel and is served at once; the first
 *   instance's sleeping FSMs, woken by a stale event (their old client's transfer), find the lease
 *   taken, write nothing, stop, and their clients are told `lease_lost`.
 * * One participant taken over at another instance: its sleeping FSM here, asked a query by its old
 *   client, does not answer from its stale snapshot but stops (`lease_lost`); its peer here, woken by
 *   that, holds its own lease, ends as an initiator does when its responder goes, and lets its lease
 *   go, so its client is served at the other instance at once too.
 * * A sleeping FSM whose record's round moved under its own lease (impossible but for a bug or a hand
 *   in Redis) refuses to resume from its snapshot: it stops, its client is told, nothing is written.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import type { ChannelId } from '../fsm/types.js';
import { RedisStore } from '../lib/store/redis-store.js';
import { externalChain } from './helpers/external-chain.js';
import { openPair, reestablish, ROLES, transfer, upTo } from './helpers/instance-pair.js';
import { startServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { REDIS_URL, storageAt, testStorage } from './helpers/storage.js';
import { roundOf, type Pair, type Role } from './helpers/tracked-pair.js';

const LEASE_TTL_MS = 30_000;
const LEASE_RENEW_MS = 500;
const HIBERNATE_AFTER_MS = 300;

const keyPrefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
const raw = new Redis(REDIS_URL);
t.teardown(async () => {
  raw.disconnect();
  await storageAt(tmpdir(), { url: REDIS_URL, keyPrefix }).cleanup();
});

const keyOf = (pair: Pair, role: Role, what: 'lease' | 'fence') => `${keyPrefix}{${pair.id}}:${role}:${what}`;
const leasesOf = (pair: Pair) => Promise.all(ROLES.map((role) => raw.get(keyOf(pair, role, 'lease'))));
const fencesOf = (pair: Pair) => Promise.all(ROLES.map((role) => raw.get(keyOf(pair, role, 'fence'))));

/** Waits for both FSMs of the channel to fall asleep, seen from Redis: both lease keys gone. */
async function leasesGone(pair: Pair): Promise<boolean> {
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    if ((await leasesOf(pair)).every((lease) => lease === null)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** Each participant's stored round and the rounds of its history. */
async function stored(pair: Pair): Promise<Record<Role, { round: number; history: number[] }>> {
  const store = await RedisStore.connect({ url: REDIS_URL, keyPrefix });
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

/** The old client is told its FSM could not wake (`lease_lost`, with `detail`), and its socket closes. */
async function toldLeaseLost(t: Test, pair: { clients: Pair['clients'] }, role: Role, detail: RegExp, before: number): Promise<void> {
  const client = pair.clients[role];
  const lost = await client.next((m) => m.method === 'channels.error' && m.data.message === 'lease_lost', 20_000);
  t.match(lost.data.detail, detail, `${role}: told why its FSM stopped`);
  await client.next(() => false, 20_000).catch(() => undefined);
  t.match(client.closed, { reason: 'lease_lost' }, `${role}: its socket closed`);
  t.notOk(client.received.some((m) => m.method === 'channels.update' && roundOf(m.data.state) > before), `${role}: never told of a new round`);
}

t.test('two instances on one Redis, idle channels asleep', async (t) => {
  const { url: chainUrl } = await externalChain(t);
  const env = (instance: string) => ({
    REDIS_URL, REDIS_CLUSTER_NODES: '', REDIS_KEY_PREFIX: keyPrefix, CHAIN_NODE_URL: chainUrl, WATCHTOWER: 'false', INSTANCE_ID: instance,
    LEASE_TTL_MS: String(LEASE_TTL_MS), LEASE_RENEW_MS: String(LEASE_RENEW_MS), HIBERNATE_AFTER_MS: String(HIBERNATE_AFTER_MS),
  });
  const storage = testStorage('redis'); // unused by the services (their env names the store)
  const a = await startServiceProcess({ direct: true, built: true, storage, env: env('instance-a') });
  t.teardown(() => a.kill());
  const b = await startServiceProcess({ direct: true, built: true, storage, env: env('instance-b') });
  t.teardown(() => b.kill());
  const accounts = await fundFromGenesis(genesisSdk(chainUrl), 8);

  await t.test('asleep, an FSM lets its lease go; woken by its own client at the same instance it takes it back and goes on', async (t) => {
    const pair = await openPair(a, accounts.slice(0, 2));
    t.equal(await transfer(pair, 0), 2);
    const awake = await leasesOf(pair);
    t.ok(awake.every((lease) => lease?.endsWith('|instance-a')), `awake, instance A holds both leases (${awake.join(', ')})`);
    const fences = await fencesOf(pair);

    t.ok(await leasesGone(pair), 'asleep: both lease keys are gone');
    await new Promise((resolve) => setTimeout(resolve, 3 * LEASE_RENEW_MS));
    t.same(await leasesOf(pair), [null, null], `and stay gone through ${3} renewal periods: nothing renews a sleeping FSM's lease`);

    t.equal(await transfer(pair, 1), 3, 'the responder, woken by its client, proposes; the initiator, woken by its peer, co-signs');
    t.same(await leasesOf(pair), awake, 'both leases are back, under their old tokens');
    t.same(await fencesOf(pair), fences, 'no new token was issued');

    t.ok(await leasesGone(pair), 'asleep again');
    t.equal(await transfer(pair, 0), 4, 'and woken again by the initiator');
    const after = await stored(pair);
    for (const role of ROLES) t.same(after[role].history, upTo(4), `${role}: every round once`);
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test("a client at another instance is served at once; the sleeping FSMs there, woken by a stale event, write nothing and tell their clients", async (t) => {
    const pair = await openPair(a, accounts.slice(2, 4));
    for (let n = 0; n < 2; n++) await transfer(pair, n);
    const before = pair.reported.initiator;
    const fences = (await fencesOf(pair)).map(Number);
    t.ok(await leasesGone(pair), "the channel's FSMs at A are asleep, their leases let go");
    const old = { clients: { ...pair.clients } };

    const started = Date.now();
    const refusals = await reestablish(t, b, pair, 'responder', 'instance-a') + await reestablish(t, b, pair, 'initiator', 'instance-a');
    const servedMs = Date.now() - started;
    t.equal(refusals, 0, 'both are served at B at their first try');
    t.ok(servedMs < LEASE_TTL_MS, `in ${servedMs} ms: nobody waited for a lease of ${LEASE_TTL_MS} ms to run out`);
    const restored = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
    t.same(restored.map((m) => roundOf(m.data.state)), [before, before], 'B restored the round A left');
    const taken = await leasesOf(pair);
    t.ok(taken.every((lease, i) => lease?.endsWith('|instance-b') && Number(lease.split('|')[0]) > fences[i]!), `B holds both leases, with new tokens (${taken.join(', ')})`);
    let round = 0;
    for (let n = 0; n < 2; n++) round = await transfer(pair, n);
    t.equal(round, before + 2, 'B goes on from there');

    // the old client at A asks its sleeping FSM for a transfer: the FSM must find its lease taken as it wakes
    const seen = old.clients.responder.received.length;
    old.clients.initiator.send('channels.update.new', { from: pair.accounts.initiator.address, to: pair.accounts.responder.address, amount: 5 });
    await toldLeaseLost(t, old, 'initiator', /another service instance took this FSM over while it slept here/, before);
    // its peer at A is woken by the initiator's going (PEER.DISCONNECTED), and finds the same
    await toldLeaseLost(t, old, 'responder', /another service instance took this FSM over while it slept here/, before);
    t.notOk(old.clients.responder.received.slice(seen).some((m) => m.method === 'channels.sign.update_ack'), 'the responder at A was never asked to co-sign it');
    t.match(a.output(), /a sleeping FSM could not wake here/, 'A logged it');

    const after = await stored(pair);
    for (const role of ROLES) {
      t.equal(after[role].round, round, `${role}: the stored round is B's last; A wrote nothing`);
      t.same(after[role].history, upTo(round), `${role}: every round once`);
    }
    t.same(await leasesOf(pair), taken, "B's leases are untouched");
    t.equal(await transfer(pair, 0), round + 1, 'and B goes on with the next round');
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test('one participant taken over at another instance: its sleeping FSM here answers no query from its stale state', async (t) => {
    const pair = await openPair(a, accounts.slice(6, 8));
    const round = await transfer(pair, 0);
    t.ok(await leasesGone(pair), 'asleep');
    const old = { clients: { ...pair.clients } };
    t.equal(await reestablish(t, b, pair, 'responder', 'instance-a'), 0, 'the responder is served at B at once (it waits there for its initiator)');

    old.clients.responder.send('channels.get.balances', { accounts: [pair.accounts.initiator.address, pair.accounts.responder.address] }, 1);
    await toldLeaseLost(t, old, 'responder', /another service instance took this FSM over while it slept here/, round);
    t.notOk(old.clients.responder.received.some((m) => m.method === 'result'), 'the query got no answer from the stale snapshot');
    // the initiator at A is woken by its peer's going: its own lease is fine, and it ends as an initiator
    // does when its responder goes (peer_disconnected, died), not for its lease, and lets the lease go
    await old.clients.initiator.next((m) => m.method === 'channels.info' && m.data.event === 'died', 20_000);
    t.ok(old.clients.initiator.received.some((m) => m.method === 'channels.info' && m.data.event === 'peer_disconnected'), 'the initiator at A: told its peer went');
    t.notOk(old.clients.initiator.received.some((m) => m.method === 'channels.error'), 'not that its lease was lost');

    t.equal(await reestablish(t, b, pair, 'initiator', 'instance-a'), 0, 'the initiator is served at B at once too');
    const restored = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
    t.same(restored.map((m) => roundOf(m.data.state)), [round, round], 'both at B on the round A left');
    t.equal(await transfer(pair, 1), round + 1, 'and they go on there');
    const after = await stored(pair);
    for (const role of ROLES) t.same(after[role].history, upTo(round + 1), `${role}: every round once`);
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test('a sleeping FSM whose stored round moved under its own lease does not resume from its snapshot', async (t) => {
    const pair = await openPair(a, accounts.slice(4, 6));
    const round = await transfer(pair, 0);
    t.ok(await leasesGone(pair), 'asleep');
    // only a new token lets anyone write a round: this is a hand in Redis, standing in for a bug
    await raw.hset(`${keyPrefix}{${pair.id}}:initiator`, 'round', String(round + 5));
    pair.clients.initiator.send('channels.update.new', { from: pair.accounts.initiator.address, to: pair.accounts.responder.address, amount: 1 });
    await toldLeaseLost(t, pair, 'initiator', new RegExp(`the store holds round ${round + 5}, not the round ${round} this FSM slept on`), round);
    t.match(a.output(), /its record holds another round: it stops rather than resume/, 'A logged it as an error');
    t.same((await stored(pair)).initiator.history, upTo(round), 'nothing was written');
    t.equal((await leasesOf(pair))[0], null, 'and the lease it took back to look is let go again');
    for (const role of ROLES) pair.clients[role].close();
  });
});
