/**
 * Opening a channel over real WebSockets, in both envelopes: the node's message sequence, a real
 * create tx on the dev chain, and the co-signed round 1 in Redis.
 */
import t from 'tap';
import { Tag } from '@aeternity/aepp-sdk';
import { openChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { unpackSignedTx } from './helpers/accounts.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: open follows the node's sequence and lands on chain and in Redis`, async (t) => {
    const ch = await openChannel(service, protocol, { pushAmount: 7n });
    t.same(ch.initiator.sequence(), ['info:fsm_up', 'info:channel_accept', 'channels.sign.initiator_sign', 'info:funding_signed',
      'on_chain_tx:funding_signed', 'on_chain_tx:channel_changed', 'info:own_funding_locked', 'info:funding_locked', 'info:open', 'channels.update']);
    t.same(ch.responder.sequence(), ['info:fsm_up', 'info:channel_open', 'info:funding_created', 'channels.sign.responder_sign',
      'on_chain_tx:funding_created', 'on_chain_tx:channel_changed', 'info:own_funding_locked', 'info:funding_locked', 'info:open', 'channels.update']);
    t.match(ch.channelId, /^ch_/);
    t.match(ch.fsmIds.initiator, /^ba_/);

    const state = ch.initiator.received.at(-1)!.data.state as string;
    const signed = unpackSignedTx(state);
    t.equal(signed.encodedTx.tag, Tag.ChannelCreateTx);
    t.equal(signed.signatures.length, 2);
    t.equal(ch.responder.received.at(-1)!.data.state, state, 'both hold the same co-signed create tx');

    const onChain = (service.chain as any).channel(ch.channelId);
    t.ok(onChain, 'the channel object exists on the dev chain');
    t.equal(onChain.amount, 2n * 10n ** 21n);

    for (const role of ['initiator', 'responder'] as const) {
      const stored = await service.store.load(ch.channelId as any, role);
      t.equal(stored?.state.round, 1, `${role} round 1 persisted`);
      t.equal(stored?.state.signedTx, state);
      t.equal(stored?.state.balances.initiator, 10n ** 21n - 7n, 'the push is in the state');
    }
    ch.initiator.close();
    ch.responder.close();
  });
}
