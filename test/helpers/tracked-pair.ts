/**
 * A channel's two clients as the crash and takeover tests follow them: what each client was told is
 * co-signed (the rounds that must survive any kill) and its fsm_id (to reestablish with).
 */
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { unpackSignedTx } from './accounts.js';
import type { Incoming, TestClient } from './client.js';

export type Role = 'initiator' | 'responder';

export interface Pair {
  id: string;
  port: number;
  accounts: Record<Role, AccountMemory>;
  clients: Record<Role, TestClient>;
  fsmIds: Record<Role, string>;
  /** the highest round each client was told is co-signed */
  reported: Record<Role, number>;
}

export const roundOf = (state: string) => Number((unpackSignedTx(state).encodedTx as { round?: number }).round ?? 1);

/** Follows what a client is told: the rounds reported co-signed, and its fsm_id (what arrived already, and what comes). */
export function track(pair: Pair, role: Role, client: TestClient): void {
  pair.clients[role] = client;
  const see = (m: Incoming) => {
    if (m.method === 'channels.update') pair.reported[role] = Math.max(pair.reported[role], roundOf(m.data.state));
    if (m.method === 'channels.info' && m.data.event === 'fsm_up') pair.fsmIds[role] = m.data.fsm_id;
  };
  client.received.forEach(see);
  const original = client.received.push.bind(client.received);
  client.received.push = (...items) => {
    items.forEach(see);
    return original(...items);
  };
}
