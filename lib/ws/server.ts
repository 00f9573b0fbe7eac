/**
 * The channel WebSocket endpoint (`ws://HOST:PORT/channel?…`). Each connection is one participant:
 * its URL parameters say whether it opens a new channel or reestablishes one, and which envelope it
 * speaks. Refusals at connect time are sent as one error frame, then the socket closes.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { encode, Encoding } from '@aeternity/aepp-sdk';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Reason } from '../../fsm/reasons.js';
import type { ChannelInput } from '../../fsm/channel-machine.js';
import type { AccountId, ChannelId, EncodedTx, Role, Timeouts, TxKit } from '../../fsm/types.js';
import type { Chain } from '../chain/chain.js';
import { onchainChannel } from '../chain/channel-watcher.js';
import type { Registry } from '../channel/registry.js';
import { recoverFromChain } from '../channel/recovery.js';
import { hashFsmId, Session, type ClientLink, type SessionDeps } from '../channel/session.js';
import { stringifyJson } from '../json.js';
import type { Logger } from '../log.js';
import type { ChannelStore, StoredChannel } from '../store/store.js';
import { codecs, type Codec, type Protocol } from './codec.js';
import { parseOpenParams, type OpenRequest } from './open-params.js';

export interface ChannelServerDeps {
  /** the service-wide timers, each overridable per channel */
  timeouts: Timeouts;
  /** so that one client cannot exhaust the service's memory */
  limits: { maxChannels: number; maxConnectionsPerAddress: number };
  /** the watchtower's account, named as delegate by participants that ask for it */
  watchtowerAddress: AccountId | null;
  path: string;
  maxFrameBytes: number;
  kit: TxKit;
  chain: Chain;
  store: ChannelStore;
  registry: Registry;
  log: Logger;
  sessionDeps: Omit<SessionDeps, 'onStopped'>;
}

class Refusal extends Error {
  constructor(readonly reason: Reason, readonly detail: string) {
    super(detail);
  }
}

export function newFsmId(): string {
  return encode(randomBytes(32), Encoding.Bytearray);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createChannelServer(deps: ChannelServerDeps): { server: Server; wss: WebSocketServer } {
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('WebSocket only: connect to the channel endpoint\n');
  });
  // ws enforces a hard ceiling; frames between the configured limit and it get an error frame instead
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxFrameBytes * 4 });
  // one for every session: a copy each would cost every idle channel memory for nothing
  const sessionDeps: SessionDeps = { ...deps.sessionDeps, onStopped: (s, why) => deps.registry.remove(s, why) };

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== deps.path) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const connectionsFrom = new Map<string, number>();
  const events = deps.sessionDeps.events;

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
    if ('reason' in open) {
      refuseConnection(ws, codec, address, open.reason, open.detail);
      return;
    }
    const socket = req.socket;
    let corked = false;
    const link: ClientLink = {
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
    };
    // Frames that arrive while the session is being set up wait for it, in order.
    const ready = createSession(open, link, codec).then((session) => {
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
        if (text === null) session.handleBinaryFrame();
        else session.handleFrame(text);
      });
    });
    ws.on('close', () => void ready.then((session) => session?.clientGone(link)));
    ws.on('error', () => ws.terminate());
  });

  function refuseConnection(ws: WebSocket, codec: Codec, address: string, reason: Reason, detail: string): void {
    events?.emit({ type: 'connection_refused', address, reason, detail });
    ws.send(stringifyJson(codec.error(null, {}, null, reason, detail)));
    ws.close(1008, reason);
  }

  async function createSession(open: OpenRequest, link: ClientLink, codec: Codec): Promise<Session> {
    const fsmId = newFsmId();
    if (deps.registry.size >= deps.limits.maxChannels && !(open.kind === 'reestablish' && deps.registry.find(open.channelId, open.role))) {
      throw new Refusal('service_full', `at most ${deps.limits.maxChannels} live channel FSMs`);
    }
    let input: ChannelInput;
    let responderId: string;
    if (open.kind === 'new') {
      const params = { ...open.params };
      if (open.watchtower) {
        if (!deps.watchtowerAddress) throw new Refusal('not_allowed_now', 'this service runs no watchtower');
        if (open.role === 'initiator') params.initiatorDelegateIds = [deps.watchtowerAddress];
        else params.responderDelegateIds = [deps.watchtowerAddress];
      }
      const stakes: Array<[typeof params.initiatorId, bigint]> = [[params.responderId, params.responderAmount]];
      if (!open.anyInitiator) stakes.unshift([params.initiatorId, params.initiatorAmount]);
      for (const [id, amount] of stakes) {
        const account = await deps.chain.account(id);
        if (!account) throw new Refusal('participant_not_found', `${id} has no account on chain`);
        if (account.balance < amount) throw new Refusal('insufficient_balance', `${id} holds ${account.balance}, less than the ${amount} it would lock`);
      }
      const terms = open.role === 'initiator'
        ? { nonce: open.nonce ?? (await deps.chain.nextNonce(params.initiatorId)), ttl: open.ttl, ...(open.fee !== undefined && { fee: open.fee }) }
        : undefined;
      input = {
        kit: deps.kit, role: open.role, fsmId, params, keepRunning: open.keepRunning, anyInitiator: open.anyInitiator,
        timeouts: { ...deps.timeouts, ...open.timeouts }, ...(terms && { terms }),
      };
      responderId = params.responderId;
    } else {
      // reconnect without leave: the FSM is still running and takes the new socket
      const live = deps.registry.find(open.channelId, open.role);
      if (live) {
        if (!sameSecret(hashFsmId(live.fsmId), hashFsmId(open.fsmId))) throw new Refusal('invalid_fsm_id', 'existing_fsm_id does not match');
        if (live.attached) throw new Refusal('not_allowed_now', 'this participant is already connected to the channel');
        live.attach(link, codec);
        await reportWatchtower(live, open.channelId, open.role);
        return live;
      }
      const known = await deps.store.load(open.channelId, open.role);
      if (known?.closed) throw new Refusal('not_allowed_now', `channel ${open.channelId} is closed`);
      if (known && !sameSecret(known.fsmIdHash, hashFsmId(open.fsmId))) throw new Refusal('invalid_fsm_id', 'existing_fsm_id does not match');
      const stored = known ?? await recover(open, fsmId);
      const onchain = await onchainChannel(deps.chain, stored.channelId);
      if (!onchain) {
        throw new Refusal('channel_not_found', `channel ${open.channelId} is not on chain (closed, or never created on this chain): there is nothing to reestablish`);
      }
      // the old fsm_id stops working once the new one is stored
      await deps.store.setFsmIdHash(open.channelId, open.role, hashFsmId(fsmId));
      input = {
        kit: deps.kit, role: open.role, fsmId, params: stored.params, keepRunning: open.keepRunning,
        timeouts: { ...deps.timeouts, ...open.timeouts },
        restored: { channelId: stored.channelId, state: stored.state, onchain },
      };
      responderId = stored.params.responderId;
    }
    const session = new Session(
      open.role,
      { port: open.port, responderId, channelId: open.kind === 'new' ? null : open.channelId },
      fsmId,
      input,
      link,
      codec,
      sessionDeps,
    );
    session.start();
    deps.registry.add(session);
    if (open.kind === 'reestablish') await reportWatchtower(session, open.channelId, open.role);
    return session;
  }

  /**
   * A channel this service has no records of: rebuilt from the co-signed state the client brings and
   * the chain, stored under the new fsm_id (the old one cannot be checked: its hash was lost too).
   */
  async function recover(open: Extract<OpenRequest, { kind: 'reestablish' }>, fsmId: string): Promise<StoredChannel> {
    if (!open.recovery) {
      throw new Refusal('not_found', `channel ${open.channelId} is not known here (if this service lost its records, reestablish with offchain_tx to recover it)`);
    }
    const recovered = await recoverFromChain(deps.chain, open.channelId, open.recovery);
    if (!recovered.ok) throw new Refusal(recovered.reason, recovered.detail);
    const fsmIdHash = hashFsmId(fsmId);
    const saved = await deps.store.saveRound(open.channelId, open.role, recovered.state, { params: recovered.params, fsmIdHash });
    if (saved === 'stale') throw new Refusal('not_allowed_now', `channel ${open.channelId} was stored meanwhile: reestablish again`);
    deps.log.warn('channel recovered from the chain and the client\'s co-signed state', {
      channel_id: open.channelId, role: open.role, round: recovered.state.round,
    });
    deps.sessionDeps.onChannelStored?.(open.channelId);
    return { channelId: open.channelId, role: open.role, params: recovered.params, state: recovered.state, fsmIdHash, onchain: null, closed: false };
  }

  /** Tells a returning client what the watchtower did while it was away. */
  async function reportWatchtower(session: Session, channelId: ChannelId, role: Role): Promise<void> {
    for (const action of await deps.store.takeWatchtowerActions(channelId, role)) {
      session.notify({ kind: 'on_chain_tx', info: 'watchtower_slash', tx: action.signedTx as EncodedTx, txType: 'channel_slash_tx' });
    }
  }

  return { server, wss };
}
