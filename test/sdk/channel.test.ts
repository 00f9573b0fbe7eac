/**
 * The published @aeternity/aepp-sdk (v14) `Channel` and `AeSdk`, unmodified and through their public
 * API only, against the service started with `npm start`. The cases follow what the SDK's own channel
 * integration tests exercise against an Aeternity node (written here anew): open, errors on incoming
 * messages, updates accepted / rejected / aborted / aborted with a code / with metadata, proof of
 * inclusion, messages, withdraw and deposit in the same four ways, close, leave, reestablish, and
 * the SDK's errors for a negative amount, insufficient balance and an incorrect address.
 */
import t from 'tap';
import {
  AccountMemory, AeSdk, Channel, ChannelConnectionError, ChannelIncomingMessageError, IllegalArgumentError,
  InsufficientBalanceError, Tag, UnknownChannelStateError, buildTx, unpackTx,
} from '../../lib/sdk.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from '../helpers/service.js';
import { NETWORK_ID } from '../helpers/accounts.js';

type Tx = `tx_${string}`;
type Options = Parameters<typeof Channel.initialize>[0];
type Call = unknown[];

/** A recording wrapper, like a test spy: every call's arguments are kept. */
function recorded<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { calls: Call[]; reset(): void } {
  const calls: Call[] = [];
  const wrapper = Object.assign((...args: A) => { calls.push(args); return fn(...args); }, { calls, reset: () => { calls.length = 0; } });
  return wrapper;
}

let service: ServiceProcess;
let aeSdk: AeSdk;
let initiator: AccountMemory;
let responder: AccountMemory;
let initiatorCh: Channel;
let responderCh: Channel;
/** how the responder's wallet answers: sign, decline (null), or a custom error code */
let responderAnswer: 'sign' | 'decline' | number = 'sign';

const initiatorSign = recorded(async (tx: Tx, _o?: unknown) => initiator.signTransaction(tx, { networkId: NETWORK_ID }));
const responderSign = recorded(async (tx: Tx, _o?: unknown) => responder.signTransaction(tx, { networkId: NETWORK_ID }));
const initiatorSignTag = recorded(async (_tag: string, tx: Tx) => initiatorSign(tx));
const responderSignTag = recorded(async (_tag: string, tx: Tx, _o?: unknown) => {
  if (typeof responderAnswer === 'number') return responderAnswer as unknown as Tx;
  if (responderAnswer === 'decline') return null as unknown as Tx;
  return responderSign(tx);
});
const spies = [initiatorSign, responderSign, initiatorSignTag, responderSignTag];

let shared: Record<string, unknown>;

function statuses(channel: Channel, expected: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`statuses ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`)), 20_000);
    channel.on('statusChanged', (status) => {
      seen.push(status);
      if (seen.length === expected.length) {
        clearTimeout(timer);
        if (JSON.stringify(seen) === JSON.stringify(expected)) resolve();
        else reject(new Error(`statuses ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`));
      }
    });
  });
}

async function openChannels(): Promise<[Channel, Channel]> {
  // each listener is on before the next participant connects: the initiator's channel may be
  // accepted while the responder's initialize is still being awaited
  const i = await Channel.initialize({ ...shared, role: 'initiator', host: 'localhost', sign: initiatorSignTag } as unknown as Options);
  const initiatorOpen = statuses(i, ['accepted', 'signed', 'open']);
  const r = await Channel.initialize({ ...shared, role: 'responder', sign: responderSignTag } as unknown as Options);
  await Promise.all([initiatorOpen, statuses(r, ['halfSigned', 'open'])]);
  return [i, r];
}

async function freshAccounts(amount = 3e15): Promise<void> {
  [initiator, responder] = await fundFromGenesis(aeSdk, 2, BigInt(amount)) as [AccountMemory, AccountMemory];
  shared = {
    url: service.channelUrl, pushAmount: 1e13, initiatorAmount: 5e14, responderAmount: 5e14, channelReserve: 0, port: 3114,
    lockPeriod: 1, initiatorId: initiator.address, responderId: responder.address, minimumDepth: 0, minimumDepthStrategy: 'plain',
  };
}

const updatesOf = (call: Call | undefined) => (call?.[call.length - 1] as { updates: unknown[] } | undefined)?.updates;
const signedState = async (ch: Channel) => buildTx((await ch.state()).signedTx! as unknown as Parameters<typeof buildTx>[0]);

t.before(async () => {
  service = await startServiceProcess();
  aeSdk = genesisSdk(service.nodeUrl);
  await freshAccounts();
});
t.teardown(async () => {
  initiatorCh?.disconnect();
  responderCh?.disconnect();
  await service.stop();
});
t.beforeEach(() => {
  responderAnswer = 'sign';
  for (const spy of spies) spy.reset();
});

t.test('can open a channel', async (t) => {
  [initiatorCh, responderCh] = await openChannels();
  t.equal(initiatorCh.round(), 1);
  t.equal(responderCh.round(), 1);
  t.equal(initiatorSignTag.calls.length, 1);
  t.equal(initiatorSignTag.calls[0]![0], 'initiator_sign');
  t.equal(responderSignTag.calls.length, 1);
  t.equal(responderSignTag.calls[0]![0], 'responder_sign');
  const expected = {
    tag: Tag.ChannelCreateTx, version: 2, initiator: initiator.address, initiatorAmount: '500000000000000', responder: responder.address,
    responderAmount: '500000000000000', channelReserve: '0', lockPeriod: '1', ttl: 0, fee: '17680000000000',
    initiatorDelegateIds: [], responderDelegateIds: [], nonce: 1,
  };
  const initiatorTx = unpackTx(initiatorSignTag.calls[0]![1] as Tx, Tag.ChannelCreateTx) as unknown as Record<string, unknown>;
  const responderTx = unpackTx(responderSignTag.calls[0]![1] as Tx, Tag.ChannelCreateTx) as unknown as Record<string, unknown>;
  t.same({ ...initiatorTx, stateHash: undefined }, { ...expected, stateHash: undefined });
  t.same(responderTx, initiatorTx, 'both sign the same create tx');
});

t.test('emits an error on handling incoming messages', async (t) => {
  const error = new Promise<Error>((resolve) => {
    const handler = (e: Error) => { resolve(e); initiatorCh.off('error', handler); };
    initiatorCh.on('error', handler);
  });
  // a method the service does not know, sent over the channel's own socket the way the SDK's notify does
  (initiatorCh as unknown as { _websocket: { send(text: string): void } })._websocket.send(JSON.stringify({ jsonrpc: '2.0', method: 'not-existing-method', params: {} }));
  const e = await error;
  t.ok(e instanceof ChannelIncomingMessageError);
  t.equal((e as ChannelIncomingMessageError).incomingMessage.error.message, 'Method not found');
  t.ok((e as ChannelIncomingMessageError).handlerError instanceof UnknownChannelStateError);
});

t.test('can post update and accept', async (t) => {
  const before = initiatorCh.round()!;
  const amount = 1e14;
  const result = await initiatorCh.update(initiator.address, responder.address, amount, initiatorSign);
  t.equal(result.accepted, true);
  t.type(result.signedTx, 'string');
  t.equal(initiatorCh.round(), before + 1);
  t.equal(initiatorSignTag.calls.length, 0);
  const updates = [{ amount, from: initiator.address, to: responder.address, op: 'OffChainTransfer' }];
  t.equal(responderSignTag.calls.length, 1);
  t.equal(responderSignTag.calls[0]![0], 'update_ack');
  t.same(updatesOf(responderSignTag.calls[0]), updates);
  t.equal(initiatorSign.calls.length, 1);
  t.same(updatesOf(initiatorSign.calls[0]), updates);
  t.equal(unpackTx(initiatorSign.calls[0]![0] as Tx).tag, Tag.ChannelOffChainTx);
});

t.test('can post update and reject', async (t) => {
  responderAnswer = 'decline';
  const before = initiatorCh.round();
  const result = await initiatorCh.update(responder.address, initiator.address, 1, initiatorSign);
  t.equal(result.accepted, false);
  t.equal(initiatorCh.round(), before);
  t.equal(responderSignTag.calls[0]![0], 'update_ack');
  t.same(updatesOf(responderSignTag.calls[0]), [{ amount: 1, from: responder.address, to: initiator.address, op: 'OffChainTransfer' }]);
});

t.test('can abort update sign request', async (t) => {
  const result = await initiatorCh.update(initiator.address, responder.address, 100, async () => 12345 as unknown as Tx);
  t.same(result, { accepted: false });
});

t.test('can abort update with custom error code', async (t) => {
  responderAnswer = 1234;
  const result = await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign);
  t.same(result, { accepted: false, errorCode: 1234, errorMessage: 'user-defined' });
});

t.test('can post update with metadata', async (t) => {
  responderAnswer = 'decline';
  await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign, ['meta 1']);
  t.same(updatesOf(initiatorSign.calls[0])?.[1], { data: 'meta 1', op: 'OffChainMeta' });
  t.same(updatesOf(responderSignTag.calls[0])?.[1], { data: 'meta 1', op: 'OffChainMeta' });
});

t.test('can get proof of inclusion', async (t) => {
  const params = { accounts: [initiator.address, responder.address] };
  const initiatorPoi = await initiatorCh.poi(params) as unknown as { accounts: Array<{ isEqual(o: unknown): boolean }> };
  const responderPoi = await responderCh.poi(params) as unknown as { accounts: Array<{ isEqual(o: unknown): boolean }> };
  t.same(initiatorPoi, responderPoi);
  t.ok(initiatorPoi.accounts[0]!.isEqual(responderPoi.accounts[0]));
});

t.test('can send a message', async (t) => {
  const message = new Promise((resolve) => responderCh.on('message', resolve));
  await initiatorCh.sendMessage('hello world', responder.address);
  t.same(await message, { channel_id: initiatorCh.id(), from: initiator.address, to: responder.address, info: 'hello world' });
});

for (const op of ['withdraw', 'deposit'] as const) {
  const amount = op === 'withdraw' ? 1e14 : 1e15;
  const ack = `${op}_ack`;
  const txTag = op === 'withdraw' ? Tag.ChannelWithdrawTx : Tag.ChannelDepositTx;
  const update = op === 'withdraw'
    ? () => ({ amount, op: 'OffChainWithdrawal', to: initiator.address })
    // numbers of more than 15 characters reach the SDK as strings
    : () => ({ amount: '1000000000000000', op: 'OffChainDeposit', from: initiator.address });
  const run = (sign: typeof initiatorSign | (() => Promise<Tx>), callbacks = {}) =>
    (op === 'withdraw' ? initiatorCh.withdraw(amount, sign as never, callbacks) : initiatorCh.deposit(amount, sign as never, callbacks));

  t.test(`can request a ${op} and accept`, async (t) => {
    const before = initiatorCh.round()!;
    const onOnChainTx = recorded((_tx: string) => undefined);
    const onOwnLocked = recorded(() => undefined);
    const onLocked = recorded(() => undefined);
    const result = await run(initiatorSign, op === 'withdraw'
      ? { onOnChainTx, onOwnWithdrawLocked: onOwnLocked, onWithdrawLocked: onLocked }
      : { onOnChainTx, onOwnDepositLocked: onOwnLocked, onDepositLocked: onLocked });
    t.same(result, { accepted: true, signedTx: await signedState(initiatorCh) });
    t.equal(initiatorCh.round(), before + 1);
    t.ok(onOnChainTx.calls.length > 0 && onOnChainTx.calls.every(([tx]) => typeof tx === 'string'));
    t.equal(onOwnLocked.calls.length, 1);
    t.equal(onLocked.calls.length, 1);
    t.equal(initiatorSignTag.calls.length, 0);
    t.equal(responderSignTag.calls[0]![0], ack);
    t.same(updatesOf(responderSignTag.calls[0]), [update()]);
    t.same(updatesOf(initiatorSign.calls[0]), [update()]);
    const tx = unpackTx(initiatorSign.calls[0]![0] as Tx) as unknown as Record<string, unknown>;
    t.equal(tx.tag, txTag);
    t.equal(op === 'withdraw' ? tx.toId : tx.fromId, initiator.address);
    t.equal(tx.amount, BigInt(amount).toString());
  });

  t.test(`can request a ${op} and reject`, async (t) => {
    responderAnswer = 'decline';
    const before = initiatorCh.round();
    const result = await run(initiatorSign);
    t.equal(result.accepted, false);
    t.equal(initiatorCh.round(), before);
    t.equal(responderSignTag.calls[0]![0], ack);
  });

  t.test(`can abort ${op} sign request`, async (t) => {
    t.same(await run(async () => 12345 as unknown as Tx), { accepted: false });
  });

  t.test(`can abort ${op} with custom error code`, async (t) => {
    responderAnswer = 12345;
    t.same(await run(initiatorSign), { accepted: false, errorCode: 12345, errorMessage: 'user-defined' });
  });
}

t.test('can close a channel', async (t) => {
  const result = await initiatorCh.shutdown(initiatorSign);
  t.type(result, 'string');
  t.equal(responderSignTag.calls.length, 1);
  t.equal(responderSignTag.calls[0]![0], 'shutdown_sign_ack');
  t.equal(initiatorSign.calls.length, 1);
  t.equal(initiatorSign.calls[0]!.length, 1, 'the closer signs with one argument');
  const tx = unpackTx(initiatorSign.calls[0]![0] as Tx) as unknown as Record<string, unknown>;
  t.equal(tx.tag, Tag.ChannelCloseMutualTx);
  t.equal(tx.fromId, initiator.address);
});

t.test('can leave a channel', async (t) => {
  initiatorCh.disconnect();
  responderCh.disconnect();
  [initiatorCh, responderCh] = await openChannels();
  await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign);
  const result = await initiatorCh.leave();
  t.match(result.channelId, /^ch_/);
  t.match(result.signedTx, /^tx_/);
});

t.test('can reestablish a channel', async (t) => {
  t.equal(initiatorCh.round(), 2);
  initiatorCh = await Channel.initialize({
    ...shared, role: 'initiator', host: 'localhost', sign: initiatorSignTag,
    reestablish: true, existingChannelId: initiatorCh.id(), existingFsmId: initiatorCh.fsmId(),
  } as unknown as Options);
  await statuses(initiatorCh, ['open']);
  t.equal(initiatorCh.round(), 2);
  t.equal(initiatorSignTag.calls.length, 0);
  t.equal(responderSignTag.calls.length, 0);
  await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign);
  t.equal(initiatorCh.round(), 3);
});

t.test('throws errors', async (t) => {
  initiatorCh.disconnect();
  responderCh.disconnect();
  [initiatorCh, responderCh] = await openChannels();
  const update = (from: string, amount: number) => initiatorCh.update(from as `ak_${string}`, responder.address, amount, initiatorSign);
  await t.rejects(update(initiator.address, -10), IllegalArgumentError);
  await t.rejects(update(initiator.address, -10), /Amount cannot be negative/);
  await t.rejects(update(initiator.address, 999e18), InsufficientBalanceError);
  await t.rejects(update(initiator.address, 999e18), /Insufficient balance/);
  await t.rejects(update('ak_123', 1), ChannelConnectionError);
  await t.rejects(update('ak_123', 1), /Rejected/);
});

t.test('amounts above 2^53 in open, transfer, deposit and withdraw, exactly', async (t) => {
  initiatorCh.disconnect();
  responderCh.disconnect();
  await freshAccounts(1e22);
  shared = { ...shared, initiatorAmount: 1e21, responderAmount: 2e21, pushAmount: 0, channelReserve: 1e18 };
  [initiatorCh, responderCh] = await openChannels();
  const balances = async () => Object.values(await initiatorCh.balances([initiator.address, responder.address])).map((b) => BigInt(b));
  t.same(await balances(), [10n ** 21n, 2n * 10n ** 21n]);
  // a numeric string goes out as an exact JSON integer
  await initiatorCh.update(initiator.address, responder.address, '123456789012345678901' as unknown as number, initiatorSign);
  t.same(await balances(), [10n ** 21n - 123456789012345678901n, 2n * 10n ** 21n + 123456789012345678901n]);
  await initiatorCh.deposit(1e21, initiatorSign);
  await initiatorCh.withdraw(1.5e21, initiatorSign);
  t.same(await balances(), [10n ** 21n - 123456789012345678901n + 10n ** 21n - 15n * 10n ** 20n, 2n * 10n ** 21n + 123456789012345678901n]);
  t.equal(initiatorCh.round(), 4);
});
