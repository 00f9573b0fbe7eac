/**
 * Where the service keeps what it knows: the embedded LMDB database in DATA_DIR (the default), or
 * Redis when REDIS_URL is set (Redis Cluster when REDIS_CLUSTER_NODES is). The channel store and the dev chain's ledger both live in the one
 * chosen here, so a restart finds channels and chain together.
 */
import type { EmbeddedDb } from './embedded.js';

export type StoreBackend =
  | { kind: 'embedded'; db: EmbeddedDb }
  | { kind: 'redis'; url: string; clusterNodes?: string; keyPrefix: string };
