/**
 * How many replicas each co-signed write must reach (REDIS_MIN_REPLICAS), decided at start-up from
 * what the Redis (Cluster) has, and how long a write whose master died is tried again.
 *
 * `auto` (the default) is 1 on a Redis Cluster whose every master has a replica: that is the case
 * where a master's death promotes a replica, which would lose what asynchronous replication had not
 * copied yet. A cluster with a master without replicas cannot fail that master over (its slots wait
 * for it to come back, with its append-only file), so `auto` is 0 there, with a warning naming it.
 * On a single Redis `auto` is 0: the service follows no failover of it. A number asks for that many
 * replicas; one the Redis does not have stops the start-up with one line, as every write would fail.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { DurabilityOptions } from './replicated-writes.js';
import { StoreUnavailableError } from './store.js';

export const MIN_REPLICAS_SETTING = 'REDIS_MIN_REPLICAS';

/** What REDIS_MIN_REPLICAS and REDIS_REPLICA_WAIT_MS ask for. */
export interface ReplicaSettings {
  minReplicas: number | 'auto';
  waitMs: number;
}

/** What cluster-node-timeout is when CONFIG GET is not allowed: Redis's default. */
const DEFAULT_NODE_TIMEOUT_MS = 15_000;

/** The masters serving slots and how many replicas each has (from CLUSTER NODES), by address. */
export function mastersAndReplicas(nodesText: string): Map<string, number> {
  const lines = nodesText.split('\n').filter(Boolean).map((line) => line.split(' '));
  const masters = lines.filter(([, , flags, , , , , , ...slots]) => flags!.split(',').includes('master') && !/fail/.test(flags!) && slots.length > 0);
  return new Map(masters.map(([id, address]) => [
    address!.split('@')[0]!,
    lines.filter(([, , flags, masterId]) => masterId === id && flags!.split(',').includes('slave') && !/fail/.test(flags!)).length,
  ]));
}

export async function clusterDurability(cluster: Cluster, settings: ReplicaSettings, log?: Logger): Promise<DurabilityOptions> {
  const replicas = mastersAndReplicas(String(await cluster.cluster('NODES')));
  const [fewest, least] = [...replicas].reduce((a, b) => (b[1] < a[1] ? b : a));
  let minReplicas: number;
  if (settings.minReplicas === 'auto') {
    minReplicas = least >= 1 ? 1 : 0;
    if (minReplicas === 0) {
      log?.warn(`${MIN_REPLICAS_SETTING}=auto waits for no replica: the master ${fewest} has none; a master that dies before its replica `
        + 'copied a round loses it when the replica takes over, so give every master a replica (then auto waits for one)', { master: fewest });
    }
  } else {
    minReplicas = settings.minReplicas;
    if (least < minReplicas) {
      throw new StoreUnavailableError(`${MIN_REPLICAS_SETTING}=${minReplicas}: the master ${fewest} has ${least} replica${least === 1 ? '' : 's'}, `
        + 'so no write could be confirmed; must be at most the replicas every master has (or auto)');
    }
  }
  let nodeTimeoutMs = DEFAULT_NODE_TIMEOUT_MS;
  try {
    const [, value] = (await cluster.config('GET', 'cluster-node-timeout')) as unknown as [string, string];
    nodeTimeoutMs = Number(value) || DEFAULT_NODE_TIMEOUT_MS;
  } catch {
    // CONFIG is not allowed on managed clusters: assume Redis's default
  }
  // a dead master is noticed after the node timeout and its replica elected within about as long again
  return { minReplicas, waitMs: settings.waitMs, retryMs: 2 * nodeTimeoutMs + 1000 };
}

export async function singleDurability(redis: Redis, settings: ReplicaSettings, url: string): Promise<DurabilityOptions> {
  if (settings.minReplicas === 'auto' || settings.minReplicas === 0) return { minReplicas: 0, waitMs: settings.waitMs, retryMs: 0 };
  const connected = Number(/connected_slaves:(\d+)/.exec(await redis.info('replication'))?.[1] ?? 0);
  if (connected < settings.minReplicas) {
    throw new StoreUnavailableError(`${MIN_REPLICAS_SETTING}=${settings.minReplicas}: the Redis at ${url} has ${connected} replica${connected === 1 ? '' : 's'} `
      + 'connected, so no write could be confirmed; must be at most the replicas it has (or auto)');
  }
  return { minReplicas: settings.minReplicas, waitMs: settings.waitMs, retryMs: 0 };
}
