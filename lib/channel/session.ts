/**
 * One participant's session: its FSM actor and its client. It keeps the actor running, asleep
 * (hibernation) or stopped, and the client attached or away; what the client sends goes through its
 * inbox (inbox.ts), what the FSM emits through the effect interpreter (effects.ts), and what the client
 * is told through its link (client.ts), rendered by the client's envelope.
 */
import { createActor, type Actor } from 'xstate';
import { channelMachine, peerEvent, type ChannelContext, type ChannelEvent, type ChannelInput } from '../../fsm/channel-machine.js';
import { keepsRunning, timeout } from '../../fsm/rules/timing.js';
import type { ChannelEffect, ChannelId, ClientOutput, PeerMessage, Role } from '../../fsm/types.js';
import type { ChannelWatcher } from '../chain/channel-watcher.js';
import { stringifyJson } from '../json.js';
import type { PeerLink } from '../peer/link.js';
import type { Logger } from '../log.js';
import type { OpsEvents } from '../ops/events.js';
import type { Lease } from '../store/lease.js';
import { redactFrame } from '../redact.js';
import { followChannel } from './chain-follower.js';
import type { ClientLink, Incoming } from './client.js';
import { EffectInterpreter, type EffectDeps } from './effects.js';
import { Inbox, type InboxDeps } from './inbox.js';
import type { ClientPresence } from './presence.js';
import { endProposal, isProposal, proposalOf, reportOutput, type Proposal, type ReportDeps } from './reports.js';
import { Reporting, type HistoryEntry, type HistoryFilter } from './reporting.js';

export interface SessionDeps extends EffectDeps, InboxDeps, ReportDeps {
  channels: ChannelWatcher;
  log: Logger;
  /** called once when the FSM has stopped and the session should be forgotten */
  onStopped(session: Session, why: string): void;
  /** lifecycle events, and what clients are told while a feed reader listens */
  events?: OpsEvents;
  /** where clients are attached, for the watchtowers of other instances (none on the embedded store) */
  presence?: ClientPresence | null;
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

/** Which peer a session can be paired with: same port and responder, same channel when reestablishing. */
export interface PairingKey {
  port: number;
  /** an initiator's `host`: the responder's service (absent: this one) */
  host?: string;
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

/**
 * An FSM asleep: what its actor knew, without the actor. An xstate actor costs about 9 KB, most of
 * an idle channel's memory; a channel open and idle needs only its state and context to wake up again.
 */
interface Dormant {
  persisted: ReturnType<Actor<typeof channelMachine>['getPersistedSnapshot']> & { context: ChannelContext };
  /** when its idle timeout would have ended it (null when it waits however long) */
  idleDeadline: number | null;
}

/** A sleeping FSM taking its lease back: the events to give it once awake, and when that is settled. */
interface Waking {
  events: ChannelEvent[];
  done: Promise<void>;
}

export class Session {
  /** the running FSM; null while it sleeps (see `hibernateIfQuiet`) */
  private actor: Actor<typeof channelMachine> | null;
  private dormant: Dormant | null = null;
  private lastActivity = Date.now();
  /** the peer's session in this process, or the link to its service; null while unpaired */
  peer: Session | PeerLink | null = null;
  private stopped = false;
  private readonly inbox: Inbox;
  private readonly effects: EffectInterpreter;
  private unfollow: (() => void) | undefined;
  /** the client's off-chain proposal under way, for its metrics */
  private proposal: Proposal | null = null;
  /** the client's remote address (null for an embedded participant) */
  address: string | null = null;
  /** the lease this process hosts the FSM under, when several processes share the store (ownership.ts) */
  lease: Lease | null = null;
  /** asleep with its lease let go: it must take the lease back before it may wake */
  private sleptWithLease = false;
  /** taking the lease back to wake: the events that came meanwhile */
  private waking: Waking | null = null;

  constructor(
    readonly role: Role,
    readonly pairing: PairingKey,
    readonly fsmId: string,
    input: ChannelInput,
    private link: ClientLink | null,
    private readonly deps: SessionDeps,
    /** the client's report_* flags and log (channels.history.fetch) */
    private readonly reporting: Reporting = new Reporting(),
  ) {
    this.inbox = new Inbox(this, deps);
    this.effects = new EffectInterpreter(this, deps);
    this.actor = this.newActor({ input });
  }

  private newActor(options: { input: ChannelInput } | { snapshot: Dormant['persisted'] }): Actor<typeof channelMachine> {
    const actor = createActor(channelMachine, { ...options, clock: UNREFERENCED_CLOCK } as Parameters<typeof createActor<typeof channelMachine>>[1]);
    // an actor put to sleep says nothing more
    actor.on('*', (effect: ChannelEffect) => { if (this.actor === actor) this.perform(effect); });
    return actor;
  }

  /** A logger that names this FSM: made when something is logged (rarely), not kept by every session. */
  get log(): Logger {
    return this.deps.log.child({ role: this.role, channel_id: this.channelId });
  }

  /** The FSM's context, awake or asleep. */
  context(): ChannelContext {
    return this.actor?.getSnapshot().context ?? this.dormant!.persisted.context;
  }

  /**
   * Every event goes through here: to the running FSM, woken first if it sleeps. An FSM that let its
   * lease go when it fell asleep (stores several instances share) cannot wake at once: it takes the
   * lease back first (ownership.ts), the events that come meanwhile wait in order, and if another
   * instance took the FSM over, or the store's round moved, its snapshot is stale: it stops, its
   * client is told, and the waiting events are dropped unsent, so nothing of it is ever written.
   */
  private deliver(event: ChannelEvent): void {
    if (this.stopped) return;
    this.lastActivity = Date.now();
    if (this.actor) this.actor.send(event);
    else if (this.waking) this.waking.events.push(event);
    else if (this.sleptWithLease) void this.wakeUnderLease([event]);
    else this.wakeNow().send(event);
  }

  /** Resolves once the FSM is awake (at once when it is), or has stopped for being unable to wake. */
  awake(): Promise<void> {
    if (this.actor || this.stopped) return Promise.resolve();
    if (this.waking) return this.waking.done;
    if (this.sleptWithLease) return this.wakeUnderLease([]);
    this.wakeNow();
    return Promise.resolve();
  }

  /** Resolves once the FSM's state is known not to be stale: a sleeping FSM without its lease wakes for it. */
  leaseChecked(): Promise<void> {
    return this.sleptWithLease || this.waking ? this.awake() : Promise.resolve();
  }

  private wakeUnderLease(events: ChannelEvent[]): Promise<void> {
    const round = this.dormant!.persisted.context.state?.round ?? 0;
    const waking: Waking = { events, done: Promise.resolve() };
    this.waking = waking;
    waking.done = this.deps.ownership!.wake(this, round).then((refused) => {
      this.waking = null;
      if (this.stopped) return;
      if (refused) {
        this.log.warn('a sleeping FSM could not wake here: it stops', { reason: refused.reason, events: waking.events.length });
        this.endUnwoken(refused.reason, refused.detail);
        return;
      }
      this.sleptWithLease = false;
      const actor = this.wakeNow();
      for (const event of waking.events) if (!this.stopped && this.actor === actor) actor.send(event);
    }).catch((err: Error) => {
      // nothing the FSM did may be lost silently, nor crash the process from a timer's wake
      this.log.error('a sleeping FSM failed to wake', { error: err.message });
      this.waking = null;
    });
    return waking.done;
  }

  /** The sleeping FSM back as it was, its actor restored from its snapshot. */
  private wakeNow(): Actor<typeof channelMachine> {
    const { persisted } = this.dormant!;
    this.dormant = null;
    this.actor = this.newActor({ snapshot: persisted });
    this.actor.start();
    this.actor.send({ type: 'CLOCK.RESUMED' });
    return this.actor;
  }

  /**
   * Puts the FSM to sleep when its channel is open and idle and nothing has happened for `quietMs`;
   * the next event of any kind wakes it. Whether it sleeps now. Its lease, if it has one, goes
   * (ownership.ts), to be taken back when it wakes.
   */
  hibernateIfQuiet(now: number, quietMs: number): boolean {
    const actor = this.actor;
    if (!actor || this.stopped || this.inbox.busy || now - this.lastActivity < quietMs) return false;
    const snapshot = actor.getSnapshot();
    if (!snapshot.matches({ open: 'idle' })) return false;
    const { context } = snapshot;
    this.dormant = {
      persisted: actor.getPersistedSnapshot() as Dormant['persisted'],
      idleDeadline: keepsRunning(context) ? null : this.lastActivity + timeout(context, 'idle'),
    };
    this.actor = null;
    actor.stop(); // and its timers with it: the idle deadline is kept above
    this.sleptWithLease = this.deps.ownership?.sleep(this) ?? false;
    return true;
  }

  /** A sleeping FSM whose idle time has run out is woken to time out, as it would have awake. */
  expireIfIdle(now: number): void {
    if (this.waking) return; // waking already: it times out once awake
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
    this.actor!.start();
    // a restored channel exists from the start: its client is attached now
    this.deps.presence?.changed(this);
  }

  // --- the client ---

  /** The client's end while it is attached (null while it is away). */
  get client(): ClientLink | null {
    return this.link;
  }

  /** Whether a client is attached. */
  get attached(): boolean {
    return this.link !== null;
  }

  /** The delegates this participant named (a watchtower acts only for one that named it). */
  get delegates(): readonly string[] {
    const { params } = this.context();
    return this.role === 'initiator' ? params.initiatorDelegateIds : params.responderDelegateIds;
  }

  /** What the client sent: taken in its turn, after everything it sent before. */
  receive(incoming: Incoming): void {
    this.inbox.receive(incoming);
  }

  /** Tells the client something that happened outside its FSM (the watchtower's actions). */
  notify(output: ClientOutput): void {
    if (!this.stopped && this.reporting.admit(this.channelId, output)) this.link?.output(this.channelId, output);
  }

  /**
   * The client is gone. An FSM whose channel exists lives on without it (what the client would be told
   * is dropped; it catches up with get.offchain_state when it reconnects); one that does not stops.
   */
  clientGone(link: ClientLink): void {
    if (this.link !== link) return; // an older client end, already replaced
    this.link = null;
    this.deps.presence?.changed(this);
    this.deps.events?.emit({ type: 'client_disconnected', channel_id: this.channelId, role: this.role, address: this.address ?? undefined });
    if (!this.stopped) this.send({ type: 'CLIENT.DISCONNECTED' });
  }

  /**
   * A reconnecting client (same fsm_id): it gets fsm_up with that id and the FSM goes on with it. A
   * client still attached (half-open: its client went away without the service noticing) is let go
   * first, as if it had gone away, then closed: the node, too, ends the old client's handler.
   */
  attach(link: ClientLink): void {
    const previous = this.link;
    if (previous && previous !== link) {
      this.clientGone(previous);
      previous.close(1000, 'replaced by a new connection');
    }
    this.link = link;
    this.deps.presence?.changed(this);
    const up: ClientOutput = { kind: 'info', event: 'fsm_up', data: { fsm_id: this.fsmId } };
    if (this.reporting.admit(this.channelId, up)) link.output(this.channelId, up);
    this.send({ type: 'CLIENT.RECONNECTED' });
  }

  /** A client's request for the FSM (from the inbox), with the metrics of a proposal it starts. */
  step(event: ChannelEvent): void {
    const proposal = proposalOf(this.deps.metrics, event);
    if (proposal) this.proposal = proposal;
    this.deliver(event);
  }

  /** The FSM refused the request the inbox gave it. */
  refused(event: ChannelEvent): void {
    if (this.proposal && isProposal(this.deps.metrics, event)) {
      endProposal(this.deps.metrics, this.proposal, 'refused');
      this.proposal = null;
    }
  }

  /**
   * `channels.system stop`: the node stops the FSM at once, whatever it was doing (aesc_fsm:stop). The
   * client is told it died and its end closes; the peer sees the link go, as on a disconnect. What is
   * co-signed is in the store already, and the same fsm_id reestablishes the channel.
   */
  stopAtOnce(): void {
    this.toClient({ kind: 'info', event: 'died' });
    this.actor?.stop();
    this.stop('stopped');
  }

  /**
   * Another service instance took this FSM over (ownership.ts): it stops here at once, and its client,
   * if one is still attached, is told why; the FSM lives on at the other instance, reached by a reestablish.
   */
  leaseLost(detail: string): void {
    this.endUnwoken('lease_lost', detail);
  }

  /** The FSM stops here at once for `reason` (its lease), its client told why and that it died. */
  private endUnwoken(reason: 'lease_lost' | 'store_unavailable', detail: string): void {
    if (this.stopped) return;
    this.toClient({ kind: 'error', reason, detail });
    this.toClient({ kind: 'info', event: 'died' });
    this.actor?.stop();
    this.stop(reason);
  }

  /** What the FSM tells the client: held while the inbox takes a request, reported, then sent. */
  toClient(output: ClientOutput): void {
    if (output.kind === 'error' || output.kind === 'conflict') this.log.info(`channel ${output.kind}`, { output: redactFrame(stringifyJson(output)) });
    // a report the client's report_* flags leave out is neither sent nor logged, as the node; operators still count it
    const admitted = this.reporting.admit(this.channelId, output);
    const held = admitted && this.inbox.hold(this.channelId, output);
    if (this.deps.metrics || this.deps.events) this.proposal = reportOutput(this.deps, this, output, this.proposal, held);
    if (admitted && !held) this.link?.output(this.channelId, output);
  }

  /** `channels.history.fetch`: the latest reports and peer messages, newest first. */
  history(filter: HistoryFilter): HistoryEntry[] {
    return this.reporting.history(filter);
  }

  /** The latest co-signed round, for the reports. */
  round(): number | undefined {
    return this.context().state?.round;
  }

  // --- the peer ---

  /** The peer's effect interpreter, when the peer is a session of this process: the two share store writes. */
  get localPeer(): EffectInterpreter | null {
    return this.peer instanceof Session && !this.peer.stopped ? this.peer.effects : null;
  }

  receivePeer(message: PeerMessage): void {
    if (this.stopped) return;
    this.reporting.peerMessage('rcv', message);
    this.deliver(peerEvent(message));
  }

  send(event: ChannelEvent): void {
    if (!this.stopped) this.deliver(event);
  }

  // --- effects ---

  private perform(effect: ChannelEffect): void {
    if (effect.type === 'toPeer') this.reporting.peerMessage('snd', effect.message);
    this.followChain();
    this.effects.perform(effect);
  }

  /** Once the channel exists, the chain watcher tells this FSM what happens to it on chain. */
  private followChain(): void {
    const channelId = this.channelId;
    if (this.unfollow || !channelId || !this.context().state) return;
    this.unfollow = followChannel(this.deps.channels, channelId, this.role, (event) => this.send(event), this.deps.events);
    // a new channel exists now: where its client is attached matters to the watchtower from here on
    this.deps.presence?.changed(this);
  }

  /** What an operator sees of this FSM. */
  view(): SessionView {
    const context = this.context();
    const { pending } = context;
    return {
      role: this.role,
      channelId: context.channelId,
      state: this.stateName,
      connected: this.link !== null,
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
  drain(): Promise<void> {
    return this.effects.drain();
  }

  stop(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unfollow?.();
    this.deps.presence?.changed(this);
    // a client that goes away before its channel exists ends the FSM the way the node's does, and
    // that is the client's choice, not the service's error
    const cause = why === 'error' && !this.link && !this.channelId ? 'client_disconnected' : why;
    this.log.info('fsm stopped', { why: cause });
    // report_debug: the node sends the client its FSM's log when it dies (aesc_fsm terminate/3)
    if (this.reporting.reports('debug')) this.toClient({ kind: 'debug', data: { message: 'died', reason: cause, log: this.reporting.history({ n: Infinity }) } });
    const type = why === 'closed' ? 'channel_closed' : why === 'leave' ? 'channel_left' : 'channel_died';
    this.deps.events?.emit({ type, channel_id: this.channelId, role: this.role, reason: cause, address: this.address ?? undefined });
    // let what is already on its way reach the client before its end closes
    const link = this.link;
    setImmediate(() => link?.close(1000, why));
    this.deps.onStopped(this, why);
  }
}
