/**
 * The chain terms a client may fix on an operation, over real WebSockets in both envelopes, as the
 * node applies them: `fee`, `gas_price` and `nonce` on deposit, withdraw, shutdown and the dispute
 * txs (in the tx the client signs, and on chain to the aetto); `meta` kept in a deposit's round; the
 * block a proposal is pinned to (`block_hash`, the `bh_delta_*` window) and the peer's refusal of one
 * outside its window. Every bad value is refused with its reason and changes nothing.
 */
import t, { type Test } from 'tap';
import { buildTx } from '../lib/sdk.js';
import { channelQuery, openChannel, type OpenedChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { unpackSignedTx } from './helpers/accounts.js';
import { TestClient, type Incoming, type Protocol } from './helpers/client.js';
import type { DevChain } from '../lib/chain/dev/dev-chain.js';
import { MIN_GAS_PRICE, minimumFee } from '../lib/tx/gas-price.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

const innerTx = (signedTx: string) => unpackSignedTx(signedTx).encodedTx as any;
const feeOf = (signedTx: string) => BigInt(innerTx(signedTx).fee);
/** the least fee of a signed tx's inner tx, as the node computes it */
const leastFee = (signedTx: string) => minimumFee(buildTx(innerTx(signedTx)) as `tx_${string}`);
const onChainBalance = async (account: string) => (await service.chain.account(account as `ak_${string}`))!.balance;
const stored = (ch: OpenedChannel, role: 'initiator' | 'responder') => service.store.load(ch.channelId as any, role);

/** The reason of an error frame, in either envelope: [reason or code, detail]. */
function refusal(protocol: Protocol, e: Incoming): [string | number, string] {
  return protocol === 'json-rpc' ? [e.data.data[0].code, e.data.data[0].detail ?? ''] : [e.data.reason, e.data.detail ?? ''];
}
const CODES: Record<string, number> = {
  value_too_low: 105, not_a_number: 1008, negative_amount: 1002, invalid_meta_object: 1014, broken_encoding: 104,
  unknown_block_hash: 3008, invalid_params: -32602, not_allowed_now: 1018,
};
const expected = (protocol: Protocol, reason: string) => (protocol === 'json-rpc' ? CODES[reason]! : reason);

/** Sends a request that must be refused: its reason (and a word of its detail), and no sign request. */
async function refused(t: Test, protocol: Protocol, client: TestClient, method: string, params: Record<string, unknown>, reason: string, detail?: RegExp) {
  client.mark();
  client.send(method, params, 7);
  const e = await client.next((m) => m.method === 'error' || m.method.startsWith('channels.sign.'));
  t.equal(e.method, 'error', `${method} ${JSON.stringify(params, (_, v) => (typeof v === 'bigint' ? String(v) : v))} is refused`);
  const [code, text] = refusal(protocol, e);
  t.equal(code, expected(protocol, reason), `with ${reason}`);
  if (detail) t.match(text, detail, 'naming why');
}

let nextPort = 45_000 + Math.floor(Math.random() * 5_000);

/** A channel whose participants connect with URL parameters of their own (each its own bh_delta_* window, say). */
async function openWith(protocol: Protocol, initiatorExtra: Record<string, number>, responderExtra: Record<string, number>) {
  const [initiatorAccount, responderAccount] = await service.fundedAccounts(2);
  const query = channelQuery(initiatorAccount!, responderAccount!, nextPort++);
  const initiator = await TestClient.connect(service.channelUrl, { ...query, ...initiatorExtra, role: 'initiator', host: 'localhost' }, protocol, initiatorAccount!);
  const responder = await TestClient.connect(service.channelUrl, { ...query, ...responderExtra, role: 'responder' }, protocol, responderAccount!);
  const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open'), responder.nextMethod('channels.info', 'open')]);
  await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  const channelId: string = protocol === 'json-rpc' ? iOpen.frame.params.channel_id : iOpen.frame.channel_id;
  return { initiator, responder, i: initiatorAccount!.address, r: responderAccount!.address, channelId, roundOf: (role: 'initiator' | 'responder') => service.store.load(channelId as any, role).then((s) => s?.state.round) };
}

/** The current top and a key block hash `back` blocks below it, once the chain is that high. */
async function blockBelowTop(back: number): Promise<{ top: number; hash: string; height: number }> {
  for (;;) {
    const top = await service.chain.height();
    if (top >= back + 2) return { top, hash: (await service.chain.keyBlockHash(top - back))!, height: top - back };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: fee, gas_price, nonce and meta on deposit and withdraw are in the tx the client signs`, async (t) => {
    const ch = await openChannel(service, protocol);
    const depositor = ch.initiatorAccount.address;
    const before = await onChainBalance(depositor);
    const nonce = await service.chain.nextNonce(depositor);
    const fee = 3n * 10n ** 14n + 7n;
    ch.initiator.mark(); ch.responder.mark();
    ch.initiator.send('channels.deposit', { amount: 10n ** 20n, fee, nonce, meta: ['table 7', 'round 3'] });
    const sign = await ch.initiator.nextMethod('channels.sign.deposit_tx');
    t.equal(feeOf(sign.data.signed_tx), fee, 'the fee asked for is in the tx to sign');
    t.equal(innerTx(sign.data.signed_tx).nonce, nonce, 'and the nonce');
    t.same(sign.data.updates.map((u: any) => u.op), ['OffChainDeposit', 'OffChainMeta', 'OffChainMeta'], 'meta follows the deposit in the round\'s updates');
    t.same(sign.data.updates.slice(1).map((u: any) => u.data), ['table 7', 'round 3']);
    const ack = await ch.responder.nextMethod('channels.sign.deposit_ack');
    t.same(ack.data.updates.slice(1).map((u: any) => u.data), ['table 7', 'round 3'], 'the peer co-signs the same updates');
    const [state] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.equal(feeOf(state.data.state), fee);
    t.equal(await onChainBalance(depositor), before - 10n ** 20n - fee, 'the depositor paid the amount and exactly that fee');
    t.same((await stored(ch, 'responder'))?.state.updates.map((u) => u.op), ['OffChainDeposit', 'OffChainMeta', 'OffChainMeta'], 'meta is kept in the stored round');

    // a gas price: the fee is that gas price times the tx's fee gas, as the node computes it
    ch.responder.send('channels.withdraw', { amount: 10n ** 19n, gas_price: 3n * MIN_GAS_PRICE });
    const withdraw = await ch.responder.nextMethod('channels.sign.withdraw_tx');
    t.equal(feeOf(withdraw.data.signed_tx), 3n * leastFee(withdraw.data.signed_tx), 'three times the least fee');
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);

    // both: the bigger of the two
    ch.initiator.send('channels.withdraw', { amount: 10n ** 19n, gas_price: MIN_GAS_PRICE, fee: 10n ** 15n });
    const both = await ch.initiator.nextMethod('channels.sign.withdraw_tx');
    t.equal(feeOf(both.data.signed_tx), 10n ** 15n, 'the fee, bigger than the one at the gas price');
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    ch.initiator.send('channels.deposit', { amount: 10n ** 19n, gas_price: 2n * MIN_GAS_PRICE, fee: 1 });
    const bigger = await ch.initiator.nextMethod('channels.sign.deposit_tx');
    t.equal(feeOf(bigger.data.signed_tx), 2n * leastFee(bigger.data.signed_tx), 'the one at the gas price, bigger than the fee');
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    ch.initiator.send('channels.deposit', { amount: 5, fee: '400000000000000', nonce: String(await service.chain.nextNonce(depositor)) });
    t.equal(feeOf((await ch.initiator.nextMethod('channels.sign.deposit_tx')).data.signed_tx), 4n * 10n ** 14n, 'integers as strings of digits, as the node reads them');
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.equal((await stored(ch, 'initiator'))?.state.round, 6);
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: a bad fee, gas price, nonce, meta or block hash is refused with its reason and changes nothing`, async (t) => {
    const ch = await openChannel(service, protocol);
    const c = ch.initiator;
    const peerFrom = ch.responder.received.length;
    const used = (await service.chain.account(ch.initiatorAccount.address))!.nonce;
    for (const method of ['channels.deposit', 'channels.withdraw']) {
      await refused(t, protocol, c, method, { amount: 1000, fee: 1000 }, 'value_too_low', /fee 1000 is below the least fee \d+/);
      await refused(t, protocol, c, method, { amount: 1000, gas_price: MIN_GAS_PRICE - 1n }, 'value_too_low', /gas_price 999999999 is below the minimum gas price 1000000000/);
      await refused(t, protocol, c, method, { amount: 1000, fee: 'cheap' }, 'not_a_number', /fee/);
      await refused(t, protocol, c, method, { amount: 1000, fee: -1 }, 'negative_amount', /fee/);
      await refused(t, protocol, c, method, { amount: 1000, gas_price: 1.5 }, 'not_a_number', /gas_price/);
      await refused(t, protocol, c, method, { amount: 1000, nonce: 'next' }, 'not_a_number', /nonce/);
      await refused(t, protocol, c, method, { amount: 1000, nonce: used }, 'value_too_low', new RegExp(`nonce ${used} is used: .* next nonce is ${used + 1}`));
      await refused(t, protocol, c, method, { amount: 1000, meta: 'not a list' }, 'invalid_meta_object');
      await refused(t, protocol, c, method, { amount: 1000, meta: [1, 2] }, 'invalid_meta_object');
      await refused(t, protocol, c, method, { amount: 1000, block_hash: 'kh_notahash' }, 'broken_encoding', /block_hash/);
      await refused(t, protocol, c, method, { amount: 1000, block_hash: (service.chain as DevChain).blockHash(10 ** 9, 'kh') }, 'unknown_block_hash', /not a block/);
    }
    await refused(t, protocol, c, 'channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1, block_hash: 'mh_x' }, 'broken_encoding');
    for (const method of ['channels.shutdown', 'channels.close_solo', 'channels.snapshot_solo']) {
      // (a snapshot of the create tx is refused before its fee is looked at)
      if (method !== 'channels.snapshot_solo') await refused(t, protocol, c, method, { fee: 20_000 }, 'value_too_low', /fee 20000 is below the least fee/);
      await refused(t, protocol, c, method, { gas_price: 1 }, 'value_too_low', /gas_price 1 is below/);
      await refused(t, protocol, c, method, { nonce: used }, 'value_too_low', /is used/);
      await refused(t, protocol, c, method, { nonce: 0 }, 'invalid_params', /nonce/);
    }
    await refused(t, protocol, c, 'channels.shutdown', { block_hash: (await service.chain.keyBlockHash(1))! }, 'invalid_params', /block_hash/);

    t.equal((await stored(ch, 'initiator'))?.state.round, 1, 'nothing was proposed');
    t.equal((await service.chain.channel(ch.channelId as any))?.round, 1, 'nothing reached the chain');
    t.notOk(ch.responder.received.slice(peerFrom).some((m) => m.method.startsWith('channels.sign.')), 'the peer was asked nothing');
    c.send('channels.update.new', { from: ch.initiatorAccount.address, to: ch.responderAccount.address, amount: 1 });
    await ch.responder.nextMethod('channels.update');
    t.equal((await stored(ch, 'responder'))?.state.round, 2, 'the channel goes on');
    c.close(); ch.responder.close();
  });

  t.test(`${protocol}: fee, gas_price and nonce on shutdown and on the dispute txs`, async (t) => {
    const ch = await openChannel(service, protocol, { extra: { lock_period: 2 } });
    const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1000 });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);

    // snapshot_solo with a fee and a nonce of the client's
    const nonce = await service.chain.nextNonce(r);
    ch.responder.send('channels.snapshot_solo', { fee: 5n * 10n ** 14n, nonce });
    const snapshot = await ch.responder.nextMethod('channels.sign.snapshot_solo_tx');
    t.equal(feeOf(snapshot.data.signed_tx), 5n * 10n ** 14n);
    t.equal(innerTx(snapshot.data.signed_tx).nonce, nonce);
    await ch.responder.nextMethod('channels.on_chain_tx');
    for (let tries = 0; tries < 200 && (await service.chain.channel(ch.channelId as any))?.round !== 2; tries++) await new Promise((resolve) => setTimeout(resolve, 25));
    t.equal((await service.chain.channel(ch.channelId as any))?.round, 2, 'the snapshot is on chain');

    // a mutual close's fee at a gas price comes out of the channel
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1000 });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    ch.initiator.policy = (tag) => (tag === 'shutdown_sign' ? 1 : 'sign'); // look at the tx, then decline it
    ch.initiator.send('channels.shutdown', { gas_price: 4n * MIN_GAS_PRICE });
    const shutdown = await ch.initiator.nextMethod('channels.sign.shutdown_sign');
    const closeFee = feeOf(shutdown.data.signed_tx);
    t.equal(closeFee, 4n * leastFee(shutdown.data.signed_tx), 'the close pays four times its least fee');
    const close = innerTx(shutdown.data.signed_tx);
    t.equal(BigInt(close.initiatorAmountFinal) + BigInt(close.responderAmountFinal) + closeFee, 2n * 10n ** 21n, 'out of the channel');
    await ch.initiator.nextMethod('channels.info', 'aborted_update');
    ch.initiator.policy = () => 'sign';

    // close_solo with a gas price, then settle with a fee
    ch.initiator.send('channels.close_solo', { gas_price: 2n * MIN_GAS_PRICE });
    const closeSolo = await ch.initiator.nextMethod('channels.sign.close_solo_sign');
    t.equal(feeOf(closeSolo.data.signed_tx), 2n * leastFee(closeSolo.data.signed_tx), 'close_solo at twice the minimum gas price');
    await ch.initiator.nextMethod('channels.info', 'closing');
    const before = await onChainBalance(i);
    // settle waits for the lock; then a fee too low for it is refused, and one high enough is signed
    for (;;) {
      ch.initiator.send('channels.settle', { fee: 100 });
      const e = await ch.initiator.nextMethod('error');
      const [code, text] = refusal(protocol, e);
      if (code === expected(protocol, 'not_allowed_now')) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      t.equal(code, expected(protocol, 'value_too_low'), 'a settle fee below the least fee');
      t.match(text, /fee 100 is below/);
      break;
    }
    const settleFee = 7n * 10n ** 14n;
    ch.initiator.send('channels.settle', { fee: settleFee });
    const settle = await ch.initiator.nextMethod('channels.sign.settle_sign');
    t.equal(feeOf(settle.data.signed_tx), settleFee, 'settle carries the fee asked for');
    await ch.initiator.nextMethod('channels.info', 'closed_confirmed');
    const closed = BigInt(innerTx(settle.data.signed_tx).initiatorAmountFinal);
    t.equal(await onChainBalance(i), before + closed - settleFee, 'and pays it on chain');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: a proposal is pinned to a block, which the peer judges by its own bh_delta window`, async (t) => {
    // the responder takes blocks 3 to 20 below the top; the initiator keeps the node's default window
    // (0 to 10 below) and so pins its proposals to the top, too new for the responder
    const ch = await openWith(protocol, {}, { bh_delta_not_newer_than: 3, bh_delta_not_older_than: 20 });
    const { i, r } = ch;
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1 });
    const conflict = await ch.initiator.nextMethod('channels.conflict');
    t.equal(conflict.data.error_code, 1, 'the peer refused it as invalid');
    if (protocol === 'json-rpc') t.equal(conflict.data.reason, 'block_hash_too_new', 'and says why');
    const peerSaw = await ch.responder.nextMethod(protocol === 'json-rpc' ? 'channels.error' : 'error');
    t.match(JSON.stringify(peerSaw.data), /block_hash_too_new/, 'the peer\'s client hears why');
    t.equal(await ch.roundOf('initiator'), 1, 'nothing changed');

    // pinned by hand: inside the responder's window it goes through, outside it does not
    const inside = await blockBelowTop(8);
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1, block_hash: inside.hash });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.equal(await ch.roundOf('responder'), 2, 'a key block 8 below the top is taken');
    const micro = (service.chain as DevChain).blockHash((await blockBelowTop(5)).height, 'mh');
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1, block_hash: micro });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.equal(await ch.roundOf('responder'), 3, 'a micro block 5 below the top too');

    const old = await blockBelowTop(40);
    ch.initiator.send('channels.deposit', { amount: 10n ** 18n, block_hash: old.hash });
    const tooOld = await ch.initiator.nextMethod('channels.conflict');
    t.equal(tooOld.data.error_code, 1);
    if (protocol === 'json-rpc') t.equal(tooOld.data.reason, 'block_hash_too_old', 'a deposit pinned 40 blocks back is too old');
    t.equal(await ch.roundOf('initiator'), 3, 'nothing changed');
    t.equal((await service.chain.channel(ch.channelId as any))?.round, 1, 'nothing went on chain');

    // the responder picks 3 + min(20, 3 + 0) = 6 below the top: inside the initiator's default window
    ch.responder.send('channels.withdraw', { amount: 10n ** 18n });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    t.equal(await ch.roundOf('initiator'), 4, 'the responder\'s withdraw is taken');
    ch.initiator.close(); ch.responder.close();

    // bh_delta_pick moves the initiator's pin back: 2 + min(20, 2 + 1) = 5 below the top, inside the window
    const picked = await openWith(protocol, { bh_delta_not_newer_than: 2, bh_delta_pick: 1, bh_delta_not_older_than: 20 },
      { bh_delta_not_newer_than: 3, bh_delta_not_older_than: 20 });
    picked.initiator.send('channels.update.new', { from: picked.i, to: picked.r, amount: 1 });
    await Promise.all([picked.initiator.nextMethod('channels.update'), picked.responder.nextMethod('channels.update')]);
    t.equal(await picked.roundOf('responder'), 2, 'a transfer pinned by bh_delta_pick is taken');
    picked.initiator.send('channels.shutdown', {});
    await Promise.all([picked.initiator.nextMethod('channels.info', 'closed_confirmed'), picked.responder.nextMethod('channels.info', 'closed_confirmed')]);
    t.pass('so is a mutual close, pinned the same way');
    picked.initiator.close(); picked.responder.close();
  });

  t.test(`${protocol}: bh_delta_* that do not fit are refused at connect time`, async (t) => {
    const [a, b] = await service.fundedAccounts(2);
    for (const [query, detail] of [
      [{ bh_delta_not_newer_than: 5, bh_delta_not_older_than: 4 }, /bh_delta_not_older_than \(4\) must be at least bh_delta_not_newer_than \+ bh_delta_pick \(5\)/],
      [{ bh_delta_pick: 11 }, /\(11\)/],
      [{ bh_delta_pick: -1 }, /must not be negative/],
      [{ bh_delta_pick: 'soon' }, /bh_delta_pick/],
    ] as const) {
      const client = await TestClient.connect(service.channelUrl, {
        role: 'initiator', host: 'localhost', initiator_id: a!.address, responder_id: b!.address, initiator_amount: 10n ** 21n,
        responder_amount: 10n ** 21n, channel_reserve: 10n ** 18n, lock_period: 10, port: 4000, ...query,
      }, protocol, a!);
      const e = await client.nextMethod('error');
      const [code, text] = refusal(protocol, e);
      t.equal(code, expected(protocol, 'invalid_params'), JSON.stringify(query));
      t.match(text, detail);
      await client.closedAndDone();
      t.equal(client.closed?.code, 1008);
    }
  });
}
