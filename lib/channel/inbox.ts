/**
 * A session's inbox: what its client sends, taken one request at a time in arrival order (even when
 * one needs a chain lookup first: an on-chain operation needs its proposer's nonce), turned into the
 * FSM's events through the request table, or answered from the read model, or refused with its reason.
 *
 * What the FSM tells the client while it takes a request is held, so that the client hears first that
 * the request was taken (JSON-RPC answers a request with an id "ok", as the node orders them), unless
 * the FSM refused it.
 */
import type { ChannelContext, ChannelEvent } from '../../fsm/channel-machine.js';
import { accountOf } from '../../fsm/protocol.js';
import type { Reason } from '../../fsm/reasons.js';
import type { ChannelId, ClientOutput, Pin, Role } from '../../fsm/types.js';
import { DEFAULT_BLOCK_HASH_DELTA } from '../../fsm/types.js';
import { onchainChannel } from '../chain/channel-watcher.js';
import type { TxWatcher } from '../chain/tx-watcher.js';
import type { Chain } from '../chain/types.js';
import type { Json } from '../json.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { isBadRequest, isBatch, type ClientLink, type ClientRequest, type Incoming } from './client.js';
import { answerQuery } from './read-model.js';
import { pinBlock } from './pinning.js';
import { interpret, type OnchainRequest, type Query } from './requests.js';
import { PROPOSAL_METHODS } from './reports.js';
import type { HistoryEntry, HistoryFilter } from './reporting.js';

export interface InboxDeps {
  chain: Chain;
  watcher: TxWatcher;
  metrics?: Metrics;
}

/** What the inbox needs of its session. */
export interface InboxOwner {
  readonly role: Role;
  readonly channelId: ChannelId | null;
  readonly isStopped: boolean;
  /** the client's end; null while it is away (what it would be told is dropped) */
  readonly client: ClientLink | null;
  readonly log: Logger;
  context(): ChannelContext;
  /** the FSM takes a request's event (once awake) */
  step(event: ChannelEvent): void;
  /** resolves once the FSM is awake: a sleeping one may first have to take its lease back */
  awake(): Promise<void>;
  /** resolves once the FSM's state is known not to be stale: at once, unless it sleeps with its lease let go (then once awake) */
  leaseChecked(): Promise<void>;
  /** the FSM refused it (a refused proposal ends its metrics here) */
  refused(event: ChannelEvent): void;
  /** `channels.system stop`: the FSM ends at once */
  stopAtOnce(): void;
  /** `channels.history.fetch`: the FSM's recent reports and peer messages */
  history(filter: HistoryFilter): HistoryEntry[];
}

/** Queries answered from the channel's state (the others are about the session or its client). */
const STATE_QUERIES: ReadonlySet<Query> = new Set(['balances', 'offchain_state', 'poi']);

export class Inbox {
  private queue: Promise<void> = Promise.resolve();
  /** what the FSM tells the client while it takes one request, with the channel id of the moment */
  private held: Array<[ChannelId | null, ClientOutput]> | null = null;
  private refused = false;
  private current: Json | undefined;

  constructor(private readonly owner: InboxOwner, private readonly deps: InboxDeps) {}

  /** Takes what the client sent, after everything it sent before. */
  receive(incoming: Incoming): void {
    this.queue = this.queue.then(() => this.take(incoming)).catch((err: Error) => {
      this.owner.log.error('client frame failed', { error: err.message });
      this.owner.client?.refuse(this.owner.channelId, { raw: {} }, 'internal_error', 'the request could not be handled');
    });
  }

  /** Whether a request is being taken (the FSM must not sleep in the middle of one). */
  get busy(): boolean {
    return this.held !== null;
  }

  /** Holds an output while a request is taken; false when none is. */
  hold(channelId: ChannelId | null, output: ClientOutput): boolean {
    if (!this.held) return false;
    if (output.kind === 'error' && output.request !== undefined && output.request === this.current) this.refused = true;
    this.held.push([channelId, output]);
    return true;
  }

  private async take(incoming: Incoming): Promise<void> {
    if (this.owner.isStopped) return;
    if (isBatch(incoming)) {
      const client = this.owner.client;
      client?.batch?.('start');
      try {
        for (const member of incoming.batch) await this.take(member);
      } finally {
        client?.batch?.('end');
      }
      return;
    }
    if (isBadRequest(incoming)) {
      this.owner.client?.refuse(this.owner.channelId, { raw: incoming.raw }, incoming.error, incoming.detail);
      return;
    }
    const interpreted = interpret(incoming);
    switch (interpreted.kind) {
      case 'refused':
        this.refuseRequest(incoming, interpreted.reason, interpreted.detail);
        return;
      case 'query':
        // the channel's state is read from an FSM sure of its lease: a sleeping one whose FSM another
        // instance took over stops (its client told) rather than answer from a stale snapshot
        if (STATE_QUERIES.has(interpreted.query)) {
          await this.owner.leaseChecked();
          if (this.owner.isStopped) return;
        }
        if (interpreted.query === 'history') this.owner.client?.answer(this.owner.channelId, incoming, this.owner.history(interpreted.filter ?? {}));
        else this.answer(incoming, interpreted.query, interpreted.accounts);
        return;
      case 'onchain': {
        const event = await this.onchainEvent(interpreted.onchain);
        if ('reason' in event) this.refuseRequest(incoming, event.reason, event.detail);
        else await this.dispatch(incoming, event);
        return;
      }
      case 'event': {
        if (!interpreted.pin) {
          await this.dispatch(incoming, interpreted.event);
          return;
        }
        const pin = await this.pin(interpreted.pin.blockHash);
        if ('reason' in pin) this.refuseRequest(incoming, pin.reason, pin.detail);
        else await this.dispatch(incoming, { ...interpreted.event, pin } as ChannelEvent);
      }
    }
  }

  /** The block a proposal is pinned to, by this participant's window (the FSM's input, or the node's defaults). */
  private pin(blockHash: string | undefined): Promise<Pin | { reason: Reason; detail: string }> {
    return pinBlock(this.deps.chain, this.owner.context().blockHashDelta ?? DEFAULT_BLOCK_HASH_DELTA, blockHash);
  }

  /**
   * The FSM event of an on-chain operation, with the chain facts its tx needs: the proposer's nonce
   * (one the account has used is refused: its tx could never be mined) and, for a co-signed one, the
   * block it is pinned to.
   */
  private async onchainEvent(req: OnchainRequest): Promise<ChannelEvent | { reason: Reason; detail: string }> {
    const { params } = this.owner.context();
    const proposer = accountOf(params, this.owner.role);
    if (req.nonce !== undefined) {
      const used = (await this.deps.chain.account(proposer))?.nonce ?? 0;
      if (req.nonce <= used) return { reason: 'value_too_low', detail: `nonce ${req.nonce} is used: ${proposer}'s next nonce is ${used + 1}` };
    }
    const nonce = req.nonce ?? (await this.deps.chain.nextNonce(proposer));
    const terms = { nonce, ttl: 0, ...(req.fee !== undefined && { fee: req.fee }), ...(req.gasPrice !== undefined && { gasPrice: req.gasPrice }) };
    if (req.op === 'deposit' || req.op === 'withdraw' || req.op === 'shutdown') {
      const pin = await this.pin(req.blockHash);
      if ('reason' in pin) return pin;
      if (req.op === 'shutdown') return { type: 'CLIENT.SHUTDOWN', terms, pin, request: req.request };
      const type = req.op === 'deposit' ? 'CLIENT.DEPOSIT' : 'CLIENT.WITHDRAW';
      return { type, amount: req.amount, terms, meta: req.meta ?? [], pin, request: req.request };
    }
    const channelId = this.owner.channelId;
    const onchain = channelId ? await onchainChannel(this.deps.chain, channelId) : null;
    return { type: 'CLIENT.DISPUTE', kind: req.op, terms, onchain, request: req.request };
  }

  /**
   * Sends one request's event to the FSM, woken first (a sleeping FSM that cannot wake stops, its
   * client told why, and the request goes nowhere); the client hears that it was taken, then what it
   * caused. From the wake on, all in one turn: the FSM cannot fall asleep between.
   */
  private async dispatch(request: ClientRequest, event: ChannelEvent): Promise<void> {
    await this.owner.awake();
    if (this.owner.isStopped) return;
    this.held = [];
    this.refused = false;
    this.current = request.raw;
    try {
      this.owner.step(event);
    } finally {
      const held = this.held;
      const refused = this.refused;
      this.held = null;
      this.current = undefined;
      if (refused) this.owner.refused(event);
      const client = this.owner.client;
      if (client) {
        if (!refused) client.accepted(this.owner.channelId, request);
        for (const [channelId, output] of held) client.output(channelId, output);
      }
    }
  }

  /** A request refused before the FSM saw it (a proposal's refusal ends its metrics here). */
  private refuseRequest(request: ClientRequest, reason: Reason, detail?: string): void {
    const kind = this.deps.metrics && PROPOSAL_METHODS[request.method];
    if (kind) this.deps.metrics!.offchainUpdates.inc({ kind, outcome: 'refused' });
    this.refuse(request, reason, detail);
  }

  private refuse(request: { raw: Json; id?: Json }, reason: Reason, detail?: string): void {
    this.deps.metrics?.refusals.inc({ reason });
    this.owner.client?.refuse(this.owner.channelId, request, reason, detail);
  }

  private answer(request: ClientRequest, query: Exclude<Query, 'history'>, accounts: string[]): void {
    const { client, channelId } = this.owner;
    if (query === 'ping') {
      client?.pong(channelId, request);
      return;
    }
    if (query === 'stop') {
      // as the node's aesc_fsm:stop: answered like any request taken, then the FSM is gone
      client?.accepted(channelId, request);
      this.owner.stopAtOnce();
      return;
    }
    if (query === 'assume_minimum_depth') {
      // the client takes the risk of a reorg for this tx: go on as if it were deep enough
      const txHash = accounts[0]!;
      if (!this.deps.watcher.watching(this.owner, txHash)) {
        this.refuse(request, 'not_allowed_now', 'no such tx is waiting for minimum depth');
        return;
      }
      client?.accepted(channelId, request);
      this.deps.watcher.assume(this.owner, txHash);
      return;
    }
    const answer = answerQuery(this.owner.context(), query, accounts);
    if ('reason' in answer) this.refuse(request, answer.reason, answer.detail);
    else client?.answer(channelId, request, answer.result);
  }
}
