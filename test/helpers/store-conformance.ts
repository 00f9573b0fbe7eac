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
      channelId, role: 'initiator', params, state: state(5), fsmIdHash: 'aa', onchain: null, closed: false,
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
    t.same(before, { channelId, role: 'initiator', params, state: state(2), fsmIdHash: 'cc', onchain: { kind: 'deposit', state: state(3) }, closed: true });
    t.same(await store.history(channelId, 'initiator'), [state(1), state(2)]);
    t.same((await store.channelIds()).sort(), [...hosted].sort());
    t.equal(await store.serviceValue('reopen', () => 'made again'), secret);
    t.same(await store.takeWatchtowerActions(channelId, 'initiator'), [slash(2)]);
    t.equal(await store.saveRound(channelId, 'initiator', state(2)), 'stale', 'rounds still only go up');
    t.equal(await store.saveRound(channelId, 'initiator', state(3)), 'saved');
  });
}
