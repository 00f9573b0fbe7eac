/**
 * The channel WebSocket endpoint (`ws://HOST:PORT/channel?…`). Each connection is one participant:
 * its URL parameters say whether it opens a new channel or reestablishes one, and which envelope it
 * speaks. Refusals at connect time are sent as one error frame, then the socket closes.
 *
 * With forwarding (several instances on one Redis), a reestablish whose FSM another live instance
 * hosts is relayed to that owner (./forwarding.ts), and a second listener, internal, takes the
 * connections other instances forward here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Reason } from '../../fsm/reasons.js';
import { OwnedElsewhere, Refusal, type Admission } from '../channel/admission.js';
import type { Session } from '../channel/session.js';
import { stringifyJson } from '../json.js';
import type { Logger } from '../log.js';
import { codecs, type Codec, type Protocol } from './codec.js';
import { FrameClient } from './frame-client.js';
import { forward, FORWARDED_FOR_HEADER, forwarderStillThere, showsSecret, type ForwardingOptions, type Relay } from './forwarding.js';
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
  /** relaying clients to the instance that hosts their FSM (several instances on one Redis) */
  forwarding?: ForwardingOptions | null;
}

export interface ChannelServer {
  server: Server;
  wss: WebSocketServer;
  /** the listener for connections other instances forward here (with forwarding only) */
  internal: Server | null;
  /** relays open now, from clients here to the instances hosting their FSMs */
  readonly relaying: number;
}

const WEBSOCKET_ONLY = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(426, { 'content-type': 'text/plain' });
  res.end('WebSocket only: connect to the channel endpoint\n');
};

export function createChannelServer(deps: ChannelServerDeps): ChannelServer {
  const server = createServer(WEBSOCKET_ONLY);
  // ws enforces a hard ceiling; frames between the configured limit and it get an error frame instead
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxFrameBytes * 4 });
  /** the requests that came in on the internal listener, showing the instances' secret */
  const forwardedRequests = new WeakSet<IncomingMessage>();
  let relaying = 0;

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== deps.path) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  let internal: Server | null = null;
  const { forwarding } = deps;
  if (forwarding) {
    internal = createServer(WEBSOCKET_ONLY);
    internal.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path !== deps.path) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      if (!showsSecret(req, forwarding.secret)) {
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n'
          + 'this port takes only connections forwarded by other instances of this service (their shared secret was not shown): connect to the channel endpoint\n');
        return;
      }
      forwardedRequests.add(req);
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }

  const connectionsFrom = new Map<string, number>();
  const { events } = deps;

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const search = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const protocol: Protocol = search.get('protocol') === 'json-rpc' ? 'json-rpc' : 'legacy';
    const codec = codecs[protocol];
    const forwarded = forwardedRequests.has(req);
    const forwardedFor = req.headers[FORWARDED_FOR_HEADER];
    // a forwarded client counts under its own address, as the instance it reached saw it
    const address = (forwarded && typeof forwardedFor === 'string' && forwardedFor) || (req.socket.remoteAddress ?? 'unknown');
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
    const channelId = open.kind === 'reestablish' ? open.channelId : null;
    // Frames that arrive while the session is being set up (or the owner reached) wait for it, in order.
    // a forwarded connection is admitted once its forwarder answers a ping: one it gave up on must not take the FSM's client place
    const admitted = forwarded && forwarding
      ? forwarderStillThere(ws, forwarding.connectTimeoutMs).then((there) => (there ? deps.admission.admit(open, link) : null))
      : deps.admission.admit(open, link);
    const ready: Promise<{ session: Session } | { relay: Relay } | null> = admitted.then((session) => {
      if (!session) return null;
      session.address = address;
      events?.emit({ type: 'connection_accepted', address, role: open.role, protocol, channel_id: channelId, reason: open.kind, ...(forwarded && { forwarded: true }) });
      return { session };
    }, async (err: unknown) => {
      if (err instanceof OwnedElsewhere && forwarding) {
        if (forwarded) {
          // one hop only: the instance that sent it here believed this one the owner, and it is not (any more)
          refuseConnection(ws, codec, address, err.reason, `a forwarded connection reached an instance that does not host this FSM `
            + `(the service instance ${err.owner} does) and is not forwarded again: reestablish again`);
          return null;
        }
        // frames read meanwhile wait here in memory: read no more of them until the owner answers
        ws.pause();
        const outcome = await forward(ws, req.url ?? deps.path, err.owner, address, forwarding);
        ws.resume();
        if (outcome.ok) {
          relaying++;
          void outcome.relay.ended.then(() => relaying--);
          events?.emit({ type: 'connection_forwarded', address, role: open.role, protocol, channel_id: channelId, reason: 'relayed', owner: err.owner });
          return { relay: outcome.relay };
        }
        events?.emit({ type: 'connection_forwarded', address, role: open.role, protocol, channel_id: channelId, reason: 'owner_unreachable', owner: err.owner, detail: outcome.why });
        refuseConnection(ws, codec, address, err.reason, `this FSM is hosted by the service instance ${err.owner}, and ${outcome.why}: `
          + 'reestablish again (once its lease runs out, the instance reached takes the FSM over)');
        return null;
      }
      if (err instanceof Refusal) refuseConnection(ws, codec, address, err.reason, err.detail);
      else {
        deps.log.error('could not start a channel session', { error: (err as Error).message });
        refuseConnection(ws, codec, address, 'internal_error', 'could not start the channel session');
      }
      return null;
    });
    ws.on('message', (data: RawData, isBinary) => {
      void ready.then((target) => {
        if (!target) return;
        if ('relay' in target) target.relay.fromClient(data, isBinary);
        else target.session.receive(isBinary ? link.readBinary() : link.read(data.toString()));
      });
    });
    ws.on('close', (code, reason) => void ready.then((target) => {
      if (!target) return;
      if ('relay' in target) target.relay.clientClosed(code, reason);
      else target.session.clientGone(link);
    }));
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

  return { server, wss, internal, get relaying() { return relaying; } };
}
