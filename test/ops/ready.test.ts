/**
 * /ready as a load balancer sees it: 200 while the store answers and the chain advances, 503 with the
 * reason otherwise, and 200 again once they are back. Tested by stopping a real redis-server and a
 * real (external) dev chain under a running service; /health stays 200 throughout.
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { DevChain } from '../../lib/chain/dev/dev-chain.js';
import { createNodeHttpApi } from '../../lib/chain/dev/node-http-api.js';
import { silentLogger } from '../../lib/log.js';
import { NETWORK_ID } from '../helpers/accounts.js';
import { getJson } from '../helpers/ops.js';
import { freePort } from '../helpers/free-port.js';
import { startTestService, testConfig } from '../helpers/service.js';
import { testStorage } from '../helpers/storage.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/** A redis-server on a port of the test's choosing, so that it can come back where it was. */
async function redisOn(port: number): Promise<ChildProcess & { stop(): Promise<void> }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Object.assign(child, {
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  });
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test('Redis stops: not ready, with the store named; back: ready again', { skip: !hasRedisServer && 'no redis-server here' }, async (t) => {
  const port = await freePort();
  let redis = await redisOn(port);
  const lines: any[] = [];
  const service = await startTestService({}, testConfig({ watchtower: { enabled: false } }, testStorage('redis', `redis://127.0.0.1:${port}`)), (l) => lines.push(JSON.parse(l)));
  t.teardown(async () => { await service.stop(); await redis.stop(); });
  t.equal((await getJson(`${service.opsUrl}/ready`)).status, 200);

  await redis.stop();
  const down = await until(() => getJson(`${service.opsUrl}/ready`), (r) => r.status === 503);
  t.equal(down.status, 503);
  t.match(down.body, { ready: false, store: { ok: false, reason: /^store_unavailable: / }, chain: { ok: true } });
  t.equal((await getJson(`${service.opsUrl}/health`)).status, 200, 'alive all the same');
  t.match(lines.find((l) => l.message === 'store_trouble'), { reason: 'store_unavailable' }, 'the trouble is logged when it begins');

  redis = await redisOn(port);
  const up = await until(() => getJson(`${service.opsUrl}/ready`), (r) => r.status === 200);
  t.equal(up.status, 200, 'ready again once Redis is back');
  t.ok(lines.some((l) => l.message === 'store_recovered'), 'and the recovery is logged');
});

t.test('the chain stops answering, or stops advancing: not ready, with the chain named', async (t) => {
  const chain = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 50, genesisBalance: 10n ** 30n });
  const api = createNodeHttpApi(chain, silentLogger());
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const port = (api.address() as AddressInfo).port;
  const service = await startTestService({}, testConfig({
    watchtower: { enabled: false }, chain: { nodeUrl: `http://127.0.0.1:${port}`, pollMs: 50 }, ops: { chainStallMs: 1000 },
  }));
  t.teardown(async () => { await service.stop(); await service.cleanup(); await chain.close(); api.close(); api.closeAllConnections(); });
  t.equal((await getJson(`${service.opsUrl}/ready`)).status, 200, 'ready while blocks come');

  // blocks stop: the node still answers, the height stands still
  await chain.close();
  const stalled = await until(() => getJson(`${service.opsUrl}/ready`), (r) => r.status === 503);
  t.match(stalled.body, { ready: false, store: { ok: true }, chain: { ok: false, reason: /^chain_stalled: height \d+ for \d+ s \(OPS_CHAIN_STALL_MS=1000\)/ } });

  // the node goes away
  api.close(); api.closeAllConnections();
  const gone = await until(() => getJson(`${service.opsUrl}/ready`), (r) => /chain_unavailable/.test(r.body.chain.reason ?? ''));
  t.match(gone, { status: 503, body: { chain: { ok: false, reason: /^chain_unavailable: / } } });
  t.equal((await getJson(`${service.opsUrl}/health`)).status, 200);
});
