/**
 * The on-chain operations and generic messages of a channel between two services
 * (test/helpers/two-services.ts: the responder's client on A, embedded store; the initiator's on B,
 * Redis; B reaches A's peer port through a proxy), in both envelopes: deposit and withdraw proposed
 * from either side over the node's deposit_* and withdraw_* messages, the txs posted and their
 * coins checked on chain to the aetto, and inband messages both ways.
 */
import t from 'tap';
import { AccountMemory, Channel } from '../lib/sdk.js';
import { channelQuery } from './helpers/channel.js';
import { TestClient, type Protocol } from './helpers/client.js';
import { cosign, NETWORK_ID, unpackSignedTx } from './helpers/accounts.js';
import { ACROSS_AMOUNTS as AMOUNTS, openAcross, peerPort, PROXY_HOST, signRequestFor, twoServices, type Across, type TwoServices } from './helpers/two-services.js';
import type { AccountId, ChannelId } from '../fsm/types.js';

const feeOf = (signedTx: string) => BigInt((unpackSignedTx(signedTx).encodedTx as unknown as { fee: string }).fee);
const txOf = (signedTx: string) => unpackSignedTx(signedTx).encodedTx as Record<string, unknown> & { tag: number; round?: number };

type Role = 'initiator' | 'responder';
const ROLES = ['initiator', 'responder'] as const;


/** Balances as each service answers them. */
export async function balancesOf(ch: Across, role: Role): Promise<Record<string, bigint>> {
  const c = ch.clients[role];
  c.send('channels.get.balances', { accounts: [ch.address('initiator'), ch.address('responder')] }, 7);
  const reply = await c.next((m) => (m.method === 'result' || m.method === 'channels.get.balances') && Array.isArray(m.data));
  return Object.fromEntries((reply.data as Array<{ account: string; balance: string | number }>).map((b) => [b.account, BigInt(b.balance)]));
}

/** Marks where each client's messages stand, before an operation. */
const marks = (ch: Across): Record<Role, number> => ({ initiator: ch.clients.initiator.mark(), responder: ch.clients.responder.mark() });

/** What a client heard of an operation: from the mark through the channels.update that ends it. */
function operation(ch: Across, role: Role, since: Record<Role, number>): string[] {
  const heard = ch.clients[role].sequence(since[role]);
  return heard.slice(0, heard.indexOf('channels.update') + 1);
}

const s0 = twoServices(t);
let s: TwoServices;
t.before(async () => { s = await s0; });

for (const [protocol, depositor, withdrawer] of [['json-rpc', 'initiator', 'responder'], ['legacy', 'responder', 'initiator']] as const) {
  t.test(`${protocol}: a deposit by the ${depositor} and a withdraw by the ${withdrawer}, each on its own service, co-signed across and posted; messages both ways`, async (t) => {
    const ch = await openAcross(s, protocol);
    const { chain } = s;
    const other = (role: Role): Role => (role === 'initiator' ? 'responder' : 'initiator');
    const onChain = async (role: Role) => (await chain.account(ch.address(role)))!.balance;

    // deposit: deposit_created → deposit_signed across the link, posted by the depositor's service, deposit_locked both ways
    const before = await onChain(depositor);
    const deposit = 3n * 10n ** 17n + 11n;
    let since = marks(ch);
    ch.clients[depositor].send('channels.deposit', { amount: deposit });
    const [dState, dPeerState] = await Promise.all([
      ch.clients[depositor].nextMethod('channels.update', undefined, 30_000), ch.clients[other(depositor)].nextMethod('channels.update', undefined, 30_000)]);
    t.equal(dState.data.state, dPeerState.data.state, 'both services hold the same co-signed deposit tx');
    const dTx = txOf(dState.data.state);
    t.equal(dTx.tag, 51, 'a ChannelDepositTx');
    t.equal(dTx.round, 2);
    t.equal(dTx.fromId, ch.address(depositor), 'from the depositor');
    t.same(operation(ch, depositor, since),
      ['channels.sign.deposit_tx', 'on_chain_tx:deposit_signed', 'on_chain_tx:channel_changed', 'info:own_deposit_locked', 'info:deposit_locked', 'channels.update'],
      'the depositor\'s sequence, as the node\'s');
    t.same(operation(ch, other(depositor), since),
      ['info:deposit_created', 'channels.sign.deposit_ack', 'on_chain_tx:deposit_created', 'on_chain_tx:channel_changed', 'info:own_deposit_locked', 'info:deposit_locked', 'channels.update'],
      'the other side\'s sequence, as the node\'s');
    t.equal(await onChain(depositor), before - deposit - feeOf(dState.data.state), 'amount and fee left the depositor\'s account on chain');
    const afterDeposit = await chain.channel(ch.channelId);
    t.equal(afterDeposit?.channelAmount, AMOUNTS.initiatorAmount + AMOUNTS.responderAmount + deposit, 'the channel on chain holds the deposit');
    t.equal(afterDeposit?.round, 2);
    const bal = await balancesOf(ch, 'initiator');
    t.same(bal, await balancesOf(ch, 'responder'), 'the same balances on both services');
    t.equal(bal[ch.address(depositor)], AMOUNTS.initiatorAmount + deposit, 'the depositor\'s channel balance grew');

    // withdraw: withdraw_created → withdraw_signed, posted, withdraw_locked both ways
    const beforeW = await onChain(withdrawer);
    const withdraw = 2n * 10n ** 17n + 5n;
    since = marks(ch);
    ch.clients[withdrawer].send('channels.withdraw', { amount: withdraw });
    const [wState, wPeerState] = await Promise.all([
      ch.clients[withdrawer].nextMethod('channels.update', undefined, 30_000), ch.clients[other(withdrawer)].nextMethod('channels.update', undefined, 30_000)]);
    t.equal(wState.data.state, wPeerState.data.state, 'both services hold the same co-signed withdraw tx');
    const wTx = txOf(wState.data.state);
    t.equal(wTx.tag, 52, 'a ChannelWithdrawTx');
    t.equal(wTx.round, 3);
    t.same(operation(ch, withdrawer, since),
      ['channels.sign.withdraw_tx', 'on_chain_tx:withdraw_signed', 'on_chain_tx:channel_changed', 'info:own_withdraw_locked', 'info:withdraw_locked', 'channels.update']);
    t.same(operation(ch, other(withdrawer), since),
      ['info:withdraw_created', 'channels.sign.withdraw_ack', 'on_chain_tx:withdraw_created', 'on_chain_tx:channel_changed', 'info:own_withdraw_locked', 'info:withdraw_locked', 'channels.update']);
    t.equal(await onChain(withdrawer), beforeW + withdraw - feeOf(wState.data.state), 'the withdrawer got the amount on chain and paid the fee');
    const afterWithdraw = await chain.channel(ch.channelId);
    t.equal(afterWithdraw?.channelAmount, AMOUNTS.initiatorAmount + AMOUNTS.responderAmount + deposit - withdraw, 'the channel on chain gave it');
    t.equal(afterWithdraw?.round, 3);
    const bal2 = await balancesOf(ch, 'responder');
    t.same(bal2, await balancesOf(ch, 'initiator'), 'the same balances on both services');
    t.equal(bal2[ch.address(withdrawer)], (withdrawer === depositor ? AMOUNTS.initiatorAmount + deposit : AMOUNTS.initiatorAmount) - withdraw);

    // generic messages both ways (the node's inband_msg)
    for (const [from, to, info] of [['initiator', 'responder', 'hello from B'], ['responder', 'initiator', `{"from":"A","n":${protocol.length}}`]] as const) {
      ch.clients[to].mark();
      ch.clients[from].send('channels.message', { to: ch.address(to), info });
      const got = await ch.clients[to].nextMethod('channels.message');
      t.same(got.data.message, { channel_id: ch.channelId, from: ch.address(from), to: ch.address(to), info }, `a message from the ${from}, as sent`);
    }

    // off-chain transfers go on after the on-chain operations
    for (const role of ROLES) ch.clients[role].mark();
    ch.clients.initiator.send('channels.update.new', { from: ch.address('initiator'), to: ch.address('responder'), amount: 9 });
    const [u1, u2] = await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.update')));
    t.equal(u1!.data.state, u2!.data.state);
    t.equal(txOf(u1!.data.state).round, 4, 'a transfer after them');
    // each on-chain tx is reported once, however late the chain watcher sees it after the tx watcher
    await Promise.all(ROLES.map((r) => ch.clients[r].quiet(500)));
    for (const role of ROLES) t.equal(ch.clients[role].sequence().filter((m) => m === 'on_chain_tx:channel_changed').length, 3, `${role}: channel_changed once each for the create, the deposit and the withdraw`);
    for (const role of ROLES) ch.clients[role].close();
  });
}

t.test('json-rpc: refused on-chain operations across: the chain refuses a deposit, the peer declines a withdraw, both propose at once; nothing moves and the channel goes on', async (t) => {
  const ch = await openAcross(s, 'json-rpc');
  const { chain } = s;
  const total = AMOUNTS.initiatorAmount + AMOUNTS.responderAmount;

  // more than the depositor holds on chain: its service posts it, the chain refuses, both hear code 5 (rejected on-chain)
  for (const role of ROLES) ch.clients[role].mark();
  ch.clients.responder.send('channels.deposit', { amount: 10n ** 23n });
  const [ci, cr] = await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.conflict', undefined, 30_000)));
  t.same([ci!.data.error_code, cr!.data.error_code], [5, 5], 'rejected on-chain, on both services');
  t.same([ci!.data.round, cr!.data.round], [1, 1], 'both back on the last co-signed round');
  t.equal((await chain.channel(ch.channelId))?.channelAmount, total, 'nothing moved on chain');

  // the initiator's client declines to co-sign a withdraw with its own code: the withdrawer hears it
  ch.clients.initiator.policy = (tag) => (tag === 'withdraw_ack' ? 147 : 'sign');
  for (const role of ROLES) ch.clients[role].mark();
  ch.clients.responder.send('channels.withdraw', { amount: 1000 });
  const declined = await ch.clients.responder.nextMethod('channels.conflict', undefined, 30_000);
  t.equal(declined.data.error_code, 147, 'the peer client\'s code, across the link');
  t.equal(declined.data.round, 1);
  await ch.clients.initiator.nextMethod('channels.info', 'aborted_update');
  ch.clients.initiator.policy = () => 'sign';

  // a deposit and a withdraw proposed at once from both services: the node's conflict, both stay on round 1
  for (const role of ROLES) ch.clients[role].mark();
  ch.clients.initiator.send('channels.deposit', { amount: 1000 });
  ch.clients.responder.send('channels.withdraw', { amount: 1000 });
  const [xi, xr] = await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.conflict', undefined, 30_000)));
  t.same([xi!.data.round, xr!.data.round], [1, 1], 'a conflict on both, back on round 1');
  await Promise.all(ROLES.map((r) => ch.clients[r].quiet(300)));
  t.equal((await chain.channel(ch.channelId))?.round, 1, 'nothing posted');

  // and then a deposit goes through
  for (const role of ROLES) ch.clients[role].mark();
  ch.clients.initiator.send('channels.deposit', { amount: 1000 });
  const [d1, d2] = await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.update', undefined, 30_000)));
  t.equal(d1!.data.state, d2!.data.state);
  t.equal(txOf(d1!.data.state).round, 2, 'the next round after the refusals');
  t.equal((await chain.channel(ch.channelId))?.channelAmount, total + 1000n, 'on chain');
  t.same(await balancesOf(ch, 'initiator'), await balancesOf(ch, 'responder'), 'the same balances on both services');
  for (const role of ROLES) ch.clients[role].close();
});

t.test('legacy: a snapshot from B, an honest solo close from A, a settle from B: each built and posted by its own service', async (t) => {
  const ch = await openAcross(s, 'legacy');
  const { chain } = s;
  for (const role of ROLES) ch.clients[role].mark();
  ch.clients.initiator.send('channels.update.new', { from: ch.address('initiator'), to: ch.address('responder'), amount: 1234 });
  await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.update')));

  const snapshot = await signRequestFor(ch.clients.initiator, 'channels.snapshot_solo');
  t.equal(txOf(snapshot).tag, 59, 'a ChannelSnapshotSoloTx');
  ch.clients.initiator.reply('snapshot_solo_tx', { signed_tx: await cosign(ch.accounts.initiator, snapshot) });
  await Promise.all(ROLES.map((r) => ch.clients[r].next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'channel_changed', 20_000)));
  t.equal((await chain.channel(ch.channelId))?.round, 2, 'the chain has round 2, and both services saw it');

  const close = await signRequestFor(ch.clients.responder, 'channels.close_solo');
  t.equal(txOf(close).tag, 54, 'a ChannelCloseSoloTx');
  ch.clients.responder.reply('close_solo_sign', { signed_tx: await cosign(ch.accounts.responder, close) });
  for (const role of ROLES) {
    await ch.clients[role].next((m) => m.method === 'channels.on_chain_tx' && m.data.info === 'solo_closing', 20_000);
    await ch.clients[role].nextMethod('channels.info', 'closing');
  }
  t.pass('both services see the channel closing on round 2, nothing newer to slash with');
  const before = { initiator: (await chain.account(ch.address('initiator')))!.balance, responder: (await chain.account(ch.address('responder')))!.balance };
  const settle = await signRequestFor(ch.clients.initiator, 'channels.settle');
  ch.clients.initiator.reply('settle_sign', { signed_tx: await cosign(ch.accounts.initiator, settle) });
  await Promise.all(ROLES.map((r) => ch.clients[r].nextMethod('channels.info', 'died', 20_000)));
  t.equal(await chain.channel(ch.channelId), null, 'settled');
  t.equal((await chain.account(ch.address('initiator')))!.balance, before.initiator + AMOUNTS.initiatorAmount - 1234n - feeOf(settle), 'the settler is paid its balance, less the fee');
  t.equal((await chain.account(ch.address('responder')))!.balance, before.responder + AMOUNTS.responderAmount + 1234n, 'the closer is paid its balance');
});

t.test('the unmodified SDK Channel on both services: a deposit by the initiator on B, a withdraw by the responder on A', async (t) => {
  const [initiator, responder] = await s.funded(2, 3n * 10n ** 15n) as [AccountMemory, AccountMemory];
  const port = peerPort();
  await s.proxy.forward(port);
  type Tx = `tx_${string}`;
  type Options = Parameters<typeof Channel.initialize>[0];
  const signer = (account: AccountMemory) => async (tx: Tx) => account.signTransaction(tx, { networkId: NETWORK_ID });
  const shared = {
    pushAmount: 0, initiatorAmount: 5e14, responderAmount: 5e14, channelReserve: 0, port, lockPeriod: 1,
    initiatorId: initiator.address, responderId: responder.address, minimumDepth: 0, minimumDepthStrategy: 'plain',
  };
  /** the other side's SDK hears the new round a moment after the proposer's call resolves */
  const onRound = (ch: Channel, round: number, until = Date.now() + 10_000) => new Promise<void>((resolve, reject) => {
    const check = () => (ch.round() === round ? resolve() : Date.now() > until ? reject(new Error(`never on round ${round}`)) : setTimeout(check, 20));
    check();
  });
  const isOpen = (ch: Channel) => new Promise<void>((resolve) => ch.on('statusChanged', (st) => { if (st === 'open') resolve(); }));
  const responderCh = await Channel.initialize({ ...shared, url: s.a.channelUrl, role: 'responder', sign: (_tag: string, tx: Tx) => signer(responder)(tx) } as unknown as Options);
  const rOpen = isOpen(responderCh);
  const initiatorCh = await Channel.initialize({ ...shared, url: s.b.channelUrl, role: 'initiator', host: PROXY_HOST, sign: (_tag: string, tx: Tx) => signer(initiator)(tx) } as unknown as Options);
  await Promise.all([isOpen(initiatorCh), rOpen]);
  t.teardown(() => { initiatorCh.disconnect(); responderCh.disconnect(); });

  const locked: string[] = [];
  const deposit = await initiatorCh.deposit(1e14, signer(initiator), {
    onOnChainTx: () => locked.push('on_chain_tx'), onOwnDepositLocked: () => locked.push('own_deposit_locked'), onDepositLocked: () => locked.push('deposit_locked'),
  });
  t.equal(deposit.accepted, true, 'the SDK\'s deposit is accepted across');
  t.same(locked.filter((c, i) => c !== locked[i - 1]), ['on_chain_tx', 'own_deposit_locked', 'deposit_locked'], 'with the node\'s callbacks in the node\'s order');
  // the responder's SDK takes its own reports of the deposit before it is asked for something else
  await onRound(responderCh, 2);
  t.equal((await s.chain.channel(initiatorCh.id() as ChannelId))?.channelAmount, 11n * 10n ** 14n, 'on chain');
  const withdraw = await responderCh.withdraw(2e14, signer(responder));
  t.equal(withdraw.accepted, true, 'the SDK\'s withdraw is accepted across');
  t.equal((await s.chain.channel(initiatorCh.id() as ChannelId))?.channelAmount, 9n * 10n ** 14n, 'on chain');
  await onRound(initiatorCh, 3);
  t.equal(responderCh.round(), 3, 'both SDKs on round 3');
  const balances = await responderCh.balances([initiator.address, responder.address]);
  t.same(balances, await initiatorCh.balances([initiator.address, responder.address]), 'the same balances on both services');
  t.same([BigInt(balances[initiator.address]!), BigInt(balances[responder.address]!)], [6n * 10n ** 14n, 3n * 10n ** 14n]);
});
