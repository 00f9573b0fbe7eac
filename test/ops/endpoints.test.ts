/**
 * The ops listener as an operator uses it, against a running service with real clients: health,
 * metrics in Prometheus text, the channel listing and one channel, the event feed with its filters,
 * and one log line at info per lifecycle event. Every bad input gets a 4xx with its reason.
 */
import t from 'tap';
import { openChannel } from '../helpers/channel.js';
import { TestClient } from '../helpers/client.js';
import { FeedReader, feedRefusal, getJson, sample } from '../helpers/ops.js';
import { startTestService, testConfig } from '../helpers/service.js';

const lines: any[] = [];
const service = await startTestService({}, testConfig(), (line) => lines.push(JSON.parse(line)));
t.teardown(async () => { await service.stop(); await service.cleanup(); });
const ops = service.opsUrl;

t.test('/health answers while the process serves; /ready while store and chain do', async (t) => {
  t.same(await getJson(`${ops}/health`), { status: 200, body: { status: 'ok' } });
  const ready = await getJson(`${ops}/ready`);
  t.equal(ready.status, 200);
  t.equal(ready.body.ready, true);
  t.ok(ready.body.chain.height >= 0, 'with the chain height');
});

t.test('a channel\'s life in the metrics, the listing, the feed and the log', async (t) => {
  const feed = await FeedReader.connect(ops);
  const ch = await openChannel(service, 'json-rpc');
  const onlyThis = await FeedReader.connect(ops, `?channel_id=${ch.channelId}&type=update,channel_left,peer_disconnected`);
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  for (let n = 1; n <= 3; n++) {
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: n });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  }
  ch.initiator.send('channels.update.new', { from: i, to: r, amount: -1 });
  await ch.initiator.next((m) => m.method === 'error' || m.method === 'channels.error');

  const metrics = await (await fetch(`${ops}/metrics`)).text();
  t.equal(sample(metrics, 'aesc_offchain_updates_total', { kind: 'transfer', outcome: 'ok' }), 3, 'three transfers co-signed');
  t.equal(sample(metrics, 'aesc_offchain_updates_total', { kind: 'transfer', outcome: 'refused' }), 1, 'one refused');
  t.equal(sample(metrics, 'aesc_update_duration_seconds_count', { kind: 'transfer' }), 3);
  // each side's first round, then one write for both sides per transfer (both FSMs live here)
  t.equal(sample(metrics, 'aesc_store_write_duration_seconds_count', { kind: 'round' }), 5, 'both sides\' rounds written');
  t.equal(sample(metrics, 'aesc_channels', { state: 'open' }), 2, 'two FSMs open');
  t.equal(sample(metrics, 'aesc_client_connections'), 2);
  t.ok(sample(metrics, 'aesc_refusals_total', { reason: 'negative_amount' })! >= 1, 'refusal by reason');
  t.ok(sample(metrics, 'aesc_onchain_txs_total', { type: 'ChannelCreateTx', outcome: 'posted' })! >= 1, 'the create tx posted');
  t.ok(sample(metrics, 'aesc_chain_height')! >= 1);
  t.ok(sample(metrics, 'process_cpu_user_seconds_total')! > 0, 'and the default process metrics');
  t.match(metrics, /# TYPE aesc_watchtower_actions_total counter/);

  const list = await getJson(`${ops}/channels`);
  t.equal(list.status, 200);
  const listed = list.body.channels.find((c: any) => c.channel_id === ch.channelId);
  t.match(listed, {
    initiator_id: i, responder_id: r, round: 4,
    balances: { initiator: String(10n ** 21n - 6n), responder: String(10n ** 21n + 6n) },
    initiator: { state: 'open', connected: true, address: '127.0.0.1' }, responder: { state: 'open', connected: true },
  });
  t.ok(Date.parse(listed.last_activity) > Date.now() - 60_000, 'last activity');

  const one = await getJson(`${ops}/channels/${ch.channelId}`);
  t.equal(one.status, 200);
  t.match(one.body, { channel_id: ch.channelId, round: 4, last_cosigned: { round: 4, signed_tx: /^tx_/ }, pending: { offchain: null, onchain: null }, closed: false });
  t.notMatch(JSON.stringify(one.body), /fsm|ba_/, 'no fsm_id, no hash of it');

  await feed.waitFor((e) => e.type === 'connection_accepted' && e.role === 'responder' && e.address === '127.0.0.1');
  await feed.waitFor((e) => e.type === 'channel_opened' && e.channel_id === ch.channelId);
  await feed.waitFor((e) => e.type === 'info' && e.reason === 'fsm_up');
  t.notOk(feed.events.some((e) => JSON.stringify(e).includes(ch.fsmIds.initiator)), 'the feed never shows an fsm_id');
  await onlyThis.waitFor((e) => e.type === 'update' && e.round === 4);
  t.ok(onlyThis.events.every((e) => e.channel_id === ch.channelId && ['update', 'channel_left', 'peer_disconnected'].includes(e.type)), 'filtered by channel and type');

  ch.initiator.send('channels.leave', {});
  await onlyThis.waitFor((e) => e.type === 'channel_left');
  ch.responder.close();
  feed.close(); onlyThis.close();

  // one info line per lifecycle event, with channel, role and address where known
  const line = (message: string) => lines.find((l) => l.message === message && l.level === 'info');
  t.match(line('connection_accepted'), { address: '127.0.0.1', role: 'initiator' });
  t.match(line('channel_opened'), { channel_id: ch.channelId, role: 'initiator' });
  t.match(line('channel_left'), { channel_id: ch.channelId, reason: 'leave' });
});

t.test('a refused connection is a log line, a feed event and a metric, with its reason and address', async (t) => {
  const feed = await FeedReader.connect(ops, '?type=connection_refused');
  const client = await TestClient.connect(service.channelUrl, { role: 'initiator', port: 1 }, 'json-rpc', null);
  await client.closedAndDone();
  const event = await feed.waitFor(() => true);
  t.match(event, { type: 'connection_refused', reason: 'invalid_params', address: '127.0.0.1', detail: /./ });
  t.match(lines.find((l) => l.message === 'connection_refused'), { level: 'info', reason: 'invalid_params', address: '127.0.0.1' });
  t.ok(sample(await (await fetch(`${ops}/metrics`)).text(), 'aesc_refusals_total', { reason: 'invalid_params' })! >= 1);
  feed.close();
});

t.test('bad requests are refused with their reason', async (t) => {
  t.match(await getJson(`${ops}/channels?limit=0`), { status: 400, body: { error: 'invalid_params', detail: /limit="0": must be an integer >= 1 and <= 1000/ } });
  t.match(await getJson(`${ops}/channels?offset=-1`), { status: 400, body: { error: 'invalid_params', detail: /offset/ } });
  t.match(await getJson(`${ops}/channels?page=2`), { status: 400, body: { detail: /unknown parameter page/ } });
  t.match(await getJson(`${ops}/channels/nope`), { status: 400, body: { error: 'invalid_channel_id' } });
  t.match(await getJson(`${ops}/channels/ch_2Uo1UoN5m4Hx7W6pjUVkHmsyC5X2BPY3TMNewVGRTQhS5cYr5Q`), { status: 404, body: { error: 'channel_not_found' } });
  t.match(await getJson(`${ops}/nowhere`), { status: 404, body: { error: 'not_found' } });
  t.match(await fetch(`${ops}/metrics`, { method: 'POST' }), { status: 405 });
  t.match(await getJson(`${ops}/events`), { status: 426, body: { error: 'upgrade_required' } });
  t.match(await feedRefusal(ops, '?type=bogus'), { status: 400, body: { error: 'invalid_params', detail: /type "bogus" is not an event type/ } });
  t.match(await feedRefusal(ops, '?channel_id=ch_x'), { status: 400, body: { detail: /not a channel id/ } });
  t.match(await feedRefusal(ops, '?channel=1'), { status: 400, body: { detail: /unknown parameter channel/ } });
  t.match(await getJson(`${ops}/watchtower?limit=1001`), { status: 400, body: { error: 'invalid_params', detail: /limit="1001"/ } });
  t.match(await getJson(`${ops}/watchtower?instance=a`), { status: 400, body: { detail: /unknown parameter instance: \/watchtower takes offset and limit/ } });
});

t.test('/watchtower: the channels this instance\'s watchtower watches (alone: every one naming it)', async (t) => {
  const named = await openChannel(service, 'json-rpc', { extra: { watchtower: 'true' } });
  const unnamed = await openChannel(service, 'json-rpc');
  const answer = await until(async () => {
    const got = await getJson(`${ops}/watchtower`);
    return got.body.channels?.includes(named.channelId) ? got : null;
  });
  t.match(answer, { status: 200, body: { instance_id: null, instances: [], offset: 0, limit: 100 } });
  t.notOk(answer.body.channels.includes(unnamed.channelId), 'a channel that did not name it is not watched');
  t.equal(sample(await (await fetch(`${ops}/metrics`)).text(), 'aesc_watchtower_channels'), answer.body.total, 'the gauge counts them');
  for (const ch of [named, unnamed]) { ch.initiator.close(); ch.responder.close(); }
});

async function until<T>(check: () => Promise<T | null>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('paging walks every channel once', async (t) => {
  const second = await openChannel(service, 'legacy');
  const all = (await getJson(`${ops}/channels?limit=1000`)).body;
  t.ok(all.total >= 1);
  const seen: string[] = [];
  for (let offset = 0; offset < all.total; offset++) {
    const page = (await getJson(`${ops}/channels?offset=${offset}&limit=1`)).body;
    t.equal(page.channels.length, 1);
    seen.push(page.channels[0].channel_id);
  }
  t.same(seen, all.channels.map((c: any) => c.channel_id));
  t.ok(seen.includes(second.channelId));
  second.initiator.close(); second.responder.close();
});

t.test('a client that leaves before its channel exists is a disconnection, not an error', async (t) => {
  const { channelQuery } = await import('../helpers/channel.js');
  const [a, b] = await service.fundedAccounts(2);
  const from = lines.length;
  const client = await TestClient.connect(service.channelUrl, { ...channelQuery(a!, b!, 31_999), role: 'initiator', host: 'localhost' }, 'json-rpc', a!);
  await client.nextMethod('channels.info', 'fsm_up');
  client.close();
  const deadline = Date.now() + 5_000;
  while (!lines.slice(from).some((l) => l.message === 'channel_died') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const said = lines.slice(from);
  t.match(said.find((l) => l.message === 'client_disconnected'), { level: 'info', role: 'initiator', address: '127.0.0.1' });
  t.match(said.find((l) => l.message === 'channel_died'), { level: 'info', reason: 'client_disconnected' });
  t.notOk(said.some((l) => l.level === 'error'), 'no error line');
});
