/**
 * One participant's session: its client socket and its FSM actor. Client frames become FSM events
 * (through the codec and the request table); the FSM's effects are performed here: frames to the
 * client, messages to the peer session, rounds to the store, txs to the chain.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decode, Tag, unpackTx } from '@aeternity/aepp-sdk';
import { createActor, type Actor } from 'xstate';
import { channelMachine, peerEvent, type ChannelContext, type ChannelEvent, type ChannelInput } from '../../fsm/channel-machine.js';
import { keepsRunning, timeout } from '../../fsm/operations.js';
import type { Reason } from '../../fsm/reasons.js';
import type { ChannelEffect, ChannelId, ClientOutput, PeerMessage, Role } from '../../fsm/types.js';
import { amountToJson } from '../amounts.js';
import type { Chain } from '../chain/chain.js';
import type { TxWatcher } from '../chain/tx-watcher.js';
import { onchainChannel, type ChannelWatcher } from '../chain/channel-watcher.js';
import { parseJson, stringifyJson, JsonParseError, type Json } from '../json.js';
import type { Logger } from '../log.js';
import type { OpsEvent, OpsEvents } from '../ops/events.js';
import type { Metrics } from '../ops/metrics.js';
import { redactFrame } from '../redact.js';
import type { ChannelStore } from '../store/store.js';
import { channelTrie } from '../tx/channel-kit.js';
import { callsTreesEntry, proofOfInclusion, stateTreesEntry } from '../tx/state-trees.js';
import type { ClientRequest, Codec, Frame } from '../ws/codec.js';
import { interpret, type OnchainRequest, type Query } from '../ws/requests.js';
import { answersRequest, batchReply } from '../ws/batch.js';
import { accountOf } from '../../fsm/protocol.js';

/** The client end of a session: a WebSocket in the service, anything that carries frames in a test. */
export interface ClientLink {
  send(text: string): void;
  close(code: number, reason: string): void;
}

export interface SessionDeps {
  store: ChannelStore;
  chain: Chain;
  watcher: TxWatcher;
  channels: ChannelWatcher;
  log: Logger;
  maxFrameBytes: number;
  /** called once when the FSM has stopped and the session should be forgotten */
  onStopped(session: Session, why: string): void;
  /** called once a new channel's first round is in the store */
  onChannelStored?(channelId: ChannelId): void;
  /** lifecycle events, and what clients are told while a feed reader listens */
  events?: OpsEvents;
  metrics?: Metrics;
}

/** What an operator sees of one participant's FSM (GET /channels). */
export interface SessionView {
  role: Role;
  channelId: ChannelId | null;
  /** the FSM's top-level state; "asleep" while it hibernates */
  state: string;
  /** the client is connected */
  connected: boolean;
  address: string | null;
  lastActivity: number;
  initiatorId: string;
  responderId: string;
  round: number | null;
  balances: { initiator: string; responder: string } | null;
  /** the latest co-signed tx */
  signedTx: string | null;
  /** an operation under way: its kind, its round and who proposed it */
  pending: { kind: string; round: number; proposer: Role } | null;
}

/** The metric label of a client's off-chain proposal. */
const PROPOSALS: Partial<Record<ChannelEvent['type'], string>> = {
  'CLIENT.UPDATE_NEW': 'transfer', 'CLIENT.DEPOSIT': 'deposit', 'CLIENT.WITHDRAW': 'withdraw', 'CLIENT.SHUTDOWN': 'shutdown',
};

/** The same, by the client's method, for proposals refused before they reach the FSM. */
const PROPOSAL_METHODS: Record<string, string> = {
  'channels.update.new': 'transfer', 'channels.deposit': 'deposit', 'channels.withdraw': 'withdraw', 'channels.shutdown': 'shutdown',
};

/** Info events that are lifecycle events of their own. */
const LIFECYCLE_INFO: Record<string, OpsEvent['type']> = {
  open: 'channel_opened', channel_reestablished: 'channel_reestablished', peer_disconnected: 'peer_disconnected',
};

function txTypeName(signedTx: string): string {
  try {
    const inner = (unpackTx(signedTx as `tx_${string}`, Tag.SignedTx) as unknown as { encodedTx: { tag: Tag } }).encodedTx;
    return Tag[inner.tag] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Which peer a session can be paired with: same port and responder, same channel when reestablishing. */
export interface PairingKey {
  port: number;
  responderId: string;
  /** null for a new channel */
  channelId: ChannelId | null;
}

/**
 * The FSM's timers must not keep a process alive by themselves (the sockets and servers do that): a
 * stopped service, or a test, ends even while an idle timer of ten minutes is set.
 */
const UNREFERENCED_CLOCK = {
  setTimeout: (fn: (...args: unknown[]) => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
};

export function hashFsmId(fsmId: string): string {
  return createHash('sha256').update(fsmId).digest('hex');
}

/**
 * An FSM asleep: what its actor knew, without the actor. An xstate actor costs about 9 KB, most of
 * an idle channel's memory; a channel open and idle needs only its state and context to wake up again.
 */
interface Dormant {
  persisted: ReturnType<Actor<typeof channelMachine>['getPersistedSnapshot']> & { context: ChannelContext };
  /** when its idle timeout would have ended it (null when it waits however long) */
  idleDeadline: number | null;
}

export class Session {
  /** the running FSM; null while it sleeps (see `hibernateIfQuiet`) */
  private actor: Actor<typeof channelMachine> | null;
  private dormant: Dormant | null = null;
  private lastActivity = Date.now();
  peer: Session | null = null;
  private stopped = false;
  /** frames produced while one client request is handled, so an "ok" reply can go first */
  private collecting: Frame[] | null = null;
  private refusedCurrent = false;
  /** while a JSON-RPC batch is handled: its answers, and the frames that follow them */
  private batch: { answers: Frame[]; after: Frame[] } | null = null;
  private inbox: Promise<void> = Promise.resolve();
  private unfollow: (() => void) | undefined;
  /** store writes under way: a shutdown lets them finish, so what they acknowledge is kept */
  private readonly writes = new Set<Promise<unknown>>();
  private currentRequest: Json | undefined;
  /** the client's off-chain proposal under way, for its metrics */
  private proposal: { kind: string; started: number } | null = null;
  /** the client's remote address (null for an embedded participant) */
  address: string | null = null;

  constructor(
    readonly role: Role,
    readonly pairing: PairingKey,
    readonly fsmId: string,
    input: ChannelInput,
    private client: ClientLink | null,
    private codec: Codec,
    private readonly deps: SessionDeps,
  ) {
    this.actor = this.newActor({ input });
  }

  private newActor(options: { input: ChannelInput } | { snapshot: Dormant['persisted'] }): Actor<typeof channelMachine> {
    const actor = createActor(channelMachine, { ...options, clock: UNREFERENCED_CLOCK } as Parameters<typeof createActor<typeof channelMachine>>[1]);
    // an actor put to sleep says nothing more
    actor.on('*', (effect: ChannelEffect) => { if (this.actor === actor) this.perform(effect); });
    return actor;
  }

  /** A logger that names this FSM: made when something is logged (rarely), not kept by every session. */
  private get log(): Logger {
    return this.deps.log.child({ role: this.role, channel_id: this.channelId });
  }

  /** The FSM's context, awake or asleep. */
  private context(): ChannelContext {
    return this.actor?.getSnapshot().context ?? this.dormant!.persisted.context;
  }

  /** The running FSM, woken first if it sleeps; every event goes through here. */
  private running(): Actor<typeof channelMachine> {
    this.lastActivity = Date.now();
    if (this.actor) return this.actor;
    const { persisted } = this.dormant!;
    this.dormant = null;
    this.actor = this.newActor({ snapshot: persisted });
    this.actor.start();
    this.actor.send({ type: 'CLOCK.RESUMED' });
    return this.actor;
  }

  /**
   * Puts the FSM to sleep when its channel is open and idle and nothing has happened for `quietMs`;
   * the next event of any kind wakes it. Whether it sleeps now.
   */
  hibernateIfQuiet(now: number, quietMs: number): boolean {
    const actor = this.actor;
    if (!actor || this.stopped || this.collecting || now - this.lastActivity < quietMs) return false;
    const snapshot = actor.getSnapshot();
    if (!snapshot.matches({ open: 'idle' })) return false;
    const { context } = snapshot;
    this.dormant = {
      persisted: actor.getPersistedSnapshot() as Dormant['persisted'],
      idleDeadline: keepsRunning(context) ? null : this.lastActivity + timeout(context, 'idle'),
    };
    this.actor = null;
    actor.stop(); // and its timers with it: the idle deadline is kept above
    return true;
  }

  /** A sleeping FSM whose idle time has run out is woken to time out, as it would have awake. */
  expireIfIdle(now: number): void {
    const deadline = this.dormant?.idleDeadline;
    if (deadline !== undefined && deadline !== null && now >= deadline) this.send({ type: 'CLOCK.IDLE_EXPIRED' });
  }

  get asleep(): boolean {
    return this.dormant !== null;
  }

  get channelId(): ChannelId | null {
    return this.context().channelId;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  start(): void {
    this.running().start();
  }

  // --- from the client ---

  /** Frames are JSON text; a binary frame is refused without being read. */
  handleBinaryFrame(): void {
    if (!this.stopped) this.sendFrame(this.codec.error(this.channelId, {}, undefined, 'parse_error', 'binary frames are not accepted'));
  }

  /**
   * Client frames are handled one at a time, in arrival order, even when one needs a chain lookup
   * first (an on-chain operation needs its proposer's nonce).
   */
  handleFrame(text: string): void {
    this.inbox = this.inbox.then(() => this.processFrame(text)).catch((err: Error) => {
      this.log.error('client frame failed', { error: err.message });
      this.sendFrame(this.codec.error(this.channelId, {}, undefined, 'internal_error', 'the request could not be handled'));
    });
  }

  private async processFrame(text: string): Promise<void> {
    if (this.stopped) return;
    if (this.deps.log.isDebugEnabled()) this.log.debug('frame in', { frame: redactFrame(text.slice(0, 2000)) });
    if (Buffer.byteLength(text) > this.deps.maxFrameBytes) {
      this.sendFrame(this.codec.error(this.channelId, {}, undefined, 'frame_too_large', `at most ${this.deps.maxFrameBytes} bytes`));
      return;
    }
    let frame: Json;
    try {
      frame = parseJson(text);
    } catch (err) {
      const detail = err instanceof JsonParseError ? err.message : 'unreadable';
      this.sendFrame(this.codec.error(this.channelId, {}, undefined, 'parse_error', detail));
      return;
    }
    if (Array.isArray(frame) && this.codec.protocol === 'json-rpc') {
      await this.processBatch(frame);
      return;
    }
    const decoded = this.codec.decode(frame);
    if ('error' in decoded) {
      this.sendFrame(this.codec.error(this.channelId, decoded.raw, undefined, decoded.error, decoded.detail));
      return;
    }
    await this.handleRequest(decoded);
  }

  /** A JSON-RPC batch: each request in order, the answers in one frame (lib/ws/batch.ts). */
  private async processBatch(requests: Json[]): Promise<void> {
    if (requests.length === 0) {
      this.sendFrame(this.codec.error(this.channelId, requests, undefined, 'invalid_request', 'an empty batch'));
      return;
    }
    this.batch = { answers: [], after: [] };
    try {
      for (const frame of requests) {
        const decoded = this.codec.decode(frame);
        if ('error' in decoded) this.sendFrame(this.codec.error(this.channelId, decoded.raw, undefined, decoded.error, decoded.detail));
        else await this.handleRequest(decoded);
      }
    } finally {
      const { answers, after } = this.batch;
      this.batch = null;
      const reply = batchReply(answers);
      if (reply && this.client) this.client.send(stringifyJson(reply));
      for (const frame of after) this.sendFrame(frame);
    }
  }

  private async handleRequest(request: ClientRequest): Promise<void> {
    const interpreted = interpret(request);
    switch (interpreted.kind) {
      case 'refused': {
        const kind = this.deps.metrics && PROPOSAL_METHODS[request.method];
        if (kind) this.deps.metrics!.offchainUpdates.inc({ kind, outcome: 'refused' });
        this.refuse(request, interpreted.reason, interpreted.detail);
        return;
      }
      case 'query':
        this.answer(request, interpreted.query, interpreted.accounts);
        return;
      case 'onchain':
        this.dispatch(request, await this.onchainEvent(interpreted.onchain));
        return;
      case 'event':
        this.dispatch(request, interpreted.event);
    }
  }

  /** The FSM event of an on-chain operation, with the chain facts its tx needs: the proposer's nonce. */
  private async onchainEvent(req: OnchainRequest): Promise<ChannelEvent> {
    const { params } = this.context();
    const nonce = req.nonce ?? (await this.deps.chain.nextNonce(accountOf(params, this.role)));
    const terms = { nonce, ttl: 0, ...(req.fee !== undefined && { fee: req.fee }) };
    switch (req.op) {
      case 'deposit': return { type: 'CLIENT.DEPOSIT', amount: req.amount, terms, request: req.request };
      case 'withdraw': return { type: 'CLIENT.WITHDRAW', amount: req.amount, terms, request: req.request };
      case 'shutdown': return { type: 'CLIENT.SHUTDOWN', terms, request: req.request };
      default: {
        const channelId = this.channelId;
        const onchain = channelId ? await onchainChannel(this.deps.chain, channelId) : null;
        return { type: 'CLIENT.DISPUTE', kind: req.op, terms, onchain, request: req.request };
      }
    }
  }

  /**
   * Sends one client request to the FSM. What it answers goes out after an "ok" reply when the client
   * asked for one (JSON-RPC with an id), as the node orders them, unless the FSM refused the request.
   */
  private dispatch(request: ClientRequest, event: ChannelEvent): void {
    this.collecting = [];
    this.refusedCurrent = false;
    this.currentRequest = request.raw;
    const kind = this.deps.metrics && PROPOSALS[event.type];
    if (kind) this.proposal = { kind, started: performance.now() };
    try {
      this.running().send(event);
    } finally {
      if (kind && this.refusedCurrent) this.endProposal('refused');
      const frames = this.collecting;
      this.collecting = null;
      this.currentRequest = undefined;
      if (request.id !== undefined && !this.refusedCurrent && this.codec.protocol === 'json-rpc') {
        frames.unshift(this.codec.result(this.channelId, request, 'ok'));
      }
      for (const frame of frames) this.sendFrame(frame);
    }
  }

  private refuse(request: ClientRequest, reason: Reason, detail?: string): void {
    this.deps.metrics?.refusals.inc({ reason });
    this.sendFrame(this.codec.error(this.channelId, request.raw, request.id, reason, detail));
  }

  private answer(request: ClientRequest, query: Query, accounts: string[]): void {
    if (query === 'ping') {
      this.sendFrame(this.codec.pong(this.channelId, request));
      return;
    }
    if (query === 'stop') {
      this.stopAtOnce(request);
      return;
    }
    if (query === 'assume_minimum_depth') {
      // the client takes the risk of a reorg for this tx: go on as if it were deep enough
      const txHash = accounts[0]!;
      if (!this.deps.watcher.watching(this, txHash)) {
        this.refuse(request, 'not_allowed_now', 'no such tx is waiting for minimum depth');
        return;
      }
      if (request.id !== undefined && this.codec.protocol === 'json-rpc') this.sendFrame(this.codec.result(this.channelId, request, 'ok'));
      this.deps.watcher.assume(this, txHash);
      return;
    }
    const context = this.context();
    if (!context.state) {
      this.refuse(request, 'not_allowed_now', 'the channel is not open yet');
      return;
    }
    const participants = [context.params.initiatorId, context.params.responderId];
    const balanceOf = (account: string) =>
      (account === context.params.initiatorId ? context.state!.balances.initiator : context.state!.balances.responder);
    let result: unknown;
    switch (query) {
      case 'balances':
        result = accounts.filter((a) => participants.includes(a as never)).map((account) => ({ account, balance: amountToJson(balanceOf(account)) }));
        break;
      case 'offchain_state': {
        const half = context.pending?.signedTx;
        result = {
          trees: stateTreesEntry([[decode(context.params.initiatorId), context.state.balances.initiator], [decode(context.params.responderId), context.state.balances.responder]]),
          calls: callsTreesEntry(),
          signed_tx: context.state.signedTx,
          half_signed_tx: half ?? '',
        };
        break;
      }
      case 'poi': {
        if (!accounts.every((a) => participants.includes(a as never))) {
          this.refuse(request, 'not_found', 'the proof covers the channel\'s participants only');
          return;
        }
        result = { poi: proofOfInclusion(channelTrie(context.params, context.state.balances), accounts.map((a) => decode(a as never))) };
        break;
      }
    }
    if (request.id === undefined && this.codec.protocol === 'json-rpc') {
      this.sendFrame({ jsonrpc: '2.0', version: 1, method: `${request.method}.reply`, params: { channel_id: this.channelId, data: result } });
    } else {
      this.sendFrame(this.codec.result(this.channelId, request, result));
    }
  }

  /**
   * `channels.system stop`: the node stops the FSM at once, whatever it was doing (aesc_fsm:stop). The
   * client is told it died and its socket closes; the peer sees the link go, as on a disconnect. What
   * is co-signed is in the store already, and the same fsm_id reestablishes the channel.
   */
  private stopAtOnce(request: ClientRequest): void {
    if (request.id !== undefined && this.codec.protocol === 'json-rpc') this.sendFrame(this.codec.result(this.channelId, request, 'ok'));
    this.sendFrame(this.codec.output(this.channelId, { kind: 'info', event: 'died' }));
    this.actor?.stop();
    this.stop('stopped');
  }

  /** Tells the client something that happened outside its FSM (the watchtower's actions). */
  notify(output: ClientOutput): void {
    if (!this.stopped) this.sendFrame(this.codec.output(this.channelId, output));
  }

  /** Whether a client socket is attached. */
  get attached(): boolean {
    return this.client !== null;
  }

  /**
   * The client's socket is gone. An FSM whose channel exists lives on without it (frames meant for the
   * client are dropped; it catches up with get.offchain_state when it reconnects); one that does not stops.
   */
  clientGone(link: ClientLink): void {
    if (this.client !== link) return; // an older socket, already replaced
    this.client = null;
    this.deps.events?.emit({ type: 'client_disconnected', channel_id: this.channelId, role: this.role, address: this.address ?? undefined });
    if (!this.stopped) this.send({ type: 'CLIENT.DISCONNECTED' });
  }

  /**
   * A reconnecting client (same fsm_id): it gets fsm_up with that id and the FSM goes on with it. A
   * socket still attached (half-open: its client went away without the service noticing) is let go
   * first, as if it had gone away, then closed: the node, too, ends the old client's handler.
   */
  attach(link: ClientLink, codec: Codec): void {
    const previous = this.client;
    if (previous && previous !== link) {
      this.clientGone(previous);
      previous.close(1000, 'replaced by a new connection');
    }
    this.client = link;
    this.codec = codec;
    this.sendFrame(this.codec.output(this.channelId, { kind: 'info', event: 'fsm_up', data: { fsm_id: this.fsmId } }));
    this.send({ type: 'CLIENT.RECONNECTED' });
  }

  // --- from the peer ---

  receivePeer(message: PeerMessage): void {
    if (!this.stopped) this.running().send(peerEvent(message));
  }

  send(event: ChannelEvent): void {
    if (!this.stopped) this.running().send(event);
  }

  // --- effects ---

  private perform(effect: ChannelEffect): void {
    this.followChain();
    switch (effect.type) {
      case 'toClient':
        this.toClient(effect.output);
        return;
      case 'toPeer': {
        const peer = this.peer;
        // a separate turn per message, in order: the peer FSM never runs inside ours
        if (peer) setImmediate(() => peer.receivePeer(effect.message));
        return;
      }
      case 'persist':
        this.persist(effect);
        return;
      case 'persistOnchain': {
        const round = effect.state.round;
        const timed = this.deps.metrics?.storeWriteDuration.startTimer({ kind: 'onchain' });
        const write = this.deps.store.saveOnchain(effect.channelId, this.role, effect.kind, effect.state);
        if (timed) void write.finally(timed).catch(() => undefined);
        this.track(write).then(
          () => this.send({ type: 'STORE.SAVED', round }),
          (err: Error) => this.send({ type: 'STORE.FAILED', round, detail: err.message }),
        );
        return;
      }
      case 'forgetOnchain':
        this.deps.store.forgetOnchain(effect.channelId, this.role).catch((err: Error) => this.log.warn('could not forget an on-chain tx', { error: err.message }));
        return;
      case 'markClosed':
        this.deps.store.markClosed(effect.channelId, this.role).catch((err: Error) => this.log.warn('could not mark the channel closed', { error: err.message }));
        return;
      case 'postTx':
        this.deps.chain.postTx(effect.signedTx).then(() => this.countTx(effect.signedTx, 'posted'), (err: Error) => {
          this.countTx(effect.signedTx, 'rejected');
          this.log.warn('tx rejected on-chain', { error: err.message });
          this.send({ type: 'CHAIN.REJECTED', detail: err.message });
        });
        return;
      case 'watchTx':
        this.deps.watcher.watch(this, effect.signedTx, effect.minimumDepth, {
          mined: (txHash) => this.send({ type: 'CHAIN.MINED', txHash }),
          locked: (txHash) => this.send({ type: 'CHAIN.LOCKED', txHash }),
          rejected: (detail) => this.send({ type: 'CHAIN.REJECTED', detail }),
        });
        return;
      case 'stopped':
        this.stop(effect.why);
    }
  }

  /** Once the channel exists, the chain watcher tells this FSM what happens to it on chain. */
  private followChain(): void {
    const channelId = this.channelId;
    if (this.unfollow || !channelId || !this.context().state) return;
    this.unfollow = this.deps.channels.follow(channelId, (change) => {
      switch (change.kind) {
        case 'changed': this.send({ type: 'CHAIN.CHANNEL_CHANGED', round: change.channel!.round, tx: change.tx }); break;
        case 'closing':
          this.deps.events?.emit({ type: 'dispute_seen', channel_id: channelId, role: this.role, round: change.channel!.round });
          this.send({ type: 'CHAIN.CHANNEL_CLOSING', round: change.channel!.round, tx: change.tx });
          break;
        case 'closed': this.send({ type: 'CHAIN.CHANNEL_CLOSED', tx: change.tx }); break;
      }
    });
  }

  private toClient(output: ClientOutput): void {
    if (output.kind === 'error' && output.request !== undefined && output.request === this.currentRequest) this.refusedCurrent = true;
    if (output.kind === 'error' || output.kind === 'conflict') this.log.info(`channel ${output.kind}`, { output: redactFrame(stringifyJson(output)) });
    if (this.deps.metrics || this.deps.events) this.observe(output);
    this.sendFrame(this.codec.output(this.channelId, output));
  }

  /** Metrics and ops events of what the client is told: counters always, events only when someone listens. */
  private observe(output: ClientOutput): void {
    const { events, metrics } = this.deps;
    switch (output.kind) {
      case 'update': if (this.proposal) this.endProposal('ok'); break;
      case 'conflict': if (this.proposal) this.endProposal('conflict'); break;
      case 'error':
        metrics?.refusals.inc({ reason: output.reason });
        if (this.proposal && !this.collecting) this.endProposal('refused');
        break;
      case 'info': {
        const lifecycle = LIFECYCLE_INFO[output.event];
        if (lifecycle) events?.emit({ type: lifecycle, channel_id: this.channelId, role: this.role, address: this.address ?? undefined });
      }
    }
    if (!events?.wantsClientEvents) return;
    const base = { channel_id: this.channelId, role: this.role };
    switch (output.kind) {
      // what the info says, never its data: fsm_up and funding_* carry the fsm_id
      case 'info': events.emit({ ...base, type: 'info', reason: output.event }); break;
      case 'update': events.emit({ ...base, type: 'update', round: this.context().state?.round }); break;
      case 'on_chain_tx': events.emit({ ...base, type: 'on_chain_tx', reason: output.info, tx_type: output.txType }); break;
      case 'conflict': events.emit({ ...base, type: 'conflict', round: output.round, reason: output.reason, code: output.code }); break;
      case 'error': events.emit({ ...base, type: 'error', reason: output.reason, detail: output.detail }); break;
    }
  }

  private endProposal(outcome: 'ok' | 'conflict' | 'refused'): void {
    const { kind, started } = this.proposal!;
    this.proposal = null;
    this.deps.metrics!.offchainUpdates.inc({ kind, outcome });
    if (outcome === 'ok') this.deps.metrics!.updateDuration.observe({ kind }, (performance.now() - started) / 1000);
  }

  private countTx(signedTx: string, outcome: 'posted' | 'rejected'): void {
    this.deps.metrics?.onchainTxs.inc({ type: txTypeName(signedTx), outcome });
  }

  /** What an operator sees of this FSM. */
  view(): SessionView {
    const context = this.context();
    const value = this.actor ? this.actor.getSnapshot().value : null;
    const state = value === null ? 'asleep' : typeof value === 'string' ? value : Object.keys(value)[0] ?? 'unknown';
    const { pending } = context;
    return {
      role: this.role,
      channelId: context.channelId,
      state,
      connected: this.client !== null,
      address: this.address,
      lastActivity: this.lastActivity,
      initiatorId: context.params.initiatorId,
      responderId: context.params.responderId,
      round: context.state?.round ?? null,
      balances: context.state ? { initiator: context.state.balances.initiator.toString(), responder: context.state.balances.responder.toString() } : null,
      signedTx: context.state?.signedTx ?? null,
      pending: pending ? { kind: pending.kind, round: pending.round, proposer: pending.proposer } : null,
    };
  }

  /** The FSM's top-level state ("asleep" while it hibernates), for the channel gauge. */
  get stateName(): string {
    const value = this.actor?.getSnapshot().value;
    if (value === undefined) return 'asleep';
    return typeof value === 'string' ? value : Object.keys(value)[0] ?? 'unknown';
  }

  /** Ends the FSM without a word to anyone: the service is stopping. */
  dispose(): void {
    this.stopped = true;
    this.unfollow?.();
    this.actor?.stop();
  }

  /** Resolves once every store write under way has finished (and its answer reached the FSM). */
  async drain(): Promise<void> {
    while (this.writes.size) await Promise.allSettled([...this.writes]);
  }

  private track<T>(write: Promise<T>): Promise<T> {
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write)).catch(() => undefined);
    return write;
  }

  private persist(effect: Extract<ChannelEffect, { type: 'persist' }>): void {
    const round = effect.state.round;
    const first = effect.first ? { params: effect.params, fsmIdHash: hashFsmId(this.fsmId) } : undefined;
    const timed = this.deps.metrics?.storeWriteDuration.startTimer({ kind: 'round' });
    const write = this.deps.store.saveRound(effect.channelId, this.role, effect.state, first);
    if (timed) void write.finally(timed).catch(() => undefined);
    this.track(write).then(
      (result) => {
        if (result === 'saved' && effect.first) this.deps.onChannelStored?.(effect.channelId);
        if (result === 'saved') this.send({ type: 'STORE.SAVED', round });
        else this.send({ type: 'STORE.FAILED', round, detail: 'a round at least as high is already stored' });
      },
      (err: Error) => {
        this.log.error('could not persist a co-signed round', { round, error: err.message });
        this.send({ type: 'STORE.FAILED', round, detail: err.message });
      },
    );
  }

  private sendFrame(frame: Frame): void {
    if (this.collecting) {
      this.collecting.push(frame);
      return;
    }
    if (this.batch) {
      (answersRequest(frame) ? this.batch.answers : this.batch.after).push(frame);
      return;
    }
    if (!this.client) return; // the client is away: it syncs with get.offchain_state when back
    const text = stringifyJson(frame);
    if (this.deps.log.isDebugEnabled()) this.log.debug('frame out', { frame: redactFrame(text.slice(0, 2000)) });
    this.client.send(text);
  }

  private stop(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unfollow?.();
    // a client that goes away before its channel exists ends the FSM the way the node's does, and
    // that is the client's choice, not the service's error
    const cause = why === 'error' && !this.client && !this.channelId ? 'client_disconnected' : why;
    this.log.info('fsm stopped', { why: cause });
    const type = why === 'closed' ? 'channel_closed' : why === 'leave' ? 'channel_left' : 'channel_died';
    this.deps.events?.emit({ type, channel_id: this.channelId, role: this.role, reason: cause, address: this.address ?? undefined });
    // let the frames already queued reach the client before the socket closes
    const client = this.client;
    setImmediate(() => client?.close(1000, why));
    this.deps.onStopped(this, why);
  }
}
