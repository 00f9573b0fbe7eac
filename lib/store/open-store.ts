/**
 * Picks and opens the service's storage: Redis Cluster when REDIS_CLUSTER_NODES is set, Redis when REDIS_URL is, otherwise the embedded LMDB
 * database in DATA_DIR. Both the channel store and the dev chain's ledger live in what it opens.
 */
import { ConfigError, settingName, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact.js';
import type { StoreBackend } from './backend.js';
import { openEmbedded } from './embedded.js';
import { LmdbStore } from './lmdb-store.js';
import { RedisStore } from './redis-store.js';
import type { ReplicaSettings } from './redis-replicas.js';
import type { LeaseStore } from './lease.js';
import type { ChannelStore } from './store.js';
import type { RedisWatchShare } from './watch-share.js';
import type { ClientAttachments } from './attachments.js';

export interface OpenedStore {
  backend: StoreBackend;
  store: ChannelStore;
  /** which instance owns each FSM, on a store several instances may share (Redis); null on the embedded store */
  leases: LeaseStore | null;
  /** how instances sharing a Redis share out the watchtower; null on the embedded store (one instance) */
  watchShare: RedisWatchShare | null;
  /** where each participant's client is attached, seen from every instance; null on the embedded store (one instance sees its own) */
  attachments: ClientAttachments | null;
  /** closes the store and what it was opened on */
  close(): Promise<void>;
}

export async function openStore(config: Config, log: Logger): Promise<OpenedStore> {
  if (config.redis.clusterNodes) {
    const { clusterNodes, keyPrefix } = config.redis;
    const store = await RedisStore.connectCluster({ nodes: clusterNodes, keyPrefix, log, replicas: replicaSettings(config) });
    log.info('store: Redis Cluster', { redis_cluster_nodes: clusterNodes, key_prefix: keyPrefix, min_replicas: store.minReplicas });
    return { backend: { kind: 'redis', url: '', clusterNodes, keyPrefix }, store, leases: store.leases, watchShare: store.watchShare, attachments: store.attachments, close: () => store.close() };
  }
  if (config.redis.url) {
    const store = await RedisStore.connect({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, log, replicas: replicaSettings(config) });
    log.info('store: Redis', { redis_url: redactUrl(config.redis.url), key_prefix: config.redis.keyPrefix, min_replicas: store.minReplicas });
    return { backend: { kind: 'redis', url: config.redis.url, clusterNodes: '', keyPrefix: config.redis.keyPrefix }, store, leases: store.leases, watchShare: store.watchShare, attachments: store.attachments, close: () => store.close() };
  }
  const db = await openEmbedded(config.dataDir).catch((err: NodeJS.ErrnoException) => { throw dataDirFailure(config.dataDir, err); });
  const store = new LmdbStore(db);
  log.info('store: embedded (LMDB)', { data_dir: db.dataDir });
  return {
    backend: { kind: 'embedded', db },
    store,
    // one process per DATA_DIR (its lock): every FSM in it is this process's
    leases: null,
    watchShare: null,
    attachments: null,
    async close() {
      await store.close();
      await db.close();
    },
  };
}

function replicaSettings(config: Config): ReplicaSettings {
  return { minReplicas: config.redis.minReplicas, waitMs: config.redis.replicaWaitMs };
}

/** A directory the service cannot create or write is a bad setting, said in one line, not a stack trace. */
function dataDirFailure(dataDir: string, err: NodeJS.ErrnoException): Error {
  if (!err.code || !/^E[A-Z]+$/.test(err.code)) return err;
  return new ConfigError(`${settingName('/dataDir')}=${dataDir}: cannot be used (${err.message}); `
    + 'must be a directory this user can create and write');
}

