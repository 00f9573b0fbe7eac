/**
 * Opening a channel over real WebSockets, in both envelopes: the node's message sequence, a real
 * create tx on the dev chain, and the co-signed round 1 in Redis.
 */
import t from 'tap';
import { Tag } from '../lib/sdk.js';
import { openChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { unpackSignedTx } from './helpers/accounts.js';

let service: TestService;
/** the service's log, line by line (info and up) */
const logLines: string[] = [];
t.before(async () => { service = await startTestService({}, undefined, (line) => logLines.push(line)); });
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

    const onChain = await service.chain.channel(ch.channelId as any);
    t.ok(onChain, 'the channel object exists on the dev chain');
    t.equal(onChain?.channelAmount, 2n * 10n ** 21n);

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

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: connect-time refusals are one error frame, then the socket closes`, async (t) => {
    const { TestClient } = await import('./helpers/client.js');
    const { channelQuery } = await import('./helpers/channel.js');
    const { AccountMemory } = await import('../lib/sdk.js');
    const [funded, other] = await service.fundedAccounts(2);
    const stranger = AccountMemory.generate();
    const refusal = async (query: Record<string, string | number | bigint>) => {
      const client = await TestClient.connect(service.channelUrl, query, protocol, null);
      const e = await client.nextMethod('error');
      await client.closedAndDone();
      return protocol === 'json-rpc' ? e.data.data[0].code : e.data.reason;
    };
    const base = { ...channelQuery(funded!, other!, 3999), role: 'initiator', host: 'localhost' };
    const expect = (code: number, reason: string) => (protocol === 'json-rpc' ? code : reason);
    t.equal(await refusal({ ...base, responder_id: stranger.address }), expect(1011, 'participant_not_found'), 'unknown on chain');
    t.equal(await refusal({ ...base, channel_reserve: 10n ** 22n }), expect(105, 'value_too_low'), 'reserve above the amounts');
    t.equal(await refusal({ ...base, push_amount: -1 }), expect(105, 'value_too_low'), 'negative push');
    t.equal(await refusal({ ...base, initiator_amount: 'lots' }), expect(1008, 'not_a_number'));
    t.equal(await refusal({ ...base, initiator_id: 'ak_nope' }), expect(1003, 'invalid_pubkeys'));
    t.equal(await refusal({ ...base, role: 'watcher' }), expect(-32602, 'invalid_params'));
    const { responder_amount: _, ...missing } = base;
    t.equal(await refusal(missing), expect(-32602, 'invalid_params'), 'a mandatory parameter missing');
  });

  t.test(`${protocol}: URL parameters are checked as the node reads them, each refusal naming the parameter`, async (t) => {
    const { TestClient } = await import('./helpers/client.js');
    const { channelQuery } = await import('./helpers/channel.js');
    const [funded, other] = await service.fundedAccounts(2);
    const base = { ...channelQuery(funded!, other!, 3995), role: 'initiator', host: 'localhost' };
    const refusal = async (query: Record<string, string | number | bigint>) => {
      const client = await TestClient.connect(service.channelUrl, query, protocol, null);
      const e = await client.nextMethod('error');
      await client.closedAndDone();
      // the reason, and every word the refusal says (where the detail is differs by envelope)
      return { reason: protocol === 'json-rpc' ? e.data.data[0].code : e.data.reason, text: JSON.stringify(protocol === 'json-rpc' ? e.data.data : e.data) };
    };
    const invalid = protocol === 'json-rpc' ? -32602 : 'invalid_params';
    const cases: Array<[string, Record<string, string | number>, number | string]> = [
      ['port', { port: 0 }, invalid],
      ['port', { port: 65536 }, invalid],
      ['port', { port: 'http' }, invalid],
      ['timeout_idle', { timeout_idle: 0 }, invalid],
      ['timeout_sign', { timeout_sign: 'soon' }, invalid],
      ['report_info', { report_info: 'yes' }, invalid],
      ['msg_forwarding', { msg_forwarding: '1' }, invalid],
      ['bh_delta_pick', { bh_delta_pick: 'x' }, invalid],
      ['log_keep', { log_keep: 'all' }, invalid],
      ['gas_price', { gas_price: '1.5' }, invalid],
      ['gas_price', { gas_price: 5 }, protocol === 'json-rpc' ? 105 : 'value_too_low'],
      ['fee', { fee: 1000 }, protocol === 'json-rpc' ? 105 : 'value_too_low'],
      ['bh_delta_not_older_than', { bh_delta_not_newer_than: 4, bh_delta_not_older_than: 3 }, invalid],
    ];
    for (const [name, query, reason] of cases) {
      const got = await refusal({ ...base, ...query });
      t.equal(got.reason, reason, `${name}=${Object.values(query)[0]} refused`);
      t.match(got.text, name, `the refusal names ${name}`);
    }
  });

  t.test(`${protocol}: gas_price sets the create tx's fee; unknown parameters are ignored, and logged once by name`, async (t) => {
    const unknown = `colour_${protocol.replace('-', '_')}`;
    const gasPrice = 3_000_000_000n;
    const ch = await openChannel(service, protocol, { extra: { gas_price: gasPrice.toString(), [unknown]: 'secret-ish-value', report_info: 'true', bh_delta_pick: 2, slogan: 'hi' } });
    const create = unpackSignedTx(ch.initiator.received.at(-1)!.data.state as string).encodedTx as unknown as { fee: string };
    const { decode } = await import('../lib/sdk.js');
    const { buildTx } = await import('../lib/sdk.js');
    const length = decode(buildTx(create as never)).length;
    t.equal(BigInt(create.fee), gasPrice * (15_000n + 20n * BigInt(length)), 'the fee is the gas price times the create tx\'s fee gas, as the node computes it');
    const warnings = logLines.filter((line) => line.includes('unknown URL parameters ignored') && line.includes(unknown));
    t.equal(warnings.length, 1, 'one warning for both participants\' sockets');
    t.notMatch(warnings[0], 'secret-ish-value', 'never the value');
    t.notOk(logLines.some((line) => line.includes('unknown URL parameters ignored') && /report_info|bh_delta_pick|slogan|gas_price/.test(line)), 'the node\'s parameters are known');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: a responder whose terms differ refuses the channel_open`, async (t) => {
    const { TestClient } = await import('./helpers/client.js');
    const { channelQuery } = await import('./helpers/channel.js');
    const [a, b] = await service.fundedAccounts(2);
    const query = channelQuery(a!, b!, 3998);
    const initiator = await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, protocol, a!);
    const responder = await TestClient.connect(service.channelUrl, { ...query, role: 'responder', responder_amount: 2n * 10n ** 21n }, protocol, b!);
    const isError = (m: { method: string }) => m.method === 'error' || m.method === 'channels.error';
    const e = await responder.next(isError);
    t.match(e.data.detail, /responderAmount does not match/);
    await initiator.next(isError);
    await responder.closedAndDone();
    initiator.close();
  });

  t.test(`${protocol}: a responder with initiator_id=any accepts whoever opens`, async (t) => {
    const { TestClient } = await import('./helpers/client.js');
    const { channelQuery } = await import('./helpers/channel.js');
    const [a, b] = await service.fundedAccounts(2);
    const query = channelQuery(a!, b!, 3997);
    const initiator = await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, protocol, a!);
    const responder = await TestClient.connect(service.channelUrl, { ...query, role: 'responder', initiator_id: 'any' }, protocol, b!);
    await Promise.all([initiator.nextMethod('channels.info', 'open'), responder.nextMethod('channels.info', 'open')]);
    t.pass('opened');
    initiator.close(); responder.close();
  });
}

t.test('several responders wait on one port, told apart by responder id', async (t) => {
  const { TestClient } = await import('./helpers/client.js');
  const { channelQuery } = await import('./helpers/channel.js');
  const [a1, b1, a2, b2] = await service.fundedAccounts(4);
  const port = 3996;
  const q1 = channelQuery(a1!, b1!, port);
  const q2 = channelQuery(a2!, b2!, port, { initiatorAmount: 3n * 10n ** 21n });
  const r1 = await TestClient.connect(service.channelUrl, { ...q1, role: 'responder' }, 'json-rpc', b1!);
  const r2 = await TestClient.connect(service.channelUrl, { ...q2, role: 'responder' }, 'legacy', b2!);
  const i2 = await TestClient.connect(service.channelUrl, { ...q2, role: 'initiator', host: 'localhost' }, 'json-rpc', a2!);
  const i1 = await TestClient.connect(service.channelUrl, { ...q1, role: 'initiator', host: 'localhost' }, 'legacy', a1!);
  const opened = await Promise.all([i1, r1, i2, r2].map((c) => c.nextMethod('channels.info', 'open')));
  const ids = opened.map((m) => m.frame.params?.channel_id ?? m.frame.channel_id);
  t.equal(ids[0], ids[1], 'pair 1 shares a channel');
  t.equal(ids[2], ids[3], 'pair 2 shares a channel');
  t.not(ids[0], ids[2]);
  t.equal((await service.chain.channel(ids[2]))?.channelAmount, 4n * 10n ** 21n, 'each with its own terms');
  for (const c of [i1, r1, i2, r2]) c.close();
});

t.test('txfee minimum depth waits as the node computes it; assume_minimum_depth lets each side go on', async (t) => {
  const { TestClient } = await import('./helpers/client.js');
  const { channelQuery } = await import('./helpers/channel.js');
  const { buildTxHash } = await import('../lib/sdk.js');
  const [a, b] = await service.fundedAccounts(2);
  // factor 1: the depth is the fee in units of the minimum gas price, thousands of blocks
  const query = { ...channelQuery(a!, b!, 3995), minimum_depth: 1, minimum_depth_strategy: 'txfee' };
  const initiator = await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, 'json-rpc', a!);
  const responder = await TestClient.connect(service.channelUrl, { ...query, role: 'responder' }, 'json-rpc', b!);
  const mined = await initiator.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'channel_changed');
  await responder.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'channel_changed');
  await initiator.quiet(300);
  t.notOk(initiator.sequence().includes('info:own_funding_locked'), 'mined, but not deep enough');
  const txHash = buildTxHash(mined.data.tx);
  initiator.send('channels.assume_minimum_depth', { tx_hash: txHash }, 9);
  t.equal((await initiator.next((m) => m.method === 'result')).data, 'ok');
  await initiator.nextMethod('channels.info', 'own_funding_locked');
  responder.send('channels.assume_minimum_depth', { tx_hash: 'th_2BQH5Xe1G5yo8dzGjvtNa3XUpnvu3CnnaYMcWyEL1N2wsn8dWB' }, 10);
  const refused = await responder.nextMethod('error');
  t.equal(refused.data.data[0].code, 1018, 'not a tx it waits for');
  responder.send('channels.assume_minimum_depth', { tx_hash: txHash }, 11);
  await Promise.all([initiator.nextMethod('channels.info', 'open'), responder.nextMethod('channels.info', 'open')]);
  initiator.send('channels.assume_minimum_depth', { tx_hash: txHash }, 12);
  t.equal((await initiator.nextMethod('error')).data.data[0].code, 1018, 'assumed once: nothing waits for it any more');
  initiator.close(); responder.close();
});

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: a tx assumed deep enough is reported when it really is, with notice already_assumed`, async (t) => {
    const { TestClient } = await import('./helpers/client.js');
    const { channelQuery } = await import('./helpers/channel.js');
    const { buildTxHash } = await import('../lib/sdk.js');
    const [a, b] = await service.fundedAccounts(2);
    // 30 blocks of 50 ms: long enough to assume it first, short enough to wait for
    const query = { ...channelQuery(a!, b!, 3990 + (protocol === 'legacy' ? 1 : 0)), minimum_depth: 30, minimum_depth_strategy: 'plain' };
    const initiator = await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, protocol, a!);
    const responder = await TestClient.connect(service.channelUrl, { ...query, role: 'responder' }, protocol, b!);
    const mined = await initiator.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'channel_changed');
    const txHash = buildTxHash(mined.data.tx);
    initiator.send('channels.assume_minimum_depth', { tx_hash: txHash });
    await initiator.nextMethod('channels.info', 'own_funding_locked');
    await responder.nextMethod('channels.info', 'open', 20_000);
    // it comes when the tx is deep enough, before or after the channel opens: the responder waited as long
    const deep = await initiator.nextMethod('channels.info', 'minimum_depth_achieved', 20_000);
    await initiator.quiet(200);
    t.ok(initiator.received.some((m) => m.data?.event === 'open'), 'the channel is open');
    t.same(deep.data, { event: 'minimum_depth_achieved', tx_hash: txHash, tx_type: 'channel_create_tx', notice: 'already_assumed' });
    await responder.quiet(200);
    t.notOk(responder.received.some((m) => m.data?.event === 'minimum_depth_achieved'), 'the responder waited: nothing to add');
    initiator.close(); responder.close();
  });
}
