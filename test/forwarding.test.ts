/**
 * Forwarding (lib/ws/forwarding.ts): three service instances as processes of their own on one Redis (a
 * key prefix of their own), the chain a dev chain they reach as an external node. A channel is opened
 * through instance A, so A holds both FSMs' leases.
 *
 * * Its clients' sockets drop, and they reestablish at B and at C while A lives: both are served by A
 *   through the instance they reached (in either envelope), transfers are co-signed and the rounds go
 *   on, and A still holds both leases with the same fencing tokens (nothing was taken over).
 * * A forwarded connection is never forwarded again: one shown to an instance that does not host the
 *   FSM (forged, with the instances' secret) is refused saying so; one without the secret is refused
 *   at the internal port's door.
 * * The owner is SIGKILLed while its clients are relayed through B and C: their sockets close; their
 *   reestablishes are refused (the owner cannot be reached) until its leases run out, then served by
 *   B taking the FSMs over, every round any client was told of stored, each once, the next transfer
 *   exactly the next round.
 */
import t, { type Test } from 'tap';
import { Channel, type AccountMemory } from '../lib/sdk.js';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { ChannelId } from '../fsm/types.js';
import { RedisStore } from '../lib/store/redis-store.js';
import { channelQuery } from './helpers/channel.js';
import { TestClient, type Protocol } from './helpers/client.js';
import { externalChain } from './helpers/external-chain.js';
import { startServiceProcess, type ServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { testStorage } from './helpers/storage.js';
import { roundOf, track, type Pair, type Role } from './helpers/tracked-pair.js';
import { NETWORK_ID } from './helpers/accounts.js';

type Tx = `tx_${string}`;
type SdkOptions = Parameters<typeof Channel.initialize>[0];

function status(channel: Channel, wanted: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never ${wanted}`)), timeoutMs);
    channel.on('statusChanged', (s) => { if (s === wanted) { clearTimeout(timer); resolve(); } });
  });
}

const LEASE_TTL_MS = 3000;
const LEASE_RENEW_MS = 500;
const MAX_FRAME_BYTES = 65_536;
const ROLES = ['initiator', 'responder'] as const;
let nextPort = 40_000 + Math.floor(Math.random() * 10_000);

/** the node's channel_open carries amounts in 64 bits: FSMs on two workers talk over it */
const WIRE_AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };

async function openPair(service: ServiceProcess, accounts: AccountMemory[], protocol: Protocol, amounts = {}): Promise<Pair> {
  const [initiator, responder] = accounts as [AccountMemory, AccountMemory];
  const port = nextPort++;
  const query = channelQuery(initiator, responder, port, amounts);
  const pair = { port, accounts: { initiator, responder }, clients: {}, fsmIds: {}, reported: { initiator: 0, responder: 0 } } as unknown as Pair;
  track(pair, 'initiator', await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, protocol, initiator));
  track(pair, 'responder', await TestClient.connect(service.channelUrl, { ...query, role: 'responder' }, protocol, responder));
  const open = await pair.clients.initiator.nextMethod('channels.info', 'open', 30_000);
  await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 30_000)));
  pair.id = open.data.channel_id ?? open.frame.params?.channel_id ?? open.frame.channel_id;
  return pair;
}

async function transfer(pair: Pair, n: number): Promise<number> {
  const [from, to]: [Role, Role] = n % 2 ? ['responder', 'initiator'] : ['initiator', 'responder'];
  pair.clients[from].send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount: 1 });
  const answers = await Promise.all(ROLES.map((role) => pair.clients[role].next((m) => ['channels.update', 'channels.conflict', 'error'].includes(m.method), 20_000)));
  const refused = answers.find((m) => m.method !== 'channels.update');
  if (refused) throw new Error(`the transfer was refused: ${JSON.stringify(refused.frame)}`);
  const [i, r] = answers.map((m) => m.data.state);
  if (i !== r) throw new Error('the two clients were told of different states');
  return roundOf(i);
}

/** Transfers back and forth until a socket goes (the kill). */
async function stream(pair: Pair): Promise<void> {
  for (let n = 0; ; n++) {
    const [from, to]: [Role, Role] = n % 2 ? ['responder', 'initiator'] : ['initiator', 'responder'];
    if (pair.clients[from].closed) return;
    pair.clients[from].send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount: 1 });
    try {
      await Promise.all(ROLES.map((r) => pair.clients[r].next((m) => ['channels.update', 'channels.conflict', 'error'].includes(m.method), 5000)));
    } catch {
      return;
    }
  }
}

/** One reestablish at `service`: the client when served (fsm_up), or the error frame it was refused with. */
async function reestablishOnce(service: ServiceProcess, pair: Pair, role: Role, protocol: Protocol): Promise<{ client: TestClient } | { refusal: string }> {
  const query = { role, port: pair.port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds[role], ...(role === 'initiator' && { host: 'localhost' }) };
  const client = await TestClient.connect(service.channelUrl, query, protocol, pair.accounts[role]);
  const first = await client.next((m) => (m.method === 'channels.info' && m.data.event === 'fsm_up') || m.method === 'error', 20_000);
  if (first.method === 'error') {
    client.close();
    return { refusal: JSON.stringify(first.frame) };
  }
  track(pair, role, client);
  return { client };
}

/** Reestablishes until served; every refusal must be fsm_owned_elsewhere. The refusals seen. */
async function reestablishUntilServed(service: ServiceProcess, pair: Pair, role: Role, protocol: Protocol): Promise<string[]> {
  const refusals: string[] = [];
  for (let attempt = 0; attempt < 200; attempt++) {
    const outcome = await reestablishOnce(service, pair, role, protocol);
    if ('client' in outcome) return refusals;
    if (!/3012|fsm_owned_elsewhere/.test(outcome.refusal)) throw new Error(`refused for another reason: ${outcome.refusal}`);
    refusals.push(outcome.refusal);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${role} was never served`);
}

t.test('three instances on one Redis: a client reaching a non-owner is served by the owner, forwarded', async (t) => {
  const { url: chainUrl } = await externalChain(t);
  const storage = testStorage('redis');
  t.teardown(() => storage.cleanup());
  const prefix = storage.redis.keyPrefix;
  const redis = new Redis(storage.redis.url);
  t.teardown(() => redis.quit());
  const env = (instance: string) => ({
    ...storage.env, REDIS_CLUSTER_NODES: '', CHAIN_NODE_URL: chainUrl, WATCHTOWER: 'false', INSTANCE_ID: instance, LOG_LEVEL: 'info',
    LEASE_TTL_MS: String(LEASE_TTL_MS), LEASE_RENEW_MS: String(LEASE_RENEW_MS), PEER_CONNECT_TIMEOUT_MS: '1000', MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
  });
  const start = (instance: string) => startServiceProcess({ direct: true, built: true, storage, env: env(instance) });
  const [a, b, c] = await Promise.all([start('instance-a'), start('instance-b'), start('instance-c')]);
  let aAlive = true;
  t.teardown(() => Promise.all([aAlive && a.kill(), b.kill(), c.kill()]));
  const accounts = await fundFromGenesis(genesisSdk(chainUrl), 12);
  const leaseOf = (pair: Pair, role: Role) => redis.get(`${prefix}{${pair.id}}:${role}:lease`);
  const fsmIdsSeen: string[] = [];

  for (const [index, protocol] of (['json-rpc', 'legacy'] as const).entries()) {
    await t.test(`${protocol}: reestablished at B and at C while A lives, served by A through them`, async (t) => {
      const pair = await openPair(a, accounts.slice(2 * index, 2 * index + 2), protocol);
      let round = 0;
      for (let n = 0; n < 2; n++) round = await transfer(pair, n);
      const leases = await Promise.all(ROLES.map((role) => leaseOf(pair, role)));
      t.match(leases, [/^\d+\|instance-a$/, /^\d+\|instance-a$/], 'A holds both leases');

      // the sockets drop (no leave): A's FSMs run on, waiting for their clients
      for (const role of ROLES) {
        pair.clients[role].close();
        await pair.clients[role].closedAndDone();
      }
      const fsmIds = { ...pair.fsmIds };
      for (const [role, at] of [['responder', b], ['initiator', c]] as const) {
        const outcome = await reestablishOnce(at, pair, role, protocol);
        t.ok('client' in outcome, `${role}: served at ${at === b ? 'B' : 'C'} at once${'refusal' in outcome ? ` (refused: ${outcome.refusal})` : ''}`);
      }
      t.same(pair.fsmIds, fsmIds, 'both told fsm_up with their FSMs\' own fsm_id: the FSMs at A, reattached');
      fsmIdsSeen.push(...Object.values(fsmIds));
      for (let n = 0; n < 3; n++) t.equal(await transfer(pair, n), ++round, `transfer ${n + 1} through B and C: round ${round}, co-signed`);
      t.same(await Promise.all(ROLES.map((role) => leaseOf(pair, role))), leases, 'A still holds both leases, same fencing tokens: nothing was taken over');

      // and again at the other instance each, one hop each still
      for (const role of ROLES) pair.clients[role].close();
      for (const role of ROLES) await pair.clients[role].closedAndDone();
      for (const [role, at] of [['responder', c], ['initiator', b]] as const) {
        t.ok('client' in await reestablishOnce(at, pair, role, protocol), `${role}: served through ${at === b ? 'B' : 'C'} too`);
      }
      t.equal(await transfer(pair, 1), ++round, `and the next transfer is round ${round}`);
      t.same(await Promise.all(ROLES.map((role) => leaseOf(pair, role))), leases, 'still A\'s leases');
      t.match(b.output(), /connection_forwarded/, 'B logged a forwarded connection');

      // the owner's frame limit holds through the relay, and answers as it would directly
      pair.clients.initiator.mark();
      pair.clients.initiator.sendRaw('x'.repeat(MAX_FRAME_BYTES + 1));
      const tooLarge = await pair.clients.initiator.nextMethod('error');
      t.match(JSON.stringify(tooLarge.frame), /frame_too_large|3003/, 'a frame over MAX_FRAME_BYTES: frame_too_large, from the owner through the relay');
      t.equal(await transfer(pair, 0), ++round, 'and the channel goes on');

      if (protocol === 'json-rpc') {
        await t.test('a forwarded connection is never forwarded again', async (t) => {
          const secret = await redis.get(`${prefix}service:forward-secret`);
          const bInternal = await redis.get(`${prefix}{instance:instance-b}`);
          t.match(secret, /^[0-9a-f]{64}$/, 'the instances share a secret, kept in the store');
          t.match(bInternal, /^127\.0\.0\.1:\d+$/, 'B advertises its internal port');
          const search = new URLSearchParams({
            protocol: 'json-rpc', role: 'responder', port: String(pair.port), existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds.responder,
          });
          const url = `ws://${bInternal}/channel?${search}`;

          const noSecret = new WebSocket(url);
          const refused = await new Promise<string>((resolve) => {
            noSecret.once('unexpected-response', (_req, res) => {
              let body = '';
              res.on('data', (d: Buffer) => { body += d.toString(); });
              res.on('end', () => resolve(`${res.statusCode} ${body}`));
            });
            noSecret.once('open', () => resolve('open'));
          });
          t.match(refused, /^403 this port takes only connections forwarded by other instances/, 'without the secret: refused at the door, saying why');

          // forged as an instance would forward it, to B, which does not host the FSM
          const forged = new WebSocket(url, { headers: { 'x-aesc-forward-secret': secret!, 'x-aesc-forwarded-for': '10.1.2.3' } });
          const frames: string[] = [];
          forged.on('message', (d) => frames.push(d.toString()));
          const closed = await new Promise<{ code: number; reason: string }>((resolve) => forged.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
          t.equal(frames.length, 1, 'one error frame');
          t.match(frames[0], /"code":3012.*a forwarded connection reached an instance that does not host this FSM \(the service instance instance-a does\) and is not forwarded again/,
            'with the secret, to a non-owner: refused, not forwarded again, naming the owner');
          t.same(closed, { code: 1008, reason: 'fsm_owned_elsewhere' }, 'and closed');
          t.same(await Promise.all(ROLES.map((role) => leaseOf(pair, role))), leases, 'the leases untouched');
          t.equal(await transfer(pair, 0), ++round, 'the channel goes on through the relays');
        });

        await t.test('the owner\'s close code and reason reach a relayed client', async (t) => {
          // the initiator, relayed through B, reconnects through C with its socket still open: A lets the old one go
          const old = pair.clients.initiator;
          t.ok('client' in await reestablishOnce(c, pair, 'initiator', protocol), 'served through C');
          await old.closedAndDone();
          t.same(old.closed, { code: 1000, reason: 'replaced by a new connection' }, 'the socket through B closed as A closed it: 1000, replaced by a new connection');
          t.equal(await transfer(pair, 1), ++round, 'and the channel goes on');
        });
      }
      for (const role of ROLES) pair.clients[role].close();
    });
  }

  await t.test('the unmodified aepp-sdk Channel: its socket drops, it reconnects at B, served by A through B', async (t) => {
    const [initiator, responder] = accounts.slice(6, 8) as [AccountMemory, AccountMemory];
    const signer = (account: AccountMemory) => async (tx: Tx) => account.signTransaction(tx, { networkId: NETWORK_ID });
    const signWith = (account: AccountMemory) => async (_tag: string, tx: Tx) => signer(account)(tx);
    const shared = {
      url: a.channelUrl, pushAmount: 0, initiatorAmount: 5e14, responderAmount: 5e14, channelReserve: 0, port: nextPort++,
      lockPeriod: 1, initiatorId: initiator.address, responderId: responder.address, minimumDepth: 0, minimumDepthStrategy: 'plain',
    };
    const responderCh = await Channel.initialize({ ...shared, role: 'responder', sign: signWith(responder) } as unknown as SdkOptions);
    const rOpen = status(responderCh, 'open');
    let initiatorCh = await Channel.initialize({ ...shared, role: 'initiator', host: 'localhost', sign: signWith(initiator) } as unknown as SdkOptions);
    await Promise.all([status(initiatorCh, 'open'), rOpen]);
    t.teardown(() => { initiatorCh.disconnect(); responderCh.disconnect(); });
    t.equal((await initiatorCh.update(initiator.address, responder.address, 100, signer(initiator))).accepted, true, 'a transfer at A');
    const leases = await Promise.all(ROLES.map((role) => redis.get(`${prefix}{${initiatorCh.id()}}:${role}:lease`)));

    const [id, fsmId] = [initiatorCh.id(), initiatorCh.fsmId()];
    initiatorCh.disconnect();
    // the SDK's reconnect without leave (its FSM lives on at A): existing ids, no `reestablish`
    initiatorCh = await Channel.initialize({
      ...shared, url: b.channelUrl, role: 'initiator', host: 'localhost', sign: signWith(initiator), existingChannelId: id, existingFsmId: fsmId,
    } as unknown as SdkOptions);
    if (initiatorCh.status() !== 'open') await status(initiatorCh, 'open');
    t.equal(initiatorCh.fsmId(), fsmId, 'the same FSM, the same fsm_id');
    t.equal(initiatorCh.round(), 2, 'reconnected through B on the round it had');
    t.equal((await initiatorCh.update(initiator.address, responder.address, 7, signer(initiator))).accepted, true, 'a transfer through B');
    t.equal((await responderCh.update(responder.address, initiator.address, 3, signer(responder))).accepted, true, 'and one proposed by the responder at A');
    // the other side hears of the round a moment after the proposer
    for (let wait = 0; wait < 100 && (initiatorCh.round() !== 4 || responderCh.round() !== 4); wait++) await new Promise((resolve) => setTimeout(resolve, 50));
    t.same([initiatorCh.round(), responderCh.round()], [4, 4], 'both on round 4');
    t.same(await Promise.all(ROLES.map((role) => redis.get(`${prefix}{${id}}:${role}:lease`))), leases, 'A still holds both leases, same tokens');
  });

  await t.test('WORKERS=2: a client that reaches the worker not hosting its FSM is served by the other, forwarded', async (t) => {
    const w = await startServiceProcess({
      direct: true, built: true, storage, startTimeoutMs: 180_000, env: { ...env('instance-w'), WORKERS: '2', PEER_REDIAL_DELAY_MS: '200' },
    });
    t.teardown(() => w.kill());
    await w.printed('"workers":2', 180_000);
    // each worker's own WebSocket port (where the primary hands it sockets), by its lease owner name
    const workerUrls = new Map<string, string>();
    for (const line of w.output().split('\n')) {
      try {
        const entry = JSON.parse(line) as { message?: string; instance_id?: string; channel_url?: string };
        if (entry.message === 'service started' && entry.instance_id && entry.channel_url) workerUrls.set(entry.instance_id, entry.channel_url);
      } catch { /* not a log line */ }
    }
    t.equal(workerUrls.size, 2, 'two workers, each its own name and port');
    // the primary puts both FSMs of a channel that names its pairing on one worker (affinity)
    const pair = await openPair(w, accounts.slice(8, 10), 'json-rpc', WIRE_AMOUNTS);
    let round = await transfer(pair, 0);
    const leases = await Promise.all(ROLES.map((role) => leaseOf(pair, role)));
    const owner = leases[0]!.split('|')[1]!;
    t.match(leases, [/^\d+\|instance-w:w[01]$/, new RegExp(`^\\d+\\|${owner}$`)], `both FSMs held by one worker, ${owner}`);
    const other = [...workerUrls.keys()].find((id) => id !== owner)!;

    // reconnects that reach the other worker (as through a balancer that knows nothing of channels)
    for (let n = 0; n < 2; n++) {
      for (const role of ROLES) {
        pair.clients[role].close();
        await pair.clients[role].closedAndDone();
        const outcome = await reestablishOnce({ channelUrl: workerUrls.get(other)! } as ServiceProcess, pair, role, 'json-rpc');
        t.ok('client' in outcome, `${role}: served at ${other}${'refusal' in outcome ? ` (refused: ${outcome.refusal})` : ''}`);
      }
      t.equal(await transfer(pair, n), ++round, `a transfer through ${other}: round ${round}`);
    }
    // and through the public port, naming only the channel (the primary hashes that): served wherever it lands
    for (const role of ROLES) {
      pair.clients[role].close();
      await pair.clients[role].closedAndDone();
      t.ok('client' in await reestablishOnce(w, pair, role, 'json-rpc'), `${role}: served through the public port`);
    }
    t.equal(await transfer(pair, 1), ++round, `round ${round}`);
    t.same(await Promise.all(ROLES.map((role) => leaseOf(pair, role))), leases, `${owner} still holds both leases, same tokens`);
    t.match(w.output(), new RegExp(`"message":"connection_forwarded".*"owner":"${owner}".*"reason":"relayed"`), `${other} relayed the clients to ${owner}`);
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test('the owner SIGKILLed while its clients are relayed: sockets close, refused until its leases run out, then served by a takeover', async (t) => {
    const pair = await openPair(a, accounts.slice(4, 6), 'json-rpc');
    await transfer(pair, 0);
    for (const role of ROLES) {
      pair.clients[role].close();
      await pair.clients[role].closedAndDone();
    }
    for (const [role, at] of [['responder', b], ['initiator', c]] as const) {
      t.ok('client' in await reestablishOnce(at, pair, role, 'json-rpc'), `${role}: relayed to A`);
    }
    const tokens = await Promise.all(ROLES.map(async (role) => Number((await leaseOf(pair, role))!.split('|')[0])));
    const relayed = { ...pair.clients };
    const traffic = stream(pair);
    while (pair.reported.initiator < 6) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 300)));
    await a.kill();
    aAlive = false;
    await traffic;
    for (const role of ROLES) {
      await relayed[role].closedAndDone();
      t.ok(relayed[role].closed, `${role}: its relayed socket closed when the owner died (${relayed[role].closed?.code})`);
    }

    const store = await RedisStore.connect(storage.redis);
    const stored = Object.fromEntries(await Promise.all(ROLES.map(async (role) => [role, (await store.load(pair.id as ChannelId, role))!.state.round] as const)));
    for (const role of ROLES) t.ok(stored[role]! >= pair.reported[role], `${role}: every round it was told of is stored (${pair.reported[role]} ≤ ${stored[role]})`);
    const expected = Math.max(stored.initiator!, stored.responder!);

    const refusals = await reestablishUntilServed(b, pair, 'responder', 'json-rpc');
    t.ok(refusals.length > 0, `refused ${refusals.length} times while A's lease ran`);
    t.match(refusals[0], /hosted by the service instance instance-a, and it (could not be reached|advertises no address)/, 'saying the owner cannot be reached');
    await reestablishUntilServed(b, pair, 'initiator', 'json-rpc');
    const [i, r] = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
    t.same([roundOf(i!.data.state), roundOf(r!.data.state)], [expected, expected], `both reestablished at B on round ${expected}`);
    t.equal(await transfer(pair, 0), expected + 1, 'the next transfer is exactly the next round');
    for (const [n, role] of ROLES.entries()) {
      const lease = (await leaseOf(pair, role))!;
      t.match(lease, /\|instance-b$/, `${role}: B holds the lease now`);
      t.ok(Number(lease.split('|')[0]) > tokens[n]!, `${role}: with a higher fencing token`);
      t.same((await store.history(pair.id as ChannelId, role)).map((s) => s.round), Array.from({ length: expected + 1 }, (_, k) => k + 1), `${role}: every round once`);
    }
    await store.close();
    for (const role of ROLES) pair.clients[role].close();
  });

  await t.test('the owner stopped gracefully (SIGTERM) while its clients are relayed: their sockets close as it closes them, and the next reestablish is served at once', async (t) => {
    const pair = await openPair(b, accounts.slice(10, 12), 'json-rpc');
    let round = await transfer(pair, 0);
    for (const role of ROLES) {
      pair.clients[role].close();
      await pair.clients[role].closedAndDone();
      t.ok('client' in await reestablishOnce(c, pair, role, 'json-rpc'), `${role}: relayed through C to B`);
    }
    round = await transfer(pair, 1);
    const relayed = { ...pair.clients };
    t.equal(await b.terminate(), 0, 'B stops gracefully');
    for (const role of ROLES) {
      await relayed[role].closedAndDone();
      t.same(relayed[role].closed, { code: 1001, reason: 'service stopping' }, `${role}: its socket through C closed as B closed it`);
    }
    // B let its leases go and withdrew its address: C takes the FSMs over at once, no refusal
    for (const role of ROLES) {
      const outcome = await reestablishOnce(c, pair, role, 'json-rpc');
      t.ok('client' in outcome, `${role}: served by C at once${'refusal' in outcome ? ` (refused: ${outcome.refusal})` : ''}`);
    }
    const restored = await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 20_000)));
    t.same(restored.map((m) => roundOf(m.data.state)), [round, round], `on round ${round}`);
    t.equal(await transfer(pair, 0), round + 1, 'and the next transfer is the next round');
    t.match(await leaseOf(pair, 'initiator'), /\|instance-c$/, 'C holds the leases now');
    for (const role of ROLES) pair.clients[role].close();
  });

  t.test('no fsm_id in any instance\'s log', async (t) => {
    for (const [name, service] of [['A', a], ['B', b], ['C', c]] as const) {
      t.notOk(fsmIdsSeen.some((id) => service.output().includes(id)), `${name} logged no fsm_id`);
    }
    t.end();
  });
});
