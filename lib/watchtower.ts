/**
 * The watchtower: beyond the node, which only tells a connected client `can_slash`. A participant may
 * name the service's own key as its delegate in the create tx; from then on, when the counterparty
 * solo-closes on an older round while that participant's client is not connected, the service slashes
 * on its behalf with the latest co-signed state from the store, before the lock period ends, and
 * tells the client when it comes back.
 *
 * Which channels it watches (lib/watchtower/sharing.ts): alone, every stored channel that names it;
 * with several instances on one Redis, each channel is watched by the one live instance rendezvous
 * hashing picks, whether or not that instance hosts the channel's FSMs (a channel whose clients are
 * away may be hosted nowhere, which is when it needs watching most), and is taken over by a survivor
 * when that instance dies. It looks at each of its channels at start-up, so a close that happened
 * while the service was down is answered as soon as it is up again. Each answer is claimed first
 * (one claim per channel and on-chain round, in Redis when shared), so it is posted once.
 *
 * It protects participants whose records are in the store and who named its key. When the peer is on
 * another service (docs/peer-protocol.md), only this participant's record is here, and the peer's
 * service runs a watchtower of its own for the peer, if the peer named it.
 */
import { buildTxHash } from './sdk.js';
import { accountOf } from '../fsm/protocol.js';
import type { ChannelId, EncodedTx, Role, TxKit } from '../fsm/types.js';
import type { Chain, ChannelObject } from './chain/types.js';
import type { ChannelWatcher } from './chain/channel-watcher.js';
import type { Registry } from './channel/registry.js';
import type { Logger } from './log.js';
import type { OpsEvents } from './ops/events.js';
import type { LeaseStore } from './store/lease.js';
import type { ChannelStore, StoredChannel } from './store/store.js';
import type { ServiceKey } from './tx/service-key.js';
import { postedTxOf, type Changes, type WatchScope } from './watchtower/sharing.js';

const OFFCHAIN_TX_TAG = 57;
const LOOKS_AT_ONCE = 64;
/** A failed answer is tried again after this many blocks, doubling up to the most. */
const RETRY_BLOCKS = 1;
const MOST_RETRY_BLOCKS = 32;

export interface WatchtowerDeps {
  account: ServiceKey;
  chain: Chain;
  store: ChannelStore;
  channels: ChannelWatcher;
  registry: Registry;
  kit: TxKit;
  log: Logger;
  /** which channels are this instance's, and the claims of answers */
  scope: WatchScope;
  /** the FSMs' leases when instances share a store: an FSM hosted by another live instance may have its client */
  leases?: LeaseStore | null;
  events?: OpsEvents;
}

/** A solo close being answered: looked at again on later blocks until it needs nothing more from us. */
interface Dispute {
  /** the next height at which to look again */
  retryAt: number;
  failures: number;
}

type Outcome = 'done' | 'again' | 'failed';

export class Watchtower {
  private readonly followed = new Map<ChannelId, () => void>();
  /** this instance's channels found to name no watchtower or to be closed: not read again on every change */
  private readonly ignored = new Set<ChannelId>();
  private readonly disputes = new Map<ChannelId, Dispute>();
  private readonly answering = new Set<ChannelId>();
  /** posted slashes the chain did not know at the last look */
  private readonly unknownTxs = new Set<string>();
  private unsubscribeBlocks: (() => void) | null = null;

  constructor(private readonly deps: WatchtowerDeps) {}

  get address() {
    return this.deps.account.address;
  }

  /** How many channels this instance watches. */
  get watching(): number {
    return this.followed.size;
  }

  /** The channels this instance watches, sorted (for operators and tests). */
  watchedChannels(): ChannelId[] {
    return [...this.followed.keys()].sort();
  }

  /** The instances sharing the channels, this one among them (empty when alone). */
  get instances(): readonly string[] {
    return this.deps.scope.members;
  }

  /** Joins the instances sharing the store, then looks at every channel that is now this instance's. */
  async start(): Promise<void> {
    this.unsubscribeBlocks = this.deps.chain.onBlock((height) => this.retryDisputes(height));
    await this.deps.scope.start((changes) => this.adjust(changes));
    // a channel stored here before the live set was read was taken up as if this instance were alone
    for (const id of [...this.followed.keys()]) if (!this.deps.scope.mine(id)) this.forget(id);
    await this.considerAll();
  }

  /** Looks at every stored channel this instance watches and does not follow yet, many at a time (each look waits on the store). */
  private async considerAll(): Promise<void> {
    for await (const page of this.deps.scope.allChannels()) await this.considerMany(page);
  }

  private async considerMany(ids: ChannelId[]): Promise<void> {
    const todo = ids.filter((id) => !this.followed.has(id) && !this.ignored.has(id) && this.deps.scope.mine(id));
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const id = todo[next++]!;
        await this.consider(id).catch((err: Error) => this.deps.log.warn('watchtower could not look at a channel', { channel_id: id, error: err.message }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKS_AT_ONCE, todo.length) }, worker));
  }

  /** The live set or the stored channels changed: let go of what is no longer ours, take up what now is. */
  private async adjust(changes: Changes): Promise<void> {
    if (changes.membersChanged) {
      for (const id of [...this.followed.keys()]) if (!this.deps.scope.mine(id)) this.forget(id);
      for (const id of [...this.ignored]) if (!this.deps.scope.mine(id)) this.ignored.delete(id);
    }
    await this.considerMany(changes.joined);
    if (changes.membersChanged || changes.missed) await this.considerAll();
  }

  /**
   * A channel was stored (or restored) here. Another instance may be the one watching it: that one
   * learns of it from the store's join feed at its next look.
   */
  async consider(id: ChannelId): Promise<void> {
    if (this.followed.has(id) || !this.deps.scope.mine(id)) return;
    const protectedRoles = await this.protectedRoles(id);
    if (protectedRoles === 'never') {
      this.ignored.add(id);
      return;
    }
    if (protectedRoles.length === 0 || this.followed.has(id) || !this.deps.scope.mine(id)) return;
    this.followed.set(id, this.deps.channels.follow(id, (change) => {
      if (change.kind === 'closing' && change.channel) void this.answer(id, change.channel);
      if (change.kind === 'closed') this.forget(id);
    }));
    // a new channel is stored before its create tx is even posted: absent from the chain is not closed
    const now = await this.deps.chain.channel(id);
    if (now && now.lockedUntil !== 0 && this.followed.has(id)) await this.answer(id, now);
  }

  private forget(id: ChannelId): void {
    this.followed.get(id)?.();
    this.followed.delete(id);
    this.disputes.delete(id);
  }

  /**
   * The participants with open records here who named us; 'never' when the channel names no
   * watchtower of ours at all, so it need not be read again.
   */
  private async protectedRoles(id: ChannelId): Promise<Role[] | 'never'> {
    const roles: Role[] = [];
    let records = 0;
    let open = 0;
    let namesUs = false;
    for (const role of ['initiator', 'responder'] as const) {
      const stored = await this.deps.store.load(id, role);
      if (!stored) continue;
      records++;
      if (stored.closed) continue;
      open++;
      const { initiatorDelegateIds, responderDelegateIds } = stored.params;
      namesUs ||= initiatorDelegateIds.includes(this.address) || responderDelegateIds.includes(this.address);
      if ((role === 'initiator' ? initiatorDelegateIds : responderDelegateIds).includes(this.address)) roles.push(role);
    }
    // the parameters in either record name both participants' delegates; a closed record stays closed
    if (records > 0 && (open === 0 || !namesUs)) return 'never';
    return roles;
  }

  /** On each block, the closes not yet answered (the claim was another's, the answer failed, or it waits) are looked at again. */
  private retryDisputes(height: number): void {
    for (const [id, dispute] of this.disputes) {
      if (height < dispute.retryAt || this.answering.has(id)) continue;
      void this.deps.chain.channel(id).then((channel) => {
        if (!channel || channel.lockedUntil === 0 || height >= channel.lockedUntil) this.disputes.delete(id);
        else return this.answer(id, channel);
      }).catch(() => undefined);
    }
  }

  /** The channel is solo-closing: answer it, and remember to look again if it still needs us. */
  private async answer(id: ChannelId, channel: ChannelObject): Promise<void> {
    if (this.answering.has(id)) return;
    this.answering.add(id);
    try {
      const outcome = await this.answerOnce(id, channel);
      const dispute = this.disputes.get(id) ?? { retryAt: 0, failures: 0 };
      if (outcome === 'done' || !this.followed.has(id)) {
        this.disputes.delete(id);
      } else {
        if (outcome === 'failed') dispute.failures++;
        const wait = outcome === 'failed' ? Math.min(MOST_RETRY_BLOCKS, RETRY_BLOCKS * 2 ** (dispute.failures - 1)) : RETRY_BLOCKS;
        dispute.retryAt = (await this.deps.chain.height().catch(() => 0)) + wait;
        this.disputes.set(id, dispute);
      }
    } finally {
      this.answering.delete(id);
    }
  }

  /**
   * Every protected participant whose client is away and who holds a newer co-signed round than the
   * one on chain needs a slash; one slash with the newest such round serves them all (when both are
   * hosted here they hold the same co-signed rounds), and each is told of it when its client returns.
   */
  private async answerOnce(id: ChannelId, channel: ChannelObject): Promise<Outcome> {
    const { chain, store, registry, kit, account, log, scope } = this.deps;
    let claimed = false;
    try {
      const roles = await this.protectedRoles(id);
      if (roles === 'never') return 'done';
      log.debug('watchtower sees a solo close', { channel_id: id, onchain_round: channel.round, roles });
      const height = await chain.height();
      const needing: Array<{ role: Role; stored: StoredChannel }> = [];
      let waiting = false;
      for (const role of roles) {
        const stored = await store.load(id, role);
        if (!stored || stored.closed) continue;
        const latest = stored.state;
        if (kit.innerTag(latest.signedTx) !== OFFCHAIN_TX_TAG || latest.round <= channel.round) continue;
        if (await this.clientMayAnswer(id, role, stored, channel, height)) {
          waiting = true;
          continue;
        }
        needing.push({ role, stored });
      }
      if (needing.length === 0) return waiting ? 'again' : 'done';
      const newest = needing.reduce((a, b) => (b.stored.state.round > a.stored.state.round ? b : a)).stored;

      const claim = await scope.claims.claim(id, channel.round);
      if (!claim.won && !(await this.dropped(id, channel.round, claim.holder, needing.map((n) => n.role)))) {
        // another instance answers (or has): looked at again next block, in case it died before posting
        log.debug('watchtower: the answer to this close is claimed', { channel_id: id, onchain_round: channel.round, holder: claim.holder ?? null });
        return 'again';
      }
      claimed = true;
      const unsigned = kit.disputeTx({
        kind: 'slash', channelId: id, from: account.address, payload: newest.state.signedTx, params: newest.params,
        balances: newest.state.balances, terms: { nonce: await chain.nextNonce(account.address), ttl: 0 },
      });
      const signedTx = (await account.signTransaction(kit.innerTx(unsigned)!, { networkId: chain.networkId })) as EncodedTx;
      const txHash = buildTxHash(signedTx);
      // recorded before it is posted: a client returning the moment the chain takes the tx is told of it
      const action = { action: 'slash' as const, txHash, signedTx, onchainRound: channel.round, round: newest.state.round, height };
      for (const { role } of needing) await store.addWatchtowerAction(id, role, action);
      try {
        await chain.postTx(signedTx);
      } catch (err) {
        for (const { role } of needing) await store.dropWatchtowerAction(id, role, txHash).catch(() => undefined);
        throw err;
      }
      claimed = false;
      await scope.claims.posted(id, channel.round, txHash);
      for (const { role, stored } of needing) {
        log.info('watchtower slashed', {
          channel_id: id, role, participant: accountOf(stored.params, role), onchain_round: channel.round, round: newest.state.round, tx_hash: txHash,
          ...(scope.instanceId && { instance_id: scope.instanceId }),
        });
        this.deps.events?.emit({ type: 'watchtower_slash', channel_id: id, role, round: newest.state.round, onchain_round: channel.round, tx_hash: txHash });
      }
      // the slash resets the lock: the chain's answer comes as another 'closing' change
      return 'again';
    } catch (err) {
      // the claim goes, so the next try (here, or at another instance) need not wait for it to run out
      if (claimed) await scope.claims.release(id, channel.round).catch(() => undefined);
      this.deps.log.error('watchtower slash failed', { channel_id: id, error: (err as Error).message });
      this.deps.events?.emit({ type: 'watchtower_slash_failed', channel_id: id, detail: (err as Error).message });
      return 'failed';
    }
  }

  /**
   * Whether the claim's posted slash was dropped by the chain (another tx took the watchtower key's
   * nonce, say: every instance signs with the one key), and the claim is now this instance's to answer
   * again; the dropped tx's action is taken back, as it slashed nothing. A tx the chain does not know is
   * taken for dropped only at the second look in a row, as a node may be slow to list what it took.
   */
  private async dropped(id: ChannelId, onchainRound: number, holder: string | null | undefined, roles: Role[]): Promise<boolean> {
    const txHash = postedTxOf(holder);
    if (!txHash || !holder) return false;
    const status = await this.deps.chain.txStatus(txHash);
    const unknownBefore = this.unknownTxs.has(txHash);
    if (status.state === 'unknown') this.unknownTxs.add(txHash);
    else this.unknownTxs.delete(txHash);
    if (status.state !== 'failed' && !(status.state === 'unknown' && unknownBefore)) return false;
    if (!(await this.deps.scope.claims.takeOver(id, onchainRound, holder))) return false;
    this.unknownTxs.delete(txHash);
    this.deps.log.warn('watchtower: a posted slash was dropped by the chain; slashing again', {
      channel_id: id, onchain_round: onchainRound, tx_hash: txHash, reason: status.state === 'failed' ? status.reason : 'unknown to the chain',
    });
    for (const role of roles) await this.deps.store.dropWatchtowerAction(id, role, txHash);
    return true;
  }

  /**
   * A connected client was told can_slash and decides itself, as the node leaves it to the client.
   * Its FSM hosted here: the registry says whether it is connected. Hosted by another live instance
   * (its lease runs there): this one cannot see the client, so it leaves the first half of the lock
   * period to it, then slashes anyway. Hosted nowhere: nobody is connected.
   */
  private async clientMayAnswer(id: ChannelId, role: Role, stored: StoredChannel, channel: ChannelObject, height: number): Promise<boolean> {
    const here = this.deps.registry.find(id, role);
    if (here && !here.isStopped) return here.attached;
    if (!this.deps.leases || (await this.deps.leases.remainingMs(id, role)) === 0) return false;
    const half = Math.floor(Number(stored.params.lockPeriod) / 2);
    return height < channel.lockedUntil - half;
  }

  async close(): Promise<void> {
    this.unsubscribeBlocks?.();
    for (const unfollow of this.followed.values()) unfollow();
    this.followed.clear();
    this.disputes.clear();
    await this.deps.scope.close();
  }
}
