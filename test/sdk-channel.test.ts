/**
 * The published @aeternity/aepp-sdk `Channel` client, unmodified, against the service: the judge of
 * JSON-RPC compatibility. Open, transfers, refusals, abort, proof of inclusion, state, messages,
 * leave and reestablish.
 */
import t from 'tap';
import { AccountMemory, Channel, Tag, unpackTx } from '@aeternity/aepp-sdk';
import { startTestService, type TestService } from './helpers/service.js';
import { NETWORK_ID } from './helpers/accounts.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

type ChannelOptions = Parameters<typeof Channel.initialize>[0];
const signWith = (account: AccountMemory) => (_tag: string, tx: `tx_${string}`) => account.signTransaction(tx, { networkId: NETWORK_ID });
const signTx = (account: AccountMemory) => (tx: `tx_${string}`) => account.signTransaction(tx, { networkId: NETWORK_ID });

function statusReached(channel: Channel, status: string): Promise<void> {
  return new Promise((resolve) => {
    if (channel.status() === status) resolve();
    channel.on('statusChanged', (s) => { if (s === status) resolve(); });
  });
}

t.test('the aepp-sdk Channel client opens, transfers, proves, leaves and reestablishes', async (t) => {
  const [initiator, responder] = await service.fundedAccounts(2, 10n ** 22n);
  const shared = {
    url: service.channelUrl, pushAmount: 1e13, initiatorAmount: 1e21, responderAmount: 5e14, channelReserve: 0,
    port: 33114, lockPeriod: 1, initiatorId: initiator!.address, responderId: responder!.address,
    minimumDepth: 0, minimumDepthStrategy: 'plain',
  } as const;
  const initiatorStatuses: string[] = [];
  const initiatorCh = await Channel.initialize({ ...shared, role: 'initiator', host: 'localhost', sign: signWith(initiator!) } as ChannelOptions);
  initiatorCh.on('statusChanged', (s) => initiatorStatuses.push(s));
  const responderCh = await Channel.initialize({ ...shared, role: 'responder', sign: signWith(responder!) } as ChannelOptions);
  const errors: Error[] = [];
  initiatorCh.on('error', (e) => errors.push(e));
  responderCh.on('error', (e) => errors.push(e));
  t.teardown(() => { initiatorCh.disconnect(); responderCh.disconnect(); });
  await Promise.all([statusReached(initiatorCh, 'open'), statusReached(responderCh, 'open')]);
  t.same(initiatorStatuses, ['accepted', 'signed', 'open']);
  t.equal(initiatorCh.round(), 1);
  t.equal(initiatorCh.id(), responderCh.id());

  const result = await initiatorCh.update(initiator!.address, responder!.address, 1e20, signTx(initiator!));
  t.equal(result.accepted, true);
  t.equal(initiatorCh.round(), 2);
  t.equal(responderCh.round(), 2);
  const balances = await initiatorCh.balances([initiator!.address, responder!.address]);
  t.equal(BigInt(balances[initiator!.address]!), 10n ** 21n - 10n ** 13n - 10n ** 20n, 'exact above 2^53');
  t.equal(BigInt(balances[responder!.address]!), 5n * 10n ** 14n + 10n ** 13n + 10n ** 20n);

  // the published types leave the TreesPoi fields out of the union, hence the casts
  type Poi = { accounts: Array<{ isEqual(o: unknown): boolean; get(k: string): { balance: string } | undefined }> };
  const poi = await initiatorCh.poi({ accounts: [initiator!.address, responder!.address] }) as unknown as Poi;
  const responderPoi = await responderCh.poi({ accounts: [initiator!.address, responder!.address] }) as unknown as Poi;
  t.ok(poi.accounts[0]!.isEqual(responderPoi.accounts[0]!), 'both sides prove the same tree');
  t.equal(poi.accounts[0]!.get(responder!.address)?.balance, balances[responder!.address]!.toString());
  const state = await initiatorCh.state();
  t.equal((state.signedTx as unknown as { encodedTx: { tag: Tag } }).encodedTx.tag, Tag.ChannelOffChainTx);

  await t.rejects(initiatorCh.update(initiator!.address, responder!.address, -10, signTx(initiator!)), /Amount cannot be negative/);
  await t.rejects(initiatorCh.update(initiator!.address, responder!.address, 999e21, signTx(initiator!)), /Insufficient balance/);
  await t.rejects(initiatorCh.update('ak_123' as `ak_${string}`, responder!.address, 1, signTx(initiator!)), /Rejected/);
  t.same(await initiatorCh.update(initiator!.address, responder!.address, 1, async () => 12345), { accepted: false });
  const refused = await initiatorCh.update(initiator!.address, responder!.address, 1, signTx(initiator!));
  t.equal(refused.accepted, true, 'usable after refusals');

  const received = new Promise((resolve) => responderCh.on('message', resolve));
  await initiatorCh.sendMessage('hello world', responder!.address);
  t.same(await received, { channel_id: initiatorCh.id(), from: initiator!.address, to: responder!.address, info: 'hello world' });

  const left = await initiatorCh.leave();
  t.equal(left.channelId, initiatorCh.id());
  t.equal(unpackTx(left.signedTx).tag, Tag.SignedTx);
  const back = await Channel.initialize({
    ...shared, role: 'initiator', host: 'localhost', sign: signWith(initiator!),
    reestablish: true, existingChannelId: left.channelId, existingFsmId: initiatorCh.fsmId(),
  } as ChannelOptions);
  t.teardown(() => back.disconnect());
  await statusReached(back, 'open');
  t.equal(back.round(), 3);
  const after = await back.update(initiator!.address, responder!.address, 100, signTx(initiator!));
  t.equal(after.accepted, true);
  t.equal(back.round(), 4);
  t.equal(responderCh.round(), 4);
  t.same(errors.map((e) => e.message), [], 'no client saw an error');
});
