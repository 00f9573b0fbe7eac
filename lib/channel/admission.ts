/**
 * Admission: how a participant's client becomes a session. A new channel's stakes are checked on
 * chain; a reestablish finds the live FSM (and hands it the new client) or restores it from the store,
 * or recovers it from the chain and the client's co-signed state. The WebSocket server and the
 * in-process participants (lib/embed/) both come in through here, so both get the same checks.
 */
import type { ChannelInput } from '../../fsm/channel-machine.js';
import type { Reason } from '../../fsm/reasons.js';
import type { AccountId, ChannelId, ChannelParams, EncodedTx, OnchainTerms, Role, Timeouts, TxKit } from '../../fsm/types.js';
import type { Chain } from '../chain/types.js';
import { onchainChannel } from '../chain/channel-watcher.js';
import type { Logger } from '../log.js';
import type { Lease } from '../store/lease.js';
import { LeaseLostError, type ChannelStore, type StoredChannel } from '../store/store.js';
import { feeAtGasPrice } from '../tx/gas-price.js';
import type { ClientLink } from './client.js';
import { hashFsmId, newFsmId, sameFsmIdHash } from './fsm-id.js';
import type { OpenRequest } from './open-request.js';
import { OwnedElsewhereError, type Ownership } from './ownership.js';
import { recoverFromChain } from './recovery.js';
import type { Registry } from './registry.js';
import { Reporting } from './reporting.js';
import { Session, type SessionDeps } from './session.js';

export interface AdmissionDeps {
  /** the service-wide timers, each overridable per channel */
  timeouts: Timeouts;
  /** so that clients cannot exhaust the service's memory */
  limits: { maxChannels: number };
  /** PEER_PORTS: the ports a new responder may wait on (absent or null: any) */
  responderPorts?: ((port: number) => boolean) | null;
  /** whether an initiator's `host` is another service (its channel then crosses the node's wire) */
  remoteHost?: (host: string) => boolean;
  /** the watchtower's account, named as delegate by participants that ask for it */
  watchtowerAddress: AccountId | null;
  kit: TxKit;
  chain: Chain;
  store: ChannelStore;
  registry: Registry;
  log: Logger;
  sessionDeps: Omit<SessionDeps, 'onStopped'>;
  /** leases of the FSMs when several service instances share the store (none on the embedded store) */
  ownership?: Ownership | null;
}

/** A client refused at connect time: the node's reason and what was wrong. */
export class Refusal extends Error {
  override name = 'Refusal';
  constructor(readonly reason: Reason, readonly detail: string) {
    super(detail);
  }
}

/**
 * A reestablish refused because another live instance hosts the FSM: `owner` names it (its lease owner
 * name, INSTANCE_ID), so that the socket server can forward the client there instead.
 */
export class OwnedElsewhere extends Refusal {
  override name = 'OwnedElsewhere';
  constructor(readonly owner: string, detail: string) {
    super('fsm_owned_elsewhere', detail);
  }
}

export interface Admission {
  /**
   * The session for a client that connects with these parameters: a new one, or the live one it
   * reestablishes. Fails with a `Refusal` naming why.
   */
  admit(open: OpenRequest, link: ClientLink): Promise<Session>;
}

export function createAdmission(deps: AdmissionDeps): Admission {
  // one for every session: a copy each would cost every idle channel memory for nothing
  const sessionDeps: SessionDeps = {
    ...deps.sessionDeps,
    ownership: deps.ownership ?? null,
    onStopped: (s, why) => {
      deps.registry.remove(s, why);
      deps.ownership?.release(s);
    },
  };

  async function admit(open: OpenRequest, link: ClientLink): Promise<Session> {
    const fsmId = newFsmId();
    if (deps.registry.size >= deps.limits.maxChannels && !(open.kind === 'reestablish' && deps.registry.find(open.channelId, open.role))) {
      throw new Refusal('service_full', `at most ${deps.limits.maxChannels} live channel FSMs`);
    }
    let input: ChannelInput;
    let responderId: string;
    /** the FSM's lease, taken by a reestablish before it restores anything (stores shared by several instances) */
    let lease: Lease | null = null;
    if (open.kind === 'new') {
      // the node's aesc_checks:port/2, whether the initiator comes from this service or another
      if (open.role === 'responder' && deps.responderPorts && !deps.responderPorts(open.port)) {
        throw new Refusal('responder_port_not_allowed', `port ${open.port} is not one PEER_PORTS allows responders`);
      }
      const params = { ...open.params };
      if (open.role === 'initiator' && open.host && deps.remoteHost?.(open.host)) checkWireLimits(params);
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
        ? createTerms(open, params, open.nonce ?? (await deps.chain.nextNonce(params.initiatorId)))
        : undefined;
      input = {
        kit: deps.kit, role: open.role, fsmId, params, keepRunning: open.keepRunning, anyInitiator: open.anyInitiator, msgForwarding: open.msgForwarding,
        timeouts: { ...deps.timeouts, ...open.timeouts }, blockHashDelta: open.blockHashDelta, ...(terms && { terms }),
      };
      responderId = params.responderId;
    } else {
      // reconnect without leave: the FSM is still running and takes the new socket
      const live = deps.registry.find(open.channelId, open.role);
      if (live) {
        if (!sameFsmIdHash(hashFsmId(live.fsmId), hashFsmId(open.fsmId))) throw new Refusal('invalid_fsm_id', 'existing_fsm_id does not match');
        // a socket still attached is taken over: its client is the one reconnecting, or has lost the fsm_id
        live.attach(link);
        await reportWatchtower(live, open.channelId, open.role);
        return live;
      }
      let known = await deps.store.load(open.channelId, open.role);
      if (known?.closed) throw new Refusal('not_allowed_now', `channel ${open.channelId} is closed`);
      if (known && !sameFsmIdHash(known.fsmIdHash, hashFsmId(open.fsmId))) throw new Refusal('invalid_fsm_id', 'existing_fsm_id does not match');
      if (deps.ownership) lease = await takeLease(deps.ownership, open.channelId, open.role);
      let stored: StoredChannel;
      let onchain: Awaited<ReturnType<typeof onchainChannel>>;
      try {
        // read again under the lease: the instance that held it may have written rounds since
        if (known && lease) known = await deps.store.load(open.channelId, open.role);
        stored = known ?? await recover(open, fsmId, lease);
        onchain = await onchainChannel(deps.chain, stored.channelId);
        if (!onchain) {
          throw new Refusal('channel_not_found', `channel ${open.channelId} is not on chain (closed, or never created on this chain): there is nothing to reestablish`);
        }
        // the old fsm_id stops working once the new one is stored
        await deps.store.setFsmIdHash(open.channelId, open.role, hashFsmId(fsmId), lease);
      } catch (err) {
        // another instance may take the FSM at once rather than after the lease time
        if (lease) deps.ownership!.letGo(lease);
        throw err;
      }
      input = {
        kit: deps.kit, role: open.role, fsmId, params: stored.params, keepRunning: open.keepRunning, msgForwarding: open.msgForwarding,
        timeouts: { ...deps.timeouts, ...open.timeouts }, blockHashDelta: open.blockHashDelta,
        restored: { channelId: stored.channelId, state: stored.state, onchain, proposal: stored.proposal },
      };
      responderId = stored.params.responderId;
    }
    const session = new Session(
      open.role,
      { port: open.port, ...(open.host !== undefined && { host: open.host }), responderId, channelId: open.kind === 'new' ? null : open.channelId },
      fsmId,
      input,
      link,
      sessionDeps,
      new Reporting(open.reports),
    );
    if (lease) deps.ownership!.hold(session, lease);
    session.start();
    deps.registry.add(session);
    if (open.kind === 'reestablish') await reportWatchtower(session, open.channelId, open.role);
    return session;
  }

  /**
   * The create tx's nonce, ttl and fee. With a gas_price the fee is the one at that gas price, or the
   * fee asked for if that is bigger, as the node picks.
   */
  function createTerms(open: Extract<OpenRequest, { kind: 'new' }>, params: ChannelParams, nonce: number): OnchainTerms {
    const terms: OnchainTerms = { nonce, ttl: open.ttl, ...(open.fee !== undefined && { fee: open.fee }) };
    if (open.fee !== undefined && open.gasPrice === undefined) {
      // a fee the create tx could never be mined with is refused now, not found out by the chain
      const least = deps.kit.txTerms(deps.kit.createTx(params, { nonce, ttl: open.ttl }).signedTx)!.fee;
      if (open.fee < least) throw new Refusal('value_too_low', `fee ${open.fee} is below the least fee ${least} the create tx needs`);
    }
    if (open.gasPrice === undefined) return terms;
    const fee = feeAtGasPrice((f) => deps.kit.innerTx(deps.kit.createTx(params, { ...terms, fee: f }).signedTx)!, open.gasPrice);
    return { ...terms, fee: terms.fee !== undefined && terms.fee > fee ? terms.fee : fee };
  }

  /**
   * A channel this service has no records of: rebuilt from the co-signed state the client brings and
   * the chain, stored under the new fsm_id (the old one cannot be checked: its hash was lost too).
   */
  async function recover(open: Extract<OpenRequest, { kind: 'reestablish' }>, fsmId: string, lease: Lease | null): Promise<StoredChannel> {
    if (!open.recovery) {
      throw new Refusal('not_found', `channel ${open.channelId} is not known here (if this service lost its records, reestablish with offchain_tx to recover it)`);
    }
    const recovered = await recoverFromChain(deps.chain, open.channelId, open.recovery);
    if (!recovered.ok) throw new Refusal(recovered.reason, recovered.detail);
    const fsmIdHash = hashFsmId(fsmId);
    const saved = await deps.store.saveRound(open.channelId, open.role, recovered.state, { params: recovered.params, fsmIdHash }, lease);
    if (saved === 'stale') throw new Refusal('not_allowed_now', `channel ${open.channelId} was stored meanwhile: reestablish again`);
    deps.log.warn('channel recovered from the chain and the client\'s co-signed state', {
      channel_id: open.channelId, role: open.role, round: recovered.state.round,
    });
    deps.sessionDeps.onChannelStored?.(open.channelId);
    return { channelId: open.channelId, role: open.role, params: recovered.params, state: recovered.state, fsmIdHash, onchain: null, closed: false, proposal: null };
  }

  /**
   * Tells a returning client what the watchtower did while it was away. Taken under the FSM's lease: a
   * live FSM here whose lease another instance took stops (its client is told lease_lost), and the
   * actions stay for its client at that instance.
   */
  async function reportWatchtower(session: Session, channelId: ChannelId, role: Role): Promise<void> {
    let actions: Awaited<ReturnType<ChannelStore['takeWatchtowerActions']>>;
    try {
      actions = await deps.store.takeWatchtowerActions(channelId, role, session.lease);
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
      deps.ownership?.lost(session);
      session.leaseLost('another service instance took this FSM over: reestablish to reach it there');
      return;
    }
    for (const action of actions) {
      session.notify({ kind: 'on_chain_tx', info: 'watchtower_slash', tx: action.signedTx as EncodedTx, txType: 'channel_slash_tx' });
    }
  }

  return { admit };
}

/** The FSM's lease, or a refusal naming the live instance that hosts it. */
async function takeLease(ownership: Ownership, channelId: ChannelId, role: Role): Promise<Lease> {
  try {
    return await ownership.acquire(channelId, role);
  } catch (err) {
    if (err instanceof OwnedElsewhereError) throw new OwnedElsewhere(err.owner, err.message);
    throw err;
  }
}

const MAX_U64 = (1n << 64n) - 1n;

/**
 * The node's channel_open holds amounts in 64 bits and the lock period in 16 (aesc_codec): a channel
 * beyond them cannot be opened with a peer on another service, so it is refused before it starts.
 */
function checkWireLimits(params: ChannelParams): void {
  for (const [name, value] of [['initiator_amount', params.initiatorAmount], ['responder_amount', params.responderAmount],
    ['push_amount', params.pushAmount], ['channel_reserve', params.channelReserve]] as const) {
    if (value > MAX_U64) throw new Refusal('invalid_params', `${name} must be below 2^64 aettos for a responder on another service (the node's channel_open holds 64 bits)`);
  }
  if (params.lockPeriod > 0xffffn) throw new Refusal('invalid_params', 'lock_period must be at most 65535 for a responder on another service (the node\'s channel_open holds 16 bits)');
}
