/**
 * Redis Cluster, given by REDIS_CLUSTER_NODES=host:port,host:port,…: the nodes to start from (ioredis
 * learns the rest, and every move of a slot, from the cluster itself). Every key the service writes is
 * hash-tagged (`{ch_…}`, `{pay:…}`, `{devchain}`), every script and MULTI stays within one tag, and
 * nothing scans keys, so the stores work on a cluster unchanged; this module only connects.
 */
import { connect } from 'node:net';
import { Cluster } from 'ioredis';
import { StoreUnavailableError } from './store.js';

export const CLUSTER_SETTING = 'REDIS_CLUSTER_NODES';

/** How long start-up waits for the cluster to answer with every slot served. */
const CONNECT_WAIT_MS = 10_000;

export interface ClusterNode { host: string; port: number }

/** `a:1,b:2` → nodes, or null when any entry is not host:port with a port from 1 to 65535. */
export function parseClusterNodes(text: string): ClusterNode[] | null {
  const nodes: ClusterNode[] = [];
  for (const entry of text.split(',')) {
    const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(entry.trim());
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) return null;
    nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return nodes;
}

/**
 * Connects to the cluster, or fails with one line naming the setting: no node answers, what answers is
 * a Redis without cluster mode, or the cluster does not serve every slot (cluster_state is not ok).
 */
export async function connectCluster(nodesText: string, options: { commandTimeoutMs?: number } = {}): Promise<Cluster> {
  const nodes = parseClusterNodes(nodesText);
  if (!nodes) throw clusterRefusal(nodesText, 'must be host:port,host:port,… (the nodes to start from)');
  const cluster = new Cluster(nodes, {
    lazyConnect: true,
    // the writes of many channels in one tick go out in one write per node
    enableAutoPipelining: true,
    // a failover moves slots: commands wait for the new master rather than fail at once
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
    redisOptions: { maxRetriesPerRequest: 1, commandTimeout: options.commandTimeoutMs ?? 5000 },
  });
  const errors: Error[] = [];
  const collect = (err: Error) => { errors.push(err); };
  cluster.on('error', collect);
  cluster.on('node error', collect);
  cluster.on('error', () => { /* keeps ioredis from printing */ });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      cluster.connect(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_WAIT_MS} ms`)), CONNECT_WAIT_MS); }),
    ]);
    const info = await cluster.cluster('INFO');
    const state = /cluster_state:(\w+)/.exec(String(info))?.[1];
    if (state !== 'ok') throw clusterRefusal(nodesText, `the cluster is not serving every slot (cluster_state:${state ?? 'unknown'}); must be a healthy Redis Cluster`);
  } catch (err) {
    cluster.disconnect();
    if (err instanceof StoreUnavailableError) throw err;
    throw await clusterFailure(nodesText, nodes, errors, err as Error);
  } finally {
    clearTimeout(timer);
    cluster.off('error', collect);
    cluster.off('node error', collect);
  }
  return cluster;
}

function clusterRefusal(nodesText: string, why: string): StoreUnavailableError {
  return new StoreUnavailableError(`${CLUSTER_SETTING}=${nodesText}: ${why}`);
}

/**
 * Why no cluster answered, from what ioredis saw on the way; its errors only say "Connection is closed",
 * so a node nothing answers at is asked once more over plain TCP for the reason (refused, unknown host…).
 */
async function clusterFailure(nodesText: string, nodes: ClusterNode[], errors: Error[], failure: Error): Promise<StoreUnavailableError> {
  // "None of startup nodes is available" carries the last node's own error
  const seen = [...errors, failure].flatMap((err) => {
    const last = (err as Error & { lastNodeError?: Error }).lastNodeError;
    return last ? [err, last] : [err];
  });
  for (const err of seen) {
    if (/cluster support disabled/i.test(err.message)) {
      return clusterRefusal(nodesText, 'these Redis nodes do not run in cluster mode (cluster-enabled no); must be nodes of a Redis Cluster, or use REDIS_URL for a single Redis');
    }
    if (/^(NOAUTH|WRONGPASS)/.test(err.message)) return clusterRefusal(nodesText, 'the cluster needs a password, which REDIS_CLUSTER_NODES cannot carry; must be a cluster without AUTH');
  }
  const unreachable = (await Promise.all(nodes.map(async (node) => {
    const code = await tcpFailure(node);
    return code && `${node.host}:${node.port} ${code}`;
  }))).filter(Boolean);
  const reason = unreachable.length ? unreachable.join(', ') : failure.message;
  return clusterRefusal(nodesText, `cannot reach the Redis Cluster (${reason}); must list running nodes of a Redis Cluster`);
}

/** The error code of a TCP connection to `node` (ECONNREFUSED, ENOTFOUND, ETIMEDOUT), or null when it connects. */
function tcpFailure(node: ClusterNode): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: node.host, port: node.port, timeout: 2000 });
    socket.once('connect', () => { socket.destroy(); resolve(null); });
    socket.once('timeout', () => { socket.destroy(); resolve('ETIMEDOUT'); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
