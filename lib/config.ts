/**
 * Configuration: config/default.json, overridden by environment variables, validated against
 * schemas/config.schema.json before anything starts. A bad value stops the service with one line.
 */
import { readFileSync } from 'node:fs';
import { describeErrors, validator } from './schemas.js';
import type { Timeouts } from '../fsm/types.js';

export interface Config {
  networkId: string;
  logLevel: 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
  ws: { host: string; port: number; path: string; maxFrameBytes: number };
  http: { host: string; port: number };
  redis: { url: string; keyPrefix: string };
  chain: { blockIntervalMs: number; genesisBalance: string; nodeUrl: string; pollMs: number };
  watchtower: { enabled: boolean; secretKey: string };
  timeouts: Timeouts;
  limits: { maxChannels: number; maxConnectionsPerAddress: number; hibernateAfterMs: number };
}

/** Environment variable → where it lands in the config, and whether it is a number. */
const ENV: Array<[string, string[], 'number' | 'string' | 'boolean']> = [
  ['NETWORK_ID', ['networkId'], 'string'],
  ['LOG_LEVEL', ['logLevel'], 'string'],
  ['WS_HOST', ['ws', 'host'], 'string'],
  ['WS_PORT', ['ws', 'port'], 'number'],
  ['MAX_FRAME_BYTES', ['ws', 'maxFrameBytes'], 'number'],
  ['HTTP_HOST', ['http', 'host'], 'string'],
  ['HTTP_PORT', ['http', 'port'], 'number'],
  ['REDIS_URL', ['redis', 'url'], 'string'],
  ['REDIS_KEY_PREFIX', ['redis', 'keyPrefix'], 'string'],
  ['BLOCK_INTERVAL_MS', ['chain', 'blockIntervalMs'], 'number'],
  ['CHAIN_NODE_URL', ['chain', 'nodeUrl'], 'string'],
  ['CHAIN_POLL_MS', ['chain', 'pollMs'], 'number'],
  ['WATCHTOWER', ['watchtower', 'enabled'], 'boolean'],
  ['WATCHTOWER_SECRET_KEY', ['watchtower', 'secretKey'], 'string'],
  ['MAX_CHANNELS', ['limits', 'maxChannels'], 'number'],
  ['MAX_CONNECTIONS_PER_ADDRESS', ['limits', 'maxConnectionsPerAddress'], 'number'],
  ['HIBERNATE_AFTER_MS', ['limits', 'hibernateAfterMs'], 'number'],
  ...(['accept', 'funding_create', 'funding_sign', 'funding_lock', 'sign', 'idle', 'awaiting_open', 'initialized'] as const)
    .map((name): [string, string[], 'number'] => [`TIMEOUT_${name.toUpperCase()}`, ['timeouts', name], 'number']),
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: DeepPartial<Config> = {}): Config {
  const config = JSON.parse(readFileSync(new URL('../config/default.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  for (const [name, path, type] of ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (type === 'number' && /^\d+$/.test(raw)) value = Number(raw);
    if (type === 'boolean' && /^(true|false)$/.test(raw)) value = raw === 'true';
    setPath(config, path, value);
  }
  merge(config, overrides as Record<string, unknown>);
  const validate = validator<Config>('config.schema.json');
  if (!validate(config)) throw new ConfigError(`invalid configuration: ${describeErrors(validate.errors)}`);
  return config;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[path.at(-1)!] = value;
}

function merge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) merge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    else if (value !== undefined) target[key] = value;
  }
}
