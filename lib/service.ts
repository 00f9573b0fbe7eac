/**
 * The whole service, embeddable: a game backend can start it in its own process with
 * `startService(config)`; `npm start` does the same through lib/main.ts.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AccountMemory } from '@aeternity/aepp-sdk';
import type { AccountId } from '../fsm/types.js';
import type { Chain } from './chain/chain.js';
import { ChannelWatcher } from './chain/channel-watcher.js';
import { DevChain } from './chain/dev-chain.js';
import { NodeChain } from './chain/node-chain.js';
import { createNodeHttpApi } from './chain/node-http-api.js';
import { TxWatcher } from './chain/tx-watcher.js';
import { startHibernation } from './channel/hibernation.js';
import { Registry } from './channel/registry.js';
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { RedisStore } from './store/redis-store.js';
import type { ChannelStore } from './store/store.js';
import { createTxKit } from './tx/channel-kit.js';
import { Watchtower } from './watchtower.js';
import { createChannelServer } from './ws/server.js';

/** How long a shutdown waits for store writes under way. */
const SHUTDOWN_GRACE_MS = 5_000;

/** What the dev chain gives the watchtower's key at genesis, so it can pay slash fees. */
const WATCHTOWER_DEV_FUNDS = 10n ** 24n;

export interface RunningService {
  /** ws://host:port/channel */
  channelUrl: string;
  /** the node HTTP API: the embedded dev chain's, or the external node's */
  nodeUrl: string;
  chain: Chain;
  store: ChannelStore;
  registry: Registry;
  /** the account channels name as delegate to be protected by the watchtower (null when it is off) */
  watchtowerAddress: AccountId | null;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  log?: Logger;
  store?: ChannelStore;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** The watchtower's key: configured, or made once and kept in the store so restarts keep the address. */
async function watchtowerAccount(config: Config, store: ChannelStore): Promise<AccountMemory | null> {
  if (!config.watchtower.enabled) return null;
  const secret = config.watchtower.secretKey || (await store.serviceValue('watchtower-secret-key', () => AccountMemory.generate().secretKey));
  return new AccountMemory(secret as `sk_${string}`);
}

export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const log = options.log ?? createLogger(config.logLevel);
  const store = options.store ?? (await RedisStore.connect({ url: config.redis.url, keyPrefix: config.redis.keyPrefix }));
  const watchtowerKey = await watchtowerAccount(config, store);

  let chain: Chain;
  let nodeApi: Server | null = null;
  if (config.chain.nodeUrl) {
    chain = new NodeChain({ url: config.chain.nodeUrl, networkId: config.networkId, pollMs: config.chain.pollMs });
  } else {
    const devChain = new DevChain({
      networkId: config.networkId,
      blockIntervalMs: config.chain.blockIntervalMs,
      genesisBalance: BigInt(config.chain.genesisBalance),
      genesisAccounts: watchtowerKey ? [[watchtowerKey.address, WATCHTOWER_DEV_FUNDS]] : [],
    });
    chain = devChain;
    nodeApi = createNodeHttpApi(devChain, log);
  }
  const watcher = new TxWatcher(chain);
  const channels = new ChannelWatcher(chain);
  const registry = new Registry();
  const stopHibernation = startHibernation(registry, config.limits.hibernateAfterMs);
  const kit = createTxKit(config.networkId);
  const watchtower = watchtowerKey ? new Watchtower({ account: watchtowerKey, chain, store, channels, registry, kit, log }) : null;

  const { server: channelServer, wss } = createChannelServer({
    watchtowerAddress: watchtower?.address ?? null,
    timeouts: config.timeouts,
    limits: config.limits,
    path: config.ws.path,
    maxFrameBytes: config.ws.maxFrameBytes,
    kit, chain, store, registry, log,
    sessionDeps: {
      store, chain, watcher, channels, log, maxFrameBytes: config.ws.maxFrameBytes,
      onChannelStored: (id) => void watchtower?.consider(id),
    },
  });

  const nodeUrl = nodeApi ? `http://${config.http.host}:${await listen(nodeApi, config.http.host, config.http.port)}` : config.chain.nodeUrl;
  const wsPort = await listen(channelServer, config.ws.host, config.ws.port);
  // after the node API is up (its own chain may be the one it answers for): catch up on what happened while down
  await watchtower?.start();

  const service: RunningService = {
    channelUrl: `ws://${config.ws.host}:${wsPort}${config.ws.path}`,
    nodeUrl,
    chain, store, registry,
    watchtowerAddress: watchtower?.address ?? null,
    /**
     * Graceful: stop accepting, let every round being written finish (its acknowledgement then goes
     * out, or it never does), then close the clients' sockets and the store.
     */
    async stop() {
      stopHibernation();
      watchtower?.close();
      const closed = new Promise((resolve) => channelServer.close(resolve));
      await Promise.race([
        Promise.all(registry.all().map((session) => session.drain())),
        new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS)),
      ]);
      for (const session of registry.all()) session.dispose();
      for (const client of wss.clients) client.close(1001, 'service stopping');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      channelServer.closeAllConnections();
      await closed;
      if (nodeApi) {
        await new Promise((resolve) => nodeApi.close(resolve));
        nodeApi.closeAllConnections();
      }
      watcher.close();
      channels.close();
      await chain.close();
      if (!options.store) await store.close();
    },
  };
  log.info('service started', {
    channel_url: service.channelUrl, node_url: service.nodeUrl, network_id: config.networkId, watchtower: service.watchtowerAddress,
  });
  return service;
}
