/**
 * How channel parameters and co-signed states are written down: JSON with amounts as decimal
 * strings, checked against schemas/stored-*.schema.json on the way back in so a damaged record is
 * noticed instead of trusted.
 */
import type { ChannelParams, CoSignedState, OffchainUpdate, OperationKind, ProposalRecord } from '../../fsm/types.js';
import { describeErrors, validator } from '../schemas.js';

type Stored<T> = { [K in keyof T]: T[K] extends bigint ? string : T[K] extends object ? Stored<T[K]> : T[K] };

export function encodeParams(p: ChannelParams): string {
  return JSON.stringify(p, bigintsAsStrings);
}

export function encodeState(s: CoSignedState): string {
  return JSON.stringify(s, bigintsAsStrings);
}

export function decodeParams(text: string): ChannelParams {
  const raw = checked<Stored<ChannelParams>>('stored-params.schema.json', JSON.parse(text));
  return {
    ...raw,
    initiatorAmount: BigInt(raw.initiatorAmount),
    responderAmount: BigInt(raw.responderAmount),
    pushAmount: BigInt(raw.pushAmount),
    channelReserve: BigInt(raw.channelReserve),
    lockPeriod: BigInt(raw.lockPeriod),
  } as ChannelParams;
}

export function decodeState(text: string): CoSignedState {
  return fromStoredState(checked<StoredState>('stored-state.schema.json', JSON.parse(text)));
}

/** A pending on-chain tx: {kind, state}, the state written as encodeState writes it. */
export function encodeOnchain(kind: OperationKind, state: CoSignedState): string {
  return JSON.stringify({ kind, state }, bigintsAsStrings);
}

/** A pending on-chain tx: {kind, state}, the state stored as decodeState reads it. */
export function decodeOnchain(text: string): { kind: OperationKind; state: CoSignedState } {
  const raw = JSON.parse(text) as { kind: OperationKind; state: unknown };
  if (!['deposit', 'withdraw', 'shutdown'].includes(raw.kind)) throw new Error('stored record is damaged: unknown on-chain kind');
  return { kind: raw.kind, state: fromStoredState(checked<StoredState>('stored-state.schema.json', raw.state)) };
}

/** Our own off-chain proposal, written before it goes to a peer on another service. */
export function encodeProposal(proposal: ProposalRecord): string {
  return JSON.stringify({ round: proposal.round, updates: proposal.updates }, bigintsAsStrings);
}

export function decodeProposal(text: string): ProposalRecord {
  const raw = checked<{ round: number; updates: Array<Record<string, string>> }>('stored-proposal.schema.json', JSON.parse(text));
  return { round: raw.round, updates: raw.updates.map(fromStoredUpdate) };
}

const fromStoredUpdate = (u: Record<string, string>): OffchainUpdate => ('amount' in u ? { ...u, amount: BigInt(u.amount!) } : u) as unknown as OffchainUpdate;

type StoredState = Stored<CoSignedState> & { updates: Array<Record<string, string>> };

function fromStoredState(raw: StoredState): CoSignedState {
  return {
    ...raw,
    balances: { initiator: BigInt(raw.balances.initiator), responder: BigInt(raw.balances.responder) },
    updates: raw.updates.map(fromStoredUpdate),
  } as CoSignedState;
}

function bigintsAsStrings(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function checked<T>(schema: string, value: unknown): T {
  const validate = validator<T>(schema);
  if (!validate(value)) throw new Error(`stored record is damaged: ${describeErrors(validate.errors)}`);
  return value;
}
