/**
 * Redis going away and coming back, with a redis-server this test starts, stops and restarts on its
 * own port: while it is down the service acknowledges no round (the update fails as a conflict with a
 * clear reason), keeps serving what needs no store, and recovers by itself when Redis is back.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChannel } from './helpers/channel.js';
import { freePort } from './helpers/free-port.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';
import { testStorage } from './helpers/storage.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

async function redisServer(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG';
    if (up) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('redis-server did not start');
}

async function stopRedis(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

t.test('Redis down: no round is acknowledged, the service keeps serving, and it recovers by itself', { skip: !hasRedisServer && 'no redis-server here' }, async (t) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aesc-redis-'));
  let redis = await redisServer(port, dir);
  const config = testConfig({}, testStorage('redis', `redis://127.0.0.1:${port}`));
  const service: TestService = await startTestService({}, config);
  t.teardown(async () => { await service.stop(); if (redis.exitCode === null) await stopRedis(redis); });

  const ch = await openChannel(service, 'json-rpc');
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  const transfer = (amount: number) => ch.initiator.send('channels.update.new', { from: i, to: r, amount });
  transfer(1);
  await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);

  await stopRedis(redis);
  ch.initiator.mark(); ch.responder.mark();
  transfer(2);
  const conflict = await ch.initiator.nextMethod('channels.conflict', undefined, 20_000);
  t.equal(conflict.data.round, 2, 'back on the last co-signed round');
  const reason = await ch.responder.next((m) => m.method === 'channels.conflict' || m.method === 'channels.error', 20_000);
  t.match(JSON.stringify(reason.data), /store_unavailable|Could not persist/, 'the acknowledger says why');
  t.notOk(ch.initiator.received.slice(ch.initiator.mark()).some((m) => m.method === 'channels.update'), 'nobody was told the round happened');

  // what needs no store still works
  ch.initiator.send('channels.message', { to: r, info: 'still here' });
  t.equal((await ch.responder.nextMethod('channels.message')).data.message.info, 'still here');
  ch.initiator.send('channels.get.balances', { accounts: [i, r] }, 5);
  t.ok(Array.isArray((await ch.initiator.next((m) => m.method === 'result')).data), 'queries are answered');

  redis = await redisServer(port, dir);
  // ioredis reconnects by itself; the next transfer goes through on the round after the last co-signed one
  let round = 0;
  for (let attempt = 0; attempt < 40 && round === 0; attempt++) {
    ch.initiator.mark(); ch.responder.mark();
    transfer(3);
    const reply = await ch.initiator.next((m) => m.method === 'channels.update' || m.method === 'channels.conflict' || m.method === 'error', 20_000);
    if (reply.method === 'channels.update') round = Number((await import('./helpers/accounts.js')).unpackSignedTx(reply.data.state).encodedTx.round);
    else await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.equal(round, 3, 'recovered: the next round is 3, nothing skipped or doubled');
  const stored = await service.store.load(ch.channelId as any, 'responder');
  t.equal(stored?.state.round, 3, 'and it is in Redis');
  ch.initiator.close(); ch.responder.close();
});

t.test('a slow Redis (writes paused for a while) makes updates slower, not wrong', { skip: !hasRedisServer && 'no redis-server here' }, async (t) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aesc-redis-'));
  const redis = await redisServer(port, dir);
  const service: TestService = await startTestService({}, testConfig({}, testStorage('redis', `redis://127.0.0.1:${port}`)));
  t.teardown(async () => { await service.stop(); await stopRedis(redis); });
  const ch = await openChannel(service, 'legacy');
  spawnSync('redis-cli', ['-p', String(port), 'client', 'pause', '1500', 'write']);
  const started = Date.now();
  ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 9 });
  await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  t.ok(Date.now() - started >= 1000, 'it waited for the store');
  t.equal((await service.store.load(ch.channelId as any, 'initiator'))?.state.round, 2);
  t.same((await service.store.history(ch.channelId as any, 'responder')).map((s) => s.round), [1, 2], 'each round once');
  ch.initiator.close(); ch.responder.close();
});
