/**
 * Configuration: config/default.json, overridden by environment variables, validated against
 * schemas/config.schema.json before anything starts. A bad value stops the service with one line that
 * names the setting as the operator wrote it (its environment variable), the value and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname, networkInterfaces } from 'node:os';
import { decode } from './sdk.js';
import type { ErrorObject } from 'ajv';
import { packagePath } from './package-root.js';
import { redactUrl } from './redact.js';
import { subschema, validator } from './schemas.js';
import type { Timeouts } from '../fsm/types.js';

export interface Config {
  networkId: string;
  logLevel: 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
  /** service processes `npm start` runs on the one WebSocket port (lib/cluster/); `auto`: one per core */
  workers: number | 'auto';
  ws: { host: string; port: number; path: string; maxFrameBytes: number };
  http: { host: string; port: number };
  /** the ops listener: health, readiness, metrics, channels, event feed, dashboard */
  ops: { host: string; port: number; token: string; chainStallMs: number };
  /** the embedded store's directory, used when redis.url is empty */
  dataDir: string;
  /**
   * clusterNodes (host:port,…) runs the Redis store on Redis Cluster instead of the one Redis at url;
   * minReplicas: the replicas each co-signed write must reach within replicaWaitMs (lib/store/redis-replicas.ts)
   */
  redis: { url: string; clusterNodes: string; keyPrefix: string; minReplicas: number | 'auto'; replicaWaitMs: number };
  chain: { blockIntervalMs: number; genesisBalance: string; nodeUrl: string; pollMs: number };
  watchtower: { enabled: boolean; secretKey: string };
  timeouts: Timeouts;
  /** the link to participants on other services (docs/peer-protocol.md) */
  peer: {
    host: string; ports: string; selfHosts: string; maxSessionsPerPort: number; maxMessageBytes: number;
    handshakeTimeoutMs: number; connectTimeoutMs: number; redialDelayMs: number; dialAttempts: number;
    /** PEER_REPLY_TIMEOUT_MS: the reply watchdog of a link (lib/peer/link.ts) */
    replyTimeoutMs: number;
  };
  limits: { maxChannels: number; maxConnectionsPerAddress: number; hibernateAfterMs: number };
  /** ownership of each participant's FSM when several processes share Redis (lib/store/lease.ts) */
  lease: { ttlMs: number; renewMs: number; instanceId: string };
}

/** Environment variable → where it lands in the config, and whether it is a number. */
const ENV: Array<[string, string[], 'number' | 'string' | 'boolean']> = [
  ['NETWORK_ID', ['networkId'], 'string'],
  ['LOG_LEVEL', ['logLevel'], 'string'],
  ['WORKERS', ['workers'], 'number'],
  ['WS_HOST', ['ws', 'host'], 'string'],
  ['WS_PORT', ['ws', 'port'], 'number'],
  ['MAX_FRAME_BYTES', ['ws', 'maxFrameBytes'], 'number'],
  ['HTTP_HOST', ['http', 'host'], 'string'],
  ['HTTP_PORT', ['http', 'port'], 'number'],
  ['OPS_HOST', ['ops', 'host'], 'string'],
  ['OPS_PORT', ['ops', 'port'], 'number'],
  ['OPS_TOKEN', ['ops', 'token'], 'string'],
  ['OPS_CHAIN_STALL_MS', ['ops', 'chainStallMs'], 'number'],
  ['DATA_DIR', ['dataDir'], 'string'],
  ['REDIS_URL', ['redis', 'url'], 'string'],
  ['REDIS_CLUSTER_NODES', ['redis', 'clusterNodes'], 'string'],
  ['REDIS_KEY_PREFIX', ['redis', 'keyPrefix'], 'string'],
  ['REDIS_MIN_REPLICAS', ['redis', 'minReplicas'], 'number'],
  ['REDIS_REPLICA_WAIT_MS', ['redis', 'replicaWaitMs'], 'number'],
  ['BLOCK_INTERVAL_MS', ['chain', 'blockIntervalMs'], 'number'],
  ['CHAIN_NODE_URL', ['chain', 'nodeUrl'], 'string'],
  ['CHAIN_POLL_MS', ['chain', 'pollMs'], 'number'],
  ['WATCHTOWER', ['watchtower', 'enabled'], 'boolean'],
  ['WATCHTOWER_SECRET_KEY', ['watchtower', 'secretKey'], 'string'],
  ['PEER_HOST', ['peer', 'host'], 'string'],
  ['PEER_PORTS', ['peer', 'ports'], 'string'],
  ['PEER_SELF_HOSTS', ['peer', 'selfHosts'], 'string'],
  ['PEER_MAX_SESSIONS_PER_PORT', ['peer', 'maxSessionsPerPort'], 'number'],
  ['PEER_MAX_MESSAGE_BYTES', ['peer', 'maxMessageBytes'], 'number'],
  ['PEER_HANDSHAKE_TIMEOUT_MS', ['peer', 'handshakeTimeoutMs'], 'number'],
  ['PEER_CONNECT_TIMEOUT_MS', ['peer', 'connectTimeoutMs'], 'number'],
  ['PEER_REDIAL_DELAY_MS', ['peer', 'redialDelayMs'], 'number'],
  ['PEER_DIAL_ATTEMPTS', ['peer', 'dialAttempts'], 'number'],
  ['PEER_REPLY_TIMEOUT_MS', ['peer', 'replyTimeoutMs'], 'number'],
  ['MAX_CHANNELS', ['limits', 'maxChannels'], 'number'],
  ['MAX_CONNECTIONS_PER_ADDRESS', ['limits', 'maxConnectionsPerAddress'], 'number'],
  ['HIBERNATE_AFTER_MS', ['limits', 'hibernateAfterMs'], 'number'],
  ['LEASE_TTL_MS', ['lease', 'ttlMs'], 'number'],
  ['LEASE_RENEW_MS', ['lease', 'renewMs'], 'number'],
  ['INSTANCE_ID', ['lease', 'instanceId'], 'string'],
  ...(['accept', 'funding_create', 'funding_sign', 'funding_lock', 'sign', 'idle', 'awaiting_open', 'initialized'] as const)
    .map((name): [string, string[], 'number'] => [`TIMEOUT_${name.toUpperCase()}`, ['timeouts', name], 'number']),
];

/** What a pattern allows, in words: nobody should have to read the regular expression. */
const PATTERN_WORDS: Record<string, string> = {
  '/workers': 'auto (one per core) or an integer >= 1 and <= 64',
  '/ws/path': 'a path starting with /',
  '/redis/url': 'empty (the embedded store in DATA_DIR) or a redis:// or rediss:// URL',
  '/redis/clusterNodes': 'empty (no cluster) or host:port,host:port,… (nodes of a Redis Cluster to start from)',
  '/redis/minReplicas': 'auto (1 on a Redis Cluster whose every master has a replica, else 0) or an integer >= 0 and <= 16',
  '/chain/nodeUrl': "empty (the embedded dev chain) or an http:// or https:// URL of an Aeternity node's API",
  '/chain/genesisBalance': 'a whole number of aettos (at most 60 digits)',
  '/watchtower/secretKey': 'empty (a key is made and kept in the store) or an ed25519 secret key sk_… (base58check)',
  '/ops/token': 'empty (only on a loopback OPS_HOST) or 16 to 256 of A-Z a-z 0-9 . _ ~ -',
  '/peer/ports': 'empty (any port) or ports and ranges from 1 to 65535, comma-separated (3114,4000-4099)',
  '/peer/selfHosts': 'empty or host names and addresses, comma-separated',
  '/lease/instanceId': 'empty (the host name and WS_PORT) or up to 200 of A-Z a-z 0-9 . _ : @ -',
};

/** A bad setting: its message is the one line the service stops with. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: DeepPartial<Config> = {}): Config {
  const config = JSON.parse(readFileSync(packagePath('config', 'default.json'), 'utf8')) as Record<string, unknown>;
  for (const [name, path, type] of ENV) {
    const raw = env[name];
    // set means set: an empty REDIS_URL asks for the embedded store, an empty REDIS_KEY_PREFIX is refused
    if (raw === undefined) continue;
    let value: unknown = raw;
    if (type === 'number' && /^-?\d+$/.test(raw)) value = Number(raw);
    if (type === 'boolean' && /^(true|false)$/.test(raw)) value = raw === 'true';
    setPath(config, path, value);
  }
  merge(config, overrides as Record<string, unknown>);
  const validate = validator<Config>('config.schema.json');
  if (!validate(config)) throw new ConfigError(describeConfigErrors(validate.errors, config));
  const valid = config as unknown as Config;
  checkSecretKey(valid);
  checkOpsToken(valid);
  checkOneRedis(valid);
  checkReplicasNeedRedis(valid);
  checkPeerPorts(valid);
  checkLeaseRenewal(valid);
  checkWorkersHaveSharedStore(valid);
  return valid;
}

/** A lease renewed less often than twice per lease time runs out between two renewals of a live owner. */
function checkLeaseRenewal(config: Config): void {
  const { ttlMs, renewMs } = config.lease;
  if (renewMs * 2 <= ttlMs) return;
  throw new ConfigError(`${settingName('/lease/renewMs')}=${renewMs}: must be at most half of ${settingName('/lease/ttlMs')}=${ttlMs} `
    + '(a lease renewed less often runs out between renewals)');
}

/** How many service processes WORKERS asks for: `auto` is the cores node may use. */
export function workerCount(config: Pick<Config, 'workers'>): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

/**
 * The embedded store is one process's (LMDB's lock on DATA_DIR; every FSM's rounds and the dev
 * chain in one memory): several workers need a store they can share.
 */
function checkWorkersHaveSharedStore(config: Config): void {
  const count = workerCount(config);
  if (count === 1 || config.redis.url || config.redis.clusterNodes) return;
  const shown = config.workers === 'auto' ? `auto (${count} cores)` : String(count);
  throw new ConfigError(`${settingName('/workers')}=${shown}: the embedded store (DATA_DIR) serves one process only; `
    + `must be 1 unless ${settingName('/redis/url')} or ${settingName('/redis/clusterNodes')} is set (a Redis the workers share)`);
}

/** The schema sees digits and dashes; the ports must also be ports, and each range run upwards. */
function checkPeerPorts(config: Config): void {
  try {
    parsePortList(config.peer.ports);
  } catch (err) {
    throw new ConfigError(`${settingName('/peer/ports')}=${config.peer.ports}: ${(err as Error).message}; must be ${PATTERN_WORDS['/peer/ports']}`);
  }
}

/**
 * PEER_PORTS as a test of a port: null when any port is allowed (empty, the node's default
 * `ad_hoc_listen_ports`), else whether the port is listed or in a listed range.
 */
export function parsePortList(list: string): ((port: number) => boolean) | null {
  if (!list) return null;
  const ranges = list.split(',').map((item) => {
    const [low, high = low] = item.split('-').map(Number) as [number, number?];
    for (const port of [low, high]) if (port < 1 || port > 65535) throw new Error(`${port} is not a port`);
    if (high < low) throw new Error(`${item} runs downwards`);
    return [low, high] as const;
  });
  return (port) => ranges.some(([low, high]) => port >= low && port <= high);
}

/**
 * The hosts by which an initiator names this service, so that it pairs in-process: PEER_HOST, the
 * loopback names when PEER_HOST is loopback or a wildcard (this machine reaches itself by them), and
 * PEER_SELF_HOSTS (a public name the operator gave it). Any other host is another service, dialled.
 */
export function selfHosts(peer: Config['peer']): Set<string> {
  const hosts = new Set([peer.host.toLowerCase()]);
  const wildcard = ['0.0.0.0', '::', '[::]'].includes(peer.host);
  if (isLoopback(peer.host) || wildcard) for (const h of ['localhost', '127.0.0.1', '::1', '[::1]']) hosts.add(h);
  // listening on every address, it is reached by each of them
  if (wildcard) for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.add(a.address.toLowerCase());
  for (const h of peer.selfHosts.split(',')) if (h) hosts.add(h.toLowerCase());
  return hosts;
}

/**
 * The host other instances of this service dial for its internal peer ports (lib/channel/instance-pairing.ts):
 * PEER_HOST, unless that is a wildcard; then the first of PEER_SELF_HOSTS, else the machine's name.
 */
export function advertisedPeerHost(peer: Config['peer']): string {
  if (!['0.0.0.0', '::', '[::]'].includes(peer.host)) return peer.host.replace(/^\[|\]$/g, '');
  return peer.selfHosts.split(',').find(Boolean) ?? hostname();
}

/** 127.0.0.0/8, ::1 and localhost: nobody but this machine reaches them. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** One Redis or one cluster: with both set, which one holds the channels would be a guess. */
function checkOneRedis(config: Config): void {
  if (!config.redis.url || !config.redis.clusterNodes) return;
  throw new ConfigError(`${settingName('/redis/clusterNodes')}=${config.redis.clusterNodes}: cannot be set together with `
    + `${settingName('/redis/url')}=${shownValue('/redis/url', config.redis.url)}; must be empty when REDIS_URL is set (set one of them)`);
}

/** Replicas are Redis's: the embedded store has none (its commits are fsynced instead). */
function checkReplicasNeedRedis(config: Config): void {
  const { minReplicas, url, clusterNodes } = config.redis;
  if (minReplicas === 'auto' || minReplicas === 0 || url || clusterNodes) return;
  throw new ConfigError(`${settingName('/redis/minReplicas')}=${minReplicas}: needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded store `
    + 'has no replicas; its commits are fsynced instead); must be auto or 0 without them');
}

/** The ops endpoints show every channel: beyond loopback they are not served without a token. */
function checkOpsToken(config: Config): void {
  if (config.ops.token || isLoopback(config.ops.host)) return;
  throw new ConfigError(`${settingName('/ops/token')}=<empty>: required when ${settingName('/ops/host')}=${config.ops.host} is not a loopback address; `
    + `must be ${PATTERN_WORDS['/ops/token']}`);
}

/**
 * The schema only sees the shape of `sk_…`; the key must also decode (base58check, an ed25519 seed) as
 * the watchtower will decode it, or the service would fail later with a stack trace.
 */
function checkSecretKey(config: Config): void {
  if (!config.watchtower.secretKey) return;
  try {
    // decoded as the watchtower's key will decode it (lib/tx/service-key.ts): base58check, a 32-byte seed
    const seed = decode(config.watchtower.secretKey as `sk_${string}`);
    if (seed.length !== 32) throw new Error(`an ed25519 seed is 32 bytes, not ${seed.length}`);
  } catch (err) {
    throw new ConfigError(`${settingName('/watchtower/secretKey')}=<hidden>: does not decode (${(err as Error).message}); `
      + `must be ${PATTERN_WORDS['/watchtower/secretKey']}`);
  }
}

/**
 * The name of the setting at a config path in error messages: its environment variable, as the README
 * lists them, for every setting that has one; the path (`ws.path`) for the few that do not.
 */
export function settingName(pointer: string): string {
  const entry = ENV.find(([, path]) => `/${path.join('/')}` === pointer);
  return entry?.[0] ?? (pointer.split('/').slice(1).join('.') || 'config');
}

/** A setting's value fit for an error message: secrets hidden, passwords cut out of URLs. */
export function shownValue(pointer: string, value: unknown): string {
  if (pointer === '/watchtower/secretKey' || pointer === '/ops/token') return '<hidden>';
  const text = typeof value === 'string' ? (value === '' ? '""' : value) : JSON.stringify(value);
  return pointer === '/redis/url' && typeof value === 'string' ? redactUrl(text) : text;
}

/** `WS_PORT=-1: must be an integer >= 0 and <= 65535`: the first thing wrong, in one line. */
function describeConfigErrors(errors: ErrorObject[] | null | undefined, config: Record<string, unknown>): string {
  const e = errors?.[0];
  if (!e) return 'invalid configuration';
  const dotted = (pointer: string, key: unknown) => [...pointer.split('/').slice(1), String(key)].join('.');
  if (e.keyword === 'additionalProperties') return `unknown setting ${dotted(e.instancePath, e.params.additionalProperty)}`;
  if (e.keyword === 'required') return `missing setting ${dotted(e.instancePath, e.params.missingProperty)}`;
  const value = e.instancePath.split('/').slice(1).reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], config);
  return `${settingName(e.instancePath)}=${shownValue(e.instancePath, value)}: ${allowed(e.instancePath)}`;
}

function allowed(pointer: string): string {
  const schema = subschema('config.schema.json', pointer) ?? {};
  if (PATTERN_WORDS[pointer]) return `must be ${PATTERN_WORDS[pointer]}`;
  if (Array.isArray(schema.enum)) return `must be one of ${schema.enum.join(', ')}`;
  const { minimum, maximum, minLength, maxLength } = schema as Record<string, number | undefined>;
  const bounds = (low: string, high: string, lo?: number, hi?: number) =>
    [lo !== undefined && `${low} ${lo}`, hi !== undefined && `${high} ${hi}`].filter(Boolean).join(' and ');
  switch (schema.type) {
    case 'boolean': return 'must be true or false';
    case 'integer': return `must be an integer ${bounds('>=', '<=', minimum, maximum)}`.trimEnd();
    case 'string': {
      if (minLength !== undefined && maxLength !== undefined) return `must be ${minLength} to ${maxLength} characters`;
      if (minLength) return 'must not be empty';
      return schema.pattern ? `must match ${String(schema.pattern)}` : 'must be a string';
    }
    default: return 'is invalid';
  }
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
