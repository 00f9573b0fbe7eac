/**
 * What every ChannelStore promises, as one suite each store runs against the real thing (an LMDB
 * environment in a temp directory, the test Redis under a key prefix of its own): rounds only go
 * up, atomically, even under concurrent writers; every record comes back exactly, amounts beyond
 * 2^64 included; a damaged record is refused; and everything survives closing and reopening.
 */
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import type { ChannelId, ChannelParams, CoSignedState, Role } from '../../fsm/types.js';
import type { ChannelStore, WatchtowerAction } from '../../lib/store/store.js';

export interface StoreUnderTest {
  /** Opens the store on the suite's storage: the same data every time, once the previous one is closed. */
  open(): Promise<ChannelStore>;
  /** Closes the store and what it was opened on, as the service does on shutdown. */
  close(store: ChannelStore): Promise<void>;
  /** Overwrites a participant's latest state with one that is not a valid record, behind the store's back. */
  damage(channelId: ChannelId, role: Role): Promise<void>;
}

export const params: ChannelParams = {
  initiatorId: 'ak_mLjPFZQ6xB2FHGTVyfL4imAWbPrgYqcPcmxFoVhvzyU5BMrWw', responderId: 'ak_26jA8T3BcpjBxJp3Rb3GQm8HDdqGnQg9LCFBhtkwWVr7AF5RFC',
  initiatorAmount: 10n ** 30n, responderAmount: 2n ** 64n + 1n, pushAmount: 0n, channelReserve: 2n ** 70n, lockPeriod: 10n,
  minimumDepth: 0, minimumDepthStrategy: 'plain', initiatorDelegateIds: [], responderDelegateIds: [],
};

export const state = (round: number): CoSignedState => ({
  round, balances: { initiator: 10n ** 30n - BigInt(round), responder: 2n ** 64n + 1n + BigInt(round) },
  stateHash: `st_${round}`, signedTx: `tx_${round}`,
  updates: [{ op: 'OffChainTransfer', from: params.initiatorId, to: params.responderId, amount: 2n ** 64n + BigInt(round) }],
});

const slash = (round: number): WatchtowerAction => ({ action: 'slash', txHash: `th_${round}`, signedTx: `tx_slash_${round}`, onchainRound: round - 1, round, height: 100 + round });

export const newChannelId = (): ChannelId => `ch_${randomBytes(16).toString('hex')}`;

export function storeConformance(t: Test, subject: StoreUnderTest): void {
  let store: ChannelStore;
  /** every channel the suite gave a first round: what channelIds must list */
  const hosted = new Set<ChannelId>();
  const open = async (channelId: ChannelId, role: Role, round = 1, fsmIdHash = 'aa') => {
    const result = await store.saveRound(channelId, role, state(round), { params, fsmIdHash });
    if (result === 'saved') hosted.add(channelId);
    return result;
  };

  t.before(async () => { store = await subject.open(); });
  t.teardown(async () => { await subject.close(store); });

  t.test('an unknown channel has no record and no history', async (t) => {
    const channelId = newChannelId();
    t.equal(await store.load(channelId, 'initiator'), null);
    t.same(await store.history(channelId, 'initiator'), []);
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), []);
  });

  t.test('rounds only go up, and the history keeps every round, oldest first', async (t) => {
    const channelId = newChannelId();
    t.equal(await open(channelId, 'initiator'), 'saved');
    t.equal(await store.saveRound(channelId, 'initiator', state(2)), 'saved');
    t.equal(await store.saveRound(channelId, 'initiator', state(2)), 'stale', 'the same round twice');
    t.equal(await store.saveRound(channelId, 'initiator', state(1)), 'stale', 'an older round');
    t.equal(await store.saveRound(channelId, 'initiator', state(5)), 'saved', 'rounds may skip');
    t.equal(await store.saveRound(channelId, 'initiator', state(4)), 'stale');
    const loaded = await store.load(channelId, 'initiator');
    t.same(loaded, {
      channelId, role: 'initiator', params, state: state(5), fsmIdHash: 'aa', onchain: null, closed: false, proposal: null,
    }, 'the record comes back exactly');
    t.same(await store.history(channelId, 'initiator'), [state(1), state(2), state(5)], 'stale rounds leave no history');
  });

  t.test('amounts beyond 2^64 come back exactly, as bigints', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator');
    const loaded = await store.load(channelId, 'initiator');
    t.equal(loaded?.params.initiatorAmount, 10n ** 30n);
    t.equal(loaded?.params.channelReserve, 2n ** 70n);
    t.equal(loaded?.state.balances.responder, 2n ** 64n + 2n);
    const [update] = loaded?.state.updates ?? [];
    t.equal(update && 'amount' in update ? update.amount : undefined, 2n ** 64n + 1n);
    t.equal((await store.history(channelId, 'initiator'))[0]?.balances.initiator, 10n ** 30n - 1n);
  });

  t.test('each participant has its own record', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator', 3, 'aa');
    t.equal(await store.load(channelId, 'responder'), null);
    t.equal(await open(channelId, 'responder', 2, 'bb'), 'saved', 'a lower round for the other participant');
    t.equal(await store.saveRound(channelId, 'responder', state(3)), 'saved');
    t.equal((await store.load(channelId, 'initiator'))?.fsmIdHash, 'aa');
    t.equal((await store.load(channelId, 'responder'))?.fsmIdHash, 'bb');
    t.same((await store.history(channelId, 'initiator')).map((s) => s.round), [3]);
    t.same((await store.history(channelId, 'responder')).map((s) => s.round), [2, 3]);
  });

  t.test('one write for both participants: each record only goes up, as with a write of its own', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator', 1, 'aa');
    await open(channelId, 'responder', 1, 'bb');
    t.same(await store.saveRoundForBoth(channelId, state(2)), { initiator: 'saved', responder: 'saved' });
    t.same(await store.saveRoundForBoth(channelId, state(2)), { initiator: 'stale', responder: 'stale' }, 'the same round twice');
    t.equal(await store.saveRound(channelId, 'responder', state(3)), 'saved');
    t.same(await store.saveRoundForBoth(channelId, state(3)), { initiator: 'saved', responder: 'stale' }, 'one side already had it');
    for (const [role, fsmIdHash] of [['initiator', 'aa'], ['responder', 'bb']] as const) {
      t.same(await store.load(channelId, role), { channelId, role, params, state: state(3), fsmIdHash, onchain: null, closed: false, proposal: null }, `the ${role}'s record keeps its own parameters`);
      t.same((await store.history(channelId, role)).map((s) => s.round), [1, 2, 3], `the ${role}'s history has each round once`);
    }
    const both = await Promise.all(Array.from({ length: 10 }, () => store.saveRoundForBoth(channelId, state(4))));
    t.equal(both.filter((r) => r.initiator === 'saved').length, 1, 'one of ten writers of round 4, for the initiator');
    t.equal(both.filter((r) => r.responder === 'saved').length, 1, 'and for the responder');
  });

  t.test('concurrent writers: exactly one wins each round', async (t) => {
    const channelId = newChannelId();
    const firsts = await Promise.all(Array.from({ length: 20 }, (_, i) => open(channelId, 'initiator', 1, `fsm${i}`)));
    t.equal(firsts.filter((r) => r === 'saved').length, 1, 'one first round');
    const winner = firsts.indexOf('saved');
    t.equal((await store.load(channelId, 'initiator'))?.fsmIdHash, `fsm${winner}`, "the winner's parameters stand");

    const same = await Promise.all(Array.from({ length: 20 }, () => store.saveRound(channelId, 'initiator', state(2))));
    t.equal(same.filter((r) => r === 'saved').length, 1, 'one of twenty writers of round 2');

    const rounds = Array.from({ length: 20 }, (_, i) => i + 3).sort(() => Math.random() - 0.5);
    const results = await Promise.all(rounds.map((round) => store.saveRound(channelId, 'initiator', state(round))));
    t.equal(results[rounds.indexOf(22)], 'saved', 'the highest round is never stale');
    t.equal((await store.load(channelId, 'initiator'))?.state.round, 22);
    const history = (await store.history(channelId, 'initiator')).map((s) => s.round);
    t.same(history, [...history].sort((a, b) => a - b), 'the history only goes up');
    t.equal(history.length, 2 + results.filter((r) => r === 'saved').length, 'one history entry per saved round');
  });

  t.test('a co-signed on-chain tx is kept until forgotten', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator');
    await store.saveOnchain(channelId, 'initiator', 'withdraw', state(2));
    t.same((await store.load(channelId, 'initiator'))?.onchain, { kind: 'withdraw', state: state(2) });
    await store.saveOnchain(channelId, 'initiator', 'shutdown', state(3));
    t.same((await store.load(channelId, 'initiator'))?.onchain, { kind: 'shutdown', state: state(3) }, 'at most one: the last');
    t.equal((await store.load(channelId, 'responder')), null, "not the other participant's");
    t.equal((await store.load(channelId, 'initiator'))?.state.round, 1, 'not the channel state');
    await store.forgetOnchain(channelId, 'initiator');
    t.equal((await store.load(channelId, 'initiator'))?.onchain, null);
    await store.forgetOnchain(channelId, 'initiator');
    t.pass('forgetting nothing is fine');
  });

  t.test('our own proposal is kept, the last one only, each participant its own, amounts exactly', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator');
    await open(channelId, 'responder');
    const transfer = (amount: bigint) => ({ op: 'OffChainTransfer' as const, from: params.initiatorId, to: params.responderId, amount });
    await store.saveProposal(channelId, 'initiator', { round: 2, updates: [transfer(5n)] });
    t.same((await store.load(channelId, 'initiator'))?.proposal, { round: 2, updates: [transfer(5n)] });
    t.equal((await store.load(channelId, 'responder'))?.proposal, null, "not the other participant's");
    await store.saveProposal(channelId, 'initiator', { round: 3, updates: [transfer(2n ** 70n), { op: 'OffChainMeta', data: 'm' }] });
    t.same((await store.load(channelId, 'initiator'))?.proposal, { round: 3, updates: [transfer(2n ** 70n), { op: 'OffChainMeta', data: 'm' }] }, 'the last one, a bigint beyond 2^64 exactly');
    t.equal((await store.load(channelId, 'initiator'))?.state.round, 1, 'not the channel state');
    await store.saveRound(channelId, 'initiator', state(2));
    t.equal((await store.load(channelId, 'initiator'))?.proposal?.round, 3, 'a later round leaves it (the FSM takes it only for the next round)');
  });

  t.test('a channel closed on chain stays closed', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator');
    await open(channelId, 'responder');
    await store.markClosed(channelId, 'initiator');
    t.equal((await store.load(channelId, 'initiator'))?.closed, true);
    t.equal((await store.load(channelId, 'responder'))?.closed, false);
    t.equal(await store.saveRound(channelId, 'initiator', state(2)), 'saved');
    t.equal((await store.load(channelId, 'initiator'))?.closed, true, 'a later round does not reopen it');
  });

  t.test('the fsm id hash can be replaced', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator', 1, 'aa');
    await store.setFsmIdHash(channelId, 'initiator', 'bb');
    t.equal((await store.load(channelId, 'initiator'))?.fsmIdHash, 'bb');
    await store.saveRound(channelId, 'initiator', state(2));
    t.equal((await store.load(channelId, 'initiator'))?.fsmIdHash, 'bb', 'a later round keeps it');
  });

  t.test('the index lists every channel given a first round', async (t) => {
    const channelId = newChannelId();
    t.equal(await store.saveRound(channelId, 'initiator', state(1)), 'saved', 'a round without parameters');
    t.notOk((await store.channelIds()).includes(channelId), 'is no hosted channel');
    await open(newChannelId(), 'initiator');
    t.same((await store.channelIds()).sort(), [...hosted].sort());
  });

  t.test('watchtower actions are told once', async (t) => {
    const channelId = newChannelId();
    await store.addWatchtowerAction(channelId, 'initiator', slash(4));
    await store.addWatchtowerAction(channelId, 'initiator', slash(7));
    t.same(await store.takeWatchtowerActions(channelId, 'responder'), [], "not the other participant's");
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [slash(4), slash(7)], 'in the order they happened');
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [], 'and then they are gone');

    await store.addWatchtowerAction(channelId, 'initiator', slash(9));
    const taken = await Promise.all(Array.from({ length: 10 }, () => store.takeWatchtowerActions(channelId, 'initiator')));
    t.same(taken.flat(), [slash(9)], 'concurrent takers: exactly one is told');

    // recorded before the tx was posted, taken back when the chain refused it
    await store.addWatchtowerAction(channelId, 'initiator', slash(10));
    await store.addWatchtowerAction(channelId, 'initiator', slash(11));
    await store.dropWatchtowerAction(channelId, 'initiator', slash(10).txHash);
    await store.dropWatchtowerAction(channelId, 'responder', slash(11).txHash);
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [slash(11)], 'a dropped action is never told; the others are');
    await store.dropWatchtowerAction(channelId, 'initiator', slash(12).txHash);
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [], 'dropping what is not there changes nothing');
  });

  t.test('a service value is made once and the same ever after', async (t) => {
    const name = `secret-${randomBytes(4).toString('hex')}`;
    const values = await Promise.all(Array.from({ length: 10 }, (_, i) => store.serviceValue(name, () => `value-${i}`)));
    t.equal(new Set(values).size, 1, 'concurrent callers all see one value');
    t.equal(await store.serviceValue(name, () => 'another'), values[0]);
    t.not(await store.serviceValue(`${name}-other`, () => 'other'), values[0], 'each name its own');
  });

  t.test('a damaged record is refused, not trusted', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator');
    await subject.damage(channelId, 'initiator');
    await t.rejects(store.load(channelId, 'initiator'), /damaged/);
  });

  t.test('everything is still there after closing and reopening', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator', 1, 'aa');
    await store.saveRound(channelId, 'initiator', state(2));
    await store.saveOnchain(channelId, 'initiator', 'deposit', state(3));
    await store.markClosed(channelId, 'initiator');
    await store.setFsmIdHash(channelId, 'initiator', 'cc');
    await store.addWatchtowerAction(channelId, 'initiator', slash(2));
    const secret = await store.serviceValue('reopen', () => 'kept');
    const before = await store.load(channelId, 'initiator');

    await subject.close(store);
    store = await subject.open();

    t.same(await store.load(channelId, 'initiator'), before);
    t.same(before, { channelId, role: 'initiator', params, state: state(2), fsmIdHash: 'cc', onchain: { kind: 'deposit', state: state(3) }, closed: true, proposal: null });
    t.same(await store.history(channelId, 'initiator'), [state(1), state(2)]);
    t.same((await store.channelIds()).sort(), [...hosted].sort());
    t.equal(await store.serviceValue('reopen', () => 'made again'), secret);
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [slash(2)]);
    t.equal(await store.saveRound(channelId, 'initiator', state(2)), 'stale', 'rounds still only go up');
    t.equal(await store.saveRound(channelId, 'initiator', state(3)), 'saved');
  });

  t.test('history reads from a round on', async (t) => {
    const channelId = newChannelId();
    await open(channelId, 'initiator');
    for (const round of [2, 3, 5]) await store.saveRound(channelId, 'initiator', state(round));
    t.same((await store.history(channelId, 'initiator', 3)).map((s) => s.round), [3, 5]);
    t.same((await store.history(channelId, 'initiator', 4)).map((s) => s.round), [5]);
    t.same(await store.history(channelId, 'initiator', 6), []);
  });

  t.test('payments: credited once per channel round, amounts beyond 2^64 added exactly', async (t) => {
    const id = `pay-${randomBytes(6).toString('hex')}`;
    const channelId = newChannelId();
    t.equal(await store.payments.payment(id), null, 'an id nobody paid has no record');
    t.equal(await store.payments.credit(id, { channelId, round: 2, amount: 2n ** 64n + 9n }), 'credited');
    t.equal(await store.payments.credit(id, { channelId, round: 2, amount: 2n ** 64n + 9n }), 'duplicate', 'the same round again');
    t.same(await store.payments.payment(id), { paid: 2n ** 64n + 9n, spent: false });
    t.equal(await store.payments.credit(id, { channelId, round: 3, amount: 10n ** 30n - 9n }), 'credited', 'another round tops it up');
    t.equal(await store.payments.credit(id, { channelId: newChannelId(), round: 2, amount: 1n }), 'credited', 'the same round of another channel');
    t.same(await store.payments.payment(id), { paid: 2n ** 64n + 10n ** 30n + 1n, spent: false });
    const results = await Promise.all(Array.from({ length: 10 }, () => store.payments.credit(id, { channelId, round: 7, amount: 5n })));
    t.equal(results.filter((r) => r === 'credited').length, 1, 'concurrent credits of one round: counted once');
  });

  t.test('payments: spent once, atomically, only when paid the price', async (t) => {
    const id = `pay-${randomBytes(6).toString('hex')}`;
    const channelId = newChannelId();
    t.equal(await store.payments.spend(id, 5n), 'not_paid');
    await store.payments.credit(id, { channelId, round: 2, amount: 2n ** 64n });
    t.equal(await store.payments.spend(id, 2n ** 64n + 1n), 'insufficient_amount', 'one aetto short, beyond 2^64');
    t.equal(await store.payments.spend(id, 99n * 10n ** 20n), 'insufficient_amount', 'a shorter number that is larger');
    t.same(await store.payments.payment(id), { paid: 2n ** 64n, spent: false }, 'a refused spend changes nothing');
    const spends = await Promise.all(Array.from({ length: 20 }, () => store.payments.spend(id, 2n ** 64n)));
    t.equal(spends.filter((r) => r === 'spent').length, 1, 'twenty concurrent spends: exactly one');
    t.equal(spends.filter((r) => r === 'already_spent').length, 19);
    await store.payments.credit(id, { channelId, round: 3, amount: 10n });
    t.same(await store.payments.payment(id), { paid: 2n ** 64n + 10n, spent: true }, 'a later credit does not unspend it');
    t.equal(await store.payments.spend(id, 1n), 'already_spent');
  });

  t.test("payments: a merchant's channels are kept, replaced and forgotten", async (t) => {
    const merchant = `ak_merchant${randomBytes(4).toString('hex')}`;
    const [a, b] = [newChannelId(), newChannelId()];
    t.same(await store.payments.merchantChannels(merchant), []);
    await store.payments.saveMerchantChannel(merchant, { channelId: a, fsmId: 'ba_one', scannedRound: 1 });
    await store.payments.saveMerchantChannel(merchant, { channelId: b, fsmId: 'ba_two', scannedRound: 0 });
    await store.payments.saveMerchantChannel(`${merchant}x`, { channelId: newChannelId(), fsmId: 'ba_other', scannedRound: 0 });
    await store.payments.saveMerchantChannel(merchant, { channelId: a, fsmId: 'ba_three', scannedRound: 4 });
    const sorted = <T extends { channelId: string }>(list: T[]) => [...list].sort((x, y) => x.channelId.localeCompare(y.channelId));
    t.same(sorted(await store.payments.merchantChannels(merchant)), sorted([
      { channelId: a, fsmId: 'ba_three', scannedRound: 4 }, { channelId: b, fsmId: 'ba_two', scannedRound: 0 },
    ]), "only this merchant's, the latest of each");
    await store.payments.forgetMerchantChannel(merchant, b);
    t.same(await store.payments.merchantChannels(merchant), [{ channelId: a, fsmId: 'ba_three', scannedRound: 4 }]);

    const id = `pay-${randomBytes(6).toString('hex')}`;
    await store.payments.credit(id, { channelId: a, round: 2, amount: 3n });
    await store.payments.spend(id, 3n);
    await subject.close(store);
    store = await subject.open();
    t.same(await store.payments.merchantChannels(merchant), [{ channelId: a, fsmId: 'ba_three', scannedRound: 4 }], 'kept across a reopen');
    t.same(await store.payments.payment(id), { paid: 3n, spent: true }, 'spent stays spent');
    t.equal(await store.payments.credit(id, { channelId: a, round: 2, amount: 3n }), 'duplicate', 'a round stays counted');
  });
}
