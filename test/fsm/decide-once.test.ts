/**
 * Each protocol step decides once: the tx a step implies is built, and every signature on it checked,
 * once per event, however many guards and actions of the transition read the decision.
 */
import t from 'tap';
import type { TxKit } from '../../fsm/types.js';
import { kit, pair } from './pair.js';

t.test('a transfer builds its round tx once on each side and checks each signature once', async (t) => {
  const counts = { roundTx: 0, checkSigned: 0 };
  const counting: TxKit = {
    ...kit,
    roundTx: (...args) => { counts.roundTx += 1; return kit.roundTx(...args); },
    checkSigned: (...args) => { counts.checkSigned += 1; return kit.checkSigned(...args); },
  };
  const p = pair({ kit: counting });
  t.teardown(p.stop);
  await p.open();
  counts.roundTx = 0;
  counts.checkSigned = 0;
  p.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: p.accounts.initiator.address, to: p.accounts.responder.address, amount: 1n, meta: [] });
  await p.run();
  t.equal(p.responder.round(), 2);
  t.equal(counts.roundTx, 2, 'the proposer builds the tx, the peer rebuilds it to check it: once each');
  // proposer: its client's signature, the peer's co-signature; peer: the proposer's signature, whether
  // it already carries ours (a backchannel co-signature), its client's signature
  t.equal(counts.checkSigned, 5);
});
