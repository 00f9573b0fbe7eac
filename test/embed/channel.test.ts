/**
 * An in-process participant (lib/embed/) with the aepp-sdk `Channel`'s API: its peer is the unmodified
 * SDK `Channel` over a real WebSocket, or another in-process participant. Same statuses, events,
 * results and error classes as the SDK; reestablish after a restart of the service from its store.
 */
import t from 'tap';
import {
  AccountMemory, Channel, ChannelCallError, ChannelConnectionError, IllegalArgumentError, InsufficientBalanceError, Tag, unpackTx,
} from '../../lib/sdk.js';
import { ChannelRefusedError, type EmbeddedChannel } from '../../lib/embed/channel.js';
import { NETWORK_ID } from '../helpers/accounts.js';
import { cleanup, fund, reaches, startTestEmbedded } from '../helpers/embedded.js';
import { testStorage } from '../helpers/storage.js';

type Tx = `tx_${string}`;
type Options = Parameters<typeof Channel.initialize>[0];
let nextPort = 40_000 + Math.floor(Math.random() * 10_000);

const signer = (account: AccountMemory) => async (tx: Tx) => account.signTransaction(tx, { networkId: NETWORK_ID });
const tagSigner = (account: AccountMemory, seen: string[] = []) => async (tag: string, tx: Tx) => { seen.push(tag); return signer(account)(tx); };

const storage = testStorage();
let embedded = await startTestEmbedded(storage);
t.teardown(async () => { await embedded.stop(); await cleanup(storage); });

function common(initiator: AccountMemory, responder: AccountMemory, port = nextPort++) {
  return {
    initiatorId: initiator.address, responderId: responder.address, initiatorAmount: 10n ** 21n, responderAmount: 10n ** 21n,
    pushAmount: 0, channelReserve: 10n ** 18n, lockPeriod: 10, port, minimumDepth: 0, minimumDepthStrategy: 'plain' as const,
  };
}

t.test('a backend responder in-process, a player with the SDK over WebSocket', async (t) => {
  const [player, backend] = await fund(embedded.nodeUrl, 2);
  const shared = common(player!, backend!);
  const backendTags: string[] = [];
  const statuses: string[] = [];
  const stateChanges: string[] = [];
  const ch = await embedded.channel({ ...shared, role: 'responder', sign: tagSigner(backend!, backendTags) });
  ch.on('statusChanged', (s) => statuses.push(s));
  ch.on('stateChanged', (s) => stateChanges.push(s));
  t.equal(ch.status(), 'connected');
  const playerCh = await Channel.initialize({
    ...shared, initiatorAmount: 1e21, responderAmount: 1e21, channelReserve: 1e18,
    url: embedded.channelUrl, role: 'initiator', host: 'localhost', sign: tagSigner(player!),
  } as unknown as Options);
  await Promise.all([reaches(ch, 'open'), reaches(playerCh, 'open')]);
  t.same(statuses, ['halfSigned', 'open'], 'the statuses the SDK\'s responder goes through');
  t.equal(ch.round(), 1);
  t.equal(ch.id(), playerCh.id());
  t.match(ch.fsmId(), /^ba_/);
  t.same(backendTags, ['responder_sign']);
  t.equal(stateChanges.length, 1);

  // the player pays: the backend co-signs through its sign callback
  const paid = await playerCh.update(player!.address, backend!.address, 10n ** 18n as unknown as number, signer(player!));
  t.equal(paid.accepted, true);
  t.same(backendTags, ['responder_sign', 'update_ack']);
  t.equal(ch.round(), 2);
  t.same(await ch.balances([player!.address, backend!.address]), { [player!.address]: '999000000000000000000', [backend!.address]: '1001000000000000000000' });

  // the backend pays out: same result shape as the SDK's update
  const payout = await ch.update(backend!.address, player!.address, 5n * 10n ** 17n, signer(backend!), ['round 1 won']);
  t.equal(payout.accepted, true);
  t.match(payout.signedTx, /^tx_/);
  t.equal(ch.round(), 3);
  // the backend's update ends with its own round stored; the player hears of it over its socket
  await new Promise<void>((resolve) => {
    if (playerCh.round() === 3) resolve();
    else playerCh.on('stateChanged', () => { if (playerCh.round() === 3) resolve(); });
  });
  t.equal(playerCh.round(), 3);
  const sdkState = await playerCh.state();
  const ourState = await ch.state();
  t.same(ourState.signedTx, sdkState.signedTx, 'state() is the SDK\'s shape');
  t.same(ourState.trees, sdkState.trees);
  const poi = await ch.poi({ accounts: [player!.address, backend!.address] });
  t.same(poi, await playerCh.poi({ accounts: [player!.address, backend!.address] }));

  // messages both ways
  const toBackend = new Promise((resolve) => ch.on('message', resolve));
  await playerCh.sendMessage('hello backend', backend!.address);
  t.same(await toBackend, { channel_id: ch.id(), from: player!.address, to: backend!.address, info: 'hello backend' });
  const toPlayer = new Promise((resolve) => playerCh.on('message', resolve));
  await ch.sendMessage({ round: 2 }, player!.address);
  t.same(await toPlayer, { channel_id: ch.id(), from: backend!.address, to: player!.address, info: '{"round":2}' });

  // a declined update, an aborted one, the SDK's errors
  const declined = await ch.update(backend!.address, player!.address, 1, async () => null);
  t.same(declined, { accepted: false });
  await t.rejects(ch.update(backend!.address, player!.address, -10, signer(backend!)), IllegalArgumentError);
  await t.rejects(ch.update(backend!.address, player!.address, -10, signer(backend!)), /Amount cannot be negative/);
  await t.rejects(ch.update(backend!.address, player!.address, 10n ** 24n, signer(backend!)), InsufficientBalanceError);
  await t.rejects(ch.update('ak_123' as never, player!.address, 1, signer(backend!)), ChannelConnectionError);
  await t.rejects(ch.update('ak_123' as never, player!.address, 1, signer(backend!)), /Rejected/);
  await t.rejects(ch.balances(['ak_123' as never]), ChannelCallError);

  // deposit and withdraw from the backend's side, with the SDK's callbacks
  const onChain: string[] = [];
  const locked: string[] = [];
  const deposit = await ch.deposit(10n ** 18n, signer(backend!), { onOnChainTx: (tx) => onChain.push(tx), onOwnDepositLocked: () => locked.push('own'), onDepositLocked: () => locked.push('peer') });
  t.equal(deposit.accepted, true);
  t.equal(unpackTx(onChain[0] as Tx).tag, Tag.SignedTx);
  t.same(locked.sort(), ['own', 'peer']);
  const withdraw = await ch.withdraw(10n ** 18n, signer(backend!));
  t.equal(withdraw.accepted, true);
  t.equal(ch.round(), 5);

  // mutual close started by the backend: resolves with the close tx
  const closeTx = await ch.shutdown(signer(backend!));
  t.match(closeTx, /^tx_/);
  t.equal((unpackTx(closeTx as Tx, Tag.SignedTx) as unknown as { encodedTx: { tag: Tag } }).encodedTx.tag, Tag.ChannelCloseMutualTx);
  playerCh.disconnect();
});

t.test('two in-process participants: leave, reestablish, and reestablish after a restart', async (t) => {
  const [a, b] = await fund(embedded.nodeUrl, 2);
  const shared = common(a!, b!);
  let initiator: EmbeddedChannel = await embedded.channel({ ...shared, role: 'initiator', host: 'localhost', sign: tagSigner(a!) });
  let responder: EmbeddedChannel = await embedded.channel({ ...shared, role: 'responder', sign: tagSigner(b!) });
  await Promise.all([reaches(initiator, 'open'), reaches(responder, 'open')]);
  t.equal((await initiator.update(a!.address, b!.address, 100, signer(a!))).accepted, true);
  const left = await initiator.leave();
  t.equal(left.channelId, initiator.id());
  t.equal(initiator.status(), 'disconnected');
  const ids = { channelId: initiator.id(), fsmIds: [initiator.fsmId(), responder.fsmId()] };

  initiator = await embedded.channel({
    ...shared, role: 'initiator', host: 'localhost', sign: tagSigner(a!), reestablish: true, existingChannelId: ids.channelId, existingFsmId: ids.fsmIds[0],
  });
  await reaches(initiator, 'open');
  t.equal(initiator.round(), 2);
  t.equal((await responder.update(b!.address, a!.address, 40, signer(b!))).accepted, true);
  t.equal(initiator.round(), 3);

  // the service stops (both in-process clients are disconnected) and starts again on the same store
  const fsmIds = [initiator.fsmId(), responder.fsmId()];
  await embedded.stop();
  t.equal(initiator.status(), 'disconnected');
  embedded = await startTestEmbedded(storage);
  const again = (role: 'initiator' | 'responder', fsmId: string, account: AccountMemory) => embedded.channel({
    ...shared, role, ...(role === 'initiator' && { host: 'localhost' }), sign: tagSigner(account), reestablish: true, existingChannelId: ids.channelId, existingFsmId: fsmId,
  });
  responder = await again('responder', fsmIds[1]!, b!);
  initiator = await again('initiator', fsmIds[0]!, a!);
  await Promise.all([reaches(initiator, 'open'), reaches(responder, 'open')]);
  t.equal(initiator.round(), 3, 'the rounds co-signed before the restart are kept');
  t.same(await initiator.balances([a!.address, b!.address]), { [a!.address]: String(10n ** 21n - 60n), [b!.address]: String(10n ** 21n + 60n) });
  t.equal((await initiator.update(a!.address, b!.address, 1, signer(a!))).accepted, true);
  t.equal(responder.round(), 4);

  // a wrong fsm id is refused with the node's reason
  await t.rejects(embedded.channel({
    ...shared, role: 'initiator', host: 'localhost', sign: tagSigner(a!), existingChannelId: ids.channelId, existingFsmId: fsmIds[1]!,
  }), { name: 'ChannelRefusedError', reason: 'invalid_fsm_id' });
  initiator.disconnect();
  responder.disconnect();
  t.equal(responder.status(), 'disconnected');
});

t.test('refusals at connect time reject initialize with the node\'s reason', async (t) => {
  const [a] = await fund(embedded.nodeUrl, 1);
  const poor = AccountMemory.generate();
  const shared = common(a!, poor);
  await t.rejects(embedded.channel({ ...shared, role: 'responder', sign: tagSigner(poor) }), { name: 'ChannelRefusedError', reason: 'participant_not_found' });
  await t.rejects(embedded.channel({ ...shared, role: 'responder', sign: tagSigner(poor), lockPeriod: 'x' as never }), ChannelRefusedError);
  await t.rejects(embedded.channel({ ...shared, initiatorId: 'ak_nope' as never, role: 'responder', sign: tagSigner(poor) }), { name: 'ChannelRefusedError', reason: 'invalid_pubkeys' });
  await t.rejects(embedded.channel({ ...shared, role: 'responder', sign: tagSigner(poor), existingFsmId: 'ba_x' }), IllegalArgumentError);
  await t.rejects(embedded.channel({ ...shared, role: 'responder' } as never), /`sign` must be a function/);
  t.ok(new ChannelRefusedError('invalid_params', 'x') instanceof ChannelConnectionError);
});
