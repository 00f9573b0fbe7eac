/**
 * A channel participant hosted in the backend's own process: the aepp-sdk `Channel`'s API, with the
 * backend itself as the client. Its session's client end is a JSON-RPC `FrameClient` (lib/ws), as a
 * socket's is: the session's output reaches this object as the same frames a WebSocket would carry,
 * and the requests the SDK would send go back through it, so both kinds of clients go through one
 * codec, one request table and one FSM, and persist-before-release, timers, hibernation and the
 * watchtower hold for both.
 */
import { EventEmitter } from 'node:events';
import {
  ChannelCallError, ChannelConnectionError, ChannelError, EntryTag, ChannelIncomingMessageError, IllegalArgumentError,
  Tag, UnknownChannelStateError, buildTx, unpackEntry, unpackTx, type Channel as SdkChannel, type Encoded,
} from '../sdk.js';
import type { Reason } from '../../fsm/reasons.js';
import { Refusal, type Admission } from '../channel/admission.js';
import type { Session } from '../channel/session.js';
import type { Logger } from '../log.js';
import { jsonRpcCodec } from '../ws/codec.js';
import { FrameClient } from '../ws/frame-client.js';
import { parseOpenParams } from '../ws/open-params.js';
import { amountJson, readFrame, writeFrame, type AmountLike, type IncomingMessage } from './frames.js';
import {
  handlers, roundOf, type ChannelCore, type ChannelStatus, type Handler, type Next, type Pending, type SignTx, type SignTxWithTag,
} from './handlers.js';

export type { ChannelStatus, SignTx, SignTxWithTag } from './handlers.js';

/**
 * The aepp-sdk's `Channel.initialize` options (channel-api §2), less the socket: `url` is not needed
 * (and ignored if given). Amounts may also be bigints or numeric strings. Any further option becomes a
 * channel parameter as it would in the SDK's URL (`watchtower: true`, `keepRunning: true`, `timeoutIdle`…).
 */
export type EmbeddedChannelOptions = {
  role: 'initiator' | 'responder';
  /** the initiator's account; a responder may say `'any'` to accept any initiator */
  initiatorId: Encoded.AccountAddress | 'any';
  responderId: Encoded.AccountAddress;
  /** the responder's port: an initiator and a responder on the same port (and responder id) are paired */
  port: number;
  /** the responder's host (an initiator's option) */
  host?: string;
  initiatorAmount: AmountLike;
  responderAmount: AmountLike;
  pushAmount?: AmountLike;
  channelReserve?: AmountLike;
  lockPeriod: number;
  ttl?: number;
  fee?: AmountLike;
  minimumDepth?: number;
  minimumDepthStrategy?: 'txfee' | 'plain';
  existingChannelId?: Encoded.Channel;
  existingFsmId?: Encoded.Bytearray | string;
  /** after a `leave()`: reestablish the channel (otherwise an existing channel id reconnects to its live FSM) */
  reestablish?: boolean;
  /** name the service's watchtower as this participant's delegate */
  watchtower?: boolean;
  /** a responder that stays up however long it is idle (default: true for responders) */
  keepRunning?: boolean;
  url?: string;
  debug?: boolean;
  /** signs what the channel asks for, by tag; a number (error code) or null declines */
  sign: SignTxWithTag;
  [parameter: string]: unknown;
};

/** What a participant needs of the running service. */
export interface EmbedHost {
  admission: Admission;
  log: Logger;
  /** the largest frame a participant may send, as for a socket */
  maxFrameBytes: number;
  /** called when a participant ends, so the host stops tracking it */
  forget?(channel: EmbeddedChannel): void;
  track?(channel: EmbeddedChannel): void;
}

/** The service refused the participant at connect time (the node's reason, as a socket client would get in its error frame). */
export class ChannelRefusedError extends ChannelConnectionError {
  constructor(readonly reason: Reason, readonly detail: string) {
    super(`${reason}: ${detail}`);
    this.name = 'ChannelRefusedError';
  }
}

export interface ChannelEvents {
  statusChanged: (status: ChannelStatus) => void;
  stateChanged: (tx: Encoded.Transaction | '') => void;
  depositLocked: () => void;
  ownDepositLocked: () => void;
  withdrawLocked: () => void;
  ownWithdrawLocked: () => void;
  peerDisconnected: () => void;
  channelReestablished: () => void;
  error: (error: Error) => void;
  onChainTx: (tx: Encoded.Transaction, details: { info: string; type: string }) => void;
  message: (message: { channel_id: string; from: string; to: string; info: string }) => void;
}

/** What `withdraw` reports on the way: the tx posted, then locked at minimum depth for us and for the peer. */
export type WithdrawCallbacks = Pick<Pending, 'onOnChainTx' | 'onOwnWithdrawLocked' | 'onWithdrawLocked'>;
/** What `deposit` reports on the way: the tx posted, then locked at minimum depth for us and for the peer. */
export type DepositCallbacks = Pick<Pending, 'onOnChainTx' | 'onOwnDepositLocked' | 'onDepositLocked'>;

interface QueuedAction {
  start(): Next;
}

const pascalToSnake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The channel parameters, as the SDK would put them in its WebSocket URL. */
function openQuery(options: EmbeddedChannelOptions): URLSearchParams {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) {
    if (['sign', 'debug', 'url'].includes(key) || value === undefined) continue;
    const amount = typeof value === 'object' && value !== null && 'toFixed' in value ? amountJson(value as AmountLike) : value;
    query.set(pascalToSnake(key), String(amount));
  }
  query.set('protocol', 'json-rpc');
  return query;
}

export class EmbeddedChannel {
  private readonly events = new EventEmitter();
  private readonly handlers = handlers(this satisfies ChannelCore);
  private fsm: Next | null = null;
  private _status: ChannelStatus = 'disconnected';
  private _state: Encoded.Transaction | '' = '';
  private _channelId: Encoded.Channel | undefined;
  private _fsmId: Encoded.Bytearray | undefined;
  private session: Session | null = null;
  /** frames from the session, handled one at a time in order (they may arrive while the session is being set up) */
  private readonly inbox: IncomingMessage[] = [];
  private handling = false;
  private started = false;
  private readonly actions: QueuedAction[] = [];
  private acting = false;
  /**
   * A frame is being handled: an operation asked for meanwhile (from a listener of stateChanged, say)
   * waits for the handler's next state, or that state would overwrite the operation's. The SDK gets
   * this order from an `await` in its action queue.
   */
  private inHandler = false;
  private nextId = 0;
  private readonly calls = new Map<number, (message: IncomingMessage) => void>();
  private readonly link: FrameClient;
  private connected = false;

  private constructor(private readonly options: EmbeddedChannelOptions, private readonly host: EmbedHost) {
    this.link = new FrameClient(jsonRpcCodec, {
      send: (text) => { if (this.connected) this.receive(text); },
      close: () => this.closed(),
    }, { log: host.log, maxFrameBytes: host.maxFrameBytes, fields: { role: options.role } });
  }

  /**
   * Opens, reestablishes or reconnects a channel, as `Channel.initialize` does; refusals reject with
   * `ChannelRefusedError`. Backends call `EmbeddedService.channel(options)`, which calls this.
   * @internal
   */
  static async initialize(host: EmbedHost, options: EmbeddedChannelOptions): Promise<EmbeddedChannel> {
    const reconnect = (options.existingFsmId ?? options.existingChannelId) != null;
    if (reconnect && (options.existingFsmId == null || options.existingChannelId == null)) {
      throw new IllegalArgumentError('`existingChannelId`, `existingFsmId` should be both provided or missed');
    }
    if (typeof options.sign !== 'function') throw new IllegalArgumentError('`sign` must be a function (tag, tx, options) => signed tx');
    const channel = new EmbeddedChannel(options, host);
    const h = channel.handlers;
    const first: Handler = reconnect ? (options.reestablish === true ? h.awaitingReestablish : h.awaitingReconnection) : h.awaitingConnection;
    channel.changeStatus('connecting');
    const open = parseOpenParams(openQuery(options));
    if ('reason' in open) {
      channel.changeStatus('disconnected');
      throw new ChannelRefusedError(open.reason, open.detail);
    }
    channel.connected = true;
    try {
      channel.session = await host.admission.admit(open, channel.link);
    } catch (err) {
      channel.connected = false;
      channel.changeStatus('disconnected');
      if (err instanceof Refusal) throw new ChannelRefusedError(err.reason, err.detail);
      throw err;
    }
    host.track?.(channel);
    channel.changeStatus('connected');
    channel.started = true;
    channel.enterState({ handler: first });
    void channel.handleInbox();
    return channel;
  }

  get role(): 'initiator' | 'responder' {
    return this.options.role;
  }

  get signWithTag(): SignTxWithTag {
    return this.options.sign;
  }

  on<E extends keyof ChannelEvents>(event: E, callback: ChannelEvents[E]): void {
    this.events.on(event, callback);
  }

  off<E extends keyof ChannelEvents>(event: E, callback: ChannelEvents[E]): void {
    this.events.removeListener(event, callback);
  }

  status(): ChannelStatus {
    return this._status;
  }

  round(): number | null {
    return roundOf(this._state);
  }

  id(): Encoded.Channel {
    if (this._channelId == null) throw new ChannelError('Channel is not initialized');
    return this._channelId;
  }

  fsmId(): Encoded.Bytearray {
    if (this._fsmId == null) throw new ChannelError('Channel is not initialized');
    return this._fsmId;
  }

  /** The client goes away; the FSM of an existing channel lives on for a reconnect, as when a socket closes. */
  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    if (this.session) this.session.clientGone(this.link);
    this.closed();
  }

  /** The latest state: trees, the co-signed tx and the half-signed one under way, unpacked as the SDK does. */
  async state(): ReturnType<SdkChannel['state']> {
    const res = await this.call('channels.get.offchain_state', {});
    return {
      calls: unpackEntry(res.calls, EntryTag.CallsMtree),
      ...(res.half_signed_tx !== '' && { halfSignedTx: unpackTx(res.half_signed_tx, Tag.SignedTx) }),
      ...(res.signed_tx !== '' && { signedTx: unpackTx(res.signed_tx, Tag.SignedTx) }),
      trees: unpackEntry(res.trees, EntryTag.StateTrees),
    };
  }

  async balances(accounts: Encoded.AccountAddress[]): Promise<Record<Encoded.AccountAddress, string | number>> {
    const result = await this.call('channels.get.balances', { accounts }) as Array<{ account: Encoded.AccountAddress; balance: string | number }>;
    return Object.fromEntries(result.map((item) => [item.account, item.balance]));
  }

  /** A proof of inclusion of these accounts in the latest state. */
  async poi({ accounts, contracts }: { accounts: Encoded.AccountAddress[]; contracts?: Encoded.ContractAddress[] }): ReturnType<SdkChannel['poi']> {
    const { poi } = await this.call('channels.get.poi', { accounts, ...(contracts && { contracts }) });
    return unpackEntry(poi, EntryTag.TreesPoi);
  }

  async sendMessage(message: string | object, recipient: Encoded.AccountAddress): Promise<void> {
    const info = typeof message === 'object' ? JSON.stringify(message) : message;
    this.notify('channels.message', { info, to: recipient });
  }

  update(from: Encoded.AccountAddress, to: Encoded.AccountAddress, amount: AmountLike, sign: SignTx, metadata: string[] = []): Promise<{ accepted: boolean; signedTx?: Encoded.Transaction; errorCode?: number; errorMessage?: string }> {
    return this.enqueue(() => {
      this.notify('channels.update.new', { from, to, amount: amountJson(amount), meta: metadata });
      return { handler: this.handlers.awaitingOffChainTx(sign) };
    });
  }

  withdraw(amount: AmountLike, sign: SignTx, callbacks: WithdrawCallbacks = {}): Promise<{ accepted: boolean; signedTx?: Encoded.Transaction; errorCode?: number; errorMessage?: string }> {
    return this.enqueue(() => {
      this.notify('channels.withdraw', { amount: amountJson(amount) });
      return { handler: this.handlers.awaitingActionTx('withdraw'), state: { sign, ...callbacks } as Pending };
    });
  }

  deposit(amount: AmountLike, sign: SignTx, callbacks: DepositCallbacks = {}): Promise<{ accepted: boolean; signedTx?: Encoded.Transaction; errorCode?: number; errorMessage?: string }> {
    return this.enqueue(() => {
      this.notify('channels.deposit', { amount: amountJson(amount) });
      return { handler: this.handlers.awaitingActionTx('deposit'), state: { sign, ...callbacks } as Pending };
    });
  }

  /** Mutual close; resolves with the close tx once the chain has it. */
  shutdown(sign: SignTx): Promise<Encoded.Transaction> {
    return this.enqueue(() => {
      this.notify('channels.shutdown');
      return { handler: this.handlers.awaitingShutdownTx, state: { sign } as Pending };
    });
  }

  /** Leaves the channel (its FSM stops; reestablish later with `existingChannelId`, `existingFsmId` and `reestablish: true`). */
  leave(): Promise<{ channelId: Encoded.Channel; signedTx: Encoded.Transaction }> {
    return this.enqueue(() => {
      this.notify('channels.leave');
      return { handler: this.handlers.awaitingLeave };
    });
  }

  // --- ChannelCore: what the handlers do through the channel ---

  changeStatus(status: ChannelStatus): void {
    if (status === this._status) return;
    this._status = status;
    this.emit('statusChanged', status);
  }

  changeState(state: Encoded.Transaction | ''): void {
    this._state = state;
    this.emit('stateChanged', state);
  }

  emit(event: string, ...args: unknown[]): void {
    // an 'error' nobody listens to is logged: node's EventEmitter would throw it, and the SDK's
    // message loop would turn that into an unhandled rejection that ends the backend's process
    if (event === 'error' && this.events.listenerCount('error') === 0) {
      const error = args[0] as Error & { incomingMessage?: IncomingMessage };
      this.host.log.warn('in-process channel error with no listener', { error: error?.message, method: error?.incomingMessage?.method });
      return;
    }
    this.events.emit(event, ...args);
  }

  notify(method: string, params: Record<string, unknown> = {}): void {
    if (this.session && this.connected) this.session.receive(this.link.read(writeFrame(method, params)));
  }

  setFsmId(fsmId: string): void {
    this._fsmId = fsmId as Encoded.Bytearray;
  }

  setChannelId(channelId: string): void {
    this._channelId = channelId as Encoded.Channel;
  }

  async offchainSignedTx(): Promise<string | null> {
    const { signedTx } = await this.state();
    return signedTx == null ? null : buildTx(signedTx);
  }

  // --- the link ---

  /** A request with an id: its reply is matched to it (ChannelCallError when refused). */
  private call(method: string, params: Record<string, unknown>): Promise<any> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.calls.set(id, (message) => {
        if (message.error != null) reject(new ChannelCallError(message.error.message + (message.error.data[0]?.message ?? '')));
        else resolve(message.result);
      });
      if (!this.session || !this.connected) {
        this.calls.delete(id);
        reject(new ChannelCallError('Rejected: the channel is disconnected'));
        return;
      }
      this.session.receive(this.link.read(writeFrame(method, params, id)));
    });
  }

  private receive(text: string): void {
    const message = readFrame(text);
    if (message.id != null) {
      const callback = this.calls.get(message.id);
      this.calls.delete(message.id);
      if (callback) callback(message);
      else this.emit('error', new ChannelError(`Can't find callback by id: ${message.id}`));
      return;
    }
    if (message.method === 'channels.message') {
      this.emit('message', message.params.data.message);
      return;
    }
    if (message.method === 'channels.system.pong') return;
    this.inbox.push(message);
    // never inside the session's own turn: the FSM does not run the backend's code
    if (this.started) queueMicrotask(() => void this.handleInbox());
  }

  private closed(): void {
    this.connected = false;
    for (const [id, callback] of this.calls) {
      this.calls.delete(id);
      callback({ id, error: { code: 3, message: 'Rejected', data: [{ code: 3, message: ': the channel is disconnected' }] } });
    }
    this.changeStatus('disconnected');
    this.host.forget?.(this);
  }

  private async handleInbox(): Promise<void> {
    if (this.handling || !this.started) return;
    this.handling = true;
    try {
      while (this.inbox.length) {
        const message = this.inbox.shift()!;
        try {
          const { handler, state } = this.fsm!;
          let next: Next | undefined;
          this.inHandler = true;
          try {
            next = await handler(message, state);
          } finally {
            this.inHandler = false;
          }
          this.enterState(next);
        } catch (err) {
          this.emit('error', new ChannelIncomingMessageError(err as Error, message as never));
        }
      }
    } finally {
      this.handling = false;
    }
  }

  private enterState(next: Next | undefined): void {
    if (next == null) throw new UnknownChannelStateError();
    this.fsm = next;
    if (next.handler === this.handlers.channelOpen) this.changeStatus('open');
    void this.dequeueAction();
  }

  private enqueue<T>(start: () => Next): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.actions.push({
        start: () => {
          const next = start();
          return { ...next, state: { ...next.state, resolve: resolve as (v: unknown) => void, reject } };
        },
      });
      void this.dequeueAction();
    });
  }

  /** Operations start one at a time, when the channel is open and idle, as the SDK queues them. */
  private async dequeueAction(): Promise<void> {
    if (this.acting || this.inHandler || !this.actions.length || this.fsm?.handler !== this.handlers.channelOpen) return;
    const action = this.actions.shift()!;
    this.acting = true;
    const next = action.start();
    this.acting = false;
    this.enterState(next);
  }
}
