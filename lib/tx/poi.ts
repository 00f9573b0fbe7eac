/**
 * Reading a proof of inclusion (`pi_…`): the balances it proves for the two participants, and the
 * state hash it proves them in. Used where balances must be learnt from a client rather than
 * trusted: a solo close or slash on the dev chain, and a channel recovered after its records were lost.
 */
import { encode, Encoding, EntryTag, unpackEntry } from '../sdk.js';
import type { AccountId, Balances, StateHash } from '../../fsm/types.js';
import { stateHash } from './state-trees.js';

type AccountsTree = { serialize(): [Buffer, unknown]; get(key: string): { balance: string | bigint } | undefined };

export type PoiReading =
  | { ok: true; stateHash: StateHash; balances: Balances | null }
  | { ok: false; why: 'poi does not decode' | 'poi has no accounts' };

/** The state hash a PoI proves and the two participants' balances in it (null when it lacks either account). */
export function readPoi(poi: unknown, initiator: AccountId, responder: AccountId): PoiReading {
  let trees: { accounts: AccountsTree[] };
  try {
    trees = (typeof poi === 'string' ? unpackEntry(poi as `pi_${string}`, EntryTag.TreesPoi) : poi) as typeof trees;
  } catch {
    return { ok: false, why: 'poi does not decode' };
  }
  const accounts = trees?.accounts?.[0];
  if (!accounts) return { ok: false, why: 'poi has no accounts' };
  const root = accounts.serialize()[0];
  const proven = encode(stateHash({ root, nodes: new Map() }), Encoding.State) as StateHash;
  const i = accounts.get(initiator);
  const r = accounts.get(responder);
  return { ok: true, stateHash: proven, balances: i && r ? { initiator: BigInt(i.balance), responder: BigInt(r.balance) } : null };
}
