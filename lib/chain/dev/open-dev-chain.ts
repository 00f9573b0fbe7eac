/**
 * The dev chain on the service's storage backend: its ledger lives beside the channels (the embedded
 * LMDB environment, or Redis under the same key prefix), so a restart finds the chain the channels
 * were opened on.
 */
import type { StoreBackend } from '../../store/backend.js';
import { DevChain, type DevChainOptions } from './dev-chain.js';
import type { DevChainLedger } from './ledger.js';
import { LmdbLedger } from './lmdb-ledger.js';
import { RedisLedger } from './redis-ledger.js';

export function createDevChainLedger(backend: StoreBackend): Promise<DevChainLedger> {
  return backend.kind === 'embedded'
    ? Promise.resolve(new LmdbLedger(backend.db.root))
    : RedisLedger.connect({ url: backend.url, clusterNodes: backend.clusterNodes, keyPrefix: backend.keyPrefix });
}

/** The dev chain kept in `backend`: continued when it has one, started at genesis when not. */
export async function openDevChain(options: DevChainOptions, backend: StoreBackend): Promise<DevChain> {
  return DevChain.open(options, await createDevChainLedger(backend));
}
