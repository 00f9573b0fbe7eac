/**
 * Off-chain transfers, refusals and races over real WebSockets in both envelopes, against a real
 * Redis and real signatures.
 */
import t from 'tap';
import { AccountMemory } from '../lib/sdk.js';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { unpackSignedTx } from './helpers/accounts.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

const BIG = 2n ** 53n + 12_345n; // not representable as a float: checked to the aetto

async function balances(ch: OpenedChannel) {
  ch.initiator.send('channels.get.balances', { accounts: [ch.initiatorAccount.address, ch.responderAccount.address] }, 7);
  const reply = await ch.initiator.next((m) => m.method === 'result' || m.method === 'channels.get.balances');
  const list = reply.data as Array<{ account: string; balance: number | bigint }>;
  return list.map((e) => BigInt(e.balance));
}

async function storedRound(ch: OpenedChannel, role: 'initiator' | 'responder') {
  return (await service.store.load(ch.channelId as any, role))?.state;
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: transfers both ways, exact above 2^53`, async (t) => {
    const ch = await openChannel(service, protocol);
    ch.initiator.mark(); ch.responder.mark();
    ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: BIG });
    const iUpdate = await ch.initiator.nextMethod('channels.update');
    const rUpdate = await ch.responder.nextMethod('channels.update');
    t.equal(iUpdate.data.state, rUpdate.data.state, 'both report the same co-signed tx');
    const tx = unpackSignedTx(iUpdate.data.state);
    t.equal(tx.encodedTx.tag, 57, 'an off-chain tx');
    t.equal(tx.encodedTx.round, 2);
    t.equal(tx.signatures.length, 2);
    t.same(ch.responder.sequence(ch.responder.received.length - 3), ['info:update', 'channels.sign.update_ack', 'channels.update']);

    ch.responder.send('channels.update.new', { from: ch.responderAccount.address, to: ch.initiatorAccount.address, amount: 5 });
    await ch.initiator.nextMethod('channels.update');
    await ch.responder.nextMethod('channels.update');
    const [i, r] = await balances(ch);
    t.equal(i, 10n ** 21n - BIG + 5n);
    t.equal(r, 10n ** 21n + BIG - 5n);
    t.equal((await storedRound(ch, 'initiator'))?.round, 3, 'round 3 persisted for the initiator');
    t.equal((await storedRound(ch, 'responder'))?.round, 3, 'and for the responder');
    t.equal((await storedRound(ch, 'responder'))?.balances.responder, 10n ** 21n + BIG - 5n);
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: both participants here: a transfer is one store write, and both records hold its round`, async (t) => {
    const ch = await openChannel(service, protocol);
    const roundWrites = async () => (await service.metrics.storeWriteDuration.get()).values
      .find((v) => v.metricName === 'aesc_store_write_duration_seconds_count' && v.labels.kind === 'round')?.value ?? 0;
    const before = await roundWrites();
    for (const amount of [1, 2, 3]) {
      ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount });
      await ch.initiator.nextMethod('channels.update');
      await ch.responder.nextMethod('channels.update');
    }
    t.equal(await roundWrites() - before, 3, 'one write per transfer, for both sides');
    for (const role of ['initiator', 'responder'] as const) {
      t.equal((await storedRound(ch, role))?.round, 4, `the ${role}'s record is at round 4`);
      t.same((await service.store.history(ch.channelId as any, role)).map((s) => s.round), [1, 2, 3, 4], `the ${role}'s history has every round once`);
    }
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: refused transfers name their reason and change nothing`, async (t) => {
    const ch = await openChannel(service, protocol);
    const from = ch.initiatorAccount.address;
    const to = ch.responderAccount.address;
    const cases: Array<[Record<string, unknown>, string, number]> = [
      [{ from, to, amount: 10n ** 21n }, 'insufficient_balance', 1001], // below the reserve
      [{ from, to, amount: -10 }, 'negative_amount', 1002],
      [{ from, to, amount: 'ten' }, 'not_a_number', 1008],
      [{ from, to, amount: 1.5 }, 'not_a_number', 1008],
      [{ from, to, amount: '5' }, 'not_a_number', 1008], // the node takes a JSON number only
      [{ from: 'ak_123', to, amount: 1 }, 'broken_encoding_accounts', 1005],
      [{ from, to: 'ak_123', amount: 1 }, 'broken_encoding_accounts', 1005],
      [{ from, to, amount: 1, meta: 'not a list' }, 'invalid_meta_object', 1014],
      [{ from, to, amount: 1, meta: [1] }, 'invalid_meta_object', 1014],
      [{ from, to: AccountMemory.generate().address, amount: 1 }, 'invalid_pubkeys', 1003],
      [{ from, to: from, amount: 1 }, 'invalid_pubkeys', 1003],
      [{ from, to }, 'invalid_params', -32602],
    ];
    for (const [params, reason, code] of cases) {
      ch.initiator.send('channels.update.new', params);
      const error = await ch.initiator.nextMethod('error');
      if (protocol === 'json-rpc') {
        t.equal(error.data.data[0].code, code, `${reason}: detail code`);
        t.ok(error.data.request, 'the request is echoed');
      } else {
        t.equal(error.data.reason, reason, `${reason}: legacy reason`);
      }
    }
    // the node's fixed text for the code; what was wrong in particular beside it, never appended
    ch.initiator.send('channels.update.new', { from: 'ak_123', to, amount: 1 });
    const broken = (await ch.initiator.nextMethod('error')).data;
    const said = protocol === 'json-rpc' ? broken.data[0] : broken;
    t.match(said, { code: 1005, message: 'Broken encoding: account pubkey', detail: /account ids/ });
    if (protocol === 'json-rpc') t.match(broken, { code: 3, message: 'Rejected' });
    t.equal((await storedRound(ch, 'initiator'))?.round, 1, 'nothing was persisted');
    ch.initiator.send('channels.update.new', { from, to, amount: 1 });
    await ch.initiator.nextMethod('channels.update');
    t.equal((await storedRound(ch, 'responder'))?.round, 2, 'the channel is still usable');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: a client signing with the wrong key gets bad_signature`, async (t) => {
    const ch = await openChannel(service, protocol);
    const realAccount = ch.initiator.account;
    ch.initiator.account = AccountMemory.generate();
    ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
    const error = await ch.initiator.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? error.data.data[0].code : error.data.reason, protocol === 'json-rpc' ? 1017 : 'bad_signature');
    t.notOk(ch.responder.received.some((m) => m.method === 'channels.sign.update_ack'), 'the peer was never asked to co-sign');
    ch.initiator.reply('update', { signed_tx: 'tx_notreallyatx' });
    const broken = await ch.initiator.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? broken.data.data[0].code : broken.data.reason, protocol === 'json-rpc' ? 1010 : 'broken_encoding_transaction');
    // still waiting for a good signature: the right key completes the round
    ch.initiator.account = realAccount;
    const pending = ch.initiator.received.find((m) => m.method === 'channels.sign.update')!;
    const { cosign } = await import('./helpers/accounts.js');
    ch.initiator.reply('update', { signed_tx: await cosign(realAccount!, pending.data.signed_tx) });
    await Promise.all([ch.responder.nextMethod('channels.update'), ch.initiator.nextMethod('channels.update')]);
    t.equal((await storedRound(ch, 'initiator'))?.round, 2);
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: aborts with error codes`, async (t) => {
    const ch = await openChannel(service, protocol);
    const from = ch.initiatorAccount.address;
    const to = ch.responderAccount.address;
    ch.initiator.policy = () => 12345;
    ch.initiator.send('channels.update.new', { from, to, amount: 1 });
    await ch.initiator.nextMethod('channels.info', 'aborted_update');
    ch.initiator.policy = () => 'sign';
    ch.responder.policy = () => 1234;
    ch.initiator.send('channels.update.new', { from, to, amount: 1 });
    const conflict = await ch.initiator.nextMethod('channels.conflict');
    t.equal(conflict.data.error_code, 1234);
    t.equal(conflict.data.error_msg, 'user-defined');
    t.equal(conflict.data.round, 1, 'the last co-signed round');
    await ch.responder.nextMethod('channels.info', 'aborted_update');
    ch.responder.policy = () => 0;
    ch.initiator.send('channels.update.new', { from, to, amount: 1 });
    const invalid = await ch.responder.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? invalid.data.data[0].code : invalid.data.reason, protocol === 'json-rpc' ? 1015 : 'invalid_error_code');
    t.equal((await storedRound(ch, 'initiator'))?.round, 1);
    t.equal((await storedRound(ch, 'responder'))?.round, 1);
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: both sides proposing at once get a conflict and stay on the last round`, async (t) => {
    const ch = await openChannel(service, protocol);
    ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
    ch.responder.send('channels.update.new', { from: ch.responderAccount.address, to: ch.initiatorAccount.address, amount: 2 });
    const [ci, cr] = await Promise.all([ch.initiator.nextMethod('channels.conflict'), ch.responder.nextMethod('channels.conflict')]);
    t.equal(ci.data.round, 1);
    t.equal(cr.data.round, 1);
    await Promise.all([ch.initiator.quiet(), ch.responder.quiet()]);
    t.equal((await storedRound(ch, 'initiator'))?.round, 1);
    t.equal((await storedRound(ch, 'responder'))?.round, 1);
    ch.responder.send('channels.update.new', { from: ch.responderAccount.address, to: ch.initiatorAccount.address, amount: 2 });
    await ch.initiator.nextMethod('channels.update');
    t.equal((await storedRound(ch, 'initiator'))?.round, 2, 'usable afterwards');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: generic messages reach the other participant`, async (t) => {
    const ch = await openChannel(service, protocol);
    ch.initiator.send('channels.message', { to: ch.responderAccount.address, info: 'hejsan' });
    const got = await ch.responder.nextMethod('channels.message');
    t.same(got.data.message, { channel_id: ch.channelId, from: ch.initiatorAccount.address, to: ch.responderAccount.address, info: 'hejsan' });
    ch.initiator.send('channels.message', { to: ch.initiatorAccount.address, info: 'to myself' });
    await ch.initiator.nextMethod('error');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: contract and force progress methods get one error naming the missing FATE VM, with the request's id`, async (t) => {
    const ch = await openChannel(service, protocol);
    const needVm = ['channels.update.new_contract', 'channels.update.new_contract_from_onchain', 'channels.update.call_contract',
      'channels.force_progress', 'channels.dry_run.call_contract', 'channels.get.contract', 'channels.get.contract_call', 'channels.clean_contract_calls'];
    let id = 100;
    for (const method of needVm) {
      const start = ch.initiator.mark();
      ch.initiator.send(method, { contract_id: 'ct_x', abi_version: 3, amount: 1, call_data: 'cb_x', gas_price: 1_000_000_000 }, ++id);
      const e = await ch.initiator.nextMethod('error');
      t.equal(e.frame.id, id, `${method}: the error carries the request's id`);
      const said = protocol === 'json-rpc' ? e.data.data[0] : e.data;
      t.match(said, { code: -32601, message: 'Method not found', detail: /FATE VM/ }, `${method}: says there is no FATE VM`);
      await ch.initiator.quiet(50);
      t.equal(ch.initiator.received.length - start, 1, `${method}: one frame, nothing else`);
    }
    ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.equal((await storedRound(ch, 'responder'))?.round, 2, 'the channel stays usable');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: garbage frames and unknown methods get clear errors; the channel goes on`, async (t) => {
    const ch = await openChannel(service, protocol);
    const expectError = async (send: () => void, reason: string, code: number) => {
      send();
      const e = await ch.initiator.nextMethod('error');
      if (protocol === 'json-rpc') {
        t.equal(e.data.data[0].code, code, reason);
        t.ok(e.data.data.length > 0, 'data is never empty');
      } else t.equal(e.data.reason, reason);
    };
    await expectError(() => ch.initiator.sendRaw('{"jsonrpc": "2.0", "method": '), 'parse_error', -32700);
    await expectError(() => ch.initiator.sendRaw('7'), 'invalid_request', -32000);
    await expectError(() => ch.initiator.sendRaw('[1]'), 'invalid_request', -32000); // a batch of one in JSON-RPC, an array in legacy
    await expectError(() => ch.initiator.sendRaw(Buffer.from([0xff, 0x00])), 'parse_error', -32700);
    await expectError(() => ch.initiator.send('channels.no.such.thing', {}), 'method_not_found', -32601);
    await expectError(() => ch.initiator.send('channels.update', { signed_tx: 'tx_garbage' }), 'not_allowed_now', 1018);
    await expectError(() => ch.initiator.send('channels.leave', { unexpected: 1 }), 'invalid_params', -32602);
    await expectError(() => ch.initiator.sendRaw('x'.repeat(service.config.ws.maxFrameBytes + 1)), 'frame_too_large', 3003);
    await expectError(() => ch.initiator.sendRaw('['.repeat(100) + ']'.repeat(100)), 'parse_error', -32700);
    ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 3 });
    await ch.responder.nextMethod('channels.update');
    t.equal((await storedRound(ch, 'responder'))?.round, 2, 'still usable');
    ch.initiator.send('channels.system', { action: 'ping' });
    const pong = await ch.initiator.nextMethod(protocol === 'json-rpc' ? 'channels.system.pong' : 'channels.system.pong');
    if (protocol === 'json-rpc') t.equal(pong.frame.params.channel_id, ch.channelId, 'pong carries the channel id');
    ch.initiator.close(); ch.responder.close();
  });
}
