/**
 * A block being made, as changes over the chain's committed state: the dev chain writes a block to
 * its ledger before it changes anything in memory, so readers never see a block that a crash could
 * take back. The draft reads through to the committed state and copies what it changes.
 */
import { Tag } from '../../sdk.js';
import type { AccountId, ChannelId } from '../../../fsm/types.js';
import { ChainRejectedError, type ChainAccount, type ChannelObject } from '../types.js';
import { applyChannelTx, CHANNEL_TAGS, channelOf, type ChannelTx } from './channel-rules.js';

/** Accounts and channels as of some point; what is returned must not be changed by the reader. */
export interface ChainView {
  account(id: AccountId): ChainAccount | null;
  channel(id: ChannelId): ChannelObject | null;
}

/** What applying a tx does to accounts and channels. */
export interface Effect {
  debits: Array<[AccountId, bigint]>;
  credits: Array<[AccountId, bigint]>;
  channel?: { id: ChannelId; value: ChannelObject | null };
}

/** What a tx would do on top of `view` at `height`; throws ChainRejectedError when it does not apply. */
export function effectOf(tx: ChannelTx, height: number, view: ChainView, networkId: string): Effect {
  if (tx.tag === Tag.SpendTx) {
    const amount = BigInt(String(tx.amount));
    return { debits: [[tx.senderId as AccountId, amount + BigInt(String(tx.fee))]], credits: [[tx.recipientId as AccountId, amount]] };
  }
  if (!CHANNEL_TAGS.has(tx.tag)) throw new ChainRejectedError(`Invalid tx: ${Tag[tx.tag] ?? tx.tag} is not supported by the dev chain`);
  const id = channelOf(tx);
  const channel = id ? view.channel(id) : null;
  const result = applyChannelTx(tx, channel, height, networkId);
  const channelId = result.channel?.id ?? id!;
  if (tx.tag === Tag.ChannelCreateTx && view.channel(channelId)) throw new ChainRejectedError('Invalid tx: channel exists');
  return { debits: result.debits, credits: result.credits, channel: { id: channelId, value: result.channel } };
}

/** Throws when an account would pay more than it has. */
export function checkBalances(effect: Effect, view: ChainView): void {
  const owed = new Map<AccountId, bigint>();
  for (const [account, amount] of effect.debits) owed.set(account, (owed.get(account) ?? 0n) + amount);
  for (const [account, amount] of owed) {
    const balance = view.account(account)?.balance ?? 0n;
    if (balance < amount) throw new ChainRejectedError(`Invalid tx: insufficient balance of ${account}: ${balance} < ${amount}`);
  }
}

export class BlockDraft implements ChainView {
  /** every account the block changed, with its new value (copies: the committed ones stay as they were) */
  readonly accounts = new Map<AccountId, ChainAccount>();
  /** every channel the block changed; null when it was deleted */
  readonly channels = new Map<ChannelId, ChannelObject | null>();

  constructor(private readonly base: ChainView) {}

  account(id: AccountId): ChainAccount | null {
    return this.accounts.get(id) ?? this.base.account(id);
  }

  channel(id: ChannelId): ChannelObject | null {
    return this.channels.has(id) ? this.channels.get(id)! : this.base.channel(id);
  }

  /** Applies a checked effect: moves the amounts, counts the sender's nonce, changes the channel. */
  apply(sender: AccountId, effect: Effect): void {
    for (const [account, amount] of effect.debits) this.writable(account).balance -= amount;
    for (const [account, amount] of effect.credits) this.writable(account).balance += amount;
    this.writable(sender).nonce += 1;
    if (effect.channel) this.channels.set(effect.channel.id, effect.channel.value);
  }

  private writable(id: AccountId): ChainAccount {
    let account = this.accounts.get(id);
    if (!account) {
      account = { ...(this.base.account(id) ?? { balance: 0n, nonce: 0 }) };
      this.accounts.set(id, account);
    }
    return account;
  }
}
