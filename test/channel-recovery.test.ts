/**
 * Recovering a channel after the service lost its records (its data directory deleted), as µRaiden
 * re-syncs from the chain: each client reestablishes with the latest co-signed state it holds
 * (`offchain_tx`) and a proof of inclusion of the balances in it (`offchain_poi`). The chain outlives
 * the service here (an external dev chain reached through its node HTTP API), as a real network does.
 * Everything that does not check out is refused with its reason and stores nothing.
 */
import t from 'tap';
import { openChannel, poiNow, type OpenedChannel } from './helpers/channel.js';
import { TestClient, type Protocol } from './helpers/client.js';
import { externalChain } from './helpers/external-chain.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';
import { unpackSignedTx } from './helpers/accounts.js';
import { unpackSigned, wrapSigned } from '../lib/tx/channel-kit.js';

type Role = 'initiator' | 'responder';

async function transfer(ch: { initiator: TestClient; responder: TestClient }, from: string, to: string, amount: number): Promise<string> {
  ch.initiator.send('channels.update.new', { from, to, amount });
  const [a] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  return a.data.state as string;
}


function recover(service: TestService, ch: OpenedChannel, role: Role, protocol: Protocol, extra: Record<string, string>): Promise<TestClient> {
  return TestClient.connect(service.channelUrl, {
    role, port: ch.port, ...(role === 'initiator' && { host: 'localhost' }),
    existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds[role], minimum_depth: 0, minimum_depth_strategy: 'plain', ...extra,
  }, protocol, role === 'initiator' ? ch.initiatorAccount : ch.responderAccount);
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: the data directory is lost; both clients bring their latest state and the channel goes on`, async (t) => {
    const external = await externalChain(t);
    const config = testConfig({ chain: { nodeUrl: external.url, pollMs: 20 } });
    let service = await startTestService({}, config);
    const ch = await openChannel(service, protocol);
    const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
    await transfer(ch, i, r, 1000);
    const latest = await transfer(ch, i, r, 234);
    const older = await poiNow(ch.initiator, ch);
    const olderState = latest;
    const newest = await transfer(ch, r, i, 34);
    const poi = await poiNow(ch.initiator, ch);
    ch.initiator.close(); ch.responder.close();
    await service.stop();
    await service.cleanup(); // the data directory is gone; the chain is not

    service = await startTestService({}, config);
    t.teardown(async () => { await service.stop(); await service.cleanup(); });

    const refusal = async (role: Role, extra: Record<string, string>) => {
      const client = await recover(service, ch, role, protocol, extra);
      const e = await client.nextMethod('error');
      await client.closedAndDone();
      return protocol === 'json-rpc' ? `${e.data.data[0].code} ${e.data.data[0].message} ${e.data.data[0].detail}` : `${e.data.reason} ${JSON.stringify(e.data)}`;
    };
    t.match(await refusal('responder', {}), /not known here.*offchain_tx/, 'without offchain_tx: not known, and how to recover');
    t.match(await refusal('responder', { offchain_tx: 'tx_garbage' }), /1010|broken_encoding_transaction/, 'garbage');
    const { encodedTx, signatures } = unpackSigned(newest)!;
    t.match(await refusal('responder', { offchain_tx: wrapSigned(encodedTx, signatures.slice(0, 1)), offchain_poi: poi }), /1017|bad_signature/, 'signed by one participant only');
    t.match(await refusal('responder', { offchain_tx: newest }), /offchain_poi is needed/, 'no PoI: the balances cannot be known');
    t.match(await refusal('responder', { offchain_tx: newest, offchain_poi: older }), /3001|bad_state_hash/, 'a PoI of another state');
    const other = await openChannel(service, protocol);
    const otherState = await transfer(other, other.initiatorAccount.address, other.responderAccount.address, 1);
    t.match(await refusal('responder', { offchain_tx: otherState, offchain_poi: poi }), /is a state of/, 'a state of another channel');
    other.initiator.close(); other.responder.close();
    t.equal(await service.store.load(ch.channelId as `ch_${string}`, 'responder'), null, 'no refusal stored anything');

    // the responder brings an older state than the initiator: the reestablish catches it up
    const responder = await recover(service, ch, 'responder', protocol, { offchain_tx: olderState, offchain_poi: older });
    const rUp = await responder.nextMethod('channels.info', 'fsm_up');
    t.not(rUp.data.fsm_id, ch.fsmIds.responder, 'a new fsm_id');
    const initiator = await recover(service, ch, 'initiator', protocol, { offchain_tx: newest, offchain_poi: poi });
    const [a, b] = await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
    t.equal(a.data.state, newest, 'the initiator is back on its latest round');
    t.equal(b.data.state, newest, 'the responder, one round behind, verified and took it');

    const next = await transfer({ initiator, responder }, i, r, 5);
    t.equal(Number(unpackSignedTx(next).encodedTx.round), Number(unpackSignedTx(newest).encodedTx.round) + 1, 'the next transfer is the next round');
    const stored = await service.store.load(ch.channelId as `ch_${string}`, 'initiator');
    t.equal(stored?.state.balances.responder, 10n ** 21n + 1000n + 234n - 34n + 5n, 'balances as co-signed');

    // and it closes on chain with them
    initiator.send('channels.shutdown');
    await Promise.all([initiator.nextMethod('channels.info', 'died'), responder.nextMethod('channels.info', 'died')]);
    t.equal(await external.chain.channel(ch.channelId as `ch_${string}`), null, 'closed on chain');
    const closeTx = initiator.received.find((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'close_mutual')!.data.tx;
    const close = unpackSignedTx(closeTx).encodedTx as Record<string, unknown>;
    t.equal(BigInt(String(close.responderAmountFinal)) + BigInt(String(close.fee)) / 2n, 10n ** 21n + 1205n, 'the responder is paid what it was owed');
    await Promise.all([initiator.closedAndDone(), responder.closedAndDone()]);
  });
}

t.test('a channel the chain does not know is said at start-up, and its reestablish refused', async (t) => {
  const first = await externalChain(t);
  const config = testConfig({ chain: { nodeUrl: first.url, pollMs: 20 } });
  let service = await startTestService({}, config);
  const ch = await openChannel(service, 'json-rpc');
  ch.initiator.close(); ch.responder.close();
  await service.stop();

  // the same store, another chain: as after a chain reset, or a node of another network
  const second = await externalChain(t);
  const lines: string[] = [];
  service = await startTestService({}, { ...config, chain: { ...config.chain, nodeUrl: second.url } }, (line) => lines.push(line));
  t.teardown(async () => { await service.stop(); await service.cleanup(); });
  const client = await TestClient.connect(service.channelUrl, {
    role: 'responder', port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds.responder,
  }, 'json-rpc', ch.responderAccount);
  const e = await client.nextMethod('error');
  t.equal(e.data.data[0].code, 3005, 'channel_not_found');
  t.equal(e.data.data[0].message, 'Channel not found', 'the fixed text');
  t.match(e.data.data[0].detail, /not on chain/, 'and what in particular');
  await client.closedAndDone();
  for (let tries = 0; tries < 100 && !lines.some((l) => l.includes('not on this chain')); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(lines.some((l) => /1 stored channel\(s\) are not on this chain/.test(l)), 'the start-up log counts it');
});
