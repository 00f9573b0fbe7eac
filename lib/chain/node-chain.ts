/**
 * The chain interface over an Aeternity node's HTTP API, through the aepp-sdk's `Node` client: what
 * the service uses on a real network (or against another process's dev chain). New blocks are found
 * by polling the height.
 */
import { decode, Node, type Encoded } from '../sdk.js';
import type { AccountId, ChannelId, EncodedTx, StateHash } from '../../fsm/types.js';
import { channelId } from '../tx/channel-kit.js';
import { ChainRejectedError, type Chain, type ChainAccount, type TxStatus, type ChannelObject } from './types.js';

export interface NodeChainOptions {
  url: string;
  networkId: string;
  /** how often to look for a new block */
  pollMs: number;
}

/** The status code of an error from the aepp-sdk's Node client, if it came from an HTTP reply. */
function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** A block the node does not have (404), or a height or hash it cannot read (400): null; anything else throws. */
/** How many key blocks below the top are remembered: a pin is at most a few blocks deep. */
const KEY_BLOCKS_REMEMBERED = 64;

async function blockOrNull<T>(ask: Promise<T>): Promise<T | null> {
  try {
    return await ask;
  } catch (err) {
    if (statusOf(err) === 404 || statusOf(err) === 400) return null;
    throw err;
  }
}

function reasonOf(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  return message.replace(/^v3\/[^ ]+ error: /, '');
}

interface ApiTx { type?: string; channelId?: string; initiatorId?: string; responderId?: string; nonce?: number; tx?: { tx?: unknown } }

/**
 * The channel a tx of the node's API acts on (a create tx: the one it makes), looking inside the txs
 * that wrap another (PayingFor, GAMeta).
 */
function channelIdsOf(tx: ApiTx | undefined): ChannelId[] {
  if (!tx) return [];
  const inner = channelIdsOf(tx.tx?.tx as ApiTx | undefined);
  if (tx.channelId) return [tx.channelId as ChannelId, ...inner];
  if (tx.type === 'ChannelCreateTx' && tx.initiatorId && tx.responderId && tx.nonce !== undefined) {
    return [channelId(tx.initiatorId as AccountId, tx.nonce, tx.responderId as AccountId), ...inner];
  }
  return inner;
}

export class NodeChain implements Chain {
  readonly networkId: string;
  private readonly node: Node;
  private readonly listeners = new Set<(height: number) => void>();
  private readonly timer: NodeJS.Timeout;
  private lastHeight = -1;
  /** the top key block's hash, as the same read as lastHeight gave it */
  private topHash: string | null = null;
  /** when the node last told the top (ms) */
  private heightReadAt = 0;
  private readonly pollMs: number;
  /** main-chain key blocks below the top the poll saw, both ways (a proposal pins one; a remote peer's pin names one) */
  private readonly keyBlockHashes = new Map<number, string>();
  private readonly keyBlockHeights = new Map<string, number>();
  private polling = false;

  constructor(options: NodeChainOptions) {
    this.networkId = options.networkId;
    this.node = new Node(options.url, { retryCount: 0 });
    this.pollMs = options.pollMs;
    this.timer = setInterval(() => void this.poll(), options.pollMs);
    this.timer.unref();
  }

  private genesis: Uint8Array | null = null;

  async genesisHash(): Promise<Uint8Array> {
    this.genesis ??= decode((await this.node.getStatus()).genesisKeyBlockHash as Encoded.KeyBlockHash);
    return this.genesis;
  }

  /**
   * The top height the poll last read, while that read is at most two polls old: every proposal asks
   * for it (to pick its pin), and a request to the node each time would cost more than the transfer.
   * Older than that (the node stopped answering the poll), it is asked for, and a failure surfaces.
   */
  async height(): Promise<number> {
    if (this.lastHeight >= 0 && Date.now() - this.heightReadAt <= 2 * this.pollMs) return this.lastHeight;
    return this.readHeight();
  }

  /** The top key block, height and hash in one request (a node answers it as cheaply as the height alone). */
  private async readHeight(): Promise<number> {
    const { height, hash } = await this.node.getCurrentKeyBlock();
    this.heightReadAt = Date.now();
    this.topHash = height >= this.lastHeight ? hash : null;
    if (height > this.lastHeight) this.announce(height);
    return height;
  }

  /** The top's hash while the read that gave the top height is fresh (see height()). */
  private freshTopHash(height: number): string | null {
    return height === this.lastHeight && Date.now() - this.heightReadAt <= 2 * this.pollMs ? this.topHash : null;
  }

  async account(id: AccountId): Promise<ChainAccount | null> {
    try {
      const account = await this.node.getAccountByPubkey(id);
      return { balance: BigInt(account.balance), nonce: account.nonce };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async nextNonce(id: AccountId): Promise<number> {
    try {
      return (await this.node.getAccountNextNonce(id)).nextNonce;
    } catch (err) {
      if (statusOf(err) === 404) return 1;
      throw err;
    }
  }

  async postTx(signedTx: EncodedTx): Promise<string> {
    try {
      return (await this.node.postTransaction({ tx: signedTx })).txHash;
    } catch (err) {
      const status = statusOf(err);
      if (status !== undefined && status >= 400 && status < 500) throw new ChainRejectedError(reasonOf(err));
      throw err;
    }
  }

  async txStatus(txHash: string): Promise<TxStatus> {
    try {
      const tx = await this.node.getTransactionByHash(txHash);
      return tx.blockHeight < 0 ? { state: 'pending' } : { state: 'mined', height: tx.blockHeight };
    } catch (err) {
      if (statusOf(err) === 404) return { state: 'unknown' };
      throw err;
    }
  }

  /**
   * Key block hashes below the top the poll saw are remembered (every proposal pins one). The top's
   * (what a proposal pins at the default window) is the poll's, while the poll is fresh: asking the
   * node on every proposal cost more than the transfer itself (measured with WORKERS=2, whose workers
   * reach the chain over HTTP). Another key block may still replace the top within a poll, as it may
   * right after the node answers; a peer then refuses the pin as unknown and the client proposes again.
   */
  async keyBlockHash(height: number): Promise<string | null> {
    const known = this.keyBlockHashes.get(height) ?? this.freshTopHash(height);
    if (known) return known;
    const block = await blockOrNull(this.node.getKeyBlockByHeight(height));
    if (!block) return null;
    if (height < this.lastHeight) this.rememberKeyBlock(height, block.hash);
    return block.hash;
  }

  private rememberKeyBlock(height: number, hash: string): void {
    if (this.keyBlockHashes.size >= KEY_BLOCKS_REMEMBERED) {
      const [oldHeight, oldHash] = this.keyBlockHashes.entries().next().value!;
      this.keyBlockHashes.delete(oldHeight);
      this.keyBlockHeights.delete(oldHash);
    }
    this.keyBlockHashes.set(height, hash);
    this.keyBlockHeights.set(hash, height);
  }

  /** A block's height, if it is on the main chain: a key block must be the one at its height (else it is in a fork). */
  async blockHeight(hash: string): Promise<number | null> {
    if (hash.startsWith('kh_')) {
      const known = this.keyBlockHeights.get(hash) ?? (hash === this.freshTopHash(this.lastHeight) ? this.lastHeight : undefined);
      if (known !== undefined) return known;
      const block = await blockOrNull(this.node.getKeyBlockByHash(hash));
      return block && (await this.keyBlockHash(block.height)) === hash ? block.height : null;
    }
    if (hash.startsWith('mh_')) return (await blockOrNull(this.node.getMicroBlockHeaderByHash(hash)))?.height ?? null;
    return null;
  }

  async channel(id: ChannelId): Promise<ChannelObject | null> {
    try {
      const c = await this.node.getChannelByPubkey(id);
      const delegates = c.delegateIds as unknown as { initiator?: string[]; responder?: string[] } | string[];
      return {
        id: c.id as ChannelId, initiator: c.initiatorId as AccountId, responder: c.responderId as AccountId,
        channelAmount: BigInt(c.channelAmount), initiatorAmount: BigInt(c.initiatorAmount), responderAmount: BigInt(c.responderAmount),
        channelReserve: BigInt(c.channelReserve), lockPeriod: BigInt(c.lockPeriod), round: c.round, soloRound: c.soloRound,
        stateHash: c.stateHash as StateHash, lockedUntil: c.lockedUntil,
        delegates: Array.isArray(delegates)
          ? { initiator: delegates as AccountId[], responder: delegates as AccountId[] }
          : { initiator: (delegates.initiator ?? []) as AccountId[], responder: (delegates.responder ?? []) as AccountId[] },
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  /**
   * One request for the generation, one per micro block: what a block costs the chain watcher however
   * many channels it follows.
   */
  async generationChannels(height: number): Promise<Map<string, ChannelId[]> | null> {
    const generation = await blockOrNull(this.node.getGenerationByHeight(height));
    if (!generation) return null;
    const touched = new Map<string, ChannelId[]>();
    for (const hash of generation.microBlocks) {
      const { transactions } = await this.node.getMicroBlockTransactionsByHash(hash);
      touched.set(hash, [...new Set(transactions.flatMap((signed) => channelIdsOf(signed.tx as ApiTx)))]);
    }
    return touched;
  }

  /** A node does not index txs by channel; the watcher falls back to what it knows. */
  async channelTx(): Promise<EncodedTx | null> {
    return null;
  }

  onBlock(listener: (height: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A new top: listeners hear each height once, in order, whichever read found it. */
  private announce(height: number): void {
    this.lastHeight = height;
    for (const listener of this.listeners) listener(height);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.readHeight();
    } catch {
      // the node is unreachable for now; the next poll tries again
    } finally {
      this.polling = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
  }
}
