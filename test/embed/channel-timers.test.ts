/**
 * The FSM's timers hold for in-process participants as for socket clients: a co-signature that takes
 * longer than `timeoutSign` ends the update with the node's conflict (code 3, "timeout") on both
 * sides, both stay on the last co-signed round, and the late answer is refused.
 */
import t from 'tap';
import { NETWORK_ID } from '../helpers/accounts.js';
import { cleanup, fund, reaches, startTestEmbedded } from '../helpers/embedded.js';
import { testStorage } from '../helpers/storage.js';

type Tx = `tx_${string}`;

const storage = testStorage();
const embedded = await startTestEmbedded(storage);
t.teardown(async () => { await embedded.stop(); await cleanup(storage); });

t.test('a sign slower than timeoutSign: conflict 3 for the proposer, both stay on their round', async (t) => {
  const [a, b] = await fund(embedded.nodeUrl, 2);
  const shared = {
    initiatorId: a!.address, responderId: b!.address, initiatorAmount: 10n ** 21n, responderAmount: 10n ** 21n, channelReserve: 10n ** 18n,
    lockPeriod: 10, port: 40_000 + Math.floor(Math.random() * 20_000), minimumDepth: 0, minimumDepthStrategy: 'plain' as const, timeoutSign: 300,
  };
  let slow = false;
  const sign = (account: typeof a) => async (tx: Tx) => account!.signTransaction(tx, { networkId: NETWORK_ID });
  const initiator = await embedded.channel({ ...shared, role: 'initiator', host: 'localhost', sign: (_tag, tx) => sign(a)(tx) });
  const responder = await embedded.channel({
    ...shared, role: 'responder',
    sign: async (_tag, tx) => { if (slow) await new Promise((resolve) => setTimeout(resolve, 1_000)); return sign(b)(tx); },
  });
  const errors: Error[] = [];
  responder.on('error', (err) => errors.push(err));
  await Promise.all([reaches(initiator, 'open'), reaches(responder, 'open')]);
  slow = true;
  t.same(await initiator.update(a!.address, b!.address, 10, sign(a)), { accepted: false, errorCode: 3, errorMessage: 'timeout' });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.equal(initiator.round(), 1);
  t.equal(responder.round(), 1);
  t.ok(errors.length > 0, 'the late co-signature is refused (an error event, as the SDK emits for a frame it does not expect)');
  slow = false;
  t.equal((await initiator.update(a!.address, b!.address, 10, sign(a))).accepted, true, 'the channel goes on');
  initiator.disconnect();
  responder.disconnect();
});
