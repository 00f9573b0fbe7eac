/**
 * The relay between a client's socket and the owner instance's (lib/ws/forwarding.ts), on real sockets:
 * a "front" WebSocket server forwards every connection with `forward()` to an "owner" WebSocket server
 * found in the instance directory on a real Redis (a key prefix of its own). Frames both ways in order,
 * text and binary kept; the client's path, query and address, and the secret, reach the owner; close
 * codes and reasons cross both ways, an abnormal end stays abnormal; a slow owner pushes back on the
 * client instead of piling the client's frames up in the forwarding process; an owner that cannot be
 * reached is said why.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { RedisInstanceDirectory } from '../../lib/store/instance-directory.js';
import { forward, FORWARD_SECRET_HEADER, FORWARDED_FOR_HEADER, type Forwarded } from '../../lib/ws/forwarding.js';
import { REDIS_URL } from '../helpers/storage.js';

const SECRET = randomBytes(32).toString('hex');

async function serverOnFreePort(): Promise<WebSocketServer> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}
const portOf = (server: WebSocketServer) => (server.address() as AddressInfo).port;

t.test('the relay', async (t) => {
  const redis = new Redis(REDIS_URL);
  const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  const directory = new RedisInstanceDirectory(redis, prefix);

  const owner = await serverOnFreePort();
  const arrivals: Array<{ ws: WebSocket; req: IncomingMessage }> = [];
  const waiting: Array<() => void> = [];
  owner.on('connection', (ws, req) => {
    arrivals.push({ ws, req });
    waiting.splice(0).forEach((wake) => wake());
  });
  const nextAtOwner = async () => {
    const at = arrivals.length;
    while (arrivals.length <= at) await new Promise<void>((resolve) => waiting.push(resolve));
    return arrivals[at]!;
  };
  await directory.advertise('owner-1', `127.0.0.1:${portOf(owner)}`, 60_000);

  // the front forwards every connection to the instance its path names, as the socket server does
  const front = await serverOnFreePort();
  const outcomes: Forwarded[] = [];
  /** frames the front has read from its clients */
  let frontRead = 0;
  front.on('connection', (ws, req) => {
    ws.on('message', () => frontRead++);
    const name = new URL(req.url!, 'http://x').searchParams.get('owner')!;
    const ready = forward(ws, req.url!, name, '10.1.2.3', { secret: SECRET, directory, connectTimeoutMs: 10_000 }).then((outcome) => {
      outcomes.push(outcome);
      if (!outcome.ok) ws.close(1008, 'unreachable');
      return outcome;
    });
    ws.on('message', (data: RawData, isBinary) => void ready.then((o) => o.ok && o.relay.fromClient(data, isBinary)));
    ws.on('close', (code, reason) => void ready.then((o) => o.ok && o.relay.clientClosed(code, reason)));
  });
  t.teardown(() => {
    for (const ws of [...owner.clients, ...front.clients]) ws.terminate();
    owner.close();
    front.close();
  });

  const connect = async (owner = 'owner-1') => {
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(front)}/channel?owner=${owner}&role=initiator`);
    const frames: Array<[string, boolean]> = [];
    ws.on('message', (d, isBinary) => frames.push([d.toString(), isBinary]));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise((resolve) => ws.once('open', resolve));
    return { ws, frames, closed };
  };
  const until = async (check: () => boolean, what: string, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    if (!check()) throw new Error(`never: ${what}`);
  };

  await t.test('frames both ways, in order, text and binary kept; the request reaches the owner as the client made it', async (t) => {
    const atOwner = nextAtOwner();
    const client = await connect();
    // sent at once: they wait in the front while it reaches the owner
    client.ws.send('one');
    client.ws.send(Buffer.from([1, 2, 3]));
    client.ws.send('three');
    const { ws, req } = await atOwner;
    t.equal(req.url, '/channel?owner=owner-1&role=initiator', 'path and query as the client sent them');
    t.equal(req.headers[FORWARD_SECRET_HEADER], SECRET, 'the secret shown');
    t.equal(req.headers[FORWARDED_FOR_HEADER], '10.1.2.3', 'the client\'s address named');
    const got: Array<[string, boolean]> = [];
    ws.on('message', (d, isBinary) => got.push([isBinary ? [...(d as Buffer)].join(',') : d.toString(), isBinary]));
    await until(() => got.length === 3, 'three frames at the owner');
    t.same(got, [['one', false], ['1,2,3', true], ['three', false]], 'client to owner');
    ws.send('a');
    ws.send(Buffer.from('b'));
    await until(() => client.frames.length === 2, 'two frames at the client');
    t.same(client.frames, [['a', false], ['b', true]], 'owner to client');

    client.ws.close(4001, 'client leaves');
    const ownerSaw = await new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    t.same(ownerSaw, { code: 4001, reason: 'client leaves' }, 'the client\'s close code and reason reach the owner');
  });

  await t.test('the owner\'s close reaches the client; an abnormal end stays abnormal', async (t) => {
    let atOwner = nextAtOwner();
    let client = await connect();
    (await atOwner).ws.close(4002, 'owner says go');
    t.same(await client.closed, { code: 4002, reason: 'owner says go' }, 'code and reason from the owner');

    atOwner = nextAtOwner();
    client = await connect();
    (await atOwner).ws.terminate();
    t.equal((await client.closed).code, 1006, 'the owner\'s socket cut: the client\'s is cut too (1006)');
  });

  await t.test('a slow owner pushes back on the client: the forwarding process stops reading rather than piling frames up', async (t) => {
    const atOwner = nextAtOwner();
    const opened = outcomes.length;
    const client = await connect();
    const { ws } = await atOwner;
    // the relay is open (this process is both ends: sending 64 MiB at once keeps it busy for a while)
    await until(() => outcomes.length > opened, 'the relay open');
    ws.pause();
    const got: number[] = [];
    ws.on('message', (d: Buffer) => got.push(Number(d.toString('utf8', 0, 6))));
    const FRAMES = 256;
    const frame = (i: number) => `${String(i).padStart(6, '0')}${'x'.repeat(256 * 1024 - 6)}`;
    const readBefore = frontRead;
    for (let i = 0; i < FRAMES; i++) client.ws.send(frame(i));
    // long enough for the front to read everything, would it not stop
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const read = frontRead - readBefore;
    t.ok(read < FRAMES / 4, `of ${FRAMES} frames of 256 KiB sent, the front read ${read} (the relay pauses past 1 MiB unwritten; the kernel's socket buffers hold the rest of that): it stopped reading`);
    t.ok(client.ws.bufferedAmount > 16 * 2 ** 20, `${(client.ws.bufferedAmount / 2 ** 20).toFixed(1)} MiB wait in the client`);
    ws.resume();
    await until(() => got.length === FRAMES, 'every frame at the owner', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${got.length} of ${FRAMES} arrived`);
    });
    t.same(got, Array.from({ length: FRAMES }, (_, i) => i), 'and once the owner reads again, every frame arrives, in order');
    client.ws.close();
  });

  await t.test('an owner that cannot be reached: said why, nothing relayed', async (t) => {
    const gone = await serverOnFreePort();
    const port = portOf(gone);
    await new Promise((resolve) => gone.close(resolve));
    await directory.advertise('owner-dead', `127.0.0.1:${port}`, 60_000);
    let client = await connect('owner-dead');
    t.same(await client.closed, { code: 1008, reason: 'unreachable' });
    t.match(outcomes.at(-1), { ok: false, why: /could not be reached at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/ }, 'connection refused');
    client = await connect('owner-never');
    await client.closed;
    t.match(outcomes.at(-1), { ok: false, why: /advertises no address/ }, 'no address in the directory');
    await directory.advertise('owner-garbled', 'no such:address:at all', 60_000);
    client = await connect('owner-garbled');
    await client.closed;
    t.match(outcomes.at(-1), { ok: false, why: /its advertised address "no such:address:at all" is not a host:port/ }, 'an address that is no host:port');
    t.notOk(outcomes.some((o) => !o.ok && o.why.includes('owner=')), 'the reason never holds the URL (it carries the fsm_id)');
  });
});
