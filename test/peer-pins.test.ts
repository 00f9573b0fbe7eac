/**
 * Pins across two services (test/helpers/two-services.ts): a proposal from a peer on another service
 * names its block by hash alone (the node's `block_hash`); the receiving service looks it up on its
 * own chain and its FSM judges it by its own bh_delta window, as between two FSMs of one service. Both
 * ways: the initiator's service (B) proposing to the responder's (A), and A to B.
 */
import t, { type Test } from 'tap';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { unpackSignedTx } from './helpers/accounts.js';
import { PROXY_HOST, peerPort, twoServices, type TwoServices } from './helpers/two-services.js';

const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
type Role = 'initiator' | 'responder';
const roles = ['initiator', 'responder'] as const;

/** A key block `back` blocks below the top, once the chain is that high. */
async function blockBelowTop(s: TwoServices, back: number): Promise<string> {
  for (;;) {
    const top = await s.chain.height();
    if (top >= back + 2) return (await s.chain.keyBlockHash(top - back))!;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The round a client's service holds now. */
async function roundOf(c: TestClient): Promise<number> {
  c.send('channels.get.offchain_state', {}, 11);
  const state = await c.next((m) => m.method === 'result' || m.method === 'channels.get.offchain_state');
  return Number((unpackSignedTx(state.data.signed_tx).encodedTx as { round?: number }).round ?? 1);
}

t.test('a proposal from a peer on another service is judged by our own bh_delta window: refused outside it with the reason, taken inside it; both ways', async (t: Test) => {
  const s = await twoServices(t);
  const [x, y] = await s.funded(2);
  const port = peerPort();
  await s.proxy.forward(port);
  const query = channelQuery(x!, y!, port, AMOUNTS);
  const accounts: Record<Role, typeof x> = { initiator: x, responder: y };
  // Blocks come every 50 ms and the receiving side judges a pin against its own top when the proposal
  // arrives, so the windows leave a margin of seconds. The responder on A takes blocks 40 to 80 below
  // its top and pins its own 40 + min(80, 40) = 80 below; the initiator on B takes 0 to 40 below and
  // pins its own to the top. Each service follows the chain on its own poll, so either may lag the
  // chain's top: every pin below is at least 30 blocks (1.5 s) from the edge a lag could push it over.
  const responder = await TestClient.connect(s.a.channelUrl, { ...query, role: 'responder', bh_delta_not_newer_than: 40, bh_delta_not_older_than: 80 }, 'json-rpc', y!);
  await responder.nextMethod('channels.info', 'fsm_up');
  const initiator = await TestClient.connect(s.b.channelUrl, { ...query, role: 'initiator', host: PROXY_HOST, bh_delta_not_older_than: 40 }, 'json-rpc', x!);
  const clients: Record<Role, TestClient> = { initiator, responder };
  await Promise.all(roles.map((r) => clients[r].nextMethod('channels.update', undefined, 30_000)));
  const propose = (from: Role, blockHash?: string) => {
    for (const r of roles) clients[r].mark();
    const to: Role = from === 'initiator' ? 'responder' : 'initiator';
    clients[from].send('channels.update.new', { from: accounts[from]!.address, to: accounts[to]!.address, amount: 1, ...(blockHash && { block_hash: blockHash }) });
  };
  const refused = async (from: Role, reason: string, what: string) => {
    const to: Role = from === 'initiator' ? 'responder' : 'initiator';
    const conflict = await clients[from].nextMethod('channels.conflict', undefined, 20_000);
    t.equal(conflict.data.error_code, 1, `${what}: the ${from}'s client hears the peer refused it as invalid`);
    const error = await clients[to].nextMethod('channels.error', undefined, 20_000);
    t.match(JSON.stringify(error.data), reason, `${what}: the ${to}'s client hears why (${reason})`);
  };
  const taken = async (what: string) => {
    await Promise.all(roles.map((r) => clients[r].nextMethod('channels.update', undefined, 20_000)));
    t.pass(`${what}: co-signed`);
  };

  // B → A: pinned to B's top, newer than 40 below A's
  propose('initiator');
  await refused('initiator', 'block_hash_too_new', 'B pins to its top');
  t.equal(await roundOf(responder), 1, 'nothing changed on A');
  t.equal(await roundOf(initiator), 1, 'nor on B');
  // pinned by hand inside A's window
  propose('initiator', await blockBelowTop(s, 70));
  await taken('B pins 70 below the top');

  // A → B: A's own pick, 80 below its top, is older than B's window allows
  propose('responder');
  await refused('responder', 'block_hash_too_old', 'A pins 80 below the top');
  t.equal(await roundOf(initiator), 2, 'nothing changed on B');
  t.equal(await roundOf(responder), 2, 'nor on A');
  // pinned by hand inside B's window
  propose('responder', await blockBelowTop(s, 30));
  await taken('A pins 30 below the top');
  t.equal(await roundOf(initiator), 3, 'B on round 3');
  t.equal(await roundOf(responder), 3, 'and A');
  for (const r of roles) clients[r].close();
});
