/**
 * aesc-service as a package: start the state channel service inside your own Node process and be a
 * channel participant with your own key, through the aepp-sdk `Channel`'s API, with no socket.
 *
 * ```ts
 * import { startEmbedded } from 'aesc-service';
 *
 * const service = await startEmbedded({ config: { ws: { port: 3014 } } });
 * const channel = await service.channel({ role: 'responder', initiatorId: 'any', responderId: backend.address, … });
 * channel.on('statusChanged', (status) => console.log(status));
 * await service.stop();
 * ```
 *
 * @packageDocumentation
 */
export { startEmbedded, type EmbedOptions, type EmbeddedService } from './embed/start.js';
export {
  EmbeddedChannel, ChannelRefusedError, type EmbeddedChannelOptions, type WithdrawCallbacks, type DepositCallbacks, type ChannelEvents, type ChannelStatus, type SignTx, type SignTxWithTag,
} from './embed/channel.js';
export type { AmountLike } from './embed/frames.js';
export { loadConfig, ConfigError, type Config, type DeepPartial } from './config.js';
export { createLogger, silentLogger, type Logger } from './log.js';
export type { Pending } from './embed/handlers.js';
export type { Timeouts } from '../fsm/types.js';
export {
  startPaywall, type Paywall, type PaywallOptions, type PaywallHandler, type PaywallVerdict, type PaywallRequest, type PaywallError, type PaymentRequired,
} from './embed/paywall.js';
