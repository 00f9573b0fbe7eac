/**
 * In-process participants get what socket clients get from the service: their FSMs hibernate when
 * idle and wake on the next request, the watchtower is named as delegate when asked for, a client that
 * goes away without leaving reconnects to its live FSM. An operation started from a `stateChanged` listener (a backend's reaction to a
 * payment) waits for the frame being handled and then runs.
 */
import t from 'tap';
import type { AccountMemory } from '@aeternity/aepp-sdk';
import type { EmbeddedChannel, EmbeddedChannelOptions } from '../../lib/embed/channel.js';
import { NETWORK_ID } from '../helpers/accounts.js';
import { cleanup, fund, reaches, startTestEmbedded } from '../helpers/embedded.js';
import { testStorage } from '../helpers/storage.js';

type Tx = `tx_${string}`;
let nextPort = 50_000 + Math.floor(Math.random() * 10_000);

const storage = testStorage();
const embedded = await startTestEmbedded(storage, { limits: { hibernateAfterMs: 100 } });
t.teardown(async () => { await embedded.stop(); await cleanup(storage); });

const signer = (account: AccountMemory) => async (tx: Tx) => account.signTransaction(tx, { networkId: NETWORK_ID });

async function pair(extra: Partial<EmbeddedChannelOptions> = {}) {
  const [a, b] = await fund(embedded.nodeUrl, 2);
  const shared = {
    initiatorId: a!.address, responderId: b!.address, initiatorAmount: 10n ** 21n, responderAmount: 10n ** 21n,
    channelReserve: 10n ** 18n, lockPeriod: 10, port: nextPort++, minimumDepth: 0, minimumDepthStrategy: 'plain' as const, ...extra,
  };
  const initiator = await embedded.channel({ ...shared, role: 'initiator', host: 'localhost', sign: (_tag, tx) => signer(a!)(tx) });
  const responder = await embedded.channel({ ...shared, role: 'responder', sign: (_tag, tx) => signer(b!)(tx) });
  await Promise.all([reaches(initiator, 'open'), reaches(responder, 'open')]);
  return { a: a!, b: b!, initiator, responder, shared };
}

const sessionsOf = (channel: EmbeddedChannel) => embedded.service.registry.all().filter((s) => s.channelId === channel.id());

t.test('idle in-process FSMs hibernate and wake on the next update', async (t) => {
  const { a, b, initiator, responder } = await pair();
  const deadline = Date.now() + 5_000;
  while (!sessionsOf(initiator).every((s) => s.asleep) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.same(sessionsOf(initiator).map((s) => s.asleep), [true, true], 'both FSMs sleep');
  t.equal((await initiator.update(a.address, b.address, 10, signer(a))).accepted, true);
  t.equal(responder.round(), 2);
  initiator.disconnect();
  responder.disconnect();
});

t.test('the watchtower is named as delegate; a client that goes away reconnects to its live FSM', async (t) => {
  const { a, b, initiator, responder, shared } = await pair({ watchtower: true });
  const onchain = await embedded.service.chain.channel(initiator.id());
  t.same(onchain?.delegates, { initiator: [embedded.watchtowerAddress], responder: [embedded.watchtowerAddress] });
  const ids = { channelId: initiator.id(), fsmId: initiator.fsmId() };
  initiator.disconnect();
  t.equal(initiator.status(), 'disconnected');
  const back = await embedded.channel({ ...shared, role: 'initiator', host: 'localhost', sign: (_tag, tx) => signer(a)(tx), existingChannelId: ids.channelId, existingFsmId: ids.fsmId });
  await reaches(back, 'open');
  t.equal(back.fsmId(), ids.fsmId, 'the same FSM, the same fsm_id');
  t.equal(back.round(), 1, 'the state caught up with get.offchain_state');
  t.equal((await back.update(a.address, b.address, 10, signer(a))).accepted, true);
  back.disconnect();
  responder.disconnect();
});

t.test('an update started from a stateChanged listener runs after the frame being handled', async (t) => {
  const { a, b, initiator, responder } = await pair();
  const refund = new Promise<{ accepted: boolean }>((resolve) => {
    let done = false;
    responder.on('stateChanged', () => {
      if (done) return;
      done = true;
      void responder.update(b.address, a.address, 7, signer(b)).then(resolve);
    });
  });
  t.equal((await initiator.update(a.address, b.address, 10, signer(a))).accepted, true);
  t.equal((await refund).accepted, true);
  t.equal(initiator.round(), 3);
  t.same(await initiator.balances([a.address]), { [a.address]: String(10n ** 21n - 3n) });
  initiator.disconnect();
  responder.disconnect();
});
