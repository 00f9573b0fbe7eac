/**
 * What a client is told and can look back on, over real WebSockets in both envelopes, as the node
 * has it: the `report_*` flags, `channels.history.fetch` with `log_keep`, `channels.debug` when an FSM
 * dies, and `channels.message` with `from` under `msg_forwarding`.
 */
import t from 'tap';
import { AccountMemory } from '../lib/sdk.js';
import { channelQuery, openChannel } from './helpers/channel.js';
import { TestClient, type Incoming, type Protocol } from './helpers/client.js';
import { startTestService, type TestService } from './helpers/service.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

let nextPort = 41_000 + Math.floor(Math.random() * 10_000);

/** The reason of an error frame, in either envelope. */
const reasonOf = (m: Incoming, protocol: Protocol) => (protocol === 'json-rpc' ? m.data.data[0] : m.data);

/** A refused connection: its error frame and close. */
async function refusedAt(query: Record<string, string | number | bigint>, protocol: Protocol) {
  const client = await TestClient.connect(service.channelUrl, query, protocol, null);
  const error = await client.nextMethod('error');
  await client.closedAndDone();
  return { error, closed: client.closed };
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: report_* flags leave reports out; answers and sign requests always come`, async (t) => {
    const [a, b] = await service.fundedAccounts(2);
    const query = channelQuery(a!, b!, nextPort++);
    const quiet = { report_info: 'false', report_update: 'false', report_on_chain_tx: 'false', report_leave: 'false' };
    const initiator = await TestClient.connect(service.channelUrl, { ...query, ...quiet, role: 'initiator', host: 'localhost' }, protocol, a!);
    const responder = await TestClient.connect(service.channelUrl, { ...query, report_message: 'false', role: 'responder' }, protocol, b!);
    await responder.nextMethod('channels.info', 'open');
    await responder.nextMethod('channels.update');

    initiator.send('channels.update.new', { from: a!.address, to: b!.address, amount: 10 });
    await responder.nextMethod('channels.update');
    // the initiator is not told of the update: it asks until nothing is being signed any more
    for (let id = 100; ; id++) {
      initiator.send('channels.get.offchain_state', {}, id);
      const state = await initiator.next((m) => m.frame.id === id);
      if (state.data.half_signed_tx === '') break;
    }
    initiator.send('channels.update.new', { from: a!.address, to: b!.address, amount: '10' });
    t.equal(reasonOf(await initiator.nextMethod('error'), protocol).code, 1008, 'a refused request is answered whatever the flags');
    initiator.send('channels.message', { to: b!.address, info: 'hello' });
    responder.send('channels.message', { to: a!.address, info: 'hi' });
    const said = await initiator.nextMethod('channels.message');
    t.equal(said.data.message.info, 'hi', 'report_message is on for the initiator');
    initiator.send('channels.leave');
    await responder.nextMethod('channels.leave');
    await initiator.closedAndDone();
    t.same(initiator.sequence().filter((m) => m !== 'result' && m !== 'channels.get.offchain_state'), ['channels.sign.initiator_sign', 'channels.sign.update', 'error', 'channels.message'],
      'no fsm_up, open, on_chain_tx, update, leave or died: only sign requests, the answer and the message');
    await responder.quiet(200);
    t.notOk(responder.sequence().includes('channels.message'), 'report_message=false: the responder is not told the message');
    t.ok(responder.sequence().includes('info:fsm_up'), 'the responder\'s own flags are the defaults');
    responder.close();
  });

  t.test(`${protocol}: channels.history.fetch lists the latest reports and peer messages, newest first`, async (t) => {
    const ch = await openChannel(service, protocol);
    ch.initiator.send('channels.history.fetch', {}, 1);
    const all = await ch.initiator.next((m) => m.method === 'result' || m.method === 'channels.history.fetch');
    const entries = all.data as Array<{ type: string; tag: string; time: string; info: any }>;
    t.equal(entries.length, 10, 'ten by default');
    t.match(entries[0], { type: 'report', tag: 'update', info: { state: ch.initiator.received.filter((m) => m.method === 'channels.update').at(-1)!.data.state } },
      'the newest first: the open state');
    t.match(entries[1], { type: 'report', tag: 'info', info: { event: 'open' } });
    t.ok(entries.every((e) => !Number.isNaN(Date.parse(e.time)) && e.time.endsWith('Z')), 'times in RFC 3339, UTC');
    t.ok(entries.some((e) => e.type === 'receive' && e.tag === 'funding_locked'), 'peer messages received');
    t.ok(entries.some((e) => e.type === 'send' && e.tag === 'funding_locked'), 'and sent');
    t.equal(new Set(entries.map((e) => e.time)).size > 0, true);

    ch.initiator.send('channels.history.fetch', { n: 2, type: ['rpt'], tag: ['info'] }, 2);
    const filtered = (await ch.initiator.next((m) => m.method === 'result' || m.method === 'channels.history.fetch')).data;
    t.same(filtered.map((e: any) => e.info.event), ['open', 'funding_locked'], 'the filters: n, type, tag');

    ch.initiator.send('channels.history.fetch', { tag: ['no_such_tag'] }, 3);
    const bad = await ch.initiator.nextMethod('error');
    t.match(reasonOf(bad, protocol), protocol === 'json-rpc' ? { code: -32602 } : { reason: 'invalid_params' });
    t.match(protocol === 'json-rpc' ? bad.data.data[0].detail : bad.data.detail, /tag/, 'the detail names the parameter');
    ch.initiator.send('channels.history.fetch', { n: 0 }, 4);
    t.match(protocol === 'json-rpc' ? (await ch.initiator.nextMethod('error')).data.data[0].detail : (await ch.initiator.nextMethod('error')).data.detail, /n/);
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: log_keep bounds what is kept; a bad one is refused naming it`, async (t) => {
    const ch = await openChannel(service, protocol, { extra: { log_keep: 2 } });
    ch.initiator.send('channels.history.fetch', { n: 100 }, 1);
    const kept = (await ch.initiator.next((m) => m.method === 'result' || m.method === 'channels.history.fetch')).data;
    t.ok(kept.length >= 2 && kept.length <= 4, `between log_keep and twice as many, as the node's window (${kept.length})`);
    t.match(kept[0], { type: 'report', tag: 'update' }, 'the newest are kept');
    ch.initiator.close(); ch.responder.close();

    const [a, b] = await service.fundedAccounts(2);
    for (const [value, detail] of [[-1, /log_keep must be 0 or more/], [1001, /log_keep must be at most 1000/], ['ten', /log_keep/]] as const) {
      const { error, closed } = await refusedAt({ ...channelQuery(a!, b!, nextPort++), role: 'responder', log_keep: value }, protocol);
      t.match(protocol === 'json-rpc' ? error.data.data[0].detail : error.data.detail, detail, `log_keep=${value} is refused`);
      t.equal(closed?.code, 1008);
    }
  });

  t.test(`${protocol}: report_debug sends the FSM's log when it dies, after died`, async (t) => {
    const ch = await openChannel(service, protocol, { extra: { report_debug: 'true' } });
    ch.initiator.send('channels.leave');
    await ch.initiator.nextMethod('channels.info', 'died');
    const debug = await ch.initiator.nextMethod('channels.debug');
    t.match(debug.data, { message: 'died', reason: 'leave' });
    t.match(debug.data.log[0], { type: 'report', tag: 'info', info: { event: 'died' } }, 'its log, newest first');
    t.ok(debug.data.log.some((e: any) => e.type === 'send' && e.tag === 'leave'), 'with the peer messages');
    await ch.initiator.closedAndDone();
    await ch.responder.quiet(200);
    t.notOk(ch.responder.sequence().includes('channels.debug'), 'off by default, as the node');
    ch.responder.close();
  });

  t.test(`${protocol}: channels.message with from, as msg_forwarding allows`, async (t) => {
    const other = AccountMemory.generate().address;
    const fwd = await openChannel(service, protocol, { extra: { msg_forwarding: 'true' } });
    const [i, r] = [fwd.initiatorAccount.address, fwd.responderAccount.address];
    fwd.initiator.send('channels.message', { from: other, to: r, info: 'forwarded' });
    t.same((await fwd.responder.nextMethod('channels.message')).data.message,
      { channel_id: fwd.channelId, from: other, to: r, info: 'forwarded' }, 'a message from someone else, forwarded');
    fwd.initiator.send('channels.message', { to: other, info: 'please forward' });
    t.same((await fwd.responder.nextMethod('channels.message')).data.message,
      { channel_id: fwd.channelId, from: i, to: other, info: 'please forward' }, 'a message for someone else, to forward');
    fwd.initiator.send('channels.message', { from: i, to: r, info: 'direct' });
    t.equal((await fwd.responder.nextMethod('channels.message')).data.message.info, 'direct', 'from: ourselves is a plain message');
    fwd.initiator.send('channels.message', { from: 'ak_broken', to: r, info: 'x' });
    t.match(reasonOf(await fwd.initiator.nextMethod('error'), protocol), { code: 1005 }, 'a from that is not an account id');
    fwd.initiator.close(); fwd.responder.close();

    const plain = await openChannel(service, protocol);
    const [pi, pr] = [plain.initiatorAccount.address, plain.responderAccount.address];
    plain.initiator.send('channels.message', { from: pr, to: pr, info: 'x' });
    const notFrom = await plain.initiator.nextMethod('error');
    t.match(reasonOf(notFrom, protocol), { code: 1011 });
    t.match(protocol === 'json-rpc' ? notFrom.data.data[0].detail : notFrom.data.detail, /from must be this participant.*msg_forwarding/);
    plain.initiator.send('channels.message', { to: other, info: 'x' });
    const notTo = await plain.initiator.nextMethod('error');
    t.match(protocol === 'json-rpc' ? notTo.data.data[0].detail : notTo.data.detail, /other participant.*msg_forwarding/);
    plain.initiator.send('channels.message', { from: pi, to: pr, info: 'mine' });
    t.equal((await plain.responder.nextMethod('channels.message')).data.message.info, 'mine');
    await plain.responder.quiet(200);
    t.equal(plain.responder.received.filter((m) => m.method === 'channels.message').length, 1, 'nothing refused reached the peer');
    // the channel goes on
    plain.initiator.send('channels.update.new', { from: pi, to: pr, amount: 1 });
    await Promise.all([plain.initiator.nextMethod('channels.update'), plain.responder.nextMethod('channels.update')]);
    plain.initiator.close(); plain.responder.close();
  });
}

t.test('a peer that forwards messages without the receiver allowing it is not heard', async (t) => {
  const [a, b] = await service.fundedAccounts(2);
  const query = channelQuery(a!, b!, nextPort++);
  const initiator = await TestClient.connect(service.channelUrl, { ...query, msg_forwarding: 'true', role: 'initiator', host: 'localhost' }, 'json-rpc', a!);
  const responder = await TestClient.connect(service.channelUrl, { ...query, role: 'responder' }, 'json-rpc', b!);
  await Promise.all([initiator.nextMethod('channels.info', 'open'), responder.nextMethod('channels.info', 'open')]);
  initiator.send('channels.message', { to: AccountMemory.generate().address, info: 'to forward' });
  initiator.send('channels.message', { from: AccountMemory.generate().address, to: b!.address, info: 'forwarded' });
  initiator.send('channels.message', { to: b!.address, info: 'direct' });
  const heard = await responder.nextMethod('channels.message');
  t.equal(heard.data.message.info, 'direct', 'the node drops the others at a receiver without msg_forwarding');
  await responder.quiet(200);
  t.equal(responder.received.filter((m) => m.method === 'channels.message').length, 1);
  initiator.close(); responder.close();
});
