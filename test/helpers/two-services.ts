/**
 * Two services as separate processes with separate stores, on one dev chain served by the test
 * process: A (the responder's, embedded store, PEER_HOST 127.0.0.2) and B (the initiator's, Redis
 * under a prefix of its own, PEER_HOST 127.0.0.3). B reaches A only through a TCP proxy of the test
 * (127.0.0.4), so the test can drop or stall the link; either service can be SIGKILLed and started
 * again on the same ports and store.
 */
import type { Test } from 'tap';
import type { AccountId, ChannelId } from '../../fsm/types.js';
import { channelQuery } from './channel.js';
import { TestClient, type Protocol } from './client.js';
import { externalChain } from './external-chain.js';
import { startServiceProcess } from './process-service.js';
import { fundFromGenesis, genesisSdk } from './service.js';
import { testStorage } from './storage.js';
import { TcpProxy } from './tcp-proxy.js';

export const A_HOST = '127.0.0.2';
export const B_HOST = '127.0.0.3';
export const PROXY_HOST = '127.0.0.4';
export const PEER_ENV = {
  PEER_REDIAL_DELAY_MS: '200', PEER_CONNECT_TIMEOUT_MS: '1000', PEER_HANDSHAKE_TIMEOUT_MS: '1000', PEER_MAX_MESSAGE_BYTES: '8192',
};

let nextPort = 41_000 + Math.floor(Math.random() * 20_000);
/** a peer port no other test of this process uses */
export const peerPort = () => nextPort++;

type Started = Awaited<ReturnType<typeof startServiceProcess>>;

/**
 * `env` goes to both services, `each.a`/`each.b` to one of them (its own watchtower key, say);
 * `fundedAtGenesis` are accounts the chain starts with (a watchtower's, to pay its slash fees).
 */
export async function twoServices(t: Test, env: Record<string, string> = {},
  each: { a?: Record<string, string>; b?: Record<string, string> } = {}, fundedAtGenesis: AccountId[] = []) {
  const { url, chain } = await externalChain(t, fundedAtGenesis);
  const envOf = (which: 'a' | 'b') => ({ ...PEER_ENV, CHAIN_NODE_URL: url, PEER_HOST: which === 'a' ? A_HOST : B_HOST, ...env, ...each[which] });
  const services = {
    a: await startServiceProcess({ direct: true, storage: testStorage('embedded'), env: envOf('a') }) as Started,
    b: await startServiceProcess({ direct: true, storage: testStorage('redis'), env: envOf('b') }) as Started,
  };
  t.teardown(() => Promise.all([services.a.stop(), services.b.stop()]));
  const proxy = new TcpProxy(PROXY_HOST, A_HOST);
  t.teardown(() => proxy.close());
  const sdk = genesisSdk(url);
  return {
    services, proxy, chainUrl: url, chain,
    get a() { return services.a; },
    get b() { return services.b; },
    funded: (n: number, amount?: bigint) => fundFromGenesis(sdk, n, amount),
    /** SIGKILL one service and start it again on its ports and store */
    async killAndRestart(which: 'a' | 'b'): Promise<void> {
      const old = services[which];
      await old.kill();
      services[which] = await startServiceProcess({
        direct: true, reuse: { wsPort: old.wsPort, httpPort: old.httpPort, storage: old.storage }, env: envOf(which),
      }) as Started;
    },
  };
}

export type TwoServices = Awaited<ReturnType<typeof twoServices>>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One pair of services (and their chain) for the tests of a file that need no fresh ones: they kill
 * nothing, need no env of their own, and open their channels on fresh accounts and peer ports. Each
 * service start costs about 1.5 s of CPU, and each pair polls its chain for as long as it runs.
 * Started at the first `forTest`, stopped by `t`'s (the file's) teardown. Each test gets its own view:
 * a proxy of its own (nothing a test dropped, stalled or partitioned carries over; closed at the
 * test's end), `output()` from the test's start on (a match is this test's line, not an earlier
 * one's), and no `killAndRestart` (a test that kills a service starts its own with `twoServices`).
 */
export function sharedServices(t: Test, env: Record<string, string> = {},
  each: { a?: Record<string, string>; b?: Record<string, string> } = {}, fundedAtGenesis: AccountId[] = []) {
  let started: Promise<TwoServices> | undefined;
  return async function forTest(test: Test): Promise<TwoServices> {
    started ??= twoServices(t, env, each, fundedAtGenesis);
    const s = await started;
    // a service an earlier test brought down would fail this one with refused connections: say so instead
    for (const which of ['a', 'b'] as const) {
      if (!alive(s.services[which].pid)) throw new Error(`the shared service ${which.toUpperCase()} is gone (an earlier test?):\n${s.services[which].output().slice(-3000)}`);
    }
    const proxy = new TcpProxy(PROXY_HOST, A_HOST);
    test.teardown(() => proxy.close());
    const from = { a: s.a.output().length, b: s.b.output().length };
    const since = (which: 'a' | 'b'): Started => ({ ...s.services[which], output: () => s.services[which].output().slice(from[which]) });
    const view = { a: since('a'), b: since('b') };
    return {
      ...s, services: view, proxy,
      get a() { return view.a; },
      get b() { return view.b; },
      async killAndRestart(): Promise<void> {
        throw new Error('a shared service is not killed: start the test\'s own with twoServices');
      },
    };
  };
}

type Role = 'initiator' | 'responder';

/** The node's channel_open holds amounts in 64 bits: at most about 18 AE a side across services. */
export const ACROSS_AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };

/**
 * A channel between a responder on A and an initiator on B (through the proxy), in one envelope,
 * open and on its first round; `query` adds to both clients' open parameters, `extra` to one's.
 */
export async function openAcross(s: TwoServices, protocol: Protocol, options: {
  query?: Record<string, string | number>; extra?: Partial<Record<Role, Record<string, string>>>;
} = {}) {
  const { query: more = {}, extra = {} } = options;
  const [initiatorAccount, responderAccount] = await s.funded(2);
  const port = peerPort();
  await s.proxy.forward(port);
  const query = { ...channelQuery(initiatorAccount!, responderAccount!, port, ACROSS_AMOUNTS), ...more };
  const accounts = { initiator: initiatorAccount!, responder: responderAccount! };
  // the responder waits first: its service listens on the port only while it waits
  const responder = await TestClient.connect(s.a.channelUrl, { ...query, role: 'responder', ...extra.responder }, protocol, accounts.responder);
  const rUp = await responder.nextMethod('channels.info', 'fsm_up');
  const initiator = await TestClient.connect(s.b.channelUrl, { ...query, role: 'initiator', host: PROXY_HOST, ...extra.initiator }, protocol, accounts.initiator);
  const iUp = await initiator.nextMethod('channels.info', 'fsm_up');
  const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open', 30_000), responder.nextMethod('channels.info', 'open', 30_000)]);
  await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  const channelId = (protocol === 'json-rpc' ? iOpen.frame.params.channel_id : iOpen.frame.channel_id) as ChannelId;
  return {
    clients: { initiator, responder } as Record<Role, TestClient>, accounts, port, channelId, protocol,
    fsmIds: { initiator: iUp.data.fsm_id as string, responder: rUp.data.fsm_id as string },
    address: (role: Role) => accounts[role].address as AccountId,
    /** the service a role's client connects to */
    url: (role: Role) => (role === 'initiator' ? s.b.channelUrl : s.a.channelUrl),
  };
}

export type Across = Awaited<ReturnType<typeof openAcross>>;

/** A dispute request, retried while the service refuses it (settle before the lock has passed), and what it asks to sign. */
export async function signRequestFor(client: TestClient, method: string, until = Date.now() + 20_000): Promise<string> {
  for (;;) {
    client.send(method);
    const reply = await client.next((m) => m.method.startsWith('channels.sign.') || m.method === 'error');
    if (reply.method !== 'error') return reply.data.signed_tx;
    if (Date.now() > until) throw new Error(`${method} refused: ${JSON.stringify(reply.data)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
