/**
 * WORKERS' channel affinity (lib/cluster/affinity.ts): what a request hashes by, which worker a key
 * goes to while workers come and go, and the primary's reading of a request head over real sockets.
 */
import t from 'tap';
import net from 'node:net';
import { AccountMemory } from '../../lib/sdk.js';
import { affinityKey, MAX_HEAD_BYTES, readHead, workerFor } from '../../lib/cluster/affinity.js';

const [a, b] = [AccountMemory.generate().address, AccountMemory.generate().address];
const head = (query: string) => `GET /channel?${query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n`;

t.test('a channel\'s two participants hash alike; a reestablish by its channel; anything else by nothing', async (t) => {
  const initiator = affinityKey(head(`role=initiator&port=3001&initiator_id=${a}&responder_id=${b}&host=localhost&initiator_amount=1`));
  const responder = affinityKey(head(`responder_id=${b}&initiator_id=${a}&role=responder&port=3001`));
  t.equal(initiator, `3001|${a}|${b}`);
  t.equal(responder, initiator, 'whatever the order and the other parameters');
  t.not(affinityKey(head(`role=responder&port=3002&initiator_id=${a}&responder_id=${b}`)), initiator, 'another port is another channel');
  const reconnect = `existing_channel_id=ch_2jqr9vjPiaNk2H4iE3pV9FCayL1BbyT4nDk4WHd6HTE16ZswWu&existing_fsm_id=ba_x&role=initiator`;
  t.equal(affinityKey(head(reconnect)), 'channel|ch_2jqr9vjPiaNk2H4iE3pV9FCayL1BbyT4nDk4WHd6HTE16ZswWu', 'a reestablish naming only its channel');
  t.equal(affinityKey(head(`${reconnect}&port=3001&initiator_id=${a}&responder_id=${b}`)), initiator, 'one naming its participants too goes where the channel opened');
  t.equal(affinityKey(head(`role=responder&port=3001&initiator_id=any&responder_id=${b}`)), null, 'a responder open to any initiator');
  for (const bad of ['', 'GARBAGE\r\n\r\n', `GET /channel?port=99999999&initiator_id=${a}&responder_id=${b} HTTP/1.1\r\n\r\n`,
    `GET /channel?port=1&initiator_id=ak_short&responder_id=${b} HTTP/1.1\r\n\r\n`, 'GET http://[bad HTTP/1.1\r\n\r\n',
    `GET /channel?existing_channel_id=ak_notachannel HTTP/1.1\r\n\r\n`]) {
    t.equal(affinityKey(bad), null, `no key: ${JSON.stringify(bad.slice(0, 40))}`);
  }
});

t.test('a key keeps its worker while that one is up, moves to the next while it is not; no key takes turns', async (t) => {
  const up = new Set([0, 1, 2, 3]);
  const isUp = (i: number) => up.has(i);
  let turn = 0;
  const keys = Array.from({ length: 400 }, (_, i) => `${3000 + i}|${a}|${b}`);
  const placed = keys.map((k) => workerFor(k, 4, isUp, () => turn++)!);
  t.same(keys.map((k) => workerFor(k, 4, isUp, () => turn++)), placed, 'the same worker every time');
  const counts = [0, 1, 2, 3].map((w) => placed.filter((p) => p === w).length);
  t.ok(counts.every((n) => n > 60), `spread over the workers: ${counts.join(', ')}`);
  up.delete(1);
  const moved = keys.map((k) => workerFor(k, 4, isUp, () => turn++)!);
  t.ok(moved.every((w, i) => (placed[i] === 1 ? w === 2 : w === placed[i])), 'only worker 1\'s keys move, to the next one up');
  t.same([0, 1, 2, 3].map(() => workerFor(null, 4, () => true, () => turn++)), [turn - 4, turn - 3, turn - 2, turn - 1].map((n) => n % 4), 'no key: each in turn');
  t.equal(workerFor('k', 4, () => false, () => 0), null, 'no worker up: none');
});

t.test('the primary reads a request head, however it arrives, and refuses one too long', async (t) => {
  const routed: Buffer[] = [];
  const server = net.createServer((socket) => readHead(socket, (bytes) => { routed.push(bytes); socket.end('routed'); }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const exchange = async (parts: string[]) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let reply = '';
    socket.on('data', (d) => { reply += d.toString(); });
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.on('close', resolve));
    for (const part of parts) {
      socket.write(part);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await closed;
    return reply;
  };
  const request = head(`port=3001&initiator_id=${a}&responder_id=${b}`);
  t.equal(await exchange([request.slice(0, 10), request.slice(10, 40), request.slice(40)]), 'routed', 'a head in three pieces');
  t.equal(routed.at(-1)!.toString('latin1'), request, 'handed on whole, byte for byte');
  t.equal(affinityKey(routed.at(-1)!.toString('latin1')), `3001|${a}|${b}`);
  const before = routed.length;
  const reply = await exchange([`GET /channel?${'x'.repeat(MAX_HEAD_BYTES)}`]);
  t.match(reply, /^HTTP\/1\.1 431 /, 'a head past the limit: 431');
  t.equal(routed.length, before, 'and it is handed to no worker');
});
