/**
 * The embedded dev chain: in-process and deterministic. It mines a block on an interval, checks every
 * tx as a node would (signatures against the network id, nonces, minimum fees, ttl, balances, the
 * channel rules) and applies spends and every channel tx to accounts and channel objects.
 *
 * Opened on a ledger (`DevChain.open`), it survives restarts: the whole state stays in memory for
 * synchronous reads and is written through, each accepted tx before postTx answers and each block
 * before it is applied in memory and announced. Built with `new DevChain(options)`, it lives in memory only.
 */
import { buildTx, buildTxHash, decode, Encoding, encode, hash, Tag, unpackTx, type Encoded } from '../../sdk.js';
import type { AccountId, ChannelId, EncodedTx } from '../../../fsm/types.js';
import { channelId, unpackSigned } from '../../tx/channel-kit.js';
import { ownCopy } from '../../tx/encoding.js';
import { Memo } from '../../tx/memo.js';
import { signingMessage, verifySignature } from '../../tx/crypto.js';
import { ChainRejectedError, type Chain, type ChainAccount, type TxStatus, type ChannelObject } from '../types.js';
import { channelOf, senderOf, signersOf, type ChannelTx } from './channel-rules.js';
import { BlockDraft, checkBalances, effectOf, type ChainView } from './block-draft.js';
import type { BlockDelta, DevChainLedger, DevChainSnapshot, MinedRecord } from './ledger.js';

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

export interface DevChainOptions {
  networkId: string;
  blockIntervalMs: number;
  genesisBalance: bigint;
  /** more accounts funded at genesis (the service's watchtower key, say) */
  genesisAccounts?: Array<[AccountId, bigint]>;
  /**
   * Told when a block the timer started could not be made (its ledger write failed, a block listener
   * threw). Nothing was applied then; the next tick tries the same txs again.
   */
  onError?: (err: Error) => void;
}

const MAX_POOL = 10_000;

export class DevChain implements Chain {
  readonly networkId: string;
  private readonly accounts = new Map<AccountId, ChainAccount>();
  private readonly channels = new Map<ChannelId, ChannelObject>();
  private readonly pool = new Map<string, PooledTx>();
  private readonly mined = new Map<string, MinedRecord>();
  private readonly failed = new Map<string, string>();
  private readonly lastChannelTx = new Map<ChannelId, EncodedTx>();
  /** the hashes of the txs mined at each height: a generation's txs, for the node HTTP API and the chain watcher */
  private readonly minedAt = new Map<number, string[]>();
  private readonly listeners = new Set<(height: number) => void>();
  private currentHeight = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly ledger: DevChainLedger | null;
  private readonly onError: ((err: Error) => void) | undefined;
  /** the genesis write of a new durable chain, done before any block */
  private readonly ready: Promise<void> = Promise.resolve();
  /** the last block asked for (after `ready`): blocks are made one after another; never rejects */
  private mining: Promise<unknown>;
  /** blocks asked for and not yet made or failed */
  private queued = 0;
  private closed = false;
  /** the committed state, as the checks of a new tx and the first tx of a block see it */
  private readonly committed: ChainView = {
    account: (id) => this.accounts.get(id) ?? null,
    channel: (id) => this.channels.get(id) ?? null,
  };

  /**
   * A chain in memory only. With `durable` (from `open`), one that continues the ledger's chain: the
   * snapshot's state, or genesis written to the ledger first when the snapshot is null.
   */
  constructor(options: DevChainOptions, durable?: { ledger: DevChainLedger; snapshot: DevChainSnapshot | null }) {
    this.networkId = options.networkId;
    this.ledger = durable?.ledger ?? null;
    this.onError = options.onError;
    if (durable?.snapshot) {
      this.restore(durable.snapshot);
    } else {
      // genesis only for a new chain: a continued one has its genesis accounts in the ledger already
      this.accounts.set(GENESIS_ACCOUNT, { balance: options.genesisBalance, nonce: 0 });
      for (const [account, balance] of options.genesisAccounts ?? []) this.accounts.set(account, { balance, nonce: 0 });
      if (this.ledger) this.ready = this.ledger.commitBlock(genesisDelta(this.accounts));
    }
    this.mining = this.ready.catch(() => undefined);
    this.timer = setInterval(() => this.tick(), options.blockIntervalMs);
    this.timer.unref();
  }

  /**
   * Opens the chain kept in `ledger`, or starts one there at genesis when it is empty. The chain owns
   * the ledger from here on: `close` closes it, and so does a failed open.
   */
  static async open(options: DevChainOptions, ledger: DevChainLedger): Promise<DevChain> {
    let chain: DevChain | undefined;
    try {
      chain = new DevChain(options, { ledger, snapshot: await ledger.load() });
      await chain.ready;
      return chain;
    } catch (err) {
      if (chain) await chain.close();
      else await ledger.close();
      throw err;
    }
  }

  private readonly blockHashes = new Memo<string>(256);

  async genesisHash(): Promise<Uint8Array> {
    // the key block hash the node HTTP API reports as genesis_key_block_hash (node-http-api.ts)
    return decode(this.blockHash(0, 'kh') as Encoded.KeyBlockHash);
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

  /** The txs mined at a height (the dev chain's one micro block of that generation); null above the top. */
  generation(height: number): MinedTx[] | null {
    if (height < 0 || height > this.currentHeight) return null;
    return (this.minedAt.get(height) ?? []).map((txHash) => this.transaction(txHash)!);
  }

  async generationChannels(height: number): Promise<Map<string, ChannelId[]> | null> {
    const txs = this.generation(height);
    if (!txs) return null;
    const touched = new Map<string, ChannelId[]>();
    // a create tx touches the channel it makes (a watcher following the id learns its first state)
    const touchedBy = ({ tx }: MinedTx) => tx.tag === Tag.ChannelCreateTx
      ? channelId(tx.initiator as AccountId, Number(tx.nonce), tx.responder as AccountId)
      : channelOf(tx);
    const channels = [...new Set(txs.map(touchedBy).filter((id): id is ChannelId => id !== null))];
    if (txs.length > 0) touched.set(this.blockHash(height, 'mh'), channels);
    return touched;
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
    if (this.closed) throw new Error('the dev chain is closed');
    if (this.mined.has(txHash) || this.pool.has(txHash)) return txHash;
    if (this.pool.size >= MAX_POOL) throw new ChainRejectedError('Mempool full');
    const id = channelOf(tx);
    const channel = id ? this.committed.channel(id) : null;
    this.checkSignatures(unpacked.encodedTx, unpacked.signatures, tx.tag === Tag.SpendTx ? [tx.senderId as AccountId] : signersOf(tx, channel));
    this.checkFee(tx);
    const ttl = Number(tx.ttl ?? 0);
    if (ttl !== 0 && ttl <= this.currentHeight) throw new ChainRejectedError('Invalid tx: ttl expired');
    if (Number(tx.nonce) <= (this.accounts.get(senderOf(tx))?.nonce ?? 0)) throw new ChainRejectedError('Invalid tx: nonce too low');
    // as the node's mempool does: refuse what would not apply now (the next block checks again)
    checkBalances(effectOf(tx, this.currentHeight + 1, this.committed, this.networkId), this.committed);
    // kept for as long as the chain runs: copies, not views into the decoded tx's pool slab
    const pooled: PooledTx = { hash: txHash, signedTx, tx, signatures: unpacked.signatures.map(ownCopy) };
    // durable before the hash goes out: a client told "accepted" must still find its tx after a crash
    await this.ledger?.addPending(txHash, signedTx);
    // a twin posted meanwhile may have been mined while this one was being written
    if (!this.mined.has(txHash)) this.pool.set(txHash, pooled);
    return txHash;
  }

  /**
   * Mines one block: applies every pending tx whose nonce is next, in nonce order, writes the block to
   * the ledger, then applies it in memory and tells the block listeners. Resolves with its height.
   * Blocks are made one at a time: a call while one is under way waits for it. When the ledger write
   * fails, nothing changes and the promise rejects; the txs stay pending.
   */
  mineBlock(): Promise<number> {
    if (this.closed) return Promise.reject(new Error('the dev chain is closed'));
    this.queued += 1;
    const block = this.mining.then(() => this.makeBlock()).finally(() => { this.queued -= 1; });
    this.mining = block.catch(() => undefined);
    return block;
  }

  /** Stops mining, waits for the block under way, and closes the ledger. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.listeners.clear();
    await this.mining;
    await this.ledger?.close();
  }

  async keyBlockHash(height: number): Promise<string | null> {
    return height >= 0 && height <= this.currentHeight ? this.blockHash(height, 'kh') : null;
  }

  async blockHeight(blockHash: string): Promise<number | null> {
    const kind = blockHash.startsWith('kh_') ? 'kh' : blockHash.startsWith('mh_') ? 'mh' : null;
    if (!kind) return null;
    let bytes: Uint8Array;
    try {
      bytes = decode(blockHash as `kh_${string}`);
    } catch {
      return null;
    }
    if (bytes.length !== 32) return null;
    const height = Number(Buffer.from(bytes).readBigUInt64BE(0));
    return height <= this.currentHeight && this.blockHash(height, kind) === blockHash ? height : null;
  }

  /**
   * Deterministic stand-ins for block hashes: the dev chain has no real blocks to hash. The height
   * leads (so a hash tells its height at once), a digest of kind and height follows. The recent ones
   * are remembered: every proposal pins one.
   */
  blockHash(height: number, kind: 'kh' | 'mh'): string {
    return this.blockHashes.get(`${kind}:${height}`, () => {
      const bytes = Buffer.from(hash(Buffer.from(`${kind}:${height}`)));
      bytes.writeBigUInt64BE(BigInt(height), 0);
      return encode(bytes, kind === 'kh' ? Encoding.KeyBlockHash : Encoding.MicroBlockHash);
    });
  }

  /** The timer's block: skipped while one is still being made, so a slow ledger does not pile blocks up. */
  private tick(): void {
    if (this.queued > 0 || this.closed) return;
    this.mineBlock().catch((err: Error) => { if (!this.closed) this.onError?.(err); });
  }

  private async makeBlock(): Promise<number> {
    // a block queued behind the one under way when close came: the ledger may be gone
    if (this.closed) throw new Error('the dev chain is closed');
    const height = this.currentHeight + 1;
    const draft = new BlockDraft(this.committed);
    const delta: BlockDelta = {
      height, accounts: draft.accounts, channels: draft.channels,
      lastChannelTx: new Map(), mined: new Map(), failed: new Map(), poolRemoved: [],
    };
    const pending = [...this.pool.values()].sort((a, b) => Number(a.tx.nonce) - Number(b.tx.nonce));
    for (const p of pending) {
      const sender = senderOf(p.tx);
      const next = (draft.account(sender)?.nonce ?? 0) + 1;
      if (Number(p.tx.nonce) > next) continue; // a gap: wait for the missing nonce
      delta.poolRemoved.push(p.hash);
      if (Number(p.tx.nonce) < next) {
        // another tx took its nonce: it can never apply, and a kept pool would hold it for good
        delta.failed.set(p.hash, 'Invalid tx: nonce too low');
        continue;
      }
      try {
        const effect = effectOf(p.tx, height, draft, this.networkId);
        checkBalances(effect, draft);
        draft.apply(sender, effect);
        delta.mined.set(p.hash, { signedTx: p.signedTx, blockHeight: height });
        if (effect.channel) delta.lastChannelTx.set(effect.channel.id, p.signedTx);
      } catch (err) {
        // no longer applies (spent balance, channel changed): dropped, as a node drops it
        delta.failed.set(p.hash, (err as Error).message);
      }
    }
    // written before anyone can see it: the FSMs act on blocks, and a crash must not take one back
    await this.ledger?.commitBlock(delta);
    this.applyDelta(delta);
    let failure: unknown;
    for (const listener of [...this.listeners]) {
      try {
        listener(height);
      } catch (err) {
        failure ??= err; // the others are still told
      }
    }
    if (failure !== undefined) throw failure;
    return height;
  }

  private applyDelta(delta: BlockDelta): void {
    this.currentHeight = delta.height;
    for (const [id, account] of delta.accounts) this.accounts.set(id, account);
    for (const [id, channel] of delta.channels) {
      if (channel) this.channels.set(id, channel);
      else this.channels.delete(id);
    }
    for (const [id, tx] of delta.lastChannelTx) this.lastChannelTx.set(id, tx);
    for (const [hash, mined] of delta.mined) this.addMined(hash, mined);
    for (const [hash, reason] of delta.failed) this.failed.set(hash, reason);
    for (const hash of delta.poolRemoved) this.pool.delete(hash);
  }

  private addMined(txHash: string, mined: MinedRecord): void {
    this.mined.set(txHash, mined);
    const atHeight = this.minedAt.get(mined.blockHeight);
    if (atHeight) atHeight.push(txHash);
    else this.minedAt.set(mined.blockHeight, [txHash]);
  }

  private restore(snapshot: DevChainSnapshot): void {
    this.currentHeight = snapshot.height;
    for (const [id, account] of snapshot.accounts) this.accounts.set(id, account);
    for (const [id, channel] of snapshot.channels) this.channels.set(id, channel);
    for (const [id, tx] of snapshot.lastChannelTx) this.lastChannelTx.set(id, tx);
    for (const [hash, mined] of snapshot.mined) this.addMined(hash, mined);
    for (const [hash, reason] of snapshot.failed) this.failed.set(hash, reason);
    for (const [hash, signedTx] of snapshot.pool) {
      // checked when it was accepted; the block that takes it checks it again against the chain then
      const unpacked = unpackSigned(signedTx);
      if (!unpacked) throw new Error(`dev chain ledger: pending tx ${hash} is not a signed tx`);
      const tx = unpackTx(unpacked.encodedTx) as unknown as ChannelTx;
      this.pool.set(hash, { hash, signedTx, tx, signatures: unpacked.signatures.map(ownCopy) });
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

/** Block 0: the genesis accounts, written once when a chain starts on an empty ledger. */
function genesisDelta(accounts: Map<AccountId, ChainAccount>): BlockDelta {
  return {
    height: 0, accounts: new Map([...accounts].map(([id, a]) => [id, { ...a }])), channels: new Map(),
    lastChannelTx: new Map(), mined: new Map(), failed: new Map(), poolRemoved: [],
  };
}
