/**
 * The ops listener (OPS_HOST:OPS_PORT): /health, /ready, /metrics, /channels, /channels/{id}, /watchtower, the
 * /events feed and the dashboard at /. Bound beyond loopback it wants `Authorization: Bearer OPS_TOKEN`
 * (the feed also takes the token as the WebSocket subprotocol `bearer.<token>`, which a browser can send);
 * /health and /ready answer anyone, as load balancers ask them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ChannelId } from '../../fsm/types.js';
import type { Registry } from '../channel/registry.js';
import { packagePath } from '../package-root.js';
import type { ChannelStore } from '../store/store.js';
import { CHANNEL_ID, channelDetail, listChannels } from './channels.js';
import { EventFeed, parseFeedFilter } from './feed.js';
import type { ReadinessMonitor } from './health.js';
import type { Metrics } from './metrics.js';

export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

export interface OpsServerDeps {
  token: string;
  registry: Registry;
  store: ChannelStore;
  metrics: Metrics;
  readiness: ReadinessMonitor;
  feed: EventFeed;
  /** what this instance's watchtower watches (null when it is off) */
  watchtower?: WatchtowerView | null;
}

export interface WatchtowerView {
  /** this instance's id when instances share a Redis (null alone) */
  instanceId: string | null;
  /** the live instances sharing the channels, as this one last read them */
  instances(): readonly string[];
  /** the channels this instance watches, sorted */
  channels(): ChannelId[];
}

const ASSETS: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard.js': ['dashboard.js', 'text/javascript; charset=utf-8'],
  '/dashboard.css': ['dashboard.css', 'text/css; charset=utf-8'],
};

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

function refuse(res: ServerResponse, status: number, error: string, detail: string): void {
  json(res, status, { error, detail });
}

const digest = (text: string) => createHash('sha256').update(text).digest();

export function createOpsServer(deps: OpsServerDeps): Server {
  const expected = deps.token ? digest(deps.token) : null;
  const assets = new Map(Object.entries(ASSETS).map(([path, [file, type]]) => [path, { body: readFileSync(packagePath('lib', 'ops', 'dashboard', file)), type }]));

  /** Whether the request carries the token (always true when none is configured). */
  function authorized(req: IncomingMessage): boolean {
    if (!expected) return true;
    const header = req.headers.authorization ?? '';
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const offered = /^Bearer (.+)$/.exec(header)?.[1] ?? protocols.find((p) => p.startsWith('bearer.'))?.slice('bearer.'.length);
    return offered !== undefined && timingSafeEqual(digest(offered), expected);
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: Error) => {
      if (!res.headersSent) refuse(res, 500, 'internal_error', err.message);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ops');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method_not_allowed', 'the ops endpoints answer GET only');
    if (path === '/health') return json(res, 200, { status: 'ok' });
    if (path === '/ready') {
      const readiness = await deps.readiness.check();
      return json(res, readiness.ready ? 200 : 503, readiness);
    }
    const asset = assets.get(path);
    // the page itself holds no data: it asks for the token when the endpoints want one
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-store' });
      res.end(asset.body);
      return;
    }
    if (!authorized(req)) return refuse(res, 401, 'unauthorized', 'send Authorization: Bearer <OPS_TOKEN>');
    if (path === '/metrics') {
      const text = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/channels') {
      const page = parsePage(url.searchParams, path);
      if ('error' in page) return refuse(res, 400, 'invalid_params', page.error);
      return json(res, 200, listChannels(deps.registry, page.offset, page.limit));
    }
    const one = /^\/channels\/([^/]*)$/.exec(path);
    if (one) {
      const id = decodeURIComponent(one[1]!);
      if (!CHANNEL_ID.test(id)) return refuse(res, 400, 'invalid_channel_id', `${JSON.stringify(id.slice(0, 80))} is not a channel id (ch_…)`);
      const detail = await channelDetail(deps.registry, deps.store, id as ChannelId);
      return detail ? json(res, 200, detail) : refuse(res, 404, 'channel_not_found', `no channel ${id} here`);
    }
    if (path === '/watchtower') {
      const page = parsePage(url.searchParams, path);
      if ('error' in page) return refuse(res, 400, 'invalid_params', page.error);
      if (!deps.watchtower) return refuse(res, 404, 'watchtower_off', 'the watchtower is off here (WATCHTOWER=false)');
      const channels = deps.watchtower.channels();
      return json(res, 200, {
        instance_id: deps.watchtower.instanceId, instances: deps.watchtower.instances(),
        total: channels.length, offset: page.offset, limit: page.limit, channels: channels.slice(page.offset, page.offset + page.limit),
      });
    }
    if (path === '/events') return refuse(res, 426, 'upgrade_required', 'the feed is a WebSocket: ws://…/events');
    refuse(res, 404, 'not_found', `no ${path}; the endpoints are /health, /ready, /metrics, /channels, /channels/{id}, /watchtower, /events and the dashboard at /`);
  }

  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://ops');
    const answer = (status: string, error: string, detail: string) => {
      const body = `${JSON.stringify({ error, detail })}\n`;
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    if (url.pathname !== '/events') return answer('404 Not Found', 'not_found', 'the feed is at /events');
    if (!authorized(req)) return answer('401 Unauthorized', 'unauthorized', 'send Authorization: Bearer <OPS_TOKEN>, or the subprotocol bearer.<OPS_TOKEN>');
    const filter = parseFeedFilter(url.searchParams);
    if ('error' in filter) return answer('400 Bad Request', 'invalid_params', filter.error);
    deps.feed.upgrade(req, socket, head, filter);
  });
  return server;
}

function parsePage(search: URLSearchParams, path: string): { offset: number; limit: number } | { error: string } {
  for (const key of search.keys()) if (key !== 'offset' && key !== 'limit') return { error: `unknown parameter ${key}: ${path} takes offset and limit` };
  const number = (key: string, fallback: number, min: number, max: number): number | string => {
    const raw = search.get(key);
    if (raw === null) return fallback;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) return `${key}=${JSON.stringify(raw.slice(0, 40))}: must be an integer >= ${min} and <= ${max}`;
    return Number(raw);
  };
  const offset = number('offset', 0, 0, 1e9);
  const limit = number('limit', DEFAULT_PAGE, 1, MAX_PAGE);
  if (typeof offset === 'string') return { error: offset };
  if (typeof limit === 'string') return { error: limit };
  return { offset, limit };
}
