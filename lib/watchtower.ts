/**
 * The watchtower: beyond the node, which only tells a connected client `can_slash`. A participant may
 * name the service's own key as its delegate in the create tx; from then on, when the counterparty
 * solo-closes on an older round while that participant's client is not connected, the service slashes
 * on its behalf with the latest co-signed state from the store, before the lock period ends, and
 * tells the client when it comes back.
 *
 * It follows every hosted channel that names it, and looks at each once at start-up, so a close that
 * happened while the service was down is answered as soon as it is up again.
 */
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { accountOf } from '../fsm/protocol.js';
import type { ChannelId, EncodedTx, Role, TxKit } from '../fsm/types.js';
import type { Chain } from './chain/chain.js';
import type { ChannelWatcher } from './chain/channel-watcher.js';
import type { ChannelObject } from './chain/channel-rules.js';
import type { Registry } from './channel/registry.js';
import type { Logger } from './log.js';
import type { ChannelStore } from './store/store.js';

const OFFCHAIN_TX_TAG = 57;

export interface WatchtowerDeps {
  account: AccountMemory;
  chain: Chain;
  store: ChannelStore;
  channels: ChannelWatcher;
  registry: Registry;
  kit: TxKit;
  log: Logger;
}

export class Watchtower {
  private readonly followed = new Map<ChannelId, () => void>();
  /** `channel:round` slashes already sent, so one close is answered once */
  private readonly sent = new Set<string>();

  constructor(private readonly deps: WatchtowerDeps) {}

  get address() {
    return this.deps.account.address;
  }

  /** Looks at every hosted channel once and follows those that name the watchtower. */
  async start(): Promise<void> {
    for (const id of await this.deps.store.channelIds()) {
      await this.consider(id).catch((err: Error) => this.deps.log.warn('watchtower could not look at a channel', { channel_id: id, error: err.message }));
    }
  }

  /** Starts protecting a channel if one of its participants named the watchtower as delegate. */
  async consider(id: ChannelId): Promise<void> {
    if (this.followed.has(id)) return;
    const roles = await this.protectedRoles(id);
    if (roles.length === 0) return;
    this.followed.set(id, this.deps.channels.follow(id, (change) => {
      if (change.kind === 'closing' && change.channel) void this.answer(id, roles, change.channel);
      if (change.kind === 'closed') this.forget(id);
    }));
    const now = await this.deps.chain.channel(id);
    if (!now) this.forget(id);
    else if (now.lockedUntil !== 0) await this.answer(id, roles, now);
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

  /** The channel is solo-closing: slash for each protected participant whose client is away and who holds a newer round. */
  private async answer(id: ChannelId, roles: Role[], channel: ChannelObject): Promise<void> {
    for (const role of roles) {
      try {
        await this.slashFor(id, role, channel);
      } catch (err) {
        this.deps.log.error('watchtower slash failed', { channel_id: id, role, error: (err as Error).message });
      }
    }
  }

  private async slashFor(id: ChannelId, role: Role, channel: ChannelObject): Promise<void> {
    const { chain, store, registry, kit, account, log } = this.deps;
    // a connected client was told can_slash and decides itself, as the node leaves it to the client
    if (registry.find(id, role)) return;
    const stored = await store.load(id, role);
    if (!stored || stored.closed) return;
    const latest = stored.state;
    if (kit.innerTag(latest.signedTx) !== OFFCHAIN_TX_TAG || latest.round <= channel.round) return;
    const key = `${id}:${latest.round}`;
    if (this.sent.has(key)) return;
    this.sent.add(key);

    const height = await chain.height();
    const unsigned = kit.disputeTx({
      kind: 'slash', channelId: id, from: account.address, payload: latest.signedTx, params: stored.params, balances: latest.balances,
      terms: { nonce: await chain.nextNonce(account.address), ttl: 0 },
    });
    const signedTx = (await account.signTransaction(kit.innerTx(unsigned)!, { networkId: chain.networkId })) as EncodedTx;
    const txHash = await chain.postTx(signedTx);
    await store.addWatchtowerAction(id, role, { action: 'slash', txHash, signedTx, onchainRound: channel.round, round: latest.round, height });
    log.info('watchtower slashed', {
      channel_id: id, role, participant: accountOf(stored.params, role), onchain_round: channel.round, round: latest.round, tx_hash: txHash,
    });
  }

  close(): void {
    for (const unfollow of this.followed.values()) unfollow();
    this.followed.clear();
  }
}
