/**
 * A dev chain that outlives the service under test, as a real network does: served on its own node
 * HTTP API in the test's process, reached by the service through CHAIN_NODE_URL (NodeChain).
 */
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import type { AccountId } from '../../fsm/types.js';
import { DevChain } from '../../lib/chain/dev/dev-chain.js';
import { createNodeHttpApi } from '../../lib/chain/dev/node-http-api.js';
import { silentLogger } from '../../lib/log.js';
import { NETWORK_ID } from './accounts.js';

export async function externalChain(t: Test, fundedAtGenesis: AccountId[] = []): Promise<{ chain: DevChain; url: string }> {
  const chain = new DevChain({
    networkId: NETWORK_ID, blockIntervalMs: 50, genesisBalance: 10n ** 30n, genesisAccounts: fundedAtGenesis.map((id) => [id, 10n ** 24n]),
  });
  const api = createNodeHttpApi(chain, silentLogger());
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => { await chain.close(); api.close(); api.closeAllConnections(); });
  return { chain, url: `http://127.0.0.1:${(api.address() as AddressInfo).port}` };
}
