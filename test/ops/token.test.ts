/**
 * OPS_TOKEN: bound beyond loopback the ops listener refuses to start without one; with one, every
 * endpoint but /health, /ready and the dashboard's static files wants it (`Authorization: Bearer`, or
 * the feed's subprotocol `bearer.<token>`), and a wrong or missing one is refused with the reason.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { npmStart } from '../helpers/npm-start.js';
import { FeedReader, feedRefusal, getJson } from '../helpers/ops.js';
import { startTestService } from '../helpers/service.js';

const TOKEN = 'ops-token-for-tests-0123456789';

t.test('beyond loopback without a token, or with a bad one, the config is refused in one line', async (t) => {
  t.throws(() => loadConfig({ OPS_HOST: '0.0.0.0' }), new ConfigError(
    'OPS_TOKEN=<empty>: required when OPS_HOST=0.0.0.0 is not a loopback address; must be empty (only on a loopback OPS_HOST) or 16 to 256 of A-Z a-z 0-9 . _ ~ -',
  ));
  t.throws(() => loadConfig({ OPS_TOKEN: 'short' }), { message: /^OPS_TOKEN=<hidden>: must be / }, 'the value is never shown');
  t.throws(() => loadConfig({ OPS_PORT: '70000' }), { message: 'OPS_PORT=70000: must be an integer >= 0 and <= 65535' });
  t.throws(() => loadConfig({ OPS_CHAIN_STALL_MS: '5' }), { message: /^OPS_CHAIN_STALL_MS=5: must be an integer >= 1000/ });
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) t.doesNotThrow(() => loadConfig({ OPS_HOST: host }), `${host} needs none`);
  t.doesNotThrow(() => loadConfig({ OPS_HOST: '0.0.0.0', OPS_TOKEN: TOKEN }));
});

t.test('npm start with OPS_HOST=0.0.0.0 and no OPS_TOKEN does not start', async (t) => {
  const service = await npmStart({ OPS_HOST: '0.0.0.0' });
  t.teardown(() => service.kill());
  const exit = await service.exited;
  rmSync(service.dataDir, { recursive: true, force: true });
  t.equal(exit.code, 1);
  t.match(service.stderr(), /OPS_TOKEN=<empty>: required when OPS_HOST=0.0.0.0 is not a loopback address/);
});

t.test('with a token, the endpoints want it', async (t) => {
  const service = await startTestService({ ops: { token: TOKEN } });
  t.teardown(async () => { await service.stop(); await service.cleanup(); });
  const ops = service.opsUrl;
  const bearer = { authorization: `Bearer ${TOKEN}` };
  t.equal((await getJson(`${ops}/health`)).status, 200, 'health is for anyone');
  t.equal((await getJson(`${ops}/ready`)).status, 200, 'and readiness');
  t.equal((await fetch(`${ops}/`)).status, 200, 'the dashboard page holds no data');
  for (const path of ['/metrics', '/channels', '/channels/ch_2Uo1UoN5m4Hx7W6pjUVkHmsyC5X2BPY3TMNewVGRTQhS5cYr5Q']) {
    t.match(await getJson(`${ops}${path}`), { status: 401, body: { error: 'unauthorized', detail: /Bearer/ } }, `${path} without`);
    t.match(await getJson(`${ops}${path}`, { authorization: 'Bearer wrong-token-0123456789' }), { status: 401 }, `${path} with a wrong one`);
  }
  t.equal((await fetch(`${ops}/metrics`, { headers: bearer })).status, 200);
  t.equal((await getJson(`${ops}/channels`, bearer)).status, 200);
  t.match(await feedRefusal(ops, ''), { status: 401, body: { error: 'unauthorized' } });
  t.match(await feedRefusal(ops, '', { protocols: ['bearer.wrong-token-0123456789'] }), { status: 401 });
  const byHeader = await FeedReader.connect(ops, '', { headers: bearer });
  const byProtocol = await FeedReader.connect(ops, '', { protocols: [`bearer.${TOKEN}`] });
  t.pass('the feed takes the token in the header or as the subprotocol');
  byHeader.close(); byProtocol.close();
});
