/**
 * The entry point for a backend that embeds the service: start it in-process with the configuration
 * `npm start` would use (config/default.json, then the environment, then these options), and host
 * channel participants on it with the aepp-sdk `Channel`'s API and the backend's own key.
 */
import { loadConfig, type Config, type DeepPartial } from '../config.js';
import { createLogger, type Logger } from '../log.js';
import { startService, type RunningService } from '../service.js';
import { EmbeddedChannel, type EmbeddedChannelOptions } from './channel.js';

export interface EmbedOptions {
  /** settings over config/default.json and the environment, in the shape of config/default.json */
  config?: DeepPartial<Config>;
  /** the environment variables read as `npm start` reads them (default `process.env`; `{}` ignores the environment) */
  env?: NodeJS.ProcessEnv;
  /** a winston logger (default: JSON lines on stdout at `logLevel`) */
  log?: Logger;
}

export interface EmbeddedService {
  /** where wallets connect: ws://host:port/channel */
  readonly channelUrl: string;
  /** the node HTTP API: the embedded dev chain's, or the configured node's */
  readonly nodeUrl: string;
  /** the network id every signature is made and checked over */
  readonly networkId: string;
  /** the account channels name as delegate to be protected by the watchtower (null when it is off) */
  readonly watchtowerAddress: `ak_${string}` | null;
  /** the configuration it runs on, every default filled in */
  readonly config: Config;
  /**
   * The service underneath (store, chain, registry), for operators' tools and tests.
   * @internal
   */
  readonly service: RunningService;
  /**
   * A participant hosted in this process, as `Channel.initialize(options)` of the aepp-sdk: same options
   * (no `url`), same methods, events and results. Rejects with `ChannelRefusedError` (a
   * `ChannelConnectionError`) naming the node's reason when the service refuses it.
   */
  channel(options: EmbeddedChannelOptions): Promise<EmbeddedChannel>;
  /** Stops gracefully: in-process participants are disconnected, rounds being written finish, sockets close. */
  stop(): Promise<void>;
}

export async function startEmbedded(options: EmbedOptions = {}): Promise<EmbeddedService> {
  const config = loadConfig(options.env ?? process.env, options.config ?? {});
  const log = options.log ?? createLogger(config.logLevel);
  const service = await startService(config, { log });
  const live = new Set<EmbeddedChannel>();
  const host = {
    admission: service.admission,
    log,
    maxFrameBytes: config.ws.maxFrameBytes,
    track: (channel: EmbeddedChannel) => live.add(channel),
    forget: (channel: EmbeddedChannel) => live.delete(channel),
  };
  let stopping: Promise<void> | null = null;
  return {
    channelUrl: service.channelUrl,
    nodeUrl: service.nodeUrl,
    networkId: config.networkId,
    watchtowerAddress: service.watchtowerAddress,
    config,
    service,
    channel: (channelOptions) => {
      if (stopping) return Promise.reject(new Error('the service is stopping'));
      return EmbeddedChannel.initialize(host, channelOptions);
    },
    stop() {
      stopping ??= (async () => {
        await service.stop();
        for (const channel of [...live]) channel.disconnect();
      })();
      return stopping;
    },
  };
}
