/**
 * The channel WebSocket endpoint (`ws://HOST:PORT/channel?…`). Each connection is one participant:
 * its URL parameters say whether it opens a new channel or reestablishes one, and which envelope it
 * speaks. Refusals at connect time are sent as one error frame, then the socket closes.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Reason } from '../../fsm/reasons.js';
import { Refusal, type Admission } from '../channel/admission.js';
import { stringifyJson } from '../json.js';
import type { Logger } from '../log.js';
import { codecs, type Codec, type Protocol } from './codec.js';
import { FrameClient } from './frame-client.js';
import { parseOpenParams } from './open-params.js';
import type { OpsEvents } from '../ops/events.js';

export interface ChannelServerDeps {
  /** so that one client cannot exhaust the service's memory */
  limits: { maxConnectionsPerAddress: number };
  path: string;
  maxFrameBytes: number;
  log: Logger;
  /** how a connection becomes a session (shared with in-process participants) */
  admission: Admission;
  /** where connections accepted and refused are told (the ops feed, metrics, log) */
  events?: OpsEvents;
}

export function createChannelServer(deps: ChannelServerDeps): { server: Server; wss: WebSocketServer } {
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('WebSocket only: connect to the channel endpoint\n');
  });
  // ws enforces a hard ceiling; frames between the configured limit and it get an error frame instead
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxFrameBytes * 4 });

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== deps.path) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const connectionsFrom = new Map<string, number>();
  const { events } = deps;

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const search = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const protocol: Protocol = search.get('protocol') === 'json-rpc' ? 'json-rpc' : 'legacy';
    const codec = codecs[protocol];
    const address = req.socket.remoteAddress ?? 'unknown';
    const count = (connectionsFrom.get(address) ?? 0) + 1;
    connectionsFrom.set(address, count);
    ws.once('close', () => {
      const left = (connectionsFrom.get(address) ?? 1) - 1;
      if (left > 0) connectionsFrom.set(address, left);
      else connectionsFrom.delete(address);
    });
    if (count > deps.limits.maxConnectionsPerAddress) {
      refuseConnection(ws, codec, address, 'too_many_connections', `at most ${deps.limits.maxConnectionsPerAddress} from one address`);
      return;
    }
    const open = parseOpenParams(search);
    warnUnknown('unknown' in open ? open.unknown : []);
    if ('reason' in open) {
      refuseConnection(ws, codec, address, open.reason, open.detail);
      return;
    }
    const socket = req.socket;
    let corked = false;
    const link = new FrameClient(codec, {
      send: (text) => {
        if (ws.readyState !== ws.OPEN) return;
        // the frames of one turn of the event loop (an info and a sign request, say) leave in one write
        if (!corked) {
          corked = true;
          socket.cork();
          process.nextTick(() => { corked = false; socket.uncork(); });
        }
        ws.send(text);
      },
      close: (code, reason) => ws.close(code, reason),
    }, { log: deps.log, maxFrameBytes: deps.maxFrameBytes, fields: { role: open.role, address } });
    // Frames that arrive while the session is being set up wait for it, in order.
    const ready = deps.admission.admit(open, link).then((session) => {
      session.address = address;
      events?.emit({
        type: 'connection_accepted', address, role: open.role, protocol,
        channel_id: open.kind === 'reestablish' ? open.channelId : null, reason: open.kind,
      });
      return session;
    }, (err: unknown) => {
      if (err instanceof Refusal) refuseConnection(ws, codec, address, err.reason, err.detail);
      else {
        deps.log.error('could not start a channel session', { error: (err as Error).message });
        refuseConnection(ws, codec, address, 'internal_error', 'could not start the channel session');
      }
      return null;
    });
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      void ready.then((session) => {
        if (!session) return;
        session.receive(text === null ? link.readBinary() : link.read(text));
      });
    });
    ws.on('close', () => void ready.then((session) => session?.clientGone(link)));
    ws.on('error', () => ws.terminate());
  });

  // Each unknown name is logged once (names only: a value may be a secret), so a client that keeps
  // sending one does not fill the log; past a hundred names nothing more is remembered or logged.
  const warned = new Set<string>();
  function warnUnknown(names: string[]): void {
    const fresh = names.map((name) => name.slice(0, 64)).filter((name) => !warned.has(name));
    if (!fresh.length || warned.size >= 100) return;
    for (const name of fresh) warned.add(name);
    deps.log.warn('unknown URL parameters ignored', { parameters: fresh });
  }

  function refuseConnection(ws: WebSocket, codec: Codec, address: string, reason: Reason, detail: string): void {
    events?.emit({ type: 'connection_refused', address, reason, detail });
    ws.send(stringifyJson(codec.error(null, {}, null, reason, detail)));
    ws.close(1008, reason);
  }

  return { server, wss };
}
