/**
 * The embedded dev chain: in-process and deterministic. It mines a block on an interval, checks every
 * tx as a node would (signatures against the network id, nonces, minimum fees, ttl, balances, the
 * channel rules) and applies spends and every channel tx to accounts and channel objects.
 */
import { buildTx, buildTxHash, decode, Encoding, encode, hash, Tag, unpackTx } from '@aeternity/aepp-sdk';
import type { AccountId, ChannelId, EncodedTx } from '../../fsm/types.js';
import { unpackSigned } from '../tx/channel-kit.js';
import { ownCopy } from '../tx/encoding.js';
import { signingMessage, verifySignature } from '../tx/crypto.js';
import { ChainRejectedError, type Chain, type ChainAccount, type TxStatus } from './chain.js';
import {
  applyChannelTx, CHANNEL_TAGS, channelOf, senderOf, signersOf, type ChannelObject, type ChannelTx,
} from './channel-rules.js';

/** The Aeternity dev-mode genesis account (public test data, funded at genesis). */
export const GENESIS_ACCOUNT = 'ak_21A27UVVt3hDkBE5J7rhhqnH5YNb4Y1dqo4PnSybrH85pnWo7E' as AccountId;

interface PooledTx {
  hash: string;
  signedTx: EncodedTx;
  tx: ChannelTx;
  signatures: Uint8Array[];
}

export interface MinedTx extends PooledTx {
  blockHeight: number;
}

/** A mined tx as kept: the signed tx alone (unpacked again when asked for), as the chain keeps all of them. */
interface MinedRecord {
  signedTx: EncodedTx;
  blockHeight: number;
}

export interface DevChainOptions {
  networkId: string;
  blockIntervalMs: number;
  genesisBalance: bigint;
  /** more accounts funded at genesis (the service's watchtower key, say) */
  genesisAccounts?: Array<[AccountId, bigint]>;
}

const MAX_POOL = 10_000;

/** What applying a tx does to accounts and channels. */
interface Effect {
  debits: Array<[AccountId, bigint]>;
  credits: Array<[AccountId, bigint]>;
  channel?: { id: ChannelId; value: ChannelObject | null };
}

export class DevChain implements Chain {
  readonly networkId: string;
  private readonly accounts = new Map<AccountId, ChainAccount>();
  private readonly channels = new Map<ChannelId, ChannelObject>();
  private readonly pool = new Map<string, PooledTx>();
  private readonly mined = new Map<string, MinedRecord>();
  private readonly failed = new Map<string, string>();
  private readonly lastChannelTx = new Map<ChannelId, EncodedTx>();
  private readonly listeners = new Set<(height: number) => void>();
  private currentHeight = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(options: DevChainOptions) {
    this.networkId = options.networkId;
    this.accounts.set(GENESIS_ACCOUNT, { balance: options.genesisBalance, nonce: 0 });
    for (const [account, balance] of options.genesisAccounts ?? []) this.accounts.set(account, { balance, nonce: 0 });
    this.timer = setInterval(() => this.mineBlock(), options.blockIntervalMs);
    this.timer.unref();
  }

  async height(): Promise<number> {
    return this.currentHeight;
  }

  async account(id: AccountId): Promise<ChainAccount | null> {
    const account = this.accounts.get(id);
    return account ? { ...account } : null;
  }

  async nextNonce(id: AccountId): Promise<number> {
    const pooled = [...this.pool.values()].filter((p) => senderOf(p.tx) === id).map((p) => Number(p.tx.nonce));
    return Math.max(this.accounts.get(id)?.nonce ?? 0, ...pooled) + 1;
  }

  async channel(id: ChannelId): Promise<ChannelObject | null> {
    return this.channelNow(id);
  }

  async channelTx(id: ChannelId): Promise<EncodedTx | null> {
    return this.lastChannelTx.get(id) ?? null;
  }

  channelNow(id: ChannelId): ChannelObject | null {
    const found = this.channels.get(id);
    return found ? { ...found } : null;
  }

  /** A tx by hash, mined or pending (blockHeight -1), for the node HTTP API. */
  transaction(txHash: string): MinedTx | null {
    const mined = this.mined.get(txHash);
    if (mined) {
      const unpacked = unpackSigned(mined.signedTx)!;
      const tx = unpackTx(unpacked.encodedTx) as unknown as ChannelTx;
      return { hash: txHash, signedTx: mined.signedTx, tx, signatures: unpacked.signatures, blockHeight: mined.blockHeight };
    }
    const pending = this.pool.get(txHash);
    return pending ? { ...pending, blockHeight: -1 } : null;
  }

  pendingCount(): number {
    return this.pool.size;
  }

  async txStatus(txHash: string): Promise<TxStatus> {
    const mined = this.mined.get(txHash);
    if (mined) return { state: 'mined', height: mined.blockHeight };
    if (this.pool.has(txHash)) return { state: 'pending' };
    const reason = this.failed.get(txHash);
    return reason ? { state: 'failed', reason } : { state: 'unknown' };
  }

  onBlock(listener: (height: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async postTx(signedTx: EncodedTx): Promise<string> {
    const unpacked = unpackSigned(signedTx);
    if (!unpacked || unpacked.signatures.length === 0) throw new ChainRejectedError('Invalid tx: not a signed transaction');
    let tx: ChannelTx;
    try {
      tx = unpackTx(unpacked.encodedTx) as unknown as ChannelTx;
    } catch (err) {
      throw new ChainRejectedError(`Invalid tx: ${(err as Error).message}`);
    }
    const txHash = buildTxHash(signedTx);
    if (this.mined.has(txHash) || this.pool.has(txHash)) return txHash;
    if (this.pool.size >= MAX_POOL) throw new ChainRejectedError('Mempool full');
    const id = channelOf(tx);
    const channel = id ? this.channels.get(id) ?? null : null;
    this.checkSignatures(unpacked.encodedTx, unpacked.signatures, tx.tag === Tag.SpendTx ? [tx.senderId as AccountId] : signersOf(tx, channel));
    this.checkFee(tx);
    const ttl = Number(tx.ttl ?? 0);
    if (ttl !== 0 && ttl <= this.currentHeight) throw new ChainRejectedError('Invalid tx: ttl expired');
    if (Number(tx.nonce) <= (this.accounts.get(senderOf(tx))?.nonce ?? 0)) throw new ChainRejectedError('Invalid tx: nonce too low');
    // as the node's mempool does: refuse what would not apply now (the next block checks again)
    this.checkBalances(this.effectOf(tx, this.currentHeight + 1));
    // kept for as long as the chain runs: copies, not views into the decoded tx's pool slab
    this.pool.set(txHash, { hash: txHash, signedTx, tx, signatures: unpacked.signatures.map(ownCopy) });
    return txHash;
  }

  /** Mines one block now: applies every pending tx whose nonce is next, in nonce order. */
  mineBlock(): number {
    this.currentHeight += 1;
    const pending = [...this.pool.values()].sort((a, b) => Number(a.tx.nonce) - Number(b.tx.nonce));
    for (const p of pending) {
      const sender = senderOf(p.tx);
      if (Number(p.tx.nonce) !== (this.accounts.get(sender)?.nonce ?? 0) + 1) continue; // a gap: wait for the missing nonce
      this.pool.delete(p.hash);
      try {
        const effect = this.effectOf(p.tx, this.currentHeight);
        this.checkBalances(effect);
        this.apply(sender, effect);
        this.mined.set(p.hash, { signedTx: p.signedTx, blockHeight: this.currentHeight });
        if (effect.channel) this.lastChannelTx.set(effect.channel.id, p.signedTx);
      } catch (err) {
        // no longer applies (spent balance, channel changed): dropped, as a node drops it
        this.failed.set(p.hash, (err as Error).message);
      }
    }
    for (const listener of this.listeners) listener(this.currentHeight);
    return this.currentHeight;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
  }

  /** Deterministic stand-ins for block hashes: the dev chain has no real blocks to hash. */
  blockHash(height: number, kind: 'kh' | 'mh'): string {
    return encode(hash(Buffer.from(`${kind}:${height}`)), kind === 'kh' ? Encoding.KeyBlockHash : Encoding.MicroBlockHash);
  }

  private effectOf(tx: ChannelTx, height: number): Effect {
    if (tx.tag === Tag.SpendTx) {
      const amount = BigInt(String(tx.amount));
      return { debits: [[tx.senderId as AccountId, amount + BigInt(String(tx.fee))]], credits: [[tx.recipientId as AccountId, amount]] };
    }
    if (!CHANNEL_TAGS.has(tx.tag)) throw new ChainRejectedError(`Invalid tx: ${Tag[tx.tag] ?? tx.tag} is not supported by the dev chain`);
    const id = channelOf(tx);
    const channel = id ? this.channels.get(id) ?? null : null;
    const result = applyChannelTx(tx, channel, height, this.networkId);
    const channelId = result.channel?.id ?? id!;
    if (tx.tag === Tag.ChannelCreateTx && this.channels.has(channelId)) throw new ChainRejectedError('Invalid tx: channel exists');
    return { debits: result.debits, credits: result.credits, channel: { id: channelId, value: result.channel } };
  }

  private checkBalances(effect: Effect): void {
    const owed = new Map<AccountId, bigint>();
    for (const [account, amount] of effect.debits) owed.set(account, (owed.get(account) ?? 0n) + amount);
    for (const [account, amount] of owed) {
      const balance = this.accounts.get(account)?.balance ?? 0n;
      if (balance < amount) throw new ChainRejectedError(`Invalid tx: insufficient balance of ${account}: ${balance} < ${amount}`);
    }
  }

  private apply(sender: AccountId, effect: Effect): void {
    for (const [account, amount] of effect.debits) this.accounts.get(account)!.balance -= amount;
    for (const [account, amount] of effect.credits) {
      const target = this.accounts.get(account) ?? { balance: 0n, nonce: 0 };
      target.balance += amount;
      this.accounts.set(account, target);
    }
    const senderAccount = this.accounts.get(sender) ?? { balance: 0n, nonce: 0 };
    senderAccount.nonce += 1;
    this.accounts.set(sender, senderAccount);
    if (effect.channel) {
      if (effect.channel.value) this.channels.set(effect.channel.id, effect.channel.value);
      else this.channels.delete(effect.channel.id);
    }
  }

  private checkSignatures(encodedTx: EncodedTx, signatures: Uint8Array[], signers: AccountId[]): void {
    const message = signingMessage(this.networkId, decode(encodedTx));
    for (const signer of signers) {
      if (!signatures.some((s) => verifySignature(message, s, signer))) {
        throw new ChainRejectedError(`Invalid tx: no valid signature by ${signer}`);
      }
    }
  }

  /** The fee must cover the minimum the node asks: the same tx rebuilt without a fee carries it. */
  private checkFee(tx: ChannelTx): void {
    const { fee, ...rest } = tx;
    const minimum = BigInt((unpackTx(buildTx(rest as Parameters<typeof buildTx>[0])) as unknown as { fee: string }).fee);
    if (BigInt(String(fee)) < minimum) throw new ChainRejectedError(`Invalid tx: fee ${String(fee)} is below the minimum ${minimum}`);
  }
}
