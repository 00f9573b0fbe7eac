/**
 * A private Redis Cluster for one test file: six redis-servers in cluster mode (3 masters, 3 replicas),
 * each with its own port and temp directory, formed by `redis-cli --cluster create`, stopped and
 * removed by `stop()`. A master can be failed over to its replica, as an operator or a dying master would.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { listenable } from './free-port.js';
import { startRedisServer, type PrivateRedis } from './redis-server.js';

const REDIS_CLI = '/usr/bin/redis-cli';
const NODES = 6;

export interface PrivateCluster {
  /** what REDIS_CLUSTER_NODES takes: every node, host:port,… */
  nodes: string;
  ports: number[];
  /**
   * Hands the slot of `key` from its master to that master's replica (CLUSTER FAILOVER on the replica,
   * which waits for the replica to have every write) and resolves once every node agrees.
   */
  failover(key: string): Promise<{ from: number; to: number }>;
  /**
   * SIGKILLs the master of `key`'s slot and resolves once its replica has taken over; `afterKill` runs
   * right after the kill (to wake a paused replica, say).
   */
  killMaster(key: string, afterKill?: () => void): Promise<{ from: number; to: number }>;
  /** Cuts the replication link of `key`'s master to its replicas (CLIENT KILL TYPE replica on the master). */
  cutReplicas(key: string): Promise<void>;
  /** Starts a killed node again; it rejoins as a replica, and this resolves once every master has a synced replica. */
  restart(port: number): Promise<void>;
  /**
   * Resolves once a write to `key`'s slot is confirmed by a replica (WAIT 1) within `ms`: a replica's link
   * being up (what `restart` waits for) does not yet say it acknowledges writes in time.
   */
  confirming(key: string, ms: number): Promise<void>;
  /** The master of `key`'s slot and its replica, by port. */
  shardOf(key: string): Promise<{ master: number; replica: number }>;
  /** SIGSTOP / SIGCONT a node: alive, but answering nobody (its master's WAITs count it out). */
  pause(port: number): void;
  resume(port: number): void;
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<PrivateCluster> {
  const ports = await clusterPorts(NODES);
  const servers: PrivateRedis[] = [];
  // a paused node accepts a connection (the kernel does) and answers nothing: asked where a slot is, it
  // would hold the question, and the test, while its replica stays paused. Nobody asks a paused node
  const paused = new Set<number>();
  const answering = () => ports.filter((port) => !paused.has(port));
  const stop = async () => { await Promise.all(servers.map((server) => server.stop())); };
  try {
    for (const port of ports) {
      // a short node timeout: a dead master is noticed within a second, not fifteen. A start (and a
      // restart) waits, polling all six nodes, until every replica has synced and is listed in CLUSTER
      // SLOTS, which lists a replica only once its replication offset moved: with no writes that is the
      // master's ping to its replicas, every 10 s by default (1 s here), after a full sync that a master
      // starts 5 s late by default, waiting for more replicas to share it (at once here). Up in about
      // 3 s instead of 11, at a third of the test process's CPU
      servers.push(await startRedisServer([
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1',
      ], { port }));
    }
    await promisify(execFile)(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes']);
    await settled(ports);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    async failover(key) {
      const { master, replica } = await shardOf(answering(), key);
      await onNode(replica, (r) => r.cluster('FAILOVER'));
      await until(async () => (await onNode(replica, (r) => r.info('replication'))).includes('role:master'));
      await settled(ports);
      return { from: master, to: replica };
    },
    async killMaster(key, afterKill) {
      const { master, replica } = await shardOf(answering(), key);
      await servers[ports.indexOf(master)]!.kill();
      afterKill?.();
      await until(async () => (await onNode(replica, (r) => r.info('replication'))).includes('role:master'));
      await settled(ports.filter((port) => port !== master), false);
      return { from: master, to: replica };
    },
    async restart(port) {
      await servers[ports.indexOf(port)]!.restart();
      await settled(ports);
    },
    async confirming(key, ms) {
      await until(async () => {
        const { master } = await shardOf(answering(), key);
        return onNode(master, async (r) => {
          // the same slot as `key`: a key in a cluster is placed by its {hash tag}, or whole
          const probe = `${key}:probe`;
          await r.set(probe, '1');
          const confirmed = await r.wait(1, ms);
          await r.del(probe);
          return confirmed >= 1;
        });
      });
    },
    shardOf: (key) => shardOf(answering(), key),
    async cutReplicas(key) {
      const { master } = await shardOf(answering(), key);
      await onNode(master, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
    },
    pause(port) {
      paused.add(port);
      servers[ports.indexOf(port)]!.pause();
    },
    resume(port) {
      servers[ports.indexOf(port)]!.resume();
      paused.delete(port);
    },
    stop,
  };
}

/** Every node says cluster_state:ok, sees the same masters each with a replica, and every replica has synced. */
async function settled(ports: number[], replicated = true): Promise<void> {
  await until(async () => {
    const views = await Promise.all(ports.map((port) => onNode(port, async (r) => ({
      info: String(await r.cluster('INFO')),
      replication: await r.info('replication'),
      shards: ((await r.cluster('SLOTS')) as unknown[][]).filter((shard) => shard.length >= 4).length,
      // `<id> <ip:port@bus> <flags: myself,master,fail?…> …`
      masters: String(await r.cluster('NODES')).split('\n').map((line) => line.split(' '))
        .filter(([, , flags]) => flags?.split(',').includes('master') && !flags.includes('fail')).map(([, address]) => address).sort().join(),
    }))));
    return views.every((v) => v.info.includes('cluster_state:ok') && v.masters === views[0]!.masters && (!replicated || v.shards === NODES / 2)
      && (v.replication.includes('role:master') || v.replication.includes('master_link_status:up')));
  });
}

/** The master serving `key`'s slot and its replica, by port, as the first node that answers sees them. */
async function shardOf(ports: number[], key: string): Promise<{ master: number; replica: number }> {
  const [port, ...others] = ports;
  return onNode(port!, async (r) => {
    const slot = Number(await r.cluster('KEYSLOT', key));
    const shards = await r.cluster('SLOTS');
    const shard = shards.find(([low, high]) => low <= slot && slot <= high);
    if (!shard || shard.length < 4) throw new Error(`no master with a replica serves slot ${slot}`);
    return { master: shard[2]![1], replica: shard[3]![1] };
  }).catch((err: Error) => {
    if (others.length === 0 || !/ECONNREFUSED|Connection is closed|timed out/.test(err.message)) throw err;
    return shardOf(others, key);
  });
}

async function onNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  // a node that does not answer (stopped, or starved on a loaded machine) is an error to retry, not a wait for ever
  const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000, commandTimeout: 3000 });
  redis.on('error', () => undefined);
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the Redis Cluster did not settle within 15 s');
}

/** `count` ports p such that p and p + 10000 (its cluster bus) are both free, below the kernel's ephemeral range. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (!ports.includes(port) && await listenable(port) && await listenable(port + 10_000)) ports.push(port);
  }
  return ports;
}

