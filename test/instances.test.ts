/**
 * Two instances of one service on one Redis (the same key prefix), as two machines would be: two
 * services in this process, each following one dev chain served here (CHAIN_NODE_URL). A responder
 * waits on instance X, its initiator comes to instance Y naming this service (`host=localhost`): Y
 * finds the responder in the store's pairing directory and dials X's internal peer port. The channel
 * opens, transfers, and survives the responder's client reestablishing at Y (then both FSMs are on Y:
 * paired in-process). A responder whose instance stopped is no longer found.
 */
import t from 'tap';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { externalChain } from './helpers/external-chain.js';
import { fundFromGenesis, genesisSdk, startTestService, type TestService } from './helpers/service.js';
import { testStorage } from './helpers/storage.js';
import { RedisPairingDirectory } from '../lib/store/pairing-directory.js';
import type { ChannelId } from '../fsm/types.js';

const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
let nextPort = 45_000 + Math.floor(Math.random() * 10_000);

t.test('a responder on one instance, its initiator on another: found through the store, linked, reestablished', async (t) => {
  const { url } = await externalChain(t);
  const storage = testStorage('redis');
  t.teardown(() => storage.cleanup());
  const peer = { redialDelayMs: 200, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 };
  const start = async () => startTestService({ chain: { nodeUrl: url }, redis: storage.redis, peer });
  const instances: TestService[] = [];
  const x = await start();
  instances.push(x);
  const y = await start();
  instances.push(y);
  t.teardown(() => Promise.all(instances.map((s) => s.stop().catch(() => undefined))));

  const [initiatorAccount, responderAccount] = await fundFromGenesis(genesisSdk(url), 2, 10n ** 20n);
  const port = nextPort++;
  const query = channelQuery(initiatorAccount!, responderAccount!, port, AMOUNTS);
  const responder = await TestClient.connect(x.channelUrl, { ...query, role: 'responder' }, 'json-rpc', responderAccount!);
  const rUp = await responder.nextMethod('channels.info', 'fsm_up');
  const initiator = await TestClient.connect(y.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', initiatorAccount!);
  const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open', 30_000), responder.nextMethod('channels.info', 'open', 30_000)]);
  await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  const channelId = iOpen.frame.params.channel_id as ChannelId;
  t.ok(x.registry.find(channelId, 'responder') && !x.registry.find(channelId, 'initiator'), 'the responder FSM on X');
  t.ok(y.registry.find(channelId, 'initiator') && !y.registry.find(channelId, 'responder'), 'the initiator FSM on Y');

  const [i, r] = [initiatorAccount!.address, responderAccount!.address];
  initiator.send('channels.update.new', { from: i, to: r, amount: 5 });
  const [a, b] = await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  t.equal(a.data.state, b.data.state, 'a transfer co-signed across the instances');

  // X stops: the initiator on Y hears its peer went; the responder's client reestablishes at Y
  initiator.mark();
  await x.stop();
  instances.shift();
  await initiator.nextMethod('channels.info', 'peer_disconnected', 30_000);
  const back = await TestClient.connect(y.channelUrl, {
    role: 'responder', port, existing_channel_id: channelId, existing_fsm_id: rUp.data.fsm_id,
  }, 'json-rpc', responderAccount!);
  await Promise.all([back.nextMethod('channels.update', undefined, 30_000), initiator.nextMethod('channels.update', undefined, 30_000)]);
  t.ok(y.registry.find(channelId, 'responder'), 'both FSMs on Y now');
  initiator.send('channels.update.new', { from: i, to: r, amount: 1 });
  const [c, d] = await Promise.all([initiator.nextMethod('channels.update'), back.nextMethod('channels.update')]);
  t.equal(c.data.state, d.data.state, 'and the channel goes on in-process');

  // nothing of X is left in the directory: its entries went with its responders
  const directory = await RedisPairingDirectory.connect(storage.redis);
  t.teardown(() => directory.close());
  t.same(await directory.lookup(`${port}|${r}|new`), [], 'no entry for the opened channel');
  t.same(await directory.lookup(`channel|${channelId}`), [], 'none for its reestablish either');
  initiator.close(); back.close();
});
