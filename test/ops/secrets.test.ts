/**
 * Secrets never reach a log or the feed, at any level: a whole channel life (open, transfers, a
 * dropped socket taken over again, leave and reestablish, a bad fsm_id, the ops endpoints) run by
 * `npm start` at LOG_LEVEL=debug on a Redis with a password, a configured watchtower key and an
 * OPS_TOKEN; then its whole output and everything the feed said are searched for each secret.
 * Every stdout line is JSON, the signal's and the start-up's included.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { AccountMemory } from '../../lib/sdk.js';
import { openChannel } from '../helpers/channel.js';
import { TestClient } from '../helpers/client.js';
import { freePort } from '../helpers/free-port.js';
import { FeedReader } from '../helpers/ops.js';
import { startServiceProcess } from '../helpers/process-service.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { fundFromGenesis, genesisSdk, type TestService } from '../helpers/service.js';
import { testStorage } from '../helpers/storage.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const PASSWORD = 'redis-secret-pw-5f1c2e9a';
const TOKEN = 'ops-secret-token-8d3b7a61c0';

t.test('a full debug-level run says no secret', { skip: !hasRedisServer && 'no redis-server here' }, async (t) => {
  const redis = await startRedisServer(['--requirepass', PASSWORD], { password: PASSWORD });
  const watchtowerKey = AccountMemory.generate().secretKey;
  const opsPort = await freePort();
  const storage = testStorage('redis', `redis://:${PASSWORD}@127.0.0.1:${redis.port}`);
  const proc = await startServiceProcess({
    storage, env: { LOG_LEVEL: 'debug', WATCHTOWER_SECRET_KEY: watchtowerKey, OPS_TOKEN: TOKEN, OPS_PORT: String(opsPort) },
  });
  t.teardown(async () => { await proc.stop(); await redis.stop(); });
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const feed = await FeedReader.connect(opsUrl, '', { headers: auth });

  const sdk = genesisSdk(proc.nodeUrl);
  const service = {
    channelUrl: proc.channelUrl,
    fundedAccounts: (count: number) => fundFromGenesis(sdk, count),
  } as unknown as TestService;
  const ch = await openChannel(service, 'json-rpc', { extra: { watchtower: 'true' } });
  const fsmIds = [ch.fsmIds.initiator, ch.fsmIds.responder];
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  const transfer = async (a: TestClient, b: TestClient) => {
    a.send('channels.update.new', { from: i, to: r, amount: 1 });
    await Promise.all([a.nextMethod('channels.update'), b.nextMethod('channels.update')]);
  };
  await transfer(ch.initiator, ch.responder);

  const back = (fsmId: string) => TestClient.connect(proc.channelUrl, {
    role: 'initiator', host: 'localhost', port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: fsmId,
  }, 'json-rpc', ch.initiatorAccount);
  // the socket drops and a new one takes the FSM over with the fsm_id
  ch.initiator.close();
  await ch.initiator.closedAndDone();
  await new Promise((resolve) => setTimeout(resolve, 200));
  let initiator = await back(ch.fsmIds.initiator);
  await initiator.nextMethod('channels.info', 'fsm_up');
  await transfer(initiator, ch.responder);
  // a wrong fsm_id is refused
  initiator.close();
  await initiator.closedAndDone();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const wrong = await back('ba_' + 'x'.repeat(40));
  await wrong.closedAndDone();
  // leave, and reestablish: a new fsm_id
  initiator = await back(ch.fsmIds.initiator);
  await initiator.nextMethod('channels.info', 'fsm_up');
  initiator.send('channels.leave', {});
  await initiator.nextMethod('channels.leave');
  await initiator.closedAndDone();
  initiator = await back(ch.fsmIds.initiator);
  const up = await initiator.nextMethod('channels.info', 'fsm_up');
  fsmIds.push(up.data.fsm_id);
  await initiator.nextMethod('channels.info', 'channel_reestablished').catch(() => undefined);
  await transfer(initiator, ch.responder);

  for (const path of ['/metrics', '/channels', `/channels/${ch.channelId}`, '/ready']) {
    t.equal((await fetch(`${opsUrl}${path}`, { headers: auth })).status, 200, path);
  }
  await fetch(`${opsUrl}/metrics`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
  initiator.close(); ch.responder.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(await proc.terminate(), 0, 'stopped by SIGTERM');
  feed.close();

  const output = proc.output();
  const said = output + JSON.stringify(feed.events);
  t.ok(output.includes('"level":"debug"'), 'it ran at debug level');
  t.ok(output.includes('"message":"frame out"'), 'and logged frames');
  t.ok(feed.events.length > 20, `the feed said ${feed.events.length} things`);
  const secrets: Array<[string, string]> = [
    ...fsmIds.map((id, n): [string, string] => [`fsm_id ${n}`, id]),
    ['WATCHTOWER_SECRET_KEY', watchtowerKey], ['its seed alone', watchtowerKey.slice(3, 30)],
    ['OPS_TOKEN', TOKEN], ['the Redis password', PASSWORD],
  ];
  for (const [name, secret] of secrets) t.notOk(said.includes(secret), `no ${name} anywhere`);

  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const notJson = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
  // npm's own banner (`> aesc-service@… start`, `> exec node …`) is npm's, not the service's
  t.same(notJson.filter((l) => !/^> |^$/.test(l.trim())), [], 'every line the service printed is JSON');
  const messages = lines.flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
  for (const message of ['service started', 'connection_accepted', 'connection_refused', 'channel_opened', 'client_disconnected', 'channel_left', 'channel_reestablished', 'SIGTERM: stopping', 'service stopped']) {
    t.ok(messages.some((m) => m.message === message), `logged: ${message}`);
  }
});
