/**
 * The unmodified aepp-sdk `Channel` on both sides of a channel between two services (test/helpers/
 * two-services.ts): the responder's on A, the initiator's on B naming A's peer port through a proxy.
 * Open, transfers both ways, a message, leave and reestablish, mutual close: what the SDK does
 * against a pair of Aeternity nodes.
 */
import t from 'tap';
import { AccountMemory, Channel, Tag } from '../lib/sdk.js';
import { NETWORK_ID, unpackSignedTx } from './helpers/accounts.js';
import { PROXY_HOST, peerPort, twoServices } from './helpers/two-services.js';

type Tx = `tx_${string}`;
type Options = Parameters<typeof Channel.initialize>[0];

function status(channel: Channel, wanted: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never ${wanted}`)), timeoutMs);
    channel.on('statusChanged', (s) => { if (s === wanted) { clearTimeout(timer); resolve(); } });
  });
}

t.test('the SDK Channel on two services: open, transfers both ways, a message, leave and reestablish, mutual close', async (t) => {
  const s = await twoServices(t);
  const [initiator, responder] = await s.funded(2, 3n * 10n ** 15n) as [AccountMemory, AccountMemory];
  const port = peerPort();
  await s.proxy.forward(port);
  const signer = (account: AccountMemory) => async (tx: Tx) => account.signTransaction(tx, { networkId: NETWORK_ID });
  const signWith = (account: AccountMemory) => async (_tag: string, tx: Tx) => signer(account)(tx);
  const shared = {
    pushAmount: 0, initiatorAmount: 5e14, responderAmount: 5e14, channelReserve: 0, port,
    lockPeriod: 1, initiatorId: initiator.address, responderId: responder.address, minimumDepth: 0, minimumDepthStrategy: 'plain',
  };
  const responderCh = await Channel.initialize({ ...shared, url: s.a.channelUrl, role: 'responder', sign: signWith(responder) } as unknown as Options);
  const rOpen = status(responderCh, 'open');
  let initiatorCh = await Channel.initialize({ ...shared, url: s.b.channelUrl, role: 'initiator', host: PROXY_HOST, sign: signWith(initiator) } as unknown as Options);
  await Promise.all([status(initiatorCh, 'open'), rOpen]);
  t.teardown(() => { initiatorCh.disconnect(); responderCh.disconnect(); });
  t.equal(initiatorCh.id(), responderCh.id(), 'one channel');
  t.equal(initiatorCh.round(), 1);
  t.equal(responderCh.round(), 1);

  const one = await initiatorCh.update(initiator.address, responder.address, 100, signer(initiator));
  t.equal(one.accepted, true, 'a transfer proposed by the initiator on B, co-signed on A');
  const two = await responderCh.update(responder.address, initiator.address, 7, signer(responder));
  t.equal(two.accepted, true, 'a transfer proposed by the responder on A');
  t.equal(initiatorCh.round(), 3);
  t.equal(responderCh.round(), 3);
  const poi = { accounts: [initiator.address, responder.address] };
  t.same(await initiatorCh.poi(poi), await responderCh.poi(poi), 'the same state on both services');

  const message = new Promise((resolve) => responderCh.on('message', resolve));
  await initiatorCh.sendMessage('hello across', responder.address);
  t.same(await message, { channel_id: initiatorCh.id(), from: initiator.address, to: responder.address, info: 'hello across' });

  const left = await initiatorCh.leave();
  t.match(left.signedTx, /^tx_/, 'left with the latest state');
  initiatorCh = await Channel.initialize({
    ...shared, url: s.b.channelUrl, role: 'initiator', host: PROXY_HOST, sign: signWith(initiator),
    reestablish: true, existingChannelId: left.channelId, existingFsmId: initiatorCh.fsmId(),
  } as unknown as Options);
  await status(initiatorCh, 'open');
  t.equal(initiatorCh.round(), 3, 'reestablished on the round it left');
  const three = await initiatorCh.update(initiator.address, responder.address, 1000, signer(initiator));
  t.equal(three.accepted, true, 'transfers after the reestablish');
  t.equal(responderCh.round(), 4);

  const balances = await responderCh.balances([initiator.address, responder.address]);
  t.same(balances, await initiatorCh.balances([initiator.address, responder.address]), 'the same balances on both services');
  t.equal(BigInt(balances[responder.address]!), 5n * 10n ** 14n + 100n - 7n + 1000n, 'every transfer counted once');

  const closeTx = await initiatorCh.shutdown(signer(initiator));
  const close = unpackSignedTx(closeTx).encodedTx;
  t.equal(close.tag, Tag.ChannelCloseMutualTx, 'a mutual close co-signed across the services');
  t.equal(BigInt(close.initiatorAmountFinal as string) + BigInt(close.responderAmountFinal as string) + BigInt(close.fee as string), 10n ** 15n, 'the whole channel paid out');
});
