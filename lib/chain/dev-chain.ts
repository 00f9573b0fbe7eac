/**
 * The embedded dev chain: in-process and deterministic. It mines a block on an interval, checks every
 * tx as a node would (signatures against the network id, nonces, minimum fees, ttl, balances),
 * applies spend and channel create txs, and keeps channel objects.
 */
import { buildTx, buildTxHash, decode, Encoding, encode, hash, Tag, unpackTx } from '@aeternity/aepp-sdk';
import type { AccountId, ChannelId, EncodedTx, StateHash } from '../../fsm/types.js';
import { channelId } from '../tx/channel-kit.js';
import { unpackSigned } from '../tx/channel-kit.js';
import { signingMessage, verifySignature } from '../tx/crypto.js';
import { ChainRejectedError, type Chain, type ChainAccount } from './chain.js';

/** The Aeternity dev-mode genesis account (public test data, funded at genesis). */
export const GENESIS_ACCOUNT = 'ak_21A27UVVt3hDkBE5J7rhhqnH5YNb4Y1dqo4PnSybrH85pnWo7E' as AccountId;

export interface ChannelObject {
  id: ChannelId;
  initiator: AccountId;
  responder: AccountId;
  amount: bigint;
  channelReserve: bigint;
  lockPeriod: bigint;
  round: number;
  stateHash: StateHash;
  initiatorDelegateIds: AccountId[];
  responderDelegateIds: AccountId[];
}

interface PendingTx {
  hash: string;
  signedTx: EncodedTx;
  tx: Record<string, unknown> & { tag: Tag };
  signatures: Uint8Array[];
}

export interface MinedTx {
  hash: string;
  signedTx: EncodedTx;
  signatures: Uint8Array[];
  tx: Record<string, unknown> & { tag: Tag };
  blockHeight: number;
}

export interface DevChainOptions {
  networkId: string;
  blockIntervalMs: number;
  genesisBalance: bigint;
}

const MAX_POOL = 10_000;

export class DevChain implements Chain {
  readonly networkId: string;
  private readonly accounts = new Map<AccountId, ChainAccount>();
  private readonly channels = new Map<ChannelId, ChannelObject>();
  private readonly pool = new Map<string, PendingTx>();
  private readonly mined = new Map<string, MinedTx>();
  private readonly listeners = new Set<(height: number) => void>();
  private currentHeight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DevChainOptions) {
    this.networkId = options.networkId;
    this.accounts.set(GENESIS_ACCOUNT, { balance: options.genesisBalance, nonce: 0 });
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
    const pooled = [...this.pool.values()].filter((p) => signerOf(p.tx) === id).map((p) => Number(p.tx.nonce));
    return Math.max(this.accounts.get(id)?.nonce ?? 0, ...pooled) + 1;
  }

  channel(id: ChannelId): ChannelObject | null {
    const found = this.channels.get(id);
    return found ? { ...found } : null;
  }

  /** A tx by hash, mined or pending (blockHeight -1), for the node HTTP API. */
  transaction(txHash: string): MinedTx | null {
    const mined = this.mined.get(txHash);
    if (mined) return mined;
    const pending = this.pool.get(txHash);
    return pending ? { ...pending, blockHeight: -1 } : null;
  }

  pendingCount(): number {
    return this.pool.size;
  }

  async txHeight(txHash: string): Promise<number | null> {
    return this.transaction(txHash)?.blockHeight ?? null;
  }

  onBlock(listener: (height: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async postTx(signedTx: EncodedTx): Promise<string> {
    const unpacked = unpackSigned(signedTx);
    if (!unpacked || unpacked.signatures.length === 0) throw new ChainRejectedError('Invalid tx: not a signed transaction');
    let tx: PendingTx['tx'];
    try {
      tx = unpackTx(unpacked.encodedTx) as unknown as PendingTx['tx'];
    } catch (err) {
      throw new ChainRejectedError(`Invalid tx: ${(err as Error).message}`);
    }
    const txHash = buildTxHash(signedTx);
    if (this.mined.has(txHash) || this.pool.has(txHash)) return txHash;
    if (this.pool.size >= MAX_POOL) throw new ChainRejectedError('Mempool full');
    this.checkSignatures(unpacked.encodedTx, unpacked.signatures, requiredSigners(tx));
    this.checkFee(tx);
    const ttl = Number(tx.ttl ?? 0);
    if (ttl !== 0 && ttl <= this.currentHeight) throw new ChainRejectedError('Invalid tx: ttl expired');
    const signer = signerOf(tx);
    if (Number(tx.nonce) <= (this.accounts.get(signer)?.nonce ?? 0)) throw new ChainRejectedError('Invalid tx: nonce too low');
    for (const [account, amount] of costs(tx)) {
      const balance = this.accounts.get(account)?.balance ?? 0n;
      if (balance < amount) throw new ChainRejectedError(`Invalid tx: insufficient balance of ${account}: ${balance} < ${amount}`);
    }
    this.pool.set(txHash, { hash: txHash, signedTx, tx, signatures: unpacked.signatures });
    return txHash;
  }

  /** Mines one block now: applies every pending tx whose nonce is next, in nonce order. */
  mineBlock(): number {
    this.currentHeight += 1;
    const pending = [...this.pool.values()].sort((a, b) => Number(a.tx.nonce) - Number(b.tx.nonce));
    for (const p of pending) {
      const signer = signerOf(p.tx);
      const account = this.accounts.get(signer);
      if (Number(p.tx.nonce) !== (account?.nonce ?? 0) + 1) continue; // a gap: wait for the missing nonce
      this.pool.delete(p.hash);
      try {
        this.apply(p.tx);
        this.mined.set(p.hash, { ...p, blockHeight: this.currentHeight });
      } catch {
        // a tx that no longer applies (spent balance, existing channel) is dropped, as a node drops it
      }
    }
    for (const listener of this.listeners) listener(this.currentHeight);
    return this.currentHeight;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
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
  private checkFee(tx: PendingTx['tx']): void {
    const { fee, ...rest } = tx;
    const minimum = BigInt((unpackTx(buildTx(rest as Parameters<typeof buildTx>[0])) as unknown as { fee: string }).fee);
    if (BigInt(String(fee)) < minimum) throw new ChainRejectedError(`Invalid tx: fee ${String(fee)} is below the minimum ${minimum}`);
  }

  private debit(id: AccountId, amount: bigint, bumpNonce: boolean): void {
    const account = this.accounts.get(id);
    if (!account || account.balance < amount) throw new ChainRejectedError(`Insufficient balance of ${id}`);
    account.balance -= amount;
    if (bumpNonce) account.nonce += 1;
  }

  private credit(id: AccountId, amount: bigint): void {
    const account = this.accounts.get(id) ?? { balance: 0n, nonce: 0 };
    account.balance += amount;
    this.accounts.set(id, account);
  }

  private apply(tx: PendingTx['tx']): void {
    const fee = BigInt(String(tx.fee));
    switch (tx.tag) {
      case Tag.SpendTx: {
        const amount = BigInt(String(tx.amount));
        this.debit(tx.senderId as AccountId, amount + fee, true);
        this.credit(tx.recipientId as AccountId, amount);
        return;
      }
      case Tag.ChannelCreateTx: {
        const initiator = tx.initiator as AccountId;
        const responder = tx.responder as AccountId;
        const id = channelId(initiator, Number(tx.nonce), responder);
        if (this.channels.has(id)) throw new ChainRejectedError('Channel exists');
        const initiatorAmount = BigInt(String(tx.initiatorAmount));
        const responderAmount = BigInt(String(tx.responderAmount));
        const responderAccount = this.accounts.get(responder);
        if (!responderAccount || responderAccount.balance < responderAmount) throw new ChainRejectedError(`Insufficient balance of ${responder}`);
        this.debit(initiator, initiatorAmount + fee, true);
        this.debit(responder, responderAmount, false);
        this.channels.set(id, {
          id, initiator, responder,
          amount: initiatorAmount + responderAmount,
          channelReserve: BigInt(String(tx.channelReserve)),
          lockPeriod: BigInt(String(tx.lockPeriod)),
          round: 1,
          stateHash: tx.stateHash as StateHash,
          initiatorDelegateIds: tx.initiatorDelegateIds as AccountId[],
          responderDelegateIds: tx.responderDelegateIds as AccountId[],
        });
        return;
      }
      default:
        throw new ChainRejectedError(`Invalid tx: ${Tag[tx.tag] ?? tx.tag} is not supported by the dev chain`);
    }
  }

  /** Deterministic stand-ins for block hashes: the dev chain has no real blocks to hash. */
  blockHash(height: number, kind: 'kh' | 'mh'): string {
    return encode(hash(Buffer.from(`${kind}:${height}`)), kind === 'kh' ? Encoding.KeyBlockHash : Encoding.MicroBlockHash);
  }
}

/** The account whose nonce a tx uses. */
function signerOf(tx: PendingTx['tx']): AccountId {
  switch (tx.tag) {
    case Tag.SpendTx: return tx.senderId as AccountId;
    case Tag.ChannelCreateTx: return tx.initiator as AccountId;
    default: return (tx.fromId ?? tx.senderId) as AccountId;
  }
}

/** What a tx takes from each account when it is applied, to refuse it at the door as the node's mempool does. */
function costs(tx: PendingTx['tx']): Array<[AccountId, bigint]> {
  const fee = BigInt(String(tx.fee ?? 0));
  switch (tx.tag) {
    case Tag.SpendTx: return [[tx.senderId as AccountId, BigInt(String(tx.amount)) + fee]];
    case Tag.ChannelCreateTx: return [
      [tx.initiator as AccountId, BigInt(String(tx.initiatorAmount)) + fee],
      [tx.responder as AccountId, BigInt(String(tx.responderAmount))],
    ];
    default: return [[signerOf(tx), fee]];
  }
}

function requiredSigners(tx: PendingTx['tx']): AccountId[] {
  if (tx.tag === Tag.ChannelCreateTx) return [tx.initiator as AccountId, tx.responder as AccountId];
  return [signerOf(tx)];
}
