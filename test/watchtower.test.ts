/**
 * The watchtower: a counterparty solo-closes on an old round while the victim's client is away, and
 * the service slashes on the victim's behalf with the latest co-signed state from Redis; also when the
 * close happened while the service itself was down. The chain here outlives the service: an
 * external dev chain the service reaches through its node HTTP API (NodeChain).
 */
import t, { type Test } from 'tap';
import { AccountMemory, buildTx, Tag, unpackEntry } from '../lib/sdk.js';
import { DevChain } from '../lib/chain/dev/dev-chain.js';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { externalChain } from './helpers/external-chain.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';
import { cosign, NETWORK_ID, unpackSignedTx } from './helpers/accounts.js';

const LOCK_PERIOD = 60;

async function transfer(ch: OpenedChannel, from: TestClient, fromAccount: string, to: string, amount: bigint) {
  from.send('channels.update.new', { from: fromAccount, to, amount });
  const [a] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  return a.data.state as string;
}

async function until<T>(check: () => Promise<T | null | undefined | false>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('the watchtower slashes for an offline victim, and tells it when it returns', async (t) => {
  const watchtower = AccountMemory.generate();
  const external = await externalChain(t, [watchtower.address as `ak_${string}`]);
  const config = testConfig({ chain: { nodeUrl: external.url, pollMs: 20 }, watchtower: { enabled: true, secretKey: watchtower.secretKey } });
  const service = await startTestService({}, config);
  t.teardown(async () => { await service.stop(); await service.cleanup(); });
  t.equal(service.watchtowerAddress, watchtower.address);

  const seen: Array<{ type: string; channel_id?: string | null }> = [];
  service.events.on((e) => seen.push(e));
  const ch = await openChannel(service, 'json-rpc', { extra: { lock_period: LOCK_PERIOD, watchtower: 'true' } });
  const onchain = await service.chain.channel(ch.channelId as any);
  t.same(onchain?.delegates, { initiator: [watchtower.address], responder: [watchtower.address] }, 'both named the watchtower');
  await runCheat(t, service, ch, { restartWhileClosing: false, external });
  // what an operator follows: the dispute and the slash, as events (logged, in the feed) and a metric
  t.ok(seen.some((e) => e.type === 'dispute_seen' && e.channel_id === ch.channelId), 'dispute_seen');
  t.ok(seen.some((e) => e.type === 'watchtower_slash' && e.channel_id === ch.channelId), 'watchtower_slash');
  t.match(await service.metrics.registry.getSingleMetricAsString('aesc_watchtower_actions_total'), /aesc_watchtower_actions_total\{action="slash",outcome="posted"\} [12]/);
});

t.test('a close while the service is down is answered when it comes back', async (t) => {
  const watchtower = AccountMemory.generate();
  const external = await externalChain(t, [watchtower.address as `ak_${string}`]);
  const config = testConfig({ chain: { nodeUrl: external.url, pollMs: 20 }, watchtower: { enabled: true, secretKey: watchtower.secretKey } });
  const service = await startTestService({}, config);
  const ch = await openChannel(service, 'json-rpc', { extra: { lock_period: LOCK_PERIOD, watchtower: 'true' } });
  const restarted = await runCheat(t, service, ch, { restartWhileClosing: true, external, config });
  t.teardown(async () => { await restarted.stop(); await restarted.cleanup(); });
});

async function runCheat(t: Test, service: TestService, ch: OpenedChannel,
  opts: { restartWhileClosing: boolean; external: { chain: DevChain; url: string }; config?: ReturnType<typeof testConfig> }): Promise<TestService> {
  const [cheater, victim] = [ch.initiatorAccount, ch.responderAccount];
  await transfer(ch, ch.initiator, cheater.address, victim.address, 10n ** 20n);
  const oldState = await transfer(ch, ch.responder, victim.address, cheater.address, 9n * 10n ** 19n);
  ch.initiator.send('channels.get.poi', { accounts: [cheater.address, victim.address] }, 1);
  const oldPoi = (await ch.initiator.next((m) => m.method === 'result')).data.poi;
  await transfer(ch, ch.initiator, cheater.address, victim.address, 5n * 10n ** 20n);
  const victimLatest = 10n ** 21n + 10n ** 20n - 9n * 10n ** 19n + 5n * 10n ** 20n;

  // the victim goes away (no leave: it just disconnects; its FSM waits for it)
  ch.responder.close();
  await ch.responder.closedAndDone();
  await until(async () => service.registry.find(ch.channelId as any, 'responder')?.attached === false, 'the victim\'s client to be gone');
  ch.initiator.close();

  let running = service;
  if (opts.restartWhileClosing) await service.stop();

  const closeSolo = await cosign(cheater, buildTx({
    tag: Tag.ChannelCloseSoloTx, channelId: ch.channelId as `ch_${string}`, fromId: cheater.address,
    payload: oldState as `tx_${string}`, poi: unpackEntry(oldPoi), ttl: 0, nonce: await opts.external.chain.nextNonce(cheater.address),
  } as Parameters<typeof buildTx>[0]));
  await opts.external.chain.postTx(closeSolo as `tx_${string}`);
  await until(async () => (await opts.external.chain.channel(ch.channelId as any))?.lockedUntil, 'the solo close to be mined');
  t.equal((await opts.external.chain.channel(ch.channelId as any))?.round, 3, 'the chain closes on the old round');

  if (opts.restartWhileClosing) running = await startTestService({}, opts.config!);

  const slashed = await until(async () => {
    const c = await opts.external.chain.channel(ch.channelId as any);
    return c && c.round === 4 ? c : null;
  }, 'the watchtower\'s slash');
  t.ok(slashed.lockedUntil > 0, 'the lock was reset by the slash');

  // the victim comes back: it hears what the watchtower did, and settles
  const back = await TestClient.connect(running.channelUrl, {
    role: 'responder', port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds.responder,
  }, 'json-rpc', victim);
  const report = await back.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'watchtower_slash');
  t.equal(unpackSignedTx(report.data.tx).encodedTx.tag, Tag.ChannelSlashTx);
  t.equal((unpackSignedTx(report.data.tx).encodedTx as unknown as { fromId: string }).fromId, running.watchtowerAddress, 'sent by the watchtower');
  t.ok(back.sequence().includes('info:closing'), 'the returning client sees the channel closing');

  const victimBefore = (await opts.external.chain.account(victim.address))!.balance;
  let settle: string;
  for (;;) {
    back.send('channels.settle');
    const reply = await back.next((m) => m.method === 'channels.sign.settle_sign' || m.method === 'error');
    if (reply.method !== 'error') { settle = reply.data.signed_tx; break; }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  back.reply('settle_sign', { signed_tx: await cosign(victim, settle) });
  await back.nextMethod('channels.info', 'closed_confirmed', 20_000);
  const fee = BigInt((unpackSignedTx(settle).encodedTx as unknown as { fee: string }).fee);
  t.equal((await opts.external.chain.account(victim.address))!.balance, victimBefore + victimLatest - fee,
    'the victim is paid its latest co-signed balance, to the aetto');
  back.close();
  return running;
}
