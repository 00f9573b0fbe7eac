/**
 * A cheating solo close across two services (test/helpers/two-services.ts), answered by the victim's
 * own service: the cheater posts a close on an old co-signed round straight to the chain; the
 * victim's service, which holds only the victim's FSM, sees it on chain (its chain watcher: the
 * client hears can_slash and slashes itself), or, with the victim's client away, slashes on its own
 * (its watchtower, named as the victim's delegate in the create tx, which across services means the
 * delegates travel with channel_open and channel_accept). Then settle; the payouts on chain are the
 * latest co-signed balances to the aetto.
 */
import t from 'tap';
import { AccountMemory, buildTx, Tag, unpackEntry } from '../lib/sdk.js';
import { channelQuery } from './helpers/channel.js';
import { TestClient, type Protocol } from './helpers/client.js';
import { cosign, unpackSignedTx } from './helpers/accounts.js';
import { ACROSS_AMOUNTS as AMOUNTS, openAcross as openAcrossOn, PROXY_HOST, signRequestFor, twoServices, type Across, type TwoServices } from './helpers/two-services.js';
import type { AccountId, ChannelId } from '../fsm/types.js';

// blocks come every 50 ms: long enough for a service polling the chain to slash in time
const LOCK_PERIOD = 60;
const feeOf = (signedTx: string) => BigInt((unpackSignedTx(signedTx).encodedTx as unknown as { fee: string }).fee);

type Role = 'initiator' | 'responder';
const ROLES = ['initiator', 'responder'] as const;
const other = (role: Role): Role => (role === 'initiator' ? 'responder' : 'initiator');

/** Each service's own watchtower key, funded at genesis so it can pay a slash's fee. */
const towers = { a: AccountMemory.generate(), b: AccountMemory.generate() };
const s0 = twoServices(t, { CHAIN_POLL_MS: '50' }, {
  a: { WATCHTOWER: 'true', WATCHTOWER_SECRET_KEY: towers.a.secretKey },
  b: { WATCHTOWER: 'true', WATCHTOWER_SECRET_KEY: towers.b.secretKey },
}, [towers.a.address, towers.b.address]);
let s: TwoServices;
t.before(async () => { s = await s0; });

const openAcross = (protocol: Protocol, extra: Partial<Record<Role, Record<string, string>>> = {}) =>
  openAcrossOn(s, protocol, { query: { lock_period: LOCK_PERIOD }, extra });


async function transfer(ch: Across, from: Role, amount: bigint): Promise<string> {
  for (const role of ROLES) ch.clients[role].mark();
  ch.clients[from].send('channels.update.new', { from: ch.address(from), to: ch.address(other(from)), amount });
  const [a, b] = await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.update')));
  if (a!.data.state !== b!.data.state) throw new Error('the two services disagree on the new state');
  return a!.data.state;
}

/**
 * Three rounds after the create: the cheater is better off on round 3 than on round 4, the latest.
 * Returns round 3's state and its PoI (what the cheater closes on) and the latest balances.
 */
async function cheatableHistory(ch: Across, cheater: Role) {
  const victim = other(cheater);
  await transfer(ch, cheater, 10n ** 17n);
  const oldState = await transfer(ch, victim, 9n * 10n ** 16n);
  const c = ch.clients[cheater];
  c.send('channels.get.poi', { accounts: [ch.address('initiator'), ch.address('responder')] }, 3);
  const oldPoi = (await c.next((m) => m.method === 'result' || m.method === 'channels.get.poi')).data.poi as `pi_${string}`;
  await transfer(ch, cheater, 5n * 10n ** 17n + 7n);
  const cheaterLatest = AMOUNTS.initiatorAmount - 10n ** 17n + 9n * 10n ** 16n - (5n * 10n ** 17n + 7n);
  return { oldState, oldPoi, latest: { [cheater]: cheaterLatest, [victim]: 2n * 10n ** 18n - cheaterLatest } as Record<Role, bigint> };
}

/** The cheater's close on the old round, posted straight to the chain as a cheater would (its service is not asked). */
async function closeOnOldRound(ch: Across, cheater: Role, oldState: string, oldPoi: `pi_${string}`): Promise<string> {
  const account = ch.accounts[cheater];
  const closeSolo = await cosign(account, buildTx({
    tag: Tag.ChannelCloseSoloTx, channelId: ch.channelId, fromId: account.address,
    payload: oldState as `tx_${string}`, poi: unpackEntry(oldPoi), ttl: 0, nonce: await s.chain.nextNonce(account.address as AccountId),
  } as Parameters<typeof buildTx>[0]));
  await s.chain.postTx(closeSolo as `tx_${string}`);
  return closeSolo;
}

async function until<T>(check: () => Promise<T | null | undefined | false>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// the victim on A (cheater on B) in one envelope, on B (cheater on A) in the other: each service's chain watcher
for (const [protocol, cheater] of [['json-rpc', 'initiator'], ['legacy', 'responder']] as const) {
  const victim = other(cheater);
  t.test(`${protocol}: the ${cheater} closes on an old round; the ${victim}'s service (${victim === 'responder' ? 'A' : 'B'}) sees it, its client slashes with the latest and settles`, async (t) => {
    const ch = await openAcross(protocol);
    const { oldState, oldPoi, latest } = await cheatableHistory(ch, cheater);
    const before = { [cheater]: (await s.chain.account(ch.address(cheater)))!.balance, [victim]: (await s.chain.account(ch.address(victim)))!.balance } as Record<Role, bigint>;
    for (const role of ROLES) ch.clients[role].mark();
    const closeSolo = await closeOnOldRound(ch, cheater, oldState, oldPoi);

    const v = ch.clients[victim];
    const canSlash = await v.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'can_slash', 20_000);
    t.equal(canSlash.data.tx, v.received.filter((m) => m.method === 'channels.update').at(-1)!.data.state, 'the victim\'s service offers its latest co-signed state');
    await v.nextMethod('channels.info', 'closing');
    const slash = await signRequestFor(v, 'channels.slash');
    t.equal(unpackSignedTx(slash).encodedTx.tag, Tag.ChannelSlashTx);
    v.reply('slash_tx', { signed_tx: await cosign(ch.accounts[victim], slash) });
    await until(async () => (await s.chain.channel(ch.channelId))?.round === 4, 'the slash to be mined');
    t.pass('the chain now closes on the latest round, 4');
    // the cheater's service, on the other side of the link, follows the dispute on its own: its close
    // on round 3 was older than its own latest (can_slash, as the node says to either side), the
    // slash's round 4 is not (solo_closing; a node's HTTP API does not say which tx did it)
    const c = ch.clients[cheater];
    await c.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'can_slash', 20_000);
    await c.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'solo_closing', 20_000);
    t.pass('the cheater\'s service saw its close, then the slash');

    const settle = await signRequestFor(v, 'channels.settle');
    t.equal(unpackSignedTx(settle).encodedTx.tag, Tag.ChannelSettleTx);
    v.reply('settle_sign', { signed_tx: await cosign(ch.accounts[victim], settle) });
    await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.info', 'closed_confirmed', 20_000)));
    await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.info', 'died', 20_000)));
    t.equal(await s.chain.channel(ch.channelId), null, 'settled: the channel object is gone');
    t.equal((await s.chain.account(ch.address(victim)))!.balance, before[victim] + latest[victim] - feeOf(slash) - feeOf(settle),
      'the victim is paid its latest co-signed balance, to the aetto');
    t.equal((await s.chain.account(ch.address(cheater)))!.balance, before[cheater] + latest[cheater] - feeOf(closeSolo),
      'the cheater gets only its latest balance');
  });
}

for (const [protocol, cheater] of [['json-rpc', 'initiator'], ['legacy', 'responder']] as const) {
  const victim = other(cheater);
  const [victimService, tower] = victim === 'responder' ? ['A', towers.a] : ['B', towers.b];
  t.test(`${protocol}, delegates across: each participant names its own service's watchtower; the ${victim}'s client is away when the ${cheater} closes on an old round, and its service (${victimService}) slashes on its own`, async (t) => {
    const ch = await openAcross(protocol, { initiator: { watchtower: 'true' }, responder: { watchtower: 'true' } });
    const onchain = await s.chain.channel(ch.channelId);
    t.same(onchain?.delegates, { initiator: [towers.b.address], responder: [towers.a.address] }, 'the create tx names each side\'s own watchtower');
    const { oldState, oldPoi, latest } = await cheatableHistory(ch, cheater);

    // the victim's client goes away (no leave): its FSM waits for it
    ch.clients[victim].close();
    await ch.clients[victim].closedAndDone();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = (await s.chain.account(ch.address(victim)))!.balance;
    const towerBefore = (await s.chain.account(tower.address as AccountId))!.balance;
    await closeOnOldRound(ch, cheater, oldState, oldPoi);
    const slashed = await until(async () => {
      const c = await s.chain.channel(ch.channelId);
      return c && c.round === 4 ? c : null;
    }, 'the victim\'s watchtower to slash');
    t.ok(slashed.lockedUntil > 0, 'slashed with the latest round: the lock starts again');
    t.ok((await s.chain.account(tower.address as AccountId))!.balance < towerBefore, `${victimService}'s watchtower paid the slash`);

    // the victim comes back to its service: told what its watchtower did, it settles
    const back = await TestClient.connect(ch.url(victim), {
      role: victim, port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds[victim], ...(victim === 'initiator' && { host: PROXY_HOST }),
    }, protocol, ch.accounts[victim]);
    const report = await back.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'watchtower_slash', 20_000);
    t.equal((unpackSignedTx(report.data.tx).encodedTx as unknown as { fromId: string }).fromId, tower.address, 'sent by the victim\'s own watchtower');
    const settle = await signRequestFor(back, 'channels.settle');
    back.reply('settle_sign', { signed_tx: await cosign(ch.accounts[victim], settle) });
    await back.nextMethod('channels.info', 'closed_confirmed', 20_000);
    t.equal(await s.chain.channel(ch.channelId), null, 'settled');
    t.equal((await s.chain.account(ch.address(victim)))!.balance, before + latest[victim] - feeOf(settle), 'the victim is paid its latest co-signed balance, to the aetto');
    back.close();
    ch.clients[cheater].close();
  });
}
