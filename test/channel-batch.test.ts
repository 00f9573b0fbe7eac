/**
 * JSON-RPC batches over real WebSockets: an array of requests in one frame, handled in order, their
 * answers in one array frame as the node sends them; the legacy envelope has no batches.
 */
import t from 'tap';
import { openChannel } from './helpers/channel.js';
import { cosign } from './helpers/accounts.js';
import { startTestService, type TestService } from './helpers/service.js';
import { stringifyJson } from '../lib/json.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

const rpc = (method: string, params: Record<string, unknown>, id?: number) => ({ jsonrpc: '2.0', method, params, ...(id !== undefined && { id }) });

t.test('json-rpc: a batch is handled in order and answered in one array frame; what the FSM says follows it', async (t) => {
  const ch = await openChannel(service, 'json-rpc');
  const from = ch.initiatorAccount.address;
  const to = ch.responderAccount.address;
  ch.initiator.policy = () => 'ignore'; // the sign request is answered below, to see where it comes
  const before = ch.initiator.mark();
  ch.initiator.sendRaw(stringifyJson([
    rpc('channels.get.balances', { accounts: [from] }, 1),
    rpc('channels.update.new', { from, to, amount: 10 }, 2),
    rpc('channels.no_such_method', {}, 3),
    rpc('channels.system', { action: 'ping' }, 4),
    { jsonrpc: '1.0', method: 'channels.leave', id: 5 },
    rpc('channels.update.new', { from, to, amount: 'ten' }), // no id: its error still answers it
  ]));
  const batch = await ch.initiator.nextMethod('batch');
  const answers = batch.data as Array<{ method: string; data: any; frame: any }>;
  t.same(answers.map((a) => a.frame.id), [1, 2, 3, 4, null, null], 'one answer per request, in order');
  t.same(answers.map((a) => a.method), ['result', 'result', 'error', 'result', 'error', 'error']);
  t.equal(BigInt(answers[0]!.data[0].balance), 10n ** 21n, 'the query is answered');
  t.equal(answers[1]!.data, 'ok', 'the update is under way');
  t.equal(answers[2]!.data.code, -32601, 'an unknown method');
  t.same(answers[3]!.data, { action: 'system', tag: 'pong' });
  t.equal(answers[4]!.data.code, -32000, 'a member that is not a request');
  t.equal(answers[5]!.data.data[0].code, 1008, 'a string amount');
  t.equal(ch.initiator.received.indexOf(batch), before, 'nothing came before the answers');

  const sign = await ch.initiator.nextMethod('channels.sign.update');
  t.ok(ch.initiator.received.indexOf(sign) > ch.initiator.received.indexOf(batch), 'the sign request follows the answers');
  ch.initiator.reply('update', { signed_tx: await cosign(ch.initiatorAccount, sign.data.signed_tx) });
  await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  t.equal((await service.store.load(ch.channelId as any, 'initiator'))?.state.round, 2, 'the one good transfer of the batch happened, once');

  // a batch of one is answered with an object, as the node does
  ch.initiator.sendRaw(stringifyJson([rpc('channels.system', { action: 'ping' }, 9)]));
  const single = await ch.initiator.next((m) => m.method !== 'batch' && m.frame?.id === 9);
  t.same(single.data, { action: 'system', tag: 'pong' });

  // pings without an id: their pong notifications are their answers, together as the node sends them
  ch.initiator.sendRaw(stringifyJson([rpc('channels.system', { action: 'ping' }), rpc('channels.system', { action: 'ping' })]));
  const pongs = await ch.initiator.nextMethod('batch');
  t.same(pongs.data.map((a: { method: string }) => a.method), ['channels.system.pong', 'channels.system.pong']);

  // queries with ids: their results, in order
  ch.initiator.sendRaw(stringifyJson([rpc('channels.get.offchain_state', {}, 20), rpc('channels.system', { action: 'ping' }, 21)]));
  t.same((await ch.initiator.nextMethod('batch')).data.map((a: { frame: { id: number } }) => a.frame.id), [20, 21]);

  // an empty batch is an invalid request
  ch.initiator.sendRaw('[]');
  const empty = await ch.initiator.nextMethod('error');
  t.equal(empty.data.code, -32000);
  t.equal(empty.frame.id, null);
  t.notOk(ch.initiator.closed, 'the channel stays usable');
  ch.initiator.close(); ch.responder.close();
});

t.test('legacy: an array is not a request (the legacy envelope has no batches)', async (t) => {
  const ch = await openChannel(service, 'legacy');
  ch.initiator.sendRaw(stringifyJson([{ action: 'system', tag: 'ping', payload: {} }]));
  const e = await ch.initiator.nextMethod('error');
  t.equal(e.data.reason, 'invalid_request');
  ch.initiator.send('channels.system', { action: 'ping' });
  await ch.initiator.nextMethod('channels.system.pong');
  t.pass('the channel stays usable');
  ch.initiator.close(); ch.responder.close();
});
