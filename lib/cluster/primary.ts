/**
 * `npm start` with WORKERS > 1: this process forks that many service processes (node's cluster
 * module) behind the one WebSocket port: the primary accepts each connection, reads its request head
 * and hands the socket to the worker its channel hashes to (lib/cluster/affinity.ts), so a channel's
 * two participants meet on one worker; each worker hosts the FSMs of the sockets it was handed. See
 * docs/scaling.md.
 *
 * The primary hosts no FSM. It runs what there must be one of: the dev chain (its ledger in Redis,
 * its node HTTP API on HTTP_PORT; the workers follow it as an external node, CHAIN_NODE_URL) unless
 * CHAIN_NODE_URL names a node, and the ops listener on OPS_PORT with the workers' metrics summed up,
 * readiness over them all and the list of workers (each worker's own ops listener, on a port of its
 * own, has its FSMs, its feed, its dashboard). A worker that dies is started again (logged); SIGTERM
 * stops every worker gracefully, then the primary.
 */
import cluster, { type Worker } from 'node:cluster';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import { openDevChain } from '../chain/dev/open-dev-chain.js';
import { createNodeHttpApi } from '../chain/dev/node-http-api.js';
import { settingName, workerCount, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { listen, watchtowerAccount, WATCHTOWER_DEV_FUNDS } from '../service.js';
import { openStore } from '../store/open-store.js';
import { defaultInstanceId } from '../channel/ownership.js';
import { affinityKey, readHead, workerFor } from './affinity.js';

/** A worker that dies this soon after the one before it at the same place waits before it is started again. */
const CRASH_LOOP_MS = 10_000;
/** The longest wait before a worker that keeps dying is started again. */
const MAX_RESTART_DELAY_MS = 5_000;

/** The message a worker sends once its service is up. */
export interface WorkerUp {
  aesc: 'worker-up';
  opsUrl: string;
  /** the worker's own WebSocket listener (the public port is the primary's) */
  channelUrl: string;
}

/** The message the primary sends with a connection's socket: the bytes it read of it (base64). */
export interface RoutedConnection {
  aesc: 'connection';
  head: string;
}

interface Place {
  index: number;
  worker: Worker | null;
  up: WorkerUp | null;
  restarts: number;
  lastStart: number;
  restartTimer: NodeJS.Timeout | null;
}

export interface RunningPrimary {
  opsUrl: string;
  nodeUrl: string;
  stop(): Promise<void>;
}

/** A worker could not start: its own line is already on stderr; this one says which worker. */
export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
}

export async function startPrimary(config: Config, log: Logger): Promise<RunningPrimary> {
  const count = workerCount(config);
  const undo: Array<() => Promise<unknown>> = [];
  try {
    const chain = config.chain.nodeUrl ? null : await startChain(config, log);
    if (chain) undo.push(chain.stop);
    const nodeUrl = chain?.url ?? config.chain.nodeUrl;
    const places: Place[] = Array.from({ length: count }, (_, index) => ({ index, worker: null, up: null, restarts: 0, lastStart: 0, restartTimer: null }));
    let stopping = false;
    let startedAll = false;

    const ops = createPrimaryOps(config.ops.token, places);
    undo.push(() => closeServer(ops));
    const opsPort = await listen(ops, config.ops.host, config.ops.port, { host: settingName('/ops/host'), port: settingName('/ops/port') }, true);
    const opsUrl = `http://${config.ops.host.includes(':') ? `[${config.ops.host}]` : config.ops.host}:${opsPort}`;

    let failStart: (err: Error) => void = () => undefined;
    const allUp = new Promise<void>((resolve, reject) => {
      failStart = reject;
      const check = () => { if (places.every((p) => p.up)) resolve(); };
      cluster.on('message', (worker, message: Partial<WorkerUp>) => {
        if (message?.aesc !== 'worker-up') return;
        const place = places.find((p) => p.worker === worker);
        if (!place) return;
        place.up = message as WorkerUp;
        log.info('worker up', { worker: place.index, pid: worker.process.pid, ops_url: message.opsUrl });
        check();
      });
    });

    const fork = (place: Place) => {
      place.restartTimer = null;
      place.lastStart = Date.now();
      place.up = null;
      const worker = cluster.fork({
        AESC_WORKER: String(place.index),
        // the workers follow the primary's dev chain as an external node; each has its own ops port
        ...(chain && { CHAIN_NODE_URL: chain.url }),
        OPS_PORT: '0',
        // and its own WebSocket port, where nobody connects: the primary hands it its sockets
        WS_PORT: '0',
        // an owner of FSM leases of its own, the same again after a restart in its place
        INSTANCE_ID: `${config.lease.instanceId || defaultInstanceId(config.ws.port)}:w${place.index}`,
      });
      place.worker = worker;
      worker.on('exit', (code, signal) => {
        if (place.worker !== worker) return;
        place.worker = null;
        place.up = null;
        if (stopping) return;
        if (!startedAll) {
          failStart(new WorkerStartError(`worker ${place.index} exited while starting (${signal ?? `exit code ${code}`}); stopping`));
          return;
        }
        const quick = Date.now() - place.lastStart < CRASH_LOOP_MS;
        place.restarts++;
        const delay = quick ? Math.min(MAX_RESTART_DELAY_MS, 500 * place.restarts) : 0;
        log.error('worker died; starting another', { worker: place.index, pid: worker.process.pid, code, signal, restarts: place.restarts, delay_ms: delay });
        place.restartTimer = setTimeout(() => fork(place), delay);
      });
    };

    const stopWorkers = async () => {
      stopping = true;
      const exits: Array<Promise<unknown>> = [];
      for (const place of places) {
        if (place.restartTimer) clearTimeout(place.restartTimer);
        const worker = place.worker;
        if (!worker || worker.isDead()) continue;
        exits.push(new Promise((resolve) => worker.once('exit', resolve)));
        worker.process.kill('SIGTERM');
      }
      await Promise.all(exits);
    };
    undo.push(stopWorkers);

    for (const place of places) fork(place);
    await allUp;
    startedAll = true;
    const channels = await routeConnections(config, places, log);
    undo.push(() => closeServer(channels.server));
    log.info('service started', { workers: count, ops_url: opsUrl, node_url: nodeUrl, channel_url: channels.url });
    return {
      opsUrl,
      nodeUrl,
      async stop() {
        log.info('service stopping', { workers: count });
        // no new connection first; the workers then drain theirs
        await closeServer(channels.server);
        await stopWorkers();
        await closeServer(ops);
        await chain?.stop();
        log.info('service stopped');
      },
    };
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw err;
  }
}

function closeServer(server: Server | net.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  if ('closeAllConnections' in server) server.closeAllConnections();
  return closed;
}

/**
 * The public WebSocket port: each connection goes, with what was read of its request head, to the
 * worker its channel hashes to (lib/cluster/affinity.ts), or the next one up if that one is not.
 */
async function routeConnections(config: Config, places: Place[], log: Logger): Promise<{ server: net.Server; url: string }> {
  let turn = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    readHead(socket, (head) => {
      const index = workerFor(affinityKey(head.toString('latin1')), places.length, (i) => !!places[i]!.up && !!places[i]!.worker?.isConnected(), () => turn++);
      const worker = index === null ? null : places[index]!.worker;
      if (!worker) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const message: RoutedConnection = { aesc: 'connection', head: head.toString('base64') };
      worker.send(message, socket, { keepOpen: false }, (err) => {
        if (!err) return;
        log.warn('could not hand a connection to its worker', { worker: index, error: err.message });
        socket.destroy();
      });
    });
  });
  const port = await listen(server, config.ws.host, config.ws.port, { host: settingName('/ws/host'), port: settingName('/ws/port') });
  return { server, url: `ws://${config.ws.host}:${port}${config.ws.path}` };
}

/** The dev chain, once for all workers: on the shared store, funding the watchtower's key as a single service does. */
async function startChain(config: Config, log: Logger): Promise<{ url: string; stop(): Promise<void> }> {
  const opened = await openStore(config, log);
  try {
    const watchtowerKey = await watchtowerAccount(config, opened.store);
    const chain = await openDevChain({
      networkId: config.networkId,
      blockIntervalMs: config.chain.blockIntervalMs,
      genesisBalance: BigInt(config.chain.genesisBalance),
      genesisAccounts: watchtowerKey ? [[watchtowerKey.address, WATCHTOWER_DEV_FUNDS]] : [],
      onError: (err) => log.error('dev chain block failed', { error: err.message }),
    }, opened.backend);
    const api = createNodeHttpApi(chain, log);
    // every worker's FSMs reach the chain through it, over kept-alive connections: a server that
    // closes an idle one just as a worker sends on it makes that request fail (socket hang up), and a
    // failed post of a co-signed tx is reported to the clients as refused. Idle connections are
    // closed by the workers' side first.
    api.keepAliveTimeout = 65_000;
    api.headersTimeout = 66_000;
    try {
      const port = await listen(api, config.http.host, config.http.port, { host: settingName('/http/host'), port: settingName('/http/port') });
      const host = ['0.0.0.0', '::', '[::]'].includes(config.http.host) ? '127.0.0.1' : config.http.host;
      return {
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
        async stop() {
          await closeServer(api);
          await chain.close();
          await opened.close();
        },
      };
    } catch (err) {
      await chain.close();
      throw err;
    }
  } catch (err) {
    await opened.close();
    throw err;
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * The primary's ops listener: /health (the primary lives, and how many workers are up), /ready (every
 * worker ready), /metrics (every worker's, summed by prom-client's AggregatorRegistry: counters and
 * gauges add up, so `aesc_channels` is the whole service's), /workers (each worker's pid and own ops
 * URL, where its channels, feed and dashboard are).
 */
function createPrimaryOps(token: string, places: Place[]): Server {
  const expected = token ? digest(token) : null;
  const aggregator = new AggregatorRegistry();
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(`${JSON.stringify(body)}\n`);
  };
  const authorized = (req: IncomingMessage) => {
    if (!expected) return true;
    const offered = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    return offered !== undefined && timingSafeEqual(digest(offered), expected);
  };
  const workers = () => places.map((p) => ({
    worker: p.index, pid: p.worker?.process.pid ?? null, up: !!p.up, restarts: p.restarts, ops_url: p.up?.opsUrl ?? null,
  }));
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://ops').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method_not_allowed', detail: 'the ops endpoints answer GET only' });
    const up = places.filter((p) => p.up).length;
    if (path === '/health') return json(res, 200, { status: 'ok', workers_up: up, workers: places.length });
    if (path === '/ready') {
      const answers = await Promise.all(places.map(async (p) => {
        if (!p.up) return { worker: p.index, ready: false, reason: 'not up' };
        const reply = await fetch(`${p.up.opsUrl}/ready`).then(async (r) => ({ ready: r.ok, ...(await r.json() as object) }), (err: Error) => ({ ready: false, reason: err.message }));
        return { worker: p.index, ...reply };
      }));
      const ready = answers.every((a) => a.ready);
      return json(res, ready ? 200 : 503, { ready, workers: answers });
    }
    if (!authorized(req)) return json(res, 401, { error: 'unauthorized', detail: 'send Authorization: Bearer <OPS_TOKEN>' });
    if (path === '/metrics') {
      const text = await aggregator.clusterMetrics();
      res.writeHead(200, { 'content-type': aggregator.contentType });
      res.end(text);
      return;
    }
    if (path === '/workers') return json(res, 200, { workers: workers() });
    json(res, 404, {
      error: 'not_found',
      detail: `no ${path} on the primary: it has /health, /ready, /metrics and /workers; channels, the feed and the dashboard are on each worker's ops_url (/workers)`,
    });
  };
  return createServer((req, res) => {
    void handle(req, res).catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { error: 'internal_error', detail: err.message });
      else res.destroy();
    });
  });
}
