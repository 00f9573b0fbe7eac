/**
 * Deposit, withdraw and mutual close over real WebSockets in both envelopes: the node's message
 * sequences, the co-signed txs on the dev chain, and balances checked there to the aetto.
 */
import t from 'tap';
import { unpackTx } from '../lib/sdk.js';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { unpackSignedTx } from './helpers/accounts.js';
import { TestClient } from './helpers/client.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

const onChainBalance = async (account: string) => (await service.chain.account(account as `ak_${string}`))!.balance;
const feeOf = (signedTx: string) => BigInt((unpackSignedTx(signedTx).encodedTx as unknown as { fee: string }).fee);
const stored = (ch: OpenedChannel, role: 'initiator' | 'responder') => service.store.load(ch.channelId as any, role);

/** The stored pending on-chain tx, asked again for up to 5 s while one is still there. */
async function pendingOnchainAfterForget(ch: OpenedChannel, role: 'initiator' | 'responder') {
  for (let asked = 0; ; asked++) {
    const onchain = (await stored(ch, role))?.onchain ?? null;
    if (onchain === null || asked === 100) return onchain;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: deposit and withdraw move coins on chain and in the channel`, async (t) => {
    const ch = await openChannel(service, protocol);
    const depositor = ch.initiatorAccount.address;
    const before = await onChainBalance(depositor);
    ch.initiator.mark(); ch.responder.mark();
    const deposit = 10n ** 20n + 3n;
    ch.initiator.send('channels.deposit', { amount: deposit });
    const [iState, rState] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.same(ch.initiator.sequence(ch.initiator.received.length - 6), ['channels.sign.deposit_tx', 'on_chain_tx:deposit_signed',
      'on_chain_tx:channel_changed', 'info:own_deposit_locked', 'info:deposit_locked', 'channels.update']);
    t.same(ch.responder.sequence(ch.responder.received.length - 7), ['info:deposit_created', 'channels.sign.deposit_ack',
      'on_chain_tx:deposit_created', 'on_chain_tx:channel_changed', 'info:own_deposit_locked', 'info:deposit_locked', 'channels.update']);
    t.equal(iState.data.state, rState.data.state);
    const tx = unpackSignedTx(iState.data.state).encodedTx as any;
    t.equal(tx.tag, 51, 'a deposit tx');
    t.equal(tx.round, 2);
    const signRequest = ch.initiator.received.find((m) => m.method === 'channels.sign.deposit_tx')!;
    t.same(signRequest.data.updates.map((u: any) => ({ ...u, amount: BigInt(u.amount) })), [{ op: 'OffChainDeposit', from: depositor, amount: deposit }]);
    t.equal(await onChainBalance(depositor), before - deposit - feeOf(iState.data.state), 'amount and fee left the depositor\'s account');
    t.equal((await service.chain.channel(ch.channelId as any))?.channelAmount, 2n * 10n ** 21n + deposit);
    t.equal((await stored(ch, 'responder'))?.state.round, 2);
    t.equal((await stored(ch, 'initiator'))?.state.balances.initiator, 10n ** 21n + deposit);
    // the pending record is forgotten by a write of its own, which may land just after channels.update
    t.equal(await pendingOnchainAfterForget(ch, 'initiator'), null, 'nothing left pending');

    const withdrawer = ch.responderAccount.address;
    const beforeWithdraw = await onChainBalance(withdrawer);
    const withdraw = 5n * 10n ** 19n;
    ch.responder.send('channels.withdraw', { amount: withdraw });
    const [wState] = await Promise.all([ch.responder.nextMethod('channels.update'), ch.initiator.nextMethod('channels.update')]);
    t.equal((unpackSignedTx(wState.data.state).encodedTx as any).tag, 52, 'a withdraw tx');
    t.equal(await onChainBalance(withdrawer), beforeWithdraw + withdraw - feeOf(wState.data.state), 'the withdrawer got the amount and paid the fee');
    t.equal((await service.chain.channel(ch.channelId as any))?.channelAmount, 2n * 10n ** 21n + deposit - withdraw);
    t.equal((await service.chain.channel(ch.channelId as any))?.round, 3);

    ch.initiator.send('channels.update.new', { from: depositor, to: withdrawer, amount: 1 });
    await ch.responder.nextMethod('channels.update');
    t.equal((await stored(ch, 'responder'))?.state.round, 4, 'transfers go on after');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: a deposit the chain refuses is a conflict with code 5 on both sides; nothing moves`, async (t) => {
    const ch = await openChannel(service, protocol);
    const tooMuch = 10n ** 23n; // more than the depositor holds on chain
    ch.initiator.send('channels.deposit', { amount: tooMuch });
    const [ci, cr] = await Promise.all([ch.initiator.nextMethod('channels.conflict'), ch.responder.nextMethod('channels.conflict')]);
    t.equal(ci.data.error_code, 5);
    t.equal(ci.data.error_msg, 'rejected on-chain');
    t.equal(cr.data.error_code, 5);
    t.equal(ci.data.round, 1, 'still on the last co-signed round');
    t.equal((await service.chain.channel(ch.channelId as any))?.channelAmount, 2n * 10n ** 21n);
    await ch.initiator.quiet();
    t.equal((await stored(ch, 'initiator'))?.onchain, null, 'the refused tx is forgotten');
    ch.initiator.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
    await ch.responder.nextMethod('channels.update');
    t.equal((await stored(ch, 'responder'))?.state.round, 2, 'the channel goes on');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: off-chain updates wait while a deposit is on its way; bad amounts are refused`, async (t) => {
    const ch = await openChannel(service, protocol, { extra: { minimum_depth: 4 } });
    const from = ch.initiatorAccount.address;
    const to = ch.responderAccount.address;
    for (const [amount, reason, code] of [[0, 'value_too_low', 105], [-5, 'negative_amount', 1002], ['x', 'not_a_number', 1008]] as const) {
      ch.initiator.send('channels.deposit', { amount });
      const e = await ch.initiator.nextMethod('error');
      t.equal(protocol === 'json-rpc' ? e.data.data[0].code : e.data.reason, protocol === 'json-rpc' ? code : reason);
    }
    ch.initiator.send('channels.withdraw', { amount: 10n ** 21n }); // would leave less than the reserve
    const low = await ch.initiator.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? low.data.data[0].code : low.data.reason, protocol === 'json-rpc' ? 1001 : 'insufficient_balance');

    ch.initiator.send('channels.deposit', { amount: 1000 });
    await ch.initiator.nextMethod('channels.on_chain_tx');
    ch.initiator.send('channels.update.new', { from, to, amount: 1 });
    const busy = await ch.initiator.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? busy.data.data[0].code : busy.data.reason, protocol === 'json-rpc' ? 1018 : 'not_allowed_now');
    await ch.initiator.nextMethod('channels.update');
    t.equal((await stored(ch, 'initiator'))?.state.round, 2);
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: mutual close pays out the final balances minus the fee and ends the channel`, async (t) => {
    const ch = await openChannel(service, protocol);
    const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 12345 });
    await ch.responder.nextMethod('channels.update');
    const [iBefore, rBefore] = [await onChainBalance(i), await onChainBalance(r)];
    ch.initiator.mark(); ch.responder.mark();
    ch.responder.send('channels.shutdown');
    const [iDied, rDied] = await Promise.all([ch.initiator.nextMethod('channels.info', 'died'), ch.responder.nextMethod('channels.info', 'died')]);
    t.ok(iDied && rDied);
    t.same(ch.responder.sequence(ch.responder.received.length - 6), ['channels.sign.shutdown_sign', 'on_chain_tx:close_mutual', 'info:closing',
      'on_chain_tx:channel_closed', 'info:closed_confirmed', 'info:died']);
    t.same(ch.initiator.sequence(ch.initiator.received.length - 7), ['info:shutdown', 'channels.sign.shutdown_sign_ack', 'on_chain_tx:close_mutual',
      'info:closing', 'on_chain_tx:channel_closed', 'info:closed_confirmed', 'info:died']);
    const closeTx = ch.responder.received.find((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'close_mutual')!.data.tx;
    const close = unpackSignedTx(closeTx).encodedTx as any;
    t.equal(close.tag, 53);
    t.equal(close.fromId, r, 'the closer sends it');
    const fee = BigInt(close.fee);
    t.equal(BigInt(close.initiatorAmountFinal) + BigInt(close.responderAmountFinal) + fee, 2n * 10n ** 21n, 'the fee comes out of the channel');
    t.equal(await onChainBalance(i), iBefore + 10n ** 21n - 12345n - (fee - fee / 2n), 'the initiator pays the odd half of the fee');
    t.equal(await onChainBalance(r), rBefore + 10n ** 21n + 12345n - fee / 2n);
    t.equal(await service.chain.channel(ch.channelId as any), null, 'the channel object is gone');
    await Promise.all([ch.initiator.closedAndDone(), ch.responder.closedAndDone()]);
    // marked closed in the store once the chain says so; the clients may hear it first
    for (let tries = 0; tries < 100 && !(await stored(ch, 'initiator'))?.closed; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal((await stored(ch, 'initiator'))?.closed, true);
    const again = await TestClient.connect(service.channelUrl, {
      role: 'initiator', host: 'localhost', port: ch.port, existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds.initiator,
    }, protocol, ch.initiatorAccount);
    const refused = await again.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? refused.data.data[0].code : refused.data.reason, protocol === 'json-rpc' ? 1018 : 'not_allowed_now');
    const res = await fetch(`${service.nodeUrl}/v3/channels/${ch.channelId}`);
    t.equal(res.status, 404);
  });
}

t.test('the node HTTP API renders channel objects as the node does', async (t) => {
  const ch = await openChannel(service, 'json-rpc');
  const res = await fetch(`${service.nodeUrl}/v3/channels/${ch.channelId}`);
  const body = await res.json() as Record<string, unknown>;
  t.same(Object.keys(body).sort(), ['channel_amount', 'channel_reserve', 'delegate_ids', 'id', 'initiator_amount', 'initiator_id',
    'lock_period', 'locked_until', 'responder_amount', 'responder_id', 'round', 'solo_round', 'state_hash'].sort());
  t.equal(body.locked_until, 0);
  t.equal(body.id, ch.channelId);
  ch.initiator.close(); ch.responder.close();
  void unpackTx;
});
