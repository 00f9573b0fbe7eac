/**
 * Crashes: the service runs as its own process and is killed with SIGKILL at random moments while
 * several channels stream transfers, many times in a row, once on each store (embedded and Redis).
 * After each restart every round any client was told is co-signed is in the store, the two participants' latest rounds differ by at most the one in
 * flight, both reestablish (the one behind catches up), and the next transfer is exactly the next
 * round: nothing lost, nothing applied twice.
 */
import t, { type Test } from 'tap';
import { channelQuery } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { startServiceProcess } from './helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from './helpers/service.js';
import { testStorage, type StoreKind, type TestStorage } from './helpers/storage.js';
import { recordSummary } from './helpers/summary.js';
import { roundOf, track, type Pair, type Role } from './helpers/tracked-pair.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 8);
const CHANNELS = 3;

/** Transfers back and forth until the socket goes (the kill). */
async function stream(pair: Pair): Promise<void> {
  for (let n = 0; ; n++) {
    const [from, to]: [Role, Role] = n % 2 ? ['responder', 'initiator'] : ['initiator', 'responder'];
    const sender = pair.clients[from];
    if (sender.closed) return;
    sender.send('channels.update.new', { from: pair.accounts[from].address, to: pair.accounts[to].address, amount: 1 });
    try {
      await Promise.all([from, to].map((r) => pair.clients[r as Role].next((m) => m.method === 'channels.update' || m.method === 'channels.conflict' || m.method === 'error', 5000)));
    } catch {
      return;
    }
  }
}

/** Each side's latest stored round, read the way the service reads it (while the service is down). */
async function storedRounds(storage: TestStorage, ids: string[]): Promise<Array<Record<Role, number>>> {
  const { store, close } = await storage.open();
  try {
    return await Promise.all(ids.map(async (id) => {
      const [i, r] = await Promise.all((['initiator', 'responder'] as const).map((role) => store.load(id as `ch_${string}`, role)));
      return { initiator: i?.state.round ?? 0, responder: r?.state.round ?? 0 };
    }));
  } finally {
    await close();
  }
}

for (const kind of ['embedded', 'redis'] as StoreKind[]) {
  t.test(`${kind} store: SIGKILL at random moments, ${KILLS} times: no co-signed round is lost or applied twice`, (t) => killUnderTraffic(t, kind));
}

async function killUnderTraffic(t: Test, kind: StoreKind): Promise<void> {
  const first = await startServiceProcess({ direct: true, built: true, storage: testStorage(kind) });
  const same = { wsPort: first.wsPort, httpPort: first.httpPort, storage: first.storage };
  let proc = first;
  t.teardown(() => proc.stop());
  const aeSdk = genesisSdk(proc.nodeUrl);

  const pairs: Pair[] = [];
  for (let c = 0; c < CHANNELS; c++) {
    const [initiator, responder] = await fundFromGenesis(aeSdk, 2);
    const accounts = { initiator: initiator!, responder: responder! };
    const port = 6000 + c;
    const query = channelQuery(accounts.initiator, accounts.responder, port);
    const pair = { id: '', port, accounts, clients: {}, fsmIds: {}, reported: { initiator: 0, responder: 0 } } as unknown as Pair;
    track(pair, 'initiator', await TestClient.connect(proc.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', accounts.initiator));
    track(pair, 'responder', await TestClient.connect(proc.channelUrl, { ...query, role: 'responder' }, 'json-rpc', accounts.responder));
    const open = await pair.clients.initiator.nextMethod('channels.info', 'open');
    await Promise.all([pair.clients.initiator.nextMethod('channels.update'), pair.clients.responder.nextMethod('channels.update')]);
    pair.id = open.frame.params.channel_id;
    pairs.push(pair);
  }

  let lost = 0;
  let survived = 0;
  for (let kill = 1; kill <= KILLS; kill++) {
    const traffic = pairs.map(stream);
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 400)));
    await proc.kill();
    await Promise.all(traffic);

    const storedNow = await storedRounds(proc.storage, pairs.map((p) => p.id));
    for (const [index, pair] of pairs.entries()) {
      const stored = storedNow[index]!;
      for (const role of ['initiator', 'responder'] as const) {
        if (stored[role] < pair.reported[role]) lost += pair.reported[role] - stored[role];
      }
      t.ok(Math.abs(stored.initiator - stored.responder) <= 1, `kill ${kill}: the two sides are at most a round apart (${stored.initiator}/${stored.responder})`);
    }

    proc = await startServiceProcess({ direct: true, built: true, reuse: same });
    for (const [index, pair] of pairs.entries()) {
      const stored = storedNow[index]!;
      const expected = Math.max(stored.initiator, stored.responder);
      // the responder listens first, then the initiator comes back
      track(pair, 'responder', await TestClient.connect(proc.channelUrl, { role: 'responder', port: pair.port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds.responder }, 'json-rpc', pair.accounts.responder));
      await pair.clients.responder.nextMethod('channels.info', 'fsm_up');
      track(pair, 'initiator', await TestClient.connect(proc.channelUrl, { role: 'initiator', host: 'localhost', port: pair.port, existing_channel_id: pair.id, existing_fsm_id: pair.fsmIds.initiator }, 'json-rpc', pair.accounts.initiator));
      const [a, b] = await Promise.all([pair.clients.initiator.nextMethod('channels.update'), pair.clients.responder.nextMethod('channels.update')]);
      t.equal(roundOf(a.data.state), expected, `kill ${kill}: reestablished on round ${expected}`);
      t.equal(roundOf(b.data.state), expected);
      pair.clients.initiator.send('channels.update.new', { from: pair.accounts.initiator.address, to: pair.accounts.responder.address, amount: 1 });
      const [next] = await Promise.all([pair.clients.initiator.nextMethod('channels.update'), pair.clients.responder.nextMethod('channels.update')]);
      t.equal(roundOf(next.data.state), expected + 1, 'the next transfer is exactly the next round');
    }
    survived++;
  }
  t.equal(lost, 0, 'no round any client was told is co-signed was lost');
  recordSummary('kills survived', survived);
  recordSummary('rounds lost', lost);
  for (const pair of pairs) { pair.clients.initiator.close(); pair.clients.responder.close(); }
}
