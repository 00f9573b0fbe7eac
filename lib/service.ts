/**
 * The whole service, embeddable: a game backend can start it in its own process with
 * `startService(config)`; `npm start` does the same through lib/main.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { AccountId } from '../fsm/types.js';
import type { Chain } from './chain/types.js';
import { ChannelWatcher } from './chain/channel-watcher.js';
import { openDevChain } from './chain/dev/open-dev-chain.js';
import { NodeChain } from './chain/node-chain.js';
import { createNodeHttpApi } from './chain/dev/node-http-api.js';
import { TxWatcher } from './chain/tx-watcher.js';
import { startHibernation } from './channel/hibernation.js';
import { createAdmission, type Admission } from './channel/admission.js';
import { defaultInstanceId, Ownership } from './channel/ownership.js';
import { Registry } from './channel/registry.js';
import { PeerLinks } from './channel/peer-links.js';
import { InstancePairing } from './channel/instance-pairing.js';
import { ClientPresence } from './channel/presence.js';
import { advertisedPeerHost, ConfigError, parsePortList, selfHosts, settingName, type Config } from './config.js';
import { PeerWire } from './peer/wire.js';
import { checkNode } from './chain/node-check.js';
import { createLogger, type Logger } from './log.js';
import { OpsEvents } from './ops/events.js';
import { EventFeed } from './ops/feed.js';
import { ReadinessMonitor } from './ops/health.js';
import { logLifecycle } from './ops/log-events.js';
import { Metrics } from './ops/metrics.js';
import { createOpsServer } from './ops/server.js';
import type { StoreBackend } from './store/backend.js';
import { openStore, type OpenedStore } from './store/open-store.js';
import { RedisInstanceDirectory } from './store/instance-directory.js';
import { RedisPairingDirectory } from './store/pairing-directory.js';
import type { ChannelStore } from './store/store.js';
import { createTxKit } from './tx/channel-kit.js';
import { ServiceKey } from './tx/service-key.js';
import { Watchtower } from './watchtower.js';
import { AloneScope, SharedScope, type WatchScope } from './watchtower/sharing.js';
import { reportChannelsNotOnChain } from './chain-audit.js';
import { advertise, type ForwardingOptions } from './ws/forwarding.js';
import { createChannelServer } from './ws/server.js';

/** How long a shutdown waits for store writes under way. */
const SHUTDOWN_GRACE_MS = 5_000;

/** How long a shutdown waits for clients to answer the close frame before cutting their sockets. */
const CLOSE_ANSWER_MS = 1_000;

/** How often readiness is checked in the background, so trouble is logged when it begins. */
const READINESS_EVERY_MS = 5_000;

/** What the dev chain gives the watchtower's key at genesis, so it can pay slash fees. */
export const WATCHTOWER_DEV_FUNDS = 10n ** 24n;

export interface RunningService {
  /** ws://host:port/channel */
  channelUrl: string;
  /** the node HTTP API: the embedded dev chain's, or the external node's */
  nodeUrl: string;
  chain: Chain;
  store: ChannelStore;
  /** where the store (and the dev chain's ledger) live */
  backend: StoreBackend;
  registry: Registry;
  /** the link to participants on other services: the ports listened on, for operators and tests */
  peers: PeerLinks;
  /** how a client becomes a session: the WebSocket server's way in, and in-process participants' */
  admission: Admission;
  /** the network id every signature is made and checked over */
  networkId: string;
  /** the account channels name as delegate to be protected by the watchtower (null when it is off) */
  watchtowerAddress: AccountId | null;
  /** http://OPS_HOST:port: health, readiness, metrics, channels, the event feed (ws://…/events), the dashboard */
  opsUrl: string;
  /** lifecycle events (and, while a reader listens, the clients' events) */
  events: OpsEvents;
  metrics: Metrics;
  /** Serves a connection accepted elsewhere (a WORKERS primary's), whose first bytes were read there: `head`. */
  acceptConnection(socket: Socket, head: Buffer): void;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  log?: Logger;
}

/**
 * Listens, or fails with one line naming the setting that cannot work (`WS_PORT=3014: … in use`).
 * `exclusive`: a cluster worker binds a socket of its own rather than share the primary's (WORKERS).
 */
export function listen(server: NetServer, host: string, port: number, settings: { host: string; port: string }, exclusive = false): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenFailure(err as NodeJS.ErrnoException, host, port, settings)));
    server.listen({ port, host, exclusive }, () => resolve((server.address() as AddressInfo).port));
  });
}

function listenFailure(err: NodeJS.ErrnoException, host: string, port: number, settings: { host: string; port: string }): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(`${settings.port}=${port}: ${host}:${port} is already in use; must be a free port (0 picks one)`);
    case 'EACCES':
      return new ConfigError(`${settings.port}=${port}: this user may not listen on ${host}:${port}; must be a port above 1023 (0 picks one)`);
    case 'EADDRNOTAVAIL':
      return new ConfigError(`${settings.host}=${host}: not an address of this machine; must be one of its addresses (127.0.0.1, 0.0.0.0, …)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`${settings.host}=${host}: unknown host; must be an address or a name of this machine`);
    default:
      return err;
  }
}

/** Runs the undo steps of a start-up that failed half-way, newest first, so an embedder's process is left as it was. */
async function undo(steps: Array<() => unknown>): Promise<void> {
  for (const step of steps.reverse()) await Promise.resolve().then(step).catch(() => undefined);
}

/** The watchtower's key: configured, or made once and kept in the store so restarts keep the address. */
export async function watchtowerAccount(config: Config, store: ChannelStore): Promise<ServiceKey | null> {
  if (!config.watchtower.enabled) return null;
  const secret = config.watchtower.secretKey || (await store.serviceValue('watchtower-secret-key', () => ServiceKey.generate()));
  return new ServiceKey(secret as `sk_${string}`);
}

export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const log = options.log ?? createLogger(config.logLevel);
  // before anything is opened: a node that does not answer, or answers for another network, is a bad setting
  if (config.chain.nodeUrl) await checkNode(config.chain.nodeUrl, config.networkId);
  const opened = await openStore(config, log);
  /** what to close if start-up fails after this point */
  const undoSteps: Array<() => unknown> = [() => opened.close()];
  try {
    return await startOn(config, log, opened, undoSteps);
  } catch (err) {
    await undo(undoSteps);
    throw err;
  }
}

async function startOn(config: Config, log: Logger, opened: OpenedStore, undoSteps: Array<() => unknown>): Promise<RunningService> {
  const { store } = opened;
  const backend: StoreBackend = opened.backend;
  const events = new OpsEvents();
  const metrics = new Metrics();
  undoSteps.push(logLifecycle(events, log), metrics.follow(events));
  const watchtowerKey = await watchtowerAccount(config, store);

  let chain: Chain;
  let nodeApi: Server | null = null;
  if (config.chain.nodeUrl) {
    chain = new NodeChain({ url: config.chain.nodeUrl, networkId: config.networkId, pollMs: config.chain.pollMs });
  } else {
    // kept in the store's backend: a restart continues the chain the stored channels live on
    const devChain = await openDevChain({
      networkId: config.networkId,
      blockIntervalMs: config.chain.blockIntervalMs,
      genesisBalance: BigInt(config.chain.genesisBalance),
      genesisAccounts: watchtowerKey ? [[watchtowerKey.address, WATCHTOWER_DEV_FUNDS]] : [],
      onError: (err) => log.error('dev chain block failed', { error: err.message }),
    }, backend);
    chain = devChain;
    nodeApi = createNodeHttpApi(devChain, log);
  }
  undoSteps.push(() => chain.close());
  const watcher = new TxWatcher(chain);
  const channels = new ChannelWatcher(chain);
  undoSteps.push(() => watcher.close(), () => channels.close());
  const registry = new Registry();
  const chainHash = await chain.genesisHash();
  const { peer } = config;
  const hostsOfThisService = selfHosts(peer);
  const peers = new PeerLinks({
    registry, log,
    selfHosts: hostsOfThisService,
    listen: { host: peer.host, maxSessionsPerPort: peer.maxSessionsPerPort, handshakeTimeoutMs: peer.handshakeTimeoutMs, maxMessage: peer.maxMessageBytes },
    dial: {
      connectTimeoutMs: peer.connectTimeoutMs, retryDelayMs: peer.redialDelayMs, attempts: peer.dialAttempts,
      handshakeTimeoutMs: peer.handshakeTimeoutMs, maxMessage: peer.maxMessageBytes,
    },
    replyTimeoutMs: peer.replyTimeoutMs,
    newWire: () => new PeerWire({ chainHash }),
    chain,
  });
  undoSteps.push(() => peers.close());
  // on a Redis other instances may share, responders waiting here can be found from there
  let instances: InstancePairing | null = null;
  let directory: RedisPairingDirectory | null = null;
  if (backend.kind === 'redis') {
    directory = await RedisPairingDirectory.connect(backend);
    undoSteps.push(() => directory?.close());
    instances = new InstancePairing({
      registry, peers, directory, log, advertiseHost: advertisedPeerHost(peer),
      listen: { host: peer.host, maxSessionsPerPort: peer.maxSessionsPerPort, handshakeTimeoutMs: peer.handshakeTimeoutMs, maxMessage: peer.maxMessageBytes },
      dial: { connectTimeoutMs: peer.connectTimeoutMs, handshakeTimeoutMs: peer.handshakeTimeoutMs, maxMessage: peer.maxMessageBytes },
    });
    undoSteps.push(() => instances?.close());
  }
  registry.connectRemote(instances ?? peers);
  const stopHibernation = startHibernation(registry, config.limits.hibernateAfterMs);
  undoSteps.push(stopHibernation);
  const kit = createTxKit(config.networkId);
  // on a store several instances may share, each FSM runs in the one holding its lease
  const instanceId = config.lease.instanceId || defaultInstanceId(config.ws.port);
  const ownership = opened.leases && new Ownership({
    leases: opened.leases, owner: instanceId, ttlMs: config.lease.ttlMs, renewMs: config.lease.renewMs, log,
  });
  undoSteps.push(() => ownership?.close());
  // on a store several instances may share, where each client is attached is seen from all of them (for the watchtower)
  const presence = opened.attachments && await ClientPresence.start({
    attachments: opened.attachments, instance: instanceId, ttlMs: config.lease.ttlMs, everyMs: config.lease.renewMs, log,
  });
  undoSteps.push(() => presence?.close());
  // on a store several instances may share, each channel is watched by one live instance (its heartbeat on the lease timer)
  const scope: WatchScope = opened.watchShare
    ? new SharedScope({ share: opened.watchShare, instanceId, ttlMs: config.lease.ttlMs, everyMs: config.lease.renewMs, log })
    : new AloneScope(() => store.channelIds());
  const watchtower = watchtowerKey
    ? new Watchtower({ account: watchtowerKey, chain, store, channels, registry, kit, log, events, scope, attachments: opened.attachments })
    : null;
  undoSteps.push(() => watchtower?.close());

  const admission = createAdmission({
    watchtowerAddress: watchtower?.address ?? null,
    timeouts: config.timeouts,
    limits: config.limits,
    responderPorts: parsePortList(config.peer.ports),
    remoteHost: (host) => !hostsOfThisService.has(host.toLowerCase()),
    kit, chain, store, registry, log, ownership,
    sessionDeps: {
      store, chain, watcher, channels, log, events, metrics, presence,
      onChannelStored: (id) => void watchtower?.consider(id),
    },
  });
  // on a store other instances share, a client whose FSM another instance hosts is relayed there
  let forwarding: ForwardingOptions | null = null;
  let instanceDirectory: RedisInstanceDirectory | null = null;
  if (ownership && directory && backend.kind === 'redis') {
    instanceDirectory = new RedisInstanceDirectory(directory.connection, backend.keyPrefix);
    forwarding = {
      // made by the first instance and kept in the store: every instance on it shows the same (never logged)
      secret: await store.serviceValue('forward-secret', () => randomBytes(32).toString('hex')),
      directory: instanceDirectory,
      connectTimeoutMs: config.peer.connectTimeoutMs,
    };
  }
  const channelServers = createChannelServer({
    limits: config.limits, path: config.ws.path, maxFrameBytes: config.ws.maxFrameBytes, log, admission, events, forwarding,
  });
  const { server: channelServer, wss, internal } = channelServers;
  metrics.attach({
    channelsByState() {
      const counts = new Map<string, number>();
      for (const session of registry.all()) if (!session.isStopped) counts.set(session.stateName, (counts.get(session.stateName) ?? 0) + 1);
      return counts;
    },
    clientConnections: () => wss.clients.size,
    watchtowerChannels: () => watchtower?.watching ?? 0,
    forwardedConnections: () => channelServers.relaying,
  });
  const readiness = new ReadinessMonitor({ store, chain, events, metrics, chainStallMs: config.ops.chainStallMs });
  undoSteps.push(() => readiness.close());
  const feed = new EventFeed(events);
  undoSteps.push(() => feed.close());
  const opsServer = createOpsServer({
    token: config.ops.token, registry, store, metrics, readiness, feed,
    watchtower: watchtower && {
      instanceId: scope.instanceId, instances: () => watchtower.instances, channels: () => watchtower.watchedChannels(),
    },
  });
  undoSteps.push(() => opsServer.listening && new Promise((resolve) => { opsServer.close(resolve); opsServer.closeAllConnections(); }));
  // first, whatever the chain: an operator sees a service that is up but not ready
  // a port of its own in each cluster worker (WORKERS): its FSMs, its feed, its readiness
  const opsPort = await listen(opsServer, config.ops.host, config.ops.port, { host: settingName('/ops/host'), port: settingName('/ops/port') }, true);
  readiness.start(READINESS_EVERY_MS);

  let nodeUrl = config.chain.nodeUrl;
  if (nodeApi) {
    const api = nodeApi;
    undoSteps.push(() => api.listening && new Promise((resolve) => api.close(resolve)));
    const port = await listen(api, config.http.host, config.http.port, { host: settingName('/http/host'), port: settingName('/http/port') });
    nodeUrl = `http://${config.http.host}:${port}`;
  }
  // the internal port for forwarded clients: on PEER_HOST, beside the internal peer ports, one of its own per process;
  // listened on and advertised before the clients' port opens, so a service whose clients' port answers
  // can be forwarded to, and a failure here never closes a port that already answered
  let withdraw: (() => Promise<void>) | null = null;
  if (internal && instanceDirectory && ownership) {
    undoSteps.push(() => internal.listening && new Promise((resolve) => internal.close(resolve)));
    const port = await listen(internal, config.peer.host, 0, { host: settingName('/peer/host'), port: settingName('/peer/host') }, true);
    const host = advertisedPeerHost(peer);
    withdraw = await advertise(instanceDirectory, ownership.owner, `${host.includes(':') ? `[${host}]` : host}:${port}`, log);
    undoSteps.push(() => withdraw?.());
  }
  undoSteps.push(() => channelServer.listening && new Promise((resolve) => channelServer.close(resolve)));
  // exclusive: a cluster worker listens on a port of its own; the primary hands it its channels' sockets (acceptConnection)
  const wsPort = await listen(channelServer, config.ws.host, config.ws.port, { host: settingName('/ws/host'), port: settingName('/ws/port') }, true);
  // after the node API is up (its own chain may be the one it answers for): catch up on what happened while down
  await watchtower?.start();
  // in the background: with a remote node this asks about every channel, and nothing waits on it
  reportChannelsNotOnChain(store, chain, log).catch((err: Error) => log.warn('could not compare the stored channels with the chain', { error: err.message }));

  const service: RunningService = {
    channelUrl: `ws://${config.ws.host}:${wsPort}${config.ws.path}`,
    nodeUrl,
    chain, store, backend, registry, peers, admission, networkId: config.networkId,
    watchtowerAddress: watchtower?.address ?? null,
    opsUrl: `http://${config.ops.host.includes(':') ? `[${config.ops.host}]` : config.ops.host}:${opsPort}`,
    events,
    metrics,
    acceptConnection(socket, head) {
      channelServer.emit('connection', socket);
      // the HTTP server's reader is in place now: what the primary read reaches it first
      socket.emit('data', head);
      socket.resume();
    },
    /**
     * Graceful: stop accepting, let every round being written finish (its acknowledgement then goes
     * out, or it never does), then close the clients' sockets and the store. Nothing of the service
     * is left to keep an embedder's event loop alive.
     */
    async stop() {
      log.info('service stopping');
      stopHibernation();
      readiness.close();
      // forwarders are refused at once from now on, rather than reaching an instance about to go
      await withdraw?.();
      // out of the live set at once: the other instances take its channels over at their next look
      await watchtower?.close();
      const closed = new Promise((resolve) => channelServer.close(resolve));
      const internalClosed = internal?.listening ? new Promise((resolve) => internal.close(resolve)) : null;
      // the grace timer is cleared once the writes are done: left running, it kept an embedder's
      // process alive for the whole grace period after stop() had returned
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(registry.all().map((session) => session.drain())),
        new Promise((resolve) => { grace = setTimeout(resolve, SHUTDOWN_GRACE_MS); }),
      ]);
      clearTimeout(grace);
      for (const session of registry.all()) session.dispose();
      // the FSMs' leases go with them: another instance may take each over at once
      await ownership?.close();
      // and their clients count as attached here no more: a watchtower elsewhere answers for them at once
      await presence?.close();
      // the links go with their FSMs: the peers' services see them drop and wait to reestablish
      await instances?.close();
      await directory?.close();
      await peers.close();
      for (const client of wss.clients) client.close(1001, 'service stopping');
      // a client that does not answer the close frame would hold the socket for ws's 30 s close timeout
      const wssClosed = new Promise<void>((resolve) => wss.close(() => resolve()));
      let answer: NodeJS.Timeout | undefined;
      await Promise.race([wssClosed, new Promise((resolve) => { answer = setTimeout(resolve, CLOSE_ANSWER_MS); })]);
      clearTimeout(answer);
      for (const client of wss.clients) client.terminate();
      await wssClosed;
      channelServer.closeAllConnections();
      internal?.closeAllConnections();
      await closed;
      await internalClosed;
      if (nodeApi) {
        const apiClosed = new Promise((resolve) => nodeApi.close(resolve));
        // keep-alive connections of wallets would otherwise hold the close open
        nodeApi.closeAllConnections();
        await apiClosed;
      }
      watcher.close();
      channels.close();
      await chain.close();
      await opened.close();
      feed.close();
      const opsClosed = new Promise((resolve) => opsServer.close(resolve));
      opsServer.closeAllConnections();
      await opsClosed;
      log.info('service stopped');
    },
  };
  log.info('service started', {
    channel_url: service.channelUrl, node_url: service.nodeUrl, ops_url: service.opsUrl, network_id: config.networkId, watchtower: service.watchtowerAddress,
    peer_host: config.peer.host, peer_ports: config.peer.ports || 'any',
    ...(ownership && { instance_id: ownership.owner, lease_ttl_ms: config.lease.ttlMs }),
  });
  return service;
}
