/**
 * Two services, each its own process with its own store, on one dev chain (served by this test
 * process, reached by both through CHAIN_NODE_URL): the responder's client on service A (PEER_HOST
 * 127.0.0.2), the initiator's on service B (PEER_HOST 127.0.0.3), whose FSMs talk over the peer
 * link — the node's model. B dials A through a TCP proxy of this test (127.0.0.4), so that the test
 * can cut the link under the channel. And A's listener is fed hostile peers.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { externalChain } from './helpers/external-chain.js';
import { startServiceProcess, type ServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { testStorage } from './helpers/storage.js';
import { connect, frame } from '../lib/peer/noise-session.js';
import { encode } from '../lib/peer/codec.js';

const A_HOST = '127.0.0.2';
const B_HOST = '127.0.0.3';
const PROXY_HOST = '127.0.0.4';

/** A TCP proxy PROXY_HOST:port → A_HOST:port for any port asked of it; `cut()` drops every link. */
class Proxy {
  private readonly servers = new Map<number, net.Server>();
  private readonly sockets = new Set<net.Socket>();
  links = 0;

  async forward(port: number): Promise<void> {
    const server = net.createServer((client) => {
      this.links++;
      const upstream = net.connect({ host: A_HOST, port });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => { this.sockets.delete(s); client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, PROXY_HOST, resolve));
    this.servers.set(port, server);
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await Promise.all([...this.servers.values()].map((s) => new Promise((r) => s.close(r))));
  }
}

const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
let nextPort = 41_000 + Math.floor(Math.random() * 10_000);
const PEER_ENV = { PEER_REDIAL_DELAY_MS: '200', PEER_CONNECT_TIMEOUT_MS: '1000', PEER_HANDSHAKE_TIMEOUT_MS: '1000', PEER_MAX_MESSAGE_BYTES: '8192', LOG_LEVEL: 'info' };

async function twoServices(t: Test) {
  const { url } = await externalChain(t);
  const env = (host: string) => ({ ...PEER_ENV, CHAIN_NODE_URL: url, PEER_HOST: host });
  const a = await startServiceProcess({ direct: true, storage: testStorage('embedded'), env: env(A_HOST) });
  t.teardown(() => a.stop());
  const b = await startServiceProcess({ direct: true, storage: testStorage('redis'), env: env(B_HOST) });
  t.teardown(() => b.stop());
  const proxy = new Proxy();
  t.teardown(() => proxy.close());
  const sdk = genesisSdk(url);
  return { a, b, proxy, funded: (n: number) => fundFromGenesis(sdk, n) };
}

type Services = Awaited<ReturnType<typeof twoServices>>;

/** A channel between a responder on A and an initiator on B naming A through the proxy. */
async function openAcross(s: Services) {
  const [initiatorAccount, responderAccount] = await s.funded(2);
  const port = nextPort++;
  await s.proxy.forward(port);
  // the node's channel_open holds amounts in 64 bits: at most about 18 AE each across services
  const query = channelQuery(initiatorAccount!, responderAccount!, port, AMOUNTS);
  // the responder waits first: its service listens on the port only while it waits
  const responder = await TestClient.connect(s.a.channelUrl, { ...query, role: 'responder' }, 'json-rpc', responderAccount!);
  const rUp = await responder.nextMethod('channels.info', 'fsm_up');
  const initiator = await TestClient.connect(s.b.channelUrl, { ...query, role: 'initiator', host: PROXY_HOST }, 'json-rpc', initiatorAccount!);
  const iUp = await initiator.nextMethod('channels.info', 'fsm_up');
  const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open', 30_000), responder.nextMethod('channels.info', 'open', 30_000)]);
  const [iState, rState] = await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  return {
    initiator, responder, initiatorAccount: initiatorAccount!, responderAccount: responderAccount!, port, query,
    channelId: iOpen.frame.params.channel_id as string,
    fsmIds: { initiator: iUp.data.fsm_id as string, responder: rUp.data.fsm_id as string },
    state: [iState.data.state, rState.data.state],
  };
}

type Across = Awaited<ReturnType<typeof openAcross>>;

async function transfer(ch: { initiator: TestClient; responder: TestClient }, by: 'initiator' | 'responder', from: string, to: string, amount: number) {
  ch[by].send('channels.update.new', { from, to, amount });
  const [i, r] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  return [i.data.state as string, r.data.state as string];
}

async function balances(client: TestClient, ch: Across): Promise<Record<string, string>> {
  const accounts = [ch.initiatorAccount.address, ch.responderAccount.address];
  client.send('channels.get.balances', { accounts }, 7);
  const reply = await client.next((m) => m.method === 'result' || m.method === 'channels.get.balances');
  return Object.fromEntries((reply.data as Array<{ account: string; balance: string | number }>).map((b) => [b.account, String(b.balance)]));
}

t.test('a channel between two services: open, transfers both ways, the link cut and redialled, leave and reestablish, mutual close', async (t) => {
  const s = await twoServices(t);
  const ch = await openAcross(s);
  t.equal(ch.state[0], ch.state[1], 'both services hold the same co-signed create tx');
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];

  const [s1a, s1b] = await transfer(ch, 'initiator', i, r, 100);
  t.equal(s1a, s1b, 'a transfer proposed on B, co-signed on both');
  const [s2a, s2b] = await transfer(ch, 'responder', r, i, 7);
  t.equal(s2a, s2b, 'a transfer proposed on A');
  t.same(await balances(ch.initiator, ch), await balances(ch.responder, ch), 'the same balances on both services');

  // the link cut under the channel: both hear their peer went, B redials, the FSMs reestablish
  ch.initiator.mark(); ch.responder.mark();
  const links = s.proxy.links;
  s.proxy.cut();
  await Promise.all([ch.initiator.nextMethod('channels.info', 'peer_disconnected'), ch.responder.nextMethod('channels.info', 'peer_disconnected')]);
  await Promise.all([ch.initiator.nextMethod('channels.info', 'channel_reestablished', 30_000), ch.responder.nextMethod('channels.info', 'channel_reestablished', 30_000)]);
  t.ok(s.proxy.links > links, 'B dialled A again');
  await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  const [s3a, s3b] = await transfer(ch, 'initiator', i, r, 1000);
  t.equal(s3a, s3b, 'the channel goes on over the new link');
  const after = await balances(ch.initiator, ch);
  t.same(after, await balances(ch.responder, ch), 'nothing lost or applied twice');
  t.equal(BigInt(after[r]!), 10n ** 18n + 100n - 7n + 1000n, 'every co-signed transfer counted once');

  // leave: the keep_running responder on A waits; the initiator comes back on B and B dials again
  ch.initiator.mark(); ch.responder.mark();
  ch.initiator.send('channels.leave');
  const [left, peerLeft] = await Promise.all([ch.initiator.nextMethod('channels.leave'), ch.responder.nextMethod('channels.leave')]);
  t.equal(left.data.state, peerLeft.data.state, 'both left with the latest state');
  await ch.initiator.closedAndDone();
  await ch.responder.quiet(300);
  t.notOk(ch.responder.sequence(ch.responder.received.length - 3).includes('info:peer_disconnected'), 'a leave is no disconnect');
  const back = await TestClient.connect(s.b.channelUrl, {
    role: 'initiator', host: PROXY_HOST, port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds.initiator,
  }, 'json-rpc', ch.initiatorAccount);
  await back.nextMethod('channels.info', 'channel_reestablished', 30_000);
  await Promise.all([back.nextMethod('channels.update'), ch.responder.nextMethod('channels.info', 'channel_reestablished')]);
  await ch.responder.nextMethod('channels.update');
  const again = { initiator: back, responder: ch.responder };
  const [s4a, s4b] = await transfer(again, 'responder', r, i, 1);
  t.equal(s4a, s4b, 'transfers after the reestablish');
  t.notOk(ch.responder.received.some((m) => m.method === 'error'), `no errors: ${JSON.stringify(ch.responder.received.filter((m) => m.method === 'error').map((m) => m.frame))}`);

  // mutual close: co-signed across the link, posted, both FSMs end
  back.mark(); ch.responder.mark();
  ch.responder.send('channels.shutdown');
  await Promise.all([back.nextMethod('channels.info', 'died', 30_000), ch.responder.nextMethod('channels.info', 'died', 30_000)]);
  t.ok(back.sequence(back.received.length - 7).includes('on_chain_tx:close_mutual'), 'the initiator saw the close tx');
  t.ok(ch.responder.sequence(ch.responder.received.length - 6).includes('info:closed_confirmed'), 'the close is confirmed on chain');
  back.close(); ch.responder.close();
});

t.test('PEER_PORTS: a responder on a port it does not list is refused; hostile peers cannot hurt a waiting responder', async (t) => {
  const { url } = await externalChain(t);
  const allowed = nextPort++;
  const a = await startServiceProcess({ direct: true, env: { ...PEER_ENV, CHAIN_NODE_URL: url, PEER_HOST: A_HOST, PEER_PORTS: `${allowed},${allowed + 1000}-${allowed + 1001}`, PEER_MAX_SESSIONS_PER_PORT: '8' } });
  t.teardown(() => a.stop());
  const [x, y] = await fundFromGenesis(genesisSdk(url), 2);

  const refused = await TestClient.connect(a.channelUrl, { ...channelQuery(x!, y!, allowed + 1, AMOUNTS), role: 'responder' }, 'json-rpc', y!);
  const error = await refused.nextMethod('error');
  t.equal(error.data.data[0].code, 3011, 'responder_port_not_allowed');
  t.match(error.data.data[0].detail, `port ${allowed + 1} is not one PEER_PORTS allows`);
  await refused.closedAndDone();

  const waiting = await TestClient.connect(a.channelUrl, { ...channelQuery(x!, y!, allowed, AMOUNTS), role: 'responder' }, 'json-rpc', y!);
  await waiting.nextMethod('channels.info', 'fsm_up');
  // the listener opens as the responder starts waiting, a moment after its fsm_up
  const giveUp = Date.now() + 10_000;
  while (Date.now() < giveUp && !await new Promise<boolean>((resolve) => {
    const probe = net.connect({ host: A_HOST, port: allowed }, () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  })) await new Promise((resolve) => setTimeout(resolve, 20));
  if (Date.now() >= giveUp) t.fail(`A never listened on ${allowed}:\n${a.output()}`);
  const raw = async (bytes: Buffer[]) => {
    const s = net.connect({ host: A_HOST, port: allowed });
    const closed = new Promise((resolve) => s.once('close', resolve));
    s.on('error', () => undefined);
    s.resume(); // what it answers is read and dropped, so that its close is seen
    const connected = await Promise.race([new Promise((resolve) => s.once('connect', () => resolve(true))), closed.then(() => false)]);
    if (!connected) t.fail(`A refused the connection:\n${a.output()}`);
    for (const b of bytes) s.write(b);
    await closed;
  };
  await raw([randomBytes(300)]); // garbage: a length prefix and noise
  await raw([frame(randomBytes(32)), frame(randomBytes(100))]); // a handshake it cannot finish, then a frame nobody can decrypt
  await raw([Buffer.from([0xff, 0xff]), randomBytes(100)]); // a frame too large for a handshake
  const big = await connect(A_HOST, allowed);
  const bigClosed = new Promise((resolve) => big.onClose(resolve));
  big.send(randomBytes(9000)); // over PEER_MAX_MESSAGE_BYTES
  await bigClosed;
  const garbled = await connect(A_HOST, allowed);
  const garbledClosed = new Promise((resolve) => garbled.onClose(resolve));
  garbled.send(randomBytes(64)); // a session whose first message is nothing the node would send
  await garbledClosed;
  const wrongFirst = await connect(A_HOST, allowed);
  const wrongClosed = new Promise((resolve) => wrongFirst.onClose(resolve));
  wrongFirst.send(encode({ type: 'leave', channel_id: randomBytes(32) })); // well-formed, but no way to begin
  await wrongClosed;

  await a.printed('protocol_error', 15_000);
  for (const why of ['handshake_failed', 'decrypt_failed', 'frame_too_large']) t.match(a.output(), why, `refused: ${why}`);
  t.notOk(waiting.closed, 'the waiting responder is untouched');
  t.notMatch(waiting.sequence(), /peer_disconnected|error/, 'and heard nothing of it');

  // the responder still pairs: an initiator on this very service
  const initiator = await TestClient.connect(a.channelUrl, { ...channelQuery(x!, y!, allowed, AMOUNTS), role: 'initiator', host: 'localhost' }, 'json-rpc', x!);
  await Promise.all([initiator.nextMethod('channels.info', 'open', 30_000), waiting.nextMethod('channels.info', 'open', 30_000)]);
  t.pass('local pairing is unchanged');
  initiator.close(); waiting.close();
});
