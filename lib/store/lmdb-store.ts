/**
 * The embedded store: the channel records in named databases of the service's one LMDB environment
 * (lib/store/embedded.ts), beside the dev chain's ledger.
 *
 * * `channels`: `[channelId, role, field]` → text, one entry per field of a participant's record
 *   (round, state, params, fsm, onchain, closed, watchtower, proposal), like the Redis store's hash, so a
 *   round is written without rewriting the parameters;
 * * `channel-rounds`: `[channelId, role, round]` → state, every co-signed round, oldest first by key;
 * * `channel-index`: channelId → '', the channels this service hosts;
 * * `service`: name → value;
 * * the paywall's payment records and merchant channels (lmdb-payments.ts).
 *
 * Every value is text made by records.ts (or JSON for the watchtower's list), decoded and checked on
 * the way back in, so a damaged record is refused rather than trusted.
 *
 * The environment is not this store's: whoever opened the EmbeddedDb closes it, after `close()` here.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { ChannelId, ChannelParams, CoSignedState, OperationKind, ProposalRecord, Role } from '../../fsm/types.js';
import { durably, type EmbeddedDb } from './embedded.js';
import { LmdbPayments } from './lmdb-payments.js';
import { decodeOnchain, decodeProposal, encodeOnchain, encodeProposal, decodeParams, decodeState, encodeParams, encodeState } from './records.js';
import { StoreUnavailableError, type ChannelStore, type SaveResult, type StoredChannel, type WatchtowerAction } from './store.js';

type Field = 'round' | 'state' | 'params' | 'fsm' | 'onchain' | 'closed' | 'watchtower' | 'proposal';
type FieldKey = [ChannelId, Role, Field];
type RoundKey = [ChannelId, Role, number];

export class LmdbStore implements ChannelStore {
  private readonly root: RootDatabase;
  private readonly channels: Database<string, FieldKey>;
  private readonly rounds: Database<string, RoundKey>;
  private readonly index: Database<string, ChannelId>;
  private readonly service: Database<string, string>;
  readonly payments: LmdbPayments;
  private closed = false;

  constructor(db: EmbeddedDb) {
    this.root = db.root;
    this.channels = db.root.openDB<string, FieldKey>({ name: 'channels', encoding: 'string' });
    this.rounds = db.root.openDB<string, RoundKey>({ name: 'channel-rounds', encoding: 'string' });
    this.index = db.root.openDB<string, ChannelId>({ name: 'channel-index', encoding: 'string' });
    this.service = db.root.openDB<string, string>({ name: 'service', encoding: 'string' });
    this.payments = new LmdbPayments(db.root, () => this.ensureOpen());
  }

  async saveRound(channelId: ChannelId, role: Role, state: CoSignedState, first?: { params: ChannelParams; fsmIdHash: string }): Promise<SaveResult> {
    this.ensureOpen();
    // encoded before the transaction: its callback runs while the environment's write lock is held
    const stateText = encodeState(state);
    const paramsText = first ? encodeParams(first.params) : undefined;
    return durably(this.root, this.root.transaction((): SaveResult => {
      // read inside the write transaction, so the comparison and the writes are one atomic step
      if (state.round <= storedRound(this.channels.get([channelId, role, 'round']))) return 'stale';
      this.channels.put([channelId, role, 'round'], String(state.round));
      this.channels.put([channelId, role, 'state'], stateText);
      if (first) {
        this.channels.put([channelId, role, 'params'], paramsText!);
        this.channels.put([channelId, role, 'fsm'], first.fsmIdHash);
        this.index.put(channelId, '');
      }
      this.rounds.put([channelId, role, state.round], stateText);
      return 'saved';
    }));
  }

  async saveRoundForBoth(channelId: ChannelId, state: CoSignedState): Promise<Record<Role, SaveResult>> {
    this.ensureOpen();
    const stateText = encodeState(state);
    return durably(this.root, this.root.transaction(() => {
      const save = (role: Role): SaveResult => {
        if (state.round <= storedRound(this.channels.get([channelId, role, 'round']))) return 'stale';
        this.channels.put([channelId, role, 'round'], String(state.round));
        this.channels.put([channelId, role, 'state'], stateText);
        this.rounds.put([channelId, role, state.round], stateText);
        return 'saved';
      };
      return { initiator: save('initiator'), responder: save('responder') };
    }));
  }

  async load(channelId: ChannelId, role: Role): Promise<StoredChannel | null> {
    this.ensureOpen();
    // synchronous reads in one turn share one read snapshot: no commit lands between them
    const field = (name: Field) => this.channels.get([channelId, role, name]);
    const state = field('state');
    const params = field('params');
    const fsmIdHash = field('fsm');
    if (state === undefined || params === undefined || fsmIdHash === undefined) return null;
    const onchain = field('onchain');
    const proposal = field('proposal');
    return {
      channelId, role, params: decodeParams(params), state: decodeState(state), fsmIdHash,
      onchain: onchain === undefined ? null : decodeOnchain(onchain),
      closed: field('closed') === '1',
      proposal: proposal === undefined ? null : decodeProposal(proposal),
    };
  }

  async saveProposal(channelId: ChannelId, role: Role, proposal: ProposalRecord): Promise<void> {
    await this.put([channelId, role, 'proposal'], encodeProposal(proposal));
  }

  async saveOnchain(channelId: ChannelId, role: Role, kind: OperationKind, state: CoSignedState): Promise<void> {
    await this.put([channelId, role, 'onchain'], encodeOnchain(kind, state));
  }

  async forgetOnchain(channelId: ChannelId, role: Role): Promise<void> {
    this.ensureOpen();
    await durably(this.root, this.channels.remove([channelId, role, 'onchain']));
  }

  async markClosed(channelId: ChannelId, role: Role): Promise<void> {
    await this.put([channelId, role, 'closed'], '1');
  }

  async setFsmIdHash(channelId: ChannelId, role: Role, fsmIdHash: string): Promise<void> {
    await this.put([channelId, role, 'fsm'], fsmIdHash);
  }

  async channelIds(): Promise<ChannelId[]> {
    this.ensureOpen();
    return Array.from(this.index.getKeys());
  }

  async addWatchtowerAction(channelId: ChannelId, role: Role, action: WatchtowerAction): Promise<void> {
    this.ensureOpen();
    const key: FieldKey = [channelId, role, 'watchtower'];
    await durably(this.root, this.root.transaction(() => {
      this.channels.put(key, JSON.stringify([...storedActions(this.channels.get(key)), action]));
    }));
  }

  async dropWatchtowerAction(channelId: ChannelId, role: Role, txHash: string): Promise<void> {
    this.ensureOpen();
    const key: FieldKey = [channelId, role, 'watchtower'];
    await durably(this.root, this.root.transaction(() => {
      const actions = storedActions(this.channels.get(key));
      const kept = actions.filter((action) => action.txHash !== txHash);
      if (kept.length === actions.length) return;
      if (kept.length) this.channels.put(key, JSON.stringify(kept));
      else this.channels.remove(key);
    }));
  }

  async takeWatchtowerActions(channelId: ChannelId, role: Role): Promise<WatchtowerAction[]> {
    this.ensureOpen();
    const key: FieldKey = [channelId, role, 'watchtower'];
    return durably(this.root, this.root.transaction(() => {
      // decoded before the removal: a transaction that throws is not rolled back, and a damaged
      // list must stay where it is rather than vanish
      const actions = storedActions(this.channels.get(key));
      if (actions.length) this.channels.remove(key);
      return actions;
    }));
  }

  async serviceValue(name: string, create: () => string): Promise<string> {
    this.ensureOpen();
    const existing = this.service.get(name);
    if (existing !== undefined) {
      // it may have been committed by a caller whose flush is still under way
      await this.root.flushed;
      return existing;
    }
    const made = create();
    return durably(this.root, this.root.transaction(() => {
      const stored = this.service.get(name);
      if (stored !== undefined) return stored;
      this.service.put(name, made);
      return made;
    }));
  }

  async history(channelId: ChannelId, role: Role, fromRound = 0): Promise<CoSignedState[]> {
    this.ensureOpen();
    const entries = this.rounds.getRange({ start: [channelId, role, fromRound], end: [channelId, role, Number.MAX_SAFE_INTEGER] });
    return Array.from(entries, ({ value }) => decodeState(value));
  }

  /** Waits for this store's writes to be on disk; the environment stays open for its owner to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.flushed;
  }

  private async put(key: FieldKey, value: string): Promise<void> {
    this.ensureOpen();
    await durably(this.root, this.channels.put(key, value));
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreUnavailableError('the channel store is closed');
  }
}

function storedRound(text: string | undefined): number {
  if (text === undefined) return 0;
  const round = Number(text);
  if (!Number.isSafeInteger(round) || round < 0) throw new Error('stored record is damaged: round is not a number');
  return round;
}

function storedActions(text: string | undefined): WatchtowerAction[] {
  if (text === undefined) return [];
  let actions: unknown;
  try {
    actions = JSON.parse(text);
  } catch {
    throw new Error('stored record is damaged: watchtower actions are not JSON');
  }
  if (!Array.isArray(actions)) throw new Error('stored record is damaged: watchtower actions are not a list');
  return actions as WatchtowerAction[];
}
