/**
 * Two services as separate processes with separate stores, on one dev chain served by the test
 * process: A (the responder's, embedded store, PEER_HOST 127.0.0.2) and B (the initiator's, Redis
 * under a prefix of its own, PEER_HOST 127.0.0.3). B reaches A only through a TCP proxy of the test
 * (127.0.0.4), so the test can drop or stall the link; either service can be SIGKILLed and started
 * again on the same ports and store.
 */
import type { Test } from 'tap';
import type { AccountId } from '../../fsm/types.js';
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
