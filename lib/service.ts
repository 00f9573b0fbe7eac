/**
 * The whole service, embeddable: a game backend can start it in its own process with
 * `startService(config)`; `npm start` does the same through lib/main.ts.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Chain } from './chain/chain.js';
import { DevChain } from './chain/dev-chain.js';
import { createNodeHttpApi } from './chain/node-http-api.js';
import { TxWatcher } from './chain/tx-watcher.js';
import { ChannelWatcher } from './chain/channel-watcher.js';
import { Registry } from './channel/registry.js';
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { RedisStore } from './store/redis-store.js';
import type { ChannelStore } from './store/store.js';
import { createTxKit } from './tx/channel-kit.js';
import { createChannelServer } from './ws/server.js';

export interface RunningService {
  /** ws://host:port/channel */
  channelUrl: string;
  /** http://host:port of the dev chain's node API */
  nodeUrl: string;
  chain: Chain;
  store: ChannelStore;
  registry: Registry;
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

export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const log = options.log ?? createLogger(config.logLevel);
  const store = options.store ?? (await RedisStore.connect({ url: config.redis.url, keyPrefix: config.redis.keyPrefix }));
  const chain = new DevChain({
    networkId: config.networkId,
    blockIntervalMs: config.chain.blockIntervalMs,
    genesisBalance: BigInt(config.chain.genesisBalance),
  });
  const watcher = new TxWatcher(chain);
  const channels = new ChannelWatcher(chain);
  const registry = new Registry();
  const kit = createTxKit(config.networkId);

  const nodeApi = createNodeHttpApi(chain, log);
  const { server: channelServer, wss } = createChannelServer({
    path: config.ws.path,
    maxFrameBytes: config.ws.maxFrameBytes,
    kit, chain, store, registry, log,
    sessionDeps: { store, chain, watcher, channels, log, maxFrameBytes: config.ws.maxFrameBytes },
  });

  const httpPort = await listen(nodeApi, config.http.host, config.http.port);
  const wsPort = await listen(channelServer, config.ws.host, config.ws.port);
  const service: RunningService = {
    channelUrl: `ws://${config.ws.host}:${wsPort}${config.ws.path}`,
    nodeUrl: `http://${config.http.host}:${httpPort}`,
    chain, store, registry,
    async stop() {
      for (const client of wss.clients) client.close(1001, 'service stopping');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await Promise.all([
        new Promise((resolve) => channelServer.close(resolve)),
        new Promise((resolve) => nodeApi.close(resolve)),
      ]);
      channelServer.closeAllConnections();
      nodeApi.closeAllConnections();
      watcher.close();
      channels.close();
      await chain.close();
      if (!options.store) await store.close();
    },
  };
  log.info('service started', { channel_url: service.channelUrl, node_url: service.nodeUrl, network_id: config.networkId });
  return service;
}
