/**
 * The watchtower: beyond the node, which only tells a connected client `can_slash`. A participant may
 * name the service's own key as its delegate in the create tx; from then on, when the counterparty
 * solo-closes on an older round while that participant's client is not connected, the service slashes
 * on its behalf with the latest co-signed state from the store, before the lock period ends, and
 * tells the client when it comes back.
 *
 * It follows every hosted channel that names it, and looks at each once at start-up, so a close that
 * happened while the service was down is answered as soon as it is up again.
 *
 * It protects participants, not channels: only those whose FSM this service hosts and who named its
 * key. When the peer is on another service (docs/peer-protocol.md), only this participant's record is
 * here, and the peer's service runs a watchtower of its own for the peer, if the peer named it.
 */
import { accountOf } from '../fsm/protocol.js';
import type { ChannelId, EncodedTx, Role, TxKit } from '../fsm/types.js';
import type { Chain, ChannelObject } from './chain/types.js';
import type { ChannelWatcher } from './chain/channel-watcher.js';
import type { Registry } from './channel/registry.js';
import type { Logger } from './log.js';
import type { OpsEvents } from './ops/events.js';
import type { ChannelStore } from './store/store.js';
import type { ServiceKey } from './tx/service-key.js';

const OFFCHAIN_TX_TAG = 57;
const START_LOOKS_AT_ONCE = 64;

export interface WatchtowerDeps {
  account: ServiceKey;
  chain: Chain;
  store: ChannelStore;
  channels: ChannelWatcher;
  registry: Registry;
  kit: TxKit;
  log: Logger;
  events?: OpsEvents;
}

export class Watchtower {
  private readonly followed = new Map<ChannelId, () => void>();
  /** `channel:round` slashes already sent, so one close is answered once */
  private readonly sent = new Set<string>();

  constructor(private readonly deps: WatchtowerDeps) {}

  get address() {
    return this.deps.account.address;
  }

  /**
   * Looks at every hosted channel once and follows those that name the watchtower: many at a time, as
   * each look waits on Redis and ten thousand in a row would hold up start-up for seconds.
   */
  async start(): Promise<void> {
    const ids = await this.deps.store.channelIds();
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await this.consider(id).catch((err: Error) => this.deps.log.warn('watchtower could not look at a channel', { channel_id: id, error: err.message }));
      }
    };
    await Promise.all(Array.from({ length: START_LOOKS_AT_ONCE }, worker));
  }

  /** Starts protecting a channel if one of its participants named the watchtower as delegate. */
  async consider(id: ChannelId): Promise<void> {
    if (this.followed.has(id)) return;
    if ((await this.protectedRoles(id)).length === 0) return;
    this.followed.set(id, this.deps.channels.follow(id, (change) => {
      if (change.kind === 'closing' && change.channel) void this.answer(id, change.channel);
      if (change.kind === 'closed') this.forget(id);
    }));
    // a new channel is stored before its create tx is even posted: absent from the chain is not closed
    const now = await this.deps.chain.channel(id);
    if (now && now.lockedUntil !== 0) await this.answer(id, now);
  }

  private forget(id: ChannelId): void {
    this.followed.get(id)?.();
    this.followed.delete(id);
  }

  private async protectedRoles(id: ChannelId): Promise<Role[]> {
    const roles: Role[] = [];
    for (const role of ['initiator', 'responder'] as const) {
      const stored = await this.deps.store.load(id, role);
      if (!stored || stored.closed) continue;
      const delegates = role === 'initiator' ? stored.params.initiatorDelegateIds : stored.params.responderDelegateIds;
      if (delegates.includes(this.address)) roles.push(role);
    }
    return roles;
  }

  /**
   * The channel is solo-closing. Every protected participant whose client is away and who holds a newer
   * co-signed round than the one on chain needs a slash; one slash with the newest such round serves
   * them all (when both are hosted here they hold the same co-signed rounds), and each is told of it
   * when its client returns.
   */
  private async answer(id: ChannelId, channel: ChannelObject): Promise<void> {
    const { chain, store, registry, kit, account, log } = this.deps;
    try {
      // the participants hosted here who named us: both when both are local (whichever was written
      // first when following began, both records exist by now), one when the peer is on another service
      const roles = await this.protectedRoles(id);
      log.debug('watchtower sees a solo close', { channel_id: id, onchain_round: channel.round, roles });
      const needing: Array<{ role: Role; stored: NonNullable<Awaited<ReturnType<ChannelStore['load']>>> }> = [];
      for (const role of roles) {
        // a connected client was told can_slash and decides itself, as the node leaves it to the client
        if (registry.find(id, role)?.attached) continue;
        const stored = await store.load(id, role);
        if (!stored || stored.closed) continue;
        const latest = stored.state;
        if (kit.innerTag(latest.signedTx) === OFFCHAIN_TX_TAG && latest.round > channel.round) needing.push({ role, stored });
      }
      if (needing.length === 0) return;
      const newest = needing.reduce((a, b) => (b.stored.state.round > a.stored.state.round ? b : a)).stored;
      const key = `${id}:${newest.state.round}`;
      if (this.sent.has(key)) return;
      this.sent.add(key);

      const height = await chain.height();
      const unsigned = kit.disputeTx({
        kind: 'slash', channelId: id, from: account.address, payload: newest.state.signedTx, params: newest.params,
        balances: newest.state.balances, terms: { nonce: await chain.nextNonce(account.address), ttl: 0 },
      });
      const signedTx = (await account.signTransaction(kit.innerTx(unsigned)!, { networkId: chain.networkId })) as EncodedTx;
      const txHash = await chain.postTx(signedTx);
      for (const { role, stored } of needing) {
        await store.addWatchtowerAction(id, role, { action: 'slash', txHash, signedTx, onchainRound: channel.round, round: newest.state.round, height });
        log.info('watchtower slashed', {
          channel_id: id, role, participant: accountOf(stored.params, role), onchain_round: channel.round, round: newest.state.round, tx_hash: txHash,
        });
        this.deps.events?.emit({ type: 'watchtower_slash', channel_id: id, role, round: newest.state.round, onchain_round: channel.round, tx_hash: txHash });
      }
    } catch (err) {
      this.deps.log.error('watchtower slash failed', { channel_id: id, error: (err as Error).message });
      this.deps.events?.emit({ type: 'watchtower_slash_failed', channel_id: id, detail: (err as Error).message });
    }
  }

  close(): void {
    for (const unfollow of this.followed.values()) unfollow();
    this.followed.clear();
  }
}
