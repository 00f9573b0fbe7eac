/**
 * The dev chain's ledger in the embedded LMDB environment: a named database `devchain` beside the
 * channel store's, keyed `<kind>:<id>`. A block is one LMDB transaction; every write resolves once
 * flushed to disk. The environment belongs to the service, which closes it after the chain.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { AccountId, ChannelId, EncodedTx } from '../../../fsm/types.js';
import type { ChainAccount, ChannelObject } from '../types.js';
import { durably } from '../../store/embedded.js';
import {
  decodeAccount, decodeChannel, decodeHeight, decodeMined, decodeSignedTx,
  encodeAccount, encodeChannel, encodeHeight, encodeMined,
} from './ledger-codec.js';
import {
  conflictMessage, LedgerConflictError, type BlockDelta, type DevChainLedger, type DevChainSnapshot, type MinedRecord,
} from './ledger.js';

const HEIGHT = 'height';
const key = {
  account: (id: string) => `account:${id}`,
  channel: (id: string) => `channel:${id}`,
  lastTx: (id: string) => `last-tx:${id}`,
  mined: (hash: string) => `mined:${hash}`,
  failed: (hash: string) => `failed:${hash}`,
  pool: (hash: string) => `pool:${hash}`,
};

export class LmdbLedger implements DevChainLedger {
  private readonly db: Database<string, string>;

  constructor(private readonly root: RootDatabase) {
    this.db = root.openDB<string, string>({ name: 'devchain', encoding: 'string' });
  }

  async load(): Promise<DevChainSnapshot | null> {
    const height = this.db.get(HEIGHT);
    if (height === undefined) return null;
    return {
      height: decodeHeight(height),
      accounts: this.entries<AccountId, ChainAccount>('account', decodeAccount),
      channels: this.entries<ChannelId, ChannelObject>('channel', decodeChannel),
      lastChannelTx: this.entries<ChannelId, EncodedTx>('last-tx', (v) => decodeSignedTx(v, 'last channel tx')),
      mined: this.entries<string, MinedRecord>('mined', decodeMined),
      failed: this.entries<string, string>('failed', (v) => v),
      pool: this.entries<string, EncodedTx>('pool', (v) => decodeSignedTx(v, 'pending tx')),
    };
  }

  async addPending(hash: string, signedTx: EncodedTx): Promise<void> {
    await durably(this.root, this.db.put(key.pool(hash), signedTx));
  }

  async commitBlock(delta: BlockDelta): Promise<void> {
    const stored = await durably(this.root, this.db.transaction(() => {
      // read inside the write transaction, so the check and the writes are one atomic step
      const current = this.db.get(HEIGHT);
      const height = current === undefined ? null : decodeHeight(current);
      if (height !== (delta.height === 0 ? null : delta.height - 1)) return height;
      this.db.put(HEIGHT, encodeHeight(delta.height));
      for (const [id, account] of delta.accounts) this.db.put(key.account(id), encodeAccount(account));
      for (const [id, channel] of delta.channels) {
        if (channel) this.db.put(key.channel(id), encodeChannel(channel));
        else this.db.remove(key.channel(id));
      }
      for (const [id, tx] of delta.lastChannelTx) this.db.put(key.lastTx(id), tx);
      for (const [hash, mined] of delta.mined) this.db.put(key.mined(hash), encodeMined(mined));
      for (const [hash, reason] of delta.failed) this.db.put(key.failed(hash), reason);
      for (const hash of delta.poolRemoved) this.db.remove(key.pool(hash));
      return 'committed' as const;
    }));
    if (stored !== 'committed') throw new LedgerConflictError(conflictMessage(stored, delta));
  }

  async close(): Promise<void> {
    // the named database shares the service's environment: closing it is the environment owner's job
  }

  /** Every record of one kind: keys `<kind>:…` sort between `<kind>:` and `<kind>;` (';' follows ':'). */
  private entries<K extends string, V>(kind: string, decode: (value: string) => V): Map<K, V> {
    const out = new Map<K, V>();
    for (const { key: k, value } of this.db.getRange({ start: `${kind}:`, end: `${kind};` })) {
      out.set(k.slice(kind.length + 1) as K, decode(value));
    }
    return out;
  }
}
