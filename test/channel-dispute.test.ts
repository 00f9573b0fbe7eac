/**
 * Disputes over real WebSockets in both envelopes: a counterparty that solo-closes with an old
 * co-signed round is caught (can_slash), slashed and settled, and the payout matches the latest
 * co-signed balances to the aetto. Also snapshots, an honest solo close, and the refusals.
 */
import t from 'tap';
import { buildTx, buildTxHash, Tag, type AccountMemory } from '../lib/sdk.js';
import { openChannel, poiNow, type OpenedChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { cosign, unpackSignedTx } from './helpers/accounts.js';
import type { TestClient } from './helpers/client.js';
import { MIN_GAS_PRICE, minimumFee } from '../lib/tx/gas-price.js';

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

const balanceOf = async (account: string) => (await service.chain.account(account as `ak_${string}`))!.balance;
const feeOf = (signedTx: string) => BigInt((unpackSignedTx(signedTx).encodedTx as unknown as { fee: string }).fee);

async function transfer(ch: OpenedChannel, from: TestClient, fromAccount: string, to: string, amount: bigint) {
  from.send('channels.update.new', { from: fromAccount, to, amount });
  const [a] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  return a.data.state as string;
}


/** Posts a tx straight to the node HTTP API, as a cheater would, bypassing the service. */
async function postDirect(tx: string): Promise<string> {
  const res = await fetch(`${service.nodeUrl}/v3/transactions`, { method: 'POST', body: JSON.stringify({ tx }), headers: { 'content-type': 'application/json' } });
  const body = await res.json() as { tx_hash?: string; reason?: string };
  if (!res.ok) throw new Error(body.reason);
  return body.tx_hash!;
}

/** Sends a dispute request and signs what comes back, retrying settle until the lock has passed. */
async function dispute(client: TestClient, method: string, params: Record<string, unknown> = {}, until = Date.now() + 15_000): Promise<string> {
  for (;;) {
    client.send(method, params);
    const reply = await client.next((m) => m.method.startsWith('channels.sign.') || m.method === 'error');
    if (reply.method !== 'error') return reply.data.signed_tx;
    if (Date.now() > until) throw new Error(`${method} refused: ${JSON.stringify(reply.data)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: a cheater closes on an old round; the victim slashes and settles with the latest`, async (t) => {
    const ch = await openChannel(service, protocol);
    const [cheater, victim] = [ch.initiatorAccount, ch.responderAccount] as [AccountMemory, AccountMemory];
    await transfer(ch, ch.initiator, cheater.address, victim.address, 10n ** 20n);
    const oldState = await transfer(ch, ch.responder, victim.address, cheater.address, 9n * 10n ** 19n); // round 3: cheater is better off here
    const oldPoi = await poiNow(ch.initiator, ch);
    await transfer(ch, ch.initiator, cheater.address, victim.address, 5n * 10n ** 20n + 7n); // round 4: the latest
    const latest = { cheater: 10n ** 21n - 10n ** 20n + 9n * 10n ** 19n - (5n * 10n ** 20n + 7n) };
    const latestVictim = 2n * 10n ** 21n - latest.cheater;

    const [cheaterBefore, victimBefore] = [await balanceOf(cheater.address), await balanceOf(victim.address)];
    const nonce = (await service.chain.nextNonce(cheater.address));
    const closeSolo = await cosign(cheater, buildTx({
      tag: Tag.ChannelCloseSoloTx, channelId: ch.channelId as `ch_${string}`, fromId: cheater.address,
      payload: oldState as `tx_${string}`, poi: (await import('../lib/sdk.js')).unpackEntry(oldPoi as `pi_${string}`), ttl: 0, nonce,
    } as Parameters<typeof buildTx>[0]));
    await postDirect(closeSolo);

    const canSlash = await ch.responder.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'can_slash');
    t.equal(canSlash.data.tx, ch.responder.received.filter((m) => m.method === 'channels.update').at(-1)!.data.state, 'with our latest co-signed state');
    await ch.responder.nextMethod('channels.info', 'closing');
    ch.responder.send('channels.update.new', { from: victim.address, to: cheater.address, amount: 1 });
    const busy = await ch.responder.nextMethod('error');
    t.ok(busy, 'no off-chain updates while closing');

    // the node's chain terms on a slash: a fee below its least one is refused, a gas price sets it
    ch.responder.send('channels.slash', { fee: 1000 });
    const cheap = await ch.responder.nextMethod('error');
    t.match(JSON.stringify(cheap.data), /fee 1000 is below the least fee/, 'a slash fee too low is refused');
    const slashNonce = await service.chain.nextNonce(victim.address);
    const slash = await dispute(ch.responder, 'channels.slash', { gas_price: 3n * MIN_GAS_PRICE, nonce: slashNonce });
    t.equal(unpackSignedTx(slash).encodedTx.tag, Tag.ChannelSlashTx);
    t.equal(feeOf(slash), 3n * minimumFee(buildTx(unpackSignedTx(slash).encodedTx as Parameters<typeof buildTx>[0]) as `tx_${string}`), 'the slash pays three times its least fee');
    t.equal(unpackSignedTx(slash).encodedTx.nonce, slashNonce, 'with the nonce asked for');
    ch.responder.reply('slash_tx', { signed_tx: await cosign(victim, slash) });
    const slashed = await ch.responder.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'solo_closing');
    t.equal(unpackSignedTx(slashed.data.tx).encodedTx.tag, Tag.ChannelSlashTx, 'both see the slash');
    t.equal(slashed.data.type, 'channel_slash_tx', 'named by its own type, as the node does');
    const cheaterSees = await ch.initiator.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'solo_closing');
    t.equal(cheaterSees.data.type, 'channel_slash_tx');
    t.equal((await service.chain.channel(ch.channelId as any))?.round, 4, 'the chain now closes on the latest round');

    const settle = await dispute(ch.responder, 'channels.settle');
    ch.responder.reply('settle_sign', { signed_tx: await cosign(victim, settle) });
    await Promise.all([ch.responder.nextMethod('channels.info', 'closed_confirmed'), ch.initiator.nextMethod('channels.info', 'closed_confirmed')]);
    await Promise.all([ch.responder.nextMethod('channels.info', 'died'), ch.initiator.nextMethod('channels.info', 'died')]);
    t.equal(await service.chain.channel(ch.channelId as any), null, 'settled');

    t.equal(await balanceOf(victim.address), victimBefore + latestVictim - feeOf(slash) - feeOf(settle), 'the victim gets its latest balance to the aetto');
    t.equal(await balanceOf(cheater.address), cheaterBefore + latest.cheater - feeOf(closeSolo), 'the cheater gets only its latest balance');
  });

  t.test(`${protocol}: snapshots record the latest round on chain; refusals say why`, async (t) => {
    const ch = await openChannel(service, protocol);
    let last: any;
    const code = async (client: TestClient) => {
      last = (await client.nextMethod('error')).data;
      return protocol === 'json-rpc' ? last.data[0].code : last.reason;
    };
    ch.initiator.send('channels.snapshot_solo');
    t.equal(await code(ch.initiator), protocol === 'json-rpc' ? 1012 : 'not_offchain_tx', 'nothing off-chain to snapshot yet');
    // the node's codes and fixed texts: code 2 "Action not allowed" at the top for this one
    if (protocol === 'json-rpc') t.match(last, { code: 2, message: 'Action not allowed', data: [{ code: 1012, message: 'Offchain tx expected' }] });
    else t.match(last, { reason: 'not_offchain_tx', code: 1012, message: 'Offchain tx expected' });
    ch.initiator.send('channels.slash');
    t.equal(await code(ch.initiator), protocol === 'json-rpc' ? 1018 : 'not_allowed_now', 'no slash while the channel is active');
    ch.initiator.send('channels.settle');
    t.equal(await code(ch.initiator), protocol === 'json-rpc' ? 1018 : 'not_allowed_now');

    await transfer(ch, ch.initiator, ch.initiatorAccount.address, ch.responderAccount.address, 42n);
    const snapshot = await dispute(ch.initiator, 'channels.snapshot_solo');
    t.equal(unpackSignedTx(snapshot).encodedTx.tag, Tag.ChannelSnapshotSoloTx);
    const signedSnapshot = await cosign(ch.initiatorAccount, snapshot);
    ch.initiator.reply('snapshot_solo_tx', { signed_tx: signedSnapshot });
    const changed = await Promise.all([ch.initiator.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'channel_changed'),
      ch.responder.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'channel_changed')]);
    t.same(changed.map((m) => m.data.type), ['channel_snapshot_solo_tx', 'channel_snapshot_solo_tx']);
    t.equal((await service.chain.channel(ch.channelId as any))?.round, 2);
    // its sender hears when it is at minimum depth, as the node tells it (`type`, as the node names it)
    // (at depth 0 it may come before the chain watcher's channel_changed)
    const deep = ch.initiator.received.find((m) => m.data?.event === 'min_depth_achieved') ?? await ch.initiator.nextMethod('channels.info', 'min_depth_achieved');
    t.same(deep.data, { event: 'min_depth_achieved', type: 'channel_snapshot_solo_tx', tx_hash: buildTxHash(signedSnapshot as `tx_${string}`) });
    t.notOk(ch.responder.received.some((m) => m.data?.event === 'min_depth_achieved'), 'only the sender is told');
    ch.initiator.send('channels.snapshot_solo');
    t.equal(await code(ch.initiator), protocol === 'json-rpc' ? 1013 : 'already_onchain', 'the chain has it already');
    const said = protocol === 'json-rpc' ? last.data[0] : last;
    t.match(said, { code: 1013, message: 'Tx already on-chain' }, 'the node\'s fixed text');
    if (protocol === 'json-rpc') t.match(last, { code: 3, message: 'Rejected' });
    await transfer(ch, ch.responder, ch.responderAccount.address, ch.initiatorAccount.address, 2n);
    t.equal((await service.store.load(ch.channelId as any, 'initiator'))?.state.round, 3, 'off-chain updates go on');
    ch.initiator.close(); ch.responder.close();
  });

  t.test(`${protocol}: an honest solo close, then settle by the other side`, async (t) => {
    const ch = await openChannel(service, protocol);
    await transfer(ch, ch.initiator, ch.initiatorAccount.address, ch.responderAccount.address, 1000n);
    const close = await dispute(ch.initiator, 'channels.close_solo');
    t.equal(unpackSignedTx(close).encodedTx.tag, Tag.ChannelCloseSoloTx);
    ch.initiator.reply('close_solo_sign', { signed_tx: await cosign(ch.initiatorAccount, close) });
    for (const client of [ch.initiator, ch.responder]) {
      await client.next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'solo_closing');
      await client.nextMethod('channels.info', 'closing');
    }
    ch.responder.send('channels.slash');
    const nothing = await ch.responder.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? nothing.data.data[0].code : nothing.data.reason, protocol === 'json-rpc' ? 1013 : 'already_onchain', 'nothing newer to slash with');
    const rBefore = await balanceOf(ch.responderAccount.address);
    const settle = await dispute(ch.responder, 'channels.settle');
    ch.responder.reply('settle_sign', { signed_tx: await cosign(ch.responderAccount, settle) });
    await Promise.all([ch.initiator.nextMethod('channels.info', 'died'), ch.responder.nextMethod('channels.info', 'died')]);
    t.equal(await balanceOf(ch.responderAccount.address), rBefore + 10n ** 21n + 1000n - feeOf(settle));
  });
}
