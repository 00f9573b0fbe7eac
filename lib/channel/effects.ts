/**
 * The effect interpreter: performs what an FSM emits, as data, and tells it how each ended. Rounds
 * and on-chain txs go to the store (the FSM releases nothing co-signed before STORE.SAVED), messages to
 * the peer's FSM, txs to the chain and its watcher, output to the client. The writes under way are
 * tracked, so a stopping service lets them finish.
 */
import type { ChannelEvent } from '../../fsm/channel-machine.js';
import type { ChannelEffect, ChannelId, ClientOutput, CoSignedState, PeerMessage, Role } from '../../fsm/types.js';
import type { TxWatcher } from '../chain/tx-watcher.js';
import type { Chain } from '../chain/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Lease } from '../store/lease.js';
import { LeaseLostError, type ChannelStore, type SaveResult } from '../store/store.js';
import { hashFsmId } from './fsm-id.js';
import type { Owned, Ownership } from './ownership.js';
import { reportTx } from './reports.js';

export interface EffectDeps {
  store: ChannelStore;
  chain: Chain;
  watcher: TxWatcher;
  metrics?: Metrics;
  /** called once a new channel's first round is in the store */
  onChannelStored?(channelId: ChannelId): void;
  /** leases of the FSMs, when several processes share the store (none on the embedded store) */
  ownership?: Ownership | null;
}

/** What the interpreter needs of its session (also the owner of the txs it watches). */
export interface EffectOwner extends Owned {
  readonly role: Role;
  readonly fsmId: string;
  readonly log: Logger;
  /** the peer's session, or the link to its service (`remote`), while paired */
  readonly peer: PeerEnd | null;
  /** the peer's interpreter while the peer's FSM lives in this process (null when elsewhere or unpaired) */
  readonly localPeer: EffectInterpreter | null;
  /** an event for the FSM: how an effect ended */
  send(event: ChannelEvent): void;
  toClient(output: ClientOutput): void;
  stop(why: string): void;
}

/** Where our FSM's peer messages go: the peer's session here, or the link to its service (`remote`). */
export interface PeerEnd {
  receivePeer(message: PeerMessage): void;
  readonly remote?: boolean;
}

export class EffectInterpreter {
  /** store writes under way: a shutdown lets them finish, so what they acknowledge is kept */
  private readonly writes = new Set<Promise<unknown>>();
  /** this participant's round the peer's interpreter wrote with its own, not yet asked for by our FSM */
  private writtenByPeer: { state: CoSignedState; result: Promise<SaveResult> } | null = null;
  /** peer messages held while our proposal's record is being written (null: none is), each with the peer it was for */
  private held: Array<{ peer: PeerEnd; message: PeerMessage }> | null = null;
  /** settles once every hold so far has let its messages go */
  private releasing: Promise<void> = Promise.resolve();

  constructor(private readonly owner: EffectOwner, private readonly deps: EffectDeps) {}

  perform(effect: ChannelEffect): void {
    const { owner, deps } = this;
    switch (effect.type) {
      case 'toClient':
        owner.toClient(effect.output);
        return;
      case 'toPeer': {
        const peer = owner.peer;
        if (!peer) return;
        if (this.held) this.held.push({ peer, message: effect.message });
        // a separate turn per message, in order: the peer FSM never runs inside ours
        else setImmediate(() => peer.receivePeer(effect.message));
        return;
      }
      case 'persistProposal':
        this.persistProposal(effect);
        return;
      case 'persist':
        this.persist(effect);
        return;
      case 'persistOnchain': {
        const round = effect.state.round;
        const write = this.timed('onchain', deps.store.saveOnchain(effect.channelId, owner.role, effect.kind, effect.state, owner.lease));
        write.then(
          () => owner.send({ type: 'STORE.SAVED', round }),
          (err: Error) => {
            owner.send({ type: 'STORE.FAILED', round, detail: err.message });
            if (err instanceof LeaseLostError) deps.ownership?.lost(owner);
          },
        );
        return;
      }
      case 'forgetOnchain':
        deps.store.forgetOnchain(effect.channelId, owner.role, owner.lease).catch((err: Error) => this.notWritten(err, 'could not forget an on-chain tx'));
        return;
      case 'markClosed':
        deps.store.markClosed(effect.channelId, owner.role, owner.lease).catch((err: Error) => this.notWritten(err, 'could not mark the channel closed'));
        return;
      case 'postTx':
        deps.chain.postTx(effect.signedTx).then(() => reportTx(deps.metrics, effect.signedTx, 'posted'), (err: Error) => {
          reportTx(deps.metrics, effect.signedTx, 'rejected');
          owner.log.warn('tx rejected on-chain', { error: err.message });
          owner.send({ type: 'CHAIN.REJECTED', detail: err.message });
        });
        return;
      case 'watchTx':
        deps.watcher.watch(owner, effect.signedTx, effect.minimumDepth, {
          mined: (txHash) => owner.send({ type: 'CHAIN.MINED', txHash }),
          locked: (txHash) => owner.send({ type: 'CHAIN.LOCKED', txHash }),
          rejected: (detail) => owner.send({ type: 'CHAIN.REJECTED', detail }),
          deepAfterAssumed: (txHash) => owner.send({ type: 'CHAIN.ASSUMED_TX_DEEP', txHash, signedTx: effect.signedTx }),
        });
        return;
      case 'watchSnapshot':
        // nothing waits on it: its posting reports a rejection already, and the chain watcher its mining
        deps.watcher.watch(owner, effect.signedTx, effect.minimumDepth, {
          mined: () => undefined,
          locked: (txHash) => owner.send({ type: 'CHAIN.SNAPSHOT_LOCKED', txHash }),
          rejected: () => undefined,
        });
        return;
      case 'stopped':
        owner.stop(effect.why);
    }
  }

  /**
   * Our proposal's record, written before the proposal leaves for a peer on another service (the
   * messages that follow are held until then, in order). A peer in this process pays nothing: if we
   * crash, so does it, and the in-process reestablish carries the balances. If the write fails the
   * proposal is not sent (the rest is) and the FSM hears STORE.FAILED for its round.
   */
  private persistProposal(effect: Extract<ChannelEffect, { type: 'persistProposal' }>): void {
    const { owner, deps } = this;
    if (!owner.peer?.remote) return;
    const held: Array<{ peer: PeerEnd; message: PeerMessage }> = [];
    this.held = held;
    const { round } = effect.proposal;
    const write = this.tracked(deps.store.saveProposal(effect.channelId, owner.role, effect.proposal, owner.lease));
    // what an earlier hold keeps goes first
    const before = this.releasing;
    const release = (sendProposal: boolean) => {
      if (this.held === held) this.held = null;
      for (const { peer, message } of held) if (sendProposal || message.type !== 'update') peer.receivePeer(message);
    };
    this.releasing = before.then(() => write).then(
      () => release(true),
      (err: Error) => {
        owner.log.error('could not persist our proposal: it is not sent', { round, error: err.message });
        release(false);
        owner.send({ type: 'STORE.FAILED', round, detail: err.message });
        if (err instanceof LeaseLostError) deps.ownership?.lost(owner);
      },
    );
  }

  /** A write nothing waits for failed: logged, and if it was fenced off (another instance holds the FSM) the FSM stops here. */
  private notWritten(err: Error, what: string): void {
    this.owner.log.warn(what, { error: err.message });
    if (err instanceof LeaseLostError) this.deps.ownership?.lost(this.owner);
  }

  /** A write for both found this FSM's lease taken by another instance: it stops here. */
  fencedOff(): void {
    this.deps.ownership?.lost(this.owner);
  }

  /** The lease of this interpreter's FSM, for a write the peer's interpreter makes for both. */
  get lease(): Lease | null {
    return this.owner.lease;
  }

  /** Resolves once every store write under way has finished (and its answer reached the FSM). */
  async drain(): Promise<void> {
    while (this.writes.size) await Promise.allSettled([...this.writes]);
  }

  private persist(effect: Extract<ChannelEffect, { type: 'persist' }>): void {
    const { owner, deps } = this;
    const round = effect.state.round;
    const byPeer = this.writtenByPeer;
    this.writtenByPeer = null;
    let write: Promise<SaveResult>;
    if (byPeer && byPeer.state.round === round && byPeer.state.signedTx === effect.state.signedTx) {
      // the peer's write has (or will have) this round in our record too: its answer is ours
      write = this.tracked(byPeer.result);
    } else if (!effect.first && owner.localPeer) {
      const peer = owner.localPeer;
      // no leases on a store no other instance shares (the embedded one): nothing to build per write
      const leases = deps.ownership ? { [owner.role]: owner.lease, [peerRole(owner.role)]: peer.lease } as Record<Role, Lease | null> : undefined;
      const both = deps.store.saveRoundForBoth(effect.channelId, effect.state, leases);
      const forPeer = both.then((results) => {
        // the peer's FSM may never ask for its result (ours fails first and aborts the update): it stops now
        if (results[peerRole(owner.role)] === 'fenced') peer.fencedOff();
        return results[peerRole(owner.role)];
      });
      forPeer.catch(() => undefined); // the peer's FSM may never ask for it; when it does, it hears the failure
      peer.writtenByPeer = { state: effect.state, result: forPeer };
      write = this.timed('round', both.then((results) => results[owner.role]));
    } else {
      const first = effect.first ? { params: effect.params, fsmIdHash: hashFsmId(owner.fsmId) } : undefined;
      const save = (lease: Lease | null) => deps.store.saveRound(effect.channelId, owner.role, effect.state, first, lease);
      // a new channel's FSM takes its lease with its first round: before, there is nothing to own
      write = this.timed('round', first && deps.ownership ? deps.ownership.take(owner, effect.channelId).then(save) : save(owner.lease));
    }
    write.then(
      (result) => {
        if (result === 'saved' && effect.first) deps.onChannelStored?.(effect.channelId);
        if (result === 'saved') owner.send({ type: 'STORE.SAVED', round });
        else if (result === 'stale') owner.send({ type: 'STORE.FAILED', round, detail: 'a round at least as high is already stored' });
        else {
          owner.log.warn('a round write was fenced off: another service instance holds this FSM now', { round });
          owner.send({ type: 'STORE.FAILED', round, detail: 'lease_lost: another service instance holds this FSM now; nothing was written' });
          deps.ownership?.lost(owner);
        }
      },
      (err: Error) => {
        owner.log.error('could not persist a co-signed round', { round, error: err.message });
        owner.send({ type: 'STORE.FAILED', round, detail: err.message });
      },
    );
  }

  /** A store write, timed for its metric and tracked until it ends. */
  private timed<T>(kind: 'round' | 'onchain', write: Promise<T>): Promise<T> {
    const timer = this.deps.metrics?.storeWriteDuration.startTimer({ kind });
    if (timer) void write.finally(timer).catch(() => undefined);
    return this.tracked(write);
  }

  /** A store write (ours or the peer's for us), tracked until it ends. */
  private tracked<T>(write: Promise<T>): Promise<T> {
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write)).catch(() => undefined);
    return write;
  }
}

const peerRole = (role: Role): Role => (role === 'initiator' ? 'responder' : 'initiator');
