/**
 * Everything the service knows survives a restart, on each store: the channels and the embedded dev
 * chain they live on. After the service stops and starts again on the same storage, the chain's
 * height, balances, channel object and tx lookups answer as before, and the reestablished channel
 * transfers, deposits, withdraws and closes on chain.
 */
import t from 'tap';
import { openChannel } from './helpers/channel.js';
import { TestClient } from './helpers/client.js';
import { startTestService, testConfig } from './helpers/service.js';
import { testStorage, type StoreKind } from './helpers/storage.js';
import { unpackSignedTx } from './helpers/accounts.js';

const getJson = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() as Record<string, any> };
};

for (const kind of ['embedded', 'redis'] as StoreKind[]) {
  t.test(`${kind} store: a restart loses nothing, and the channel goes on on chain`, async (t) => {
    const config = testConfig({}, testStorage(kind));
    let service = await startTestService({}, config);
    const ch = await openChannel(service, 'json-rpc');
    const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1000 });
    const [latest] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    const createTx = ch.initiator.received.find((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'funding_created')?.data.tx
      ?? ch.responder.received.find((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'funding_created')!.data.tx;
    const { buildTxHash } = await import('../lib/sdk.js');
    const createHash = buildTxHash(createTx);
    const before = {
      height: (await getJson(`${service.nodeUrl}/v3/key-blocks/current/height`)).body.height,
      initiator: (await getJson(`${service.nodeUrl}/v3/accounts/${i}`)).body,
      channel: (await getJson(`${service.nodeUrl}/v3/channels/${ch.channelId}`)).body,
      tx: (await getJson(`${service.nodeUrl}/v3/transactions/${createHash}`)).body,
    };
    ch.initiator.close(); ch.responder.close();
    await service.stop();

    service = await startTestService({}, config);
    t.teardown(async () => { await service.stop(); await service.cleanup(); });
    const height = (await getJson(`${service.nodeUrl}/v3/key-blocks/current/height`)).body.height;
    t.ok(height >= before.height, `the chain goes on from its height (${before.height} → ${height})`);
    t.same((await getJson(`${service.nodeUrl}/v3/accounts/${i}`)).body, before.initiator, 'the account as it was');
    t.same((await getJson(`${service.nodeUrl}/v3/channels/${ch.channelId}`)).body, before.channel, 'the channel object as it was');
    t.same((await getJson(`${service.nodeUrl}/v3/transactions/${createHash}`)).body, before.tx, 'the create tx is found as before');

    const back = (role: 'initiator' | 'responder') => TestClient.connect(service.channelUrl, {
      role, port: ch.port, ...(role === 'initiator' && { host: 'localhost' }), existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds[role],
    }, 'json-rpc', role === 'initiator' ? ch.initiatorAccount : ch.responderAccount);
    const responder = await back('responder');
    await responder.nextMethod('channels.info', 'fsm_up');
    const initiator = await back('initiator');
    const [a] = await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
    t.equal(a.data.state, latest.data.state, 'reestablished on the latest round');

    initiator.send('channels.update.new', { from: i, to: r, amount: 1 });
    await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
    initiator.send('channels.deposit', { amount: 10n ** 20n });
    await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
    responder.send('channels.withdraw', { amount: 10n ** 19n });
    const [w] = await Promise.all([responder.nextMethod('channels.update'), initiator.nextMethod('channels.update')]);
    t.equal(Number(unpackSignedTx(w.data.state).encodedTx.round), 5, 'transfer, deposit and withdraw: rounds 3 to 5');
    const onchain = (await getJson(`${service.nodeUrl}/v3/channels/${ch.channelId}`)).body;
    t.equal(BigInt(onchain.channel_amount), 2n * 10n ** 21n + 10n ** 20n - 10n ** 19n, 'the chain moved the coins');
    t.equal(onchain.round, 5);

    responder.send('channels.shutdown');
    await Promise.all([initiator.nextMethod('channels.info', 'died'), responder.nextMethod('channels.info', 'died')]);
    t.equal((await getJson(`${service.nodeUrl}/v3/channels/${ch.channelId}`)).status, 404, 'closed on chain');
    await Promise.all([initiator.closedAndDone(), responder.closedAndDone()]);
  });
}
