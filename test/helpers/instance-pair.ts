/**
 * A channel's two clients at service instances sharing one store (the lease tests): opened at one
 * instance, transferring, and reestablished at another, each client followed by tracked-pair.ts.
 */
import type { Test } from 'tap';
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { channelQuery } from './channel.js';
import { TestClient } from './client.js';
import type { ServiceProcess } from './process-service.js';
import { roundOf, track, type Pair, type Role } from './tracked-pair.js';

export const ROLES = ['initiator', 'responder'] as const;

let nextPort = 30_000 + Math.floor(Math.random() * 10_000);

/** A new channel at `service`, both clients there (the initiator pairs in-process), open and co-signed. */
export async function openPair(service: ServiceProcess, accounts: AccountMemory[]): Promise<Pair> {
  const [initiator, responder] = accounts as [AccountMemory, AccountMemory];
  const port = nextPort++;
  const query = channelQuery(initiator, responder, port);
  const pair = { port, accounts: { initiator, responder }, clients: {}, fsmIds: {}, reported: { initiator: 0, responder: 0 } } as unknown as Pair;
  track(pair, 'initiator', await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', initiator));
  track(pair, 'responder', await TestClient.connect(service.channelUrl, { ...query, role: 'responder' }, 'json-rpc', responder));
  const open = await pair.clients.initiator.nextMethod('channels.info', 'open', 30_000);
  await Promise.all(ROLES.map((role) => pair.clients[role].nextMethod('channels.update', undefined, 30_000)));
  pair.id = open.frame.params.channel_id;
  return pair;
}

/** One transfer of 1 (the initiator pays when `n` is even, the responder when odd); its round. Throws when refused. */
export async function transfer(pair: Pair, n: number): Promise<number> {
  const [from, to]: [Role, Role] = n % 2 ? ['responder', 'initiator'] : ['initiator', 'responder'];
  pair.clients[from].send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount: 1 });
  const answers = await Promise.all(ROLES.map((role) => pair.clients[role].next((m) => ['channels.update', 'channels.conflict', 'error'].includes(m.method), 20_000)));
  const refused = answers.find((m) => m.method !== 'channels.update');
  if (refused) {
    await Promise.all(ROLES.map((role) => pair.clients[role].quiet()));
    throw new Error(`the transfer was refused: ${ROLES.map((role) => JSON.stringify(pair.clients[role].received.slice(-3).map((m) => m.frame))).join('\n')}`);
  }
  return roundOf(answers[0]!.data.state);
}

/**
 * Reestablishes one participant at `service`, again and again while it is refused because another
 * instance holds the FSM; every refusal is checked to be that one, naming `owner`. How many refusals.
 */
export async function reestablish(t: Test, service: ServiceProcess, pair: Pair, role: Role, owner: string): Promise<number> {
  let refusals = 0;
  for (let attempt = 0; attempt < 200; attempt++) {
    const query = {
      role, port: pair.port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds[role], ...(role === 'initiator' && { host: 'localhost' }),
    };
    const client = await TestClient.connect(service.channelUrl, query, 'json-rpc', pair.accounts[role]);
    const first = await client.next((m) => (m.method === 'channels.info' && m.data.event === 'fsm_up') || m.method === 'error', 20_000);
    if (first.method !== 'error') {
      track(pair, role, client);
      return refusals;
    }
    const text = JSON.stringify(first.frame);
    // fsm_owned_elsewhere: JSON-RPC names it by its code
    if (refusals === 0) t.match(text, new RegExp(`"code":3012.*hosted by the service instance ${owner}`), `${role}: refused while instance ${owner} holds the FSM, naming it`);
    if (!text.includes('"code":3012')) throw new Error(`refused for another reason: ${text}`);
    refusals++;
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${role} was never served`);
}

export const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
