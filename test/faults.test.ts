/**
 * Timers, limits and shutdown, over real sockets: a client that never signs, a peer that never
 * acknowledges, an idle channel, too many connections, and SIGTERM in the middle of traffic.
 */
import t from 'tap';
import { openChannel } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { startTestService, type TestService } from './helpers/service.js';
import { startServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';

let service: TestService;
t.before(async () => { service = await startTestService({ limits: { maxConnectionsPerAddress: 40 } }); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

const stored = async (channelId: string, role: 'initiator' | 'responder') => (await service.store.load(channelId as any, role))?.state.round;

t.test('a client that does not sign in time: conflict with code 3, back on the last round, channel usable', async (t) => {
  const ch = await openChannel(service, 'json-rpc', { extra: { timeout_sign: 300 } });
  ch.initiator.policy = () => 'ignore';
  ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 5 });
  const conflict = await ch.initiator.nextMethod('channels.conflict');
  t.equal(conflict.data.error_code, 3);
  t.equal(conflict.data.error_msg, 'timeout');
  t.equal(conflict.data.round, 1);

  // the acknowledger's client does not co-sign in time: both sides hear of it
  ch.initiator.policy = () => 'sign';
  ch.responder.policy = () => 'ignore';
  ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 5 });
  const [mine, theirs] = await Promise.all([ch.initiator.nextMethod('channels.conflict'), ch.responder.nextMethod('channels.conflict')]);
  t.equal(mine.data.error_code, 3);
  t.equal(theirs.data.error_code, 3);
  t.equal(await stored(ch.channelId, 'initiator'), 1);
  t.equal(await stored(ch.channelId, 'responder'), 1);

  ch.responder.policy = () => 'sign';
  ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 5 });
  await ch.responder.nextMethod('channels.update');
  t.equal(await stored(ch.channelId, 'responder'), 2, 'usable afterwards');
  ch.initiator.close(); ch.responder.close();
});

t.test('an idle channel times out and dies, except a keep_running responder', async (t) => {
  const ch = await openChannel(service, 'legacy', { extra: { timeout_idle: 400 } });
  await ch.initiator.nextMethod('channels.info', 'timeout');
  await ch.initiator.nextMethod('channels.info', 'died');
  await ch.initiator.closedAndDone();
  t.pass('the initiator timed out');
  await ch.responder.nextMethod('channels.info', 'peer_disconnected');
  await ch.responder.quiet(600);
  t.notOk(ch.responder.closed, 'the keep_running responder waits for its initiator');
  ch.responder.close();
});

t.test('a waiting initiator whose responder never comes times out', async (t) => {
  const [a, b] = await service.fundedAccounts(2);
  const { channelQuery } = await import('./helpers/channel.js');
  const lonely = await TestClient.connect(service.channelUrl, { ...channelQuery(a!, b!, 3990), role: 'initiator', host: 'localhost', timeout_initialized: 300 }, 'json-rpc', a!);
  await lonely.nextMethod('channels.info', 'timeout');
  await lonely.nextMethod('channels.info', 'died');
  await lonely.closedAndDone();
  t.pass();
});

t.test('too many connections from one address are refused, with a reason', async (t) => {
  const { channelQuery } = await import('./helpers/channel.js');
  const [a, b] = await service.fundedAccounts(2);
  const clients: TestClient[] = [];
  // responders waiting on ports of their own: each holds its connection open
  for (let i = 0; i < 45; i++) {
    clients.push(await TestClient.connect(service.channelUrl, { ...channelQuery(a!, b!, 5000 + i), role: 'responder' }, 'json-rpc', b!));
  }
  await Promise.all(clients.map((c) => c.quiet(50)));
  const refused = clients.filter((c) => c.received.some((m) => m.method === 'error' && m.data.data[0].code === 3007));
  t.equal(refused.length, 5, 'every connection past 40 is refused, and only those');
  for (const c of clients) c.close();
});

t.test('SIGTERM: the service stops accepting, lets writes finish, exits 0, and every reported round is stored', async (t) => {
  const proc = await startServiceProcess({ direct: true, built: true });
  const aeSdk = genesisSdk(proc.nodeUrl);
  const accounts = await fundFromGenesis(aeSdk, 2);
  const ch = await openChannel({ channelUrl: proc.channelUrl, fundedAccounts: async () => accounts } as unknown as TestService, 'json-rpc');
  // transfers keep flowing while the signal arrives
  let reported = 1;
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      ch.initiator.send('channels.update.new', { from: accounts[0]!.address, to: accounts[1]!.address, amount: 1 });
      const m = await ch.initiator.next((x) => x.method === 'channels.update' || x.method === 'channels.conflict', 5000).catch(() => null);
      if (!m) break;
      if (m.method === 'channels.update') reported = Number((await import('./helpers/accounts.js')).unpackSignedTx(m.data.state).encodedTx.round);
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const code = await proc.terminate();
  stop = true;
  await traffic;
  t.equal(code, 0, 'exit code 0');
  const { store, close } = await proc.storage.open();
  const round = (await store.load(ch.channelId as `ch_${string}`, 'initiator'))?.state.round ?? 0;
  await close();
  t.ok(reported > 1, `transfers went through (${reported})`);
  t.ok(round >= reported, `every round reported to the client is stored (stored ${round}, reported ${reported})`);
  await proc.stop();
});

t.test('a service at its channel limit refuses more, with a reason', async (t) => {
  const small = await startTestService({ limits: { maxChannels: 2 } });
  t.teardown(async () => { await small.stop(); await small.cleanup(); });
  const ch = await openChannel(small, 'json-rpc');
  const { channelQuery } = await import('./helpers/channel.js');
  const [a, b] = await small.fundedAccounts(2);
  const third = await TestClient.connect(small.channelUrl, { ...channelQuery(a!, b!, 3980), role: 'responder' }, 'json-rpc', b!);
  const e = await third.nextMethod('error');
  t.equal(e.data.data[0].code, 3006, 'service_full');
  await third.closedAndDone();
  ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
  await ch.responder.nextMethod('channels.update');
  t.pass('the channels it hosts go on');
  ch.initiator.close(); ch.responder.close();
});
