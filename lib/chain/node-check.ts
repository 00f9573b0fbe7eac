/**
 * Before the service relies on an external node (CHAIN_NODE_URL): it answers, it is an Aeternity
 * node, and it is on our network. Every signature is made over the network id; against a node of
 * another network every tx the service posts would be refused, long after start-up.
 */
import { ConfigError, settingName } from '../config.js';

/** How long the node may take to answer /v3/status at start-up. */
const STATUS_TIMEOUT_MS = 5_000;

export async function checkNode(url: string, networkId: string): Promise<void> {
  const setting = `${settingName('/chain/nodeUrl')}=${url}`;
  const statusUrl = `${url.replace(/\/+$/, '')}/v3/status`;
  let reply: Response;
  try {
    reply = await fetch(statusUrl, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
  } catch (err) {
    throw new ConfigError(`${setting}: no node answers there (${failureOf(err, url)}); must be the HTTP API of a running Aeternity node`);
  }
  const status = (await reply.json().catch(() => null)) as { network_id?: unknown } | null;
  if (!reply.ok || typeof status?.network_id !== 'string') {
    throw new ConfigError(`${setting}: ${statusUrl} answered HTTP ${reply.status} without a network_id; must be the HTTP API of an Aeternity node`);
  }
  if (status.network_id !== networkId) {
    throw new ConfigError(`${settingName('/networkId')}=${networkId}: the node at ${setting} is on network ${status.network_id}; `
      + `must be ${status.network_id} to use that node`);
  }
}

/** ECONNREFUSED, ENOTFOUND, timed out…: what fetch's error says under its generic "fetch failed". */
function failureOf(err: unknown, url: string): string {
  if ((err as Error).name === 'TimeoutError') return `no answer within ${STATUS_TIMEOUT_MS / 1000} s`;
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
  if (cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN') return `unknown host ${new URL(url).hostname}`;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
