/**
 * Leases and fencing tokens of a store several service instances share (lib/store/lease.ts), run
 * against Redis and against a Redis Cluster: one owner at a time, a new token for each taker, and no
 * write by an owner whose lease another has taken, whatever that owner believes: rounds, on-chain txs,
 * and every other write an FSM host makes (the fsm_id hash, its proposal, forgetting an on-chain tx,
 * marking the channel closed, taking the watchtower's actions). A sleeping FSM's lease, let go, is
 * taken back with its own token only while nobody took the FSM since.
 */
import type { Test } from 'tap';
import type { ChannelId } from '../../fsm/types.js';
import type { Lease } from '../../lib/store/lease.js';
import type { RedisStore } from '../../lib/store/redis-store.js';
import { LeaseLostError } from '../../lib/store/store.js';
import { newChannelId, params, state } from './store-conformance.js';

const transfer = (amount: bigint) => ({ op: 'OffChainTransfer' as const, from: params.initiatorId, to: params.responderId, amount });
const slash = { action: 'slash' as const, txHash: 'th_1', signedTx: 'tx_slash_1', onchainRound: 1, round: 2, height: 3 };

const TTL = 10_000;

export function leaseConformance(t: Test, subject: { open(): Promise<RedisStore>; close(store: RedisStore): Promise<void> }): void {
  let store: RedisStore;
  t.before(async () => { store = await subject.open(); });
  t.teardown(async () => { await subject.close(store); });

  const take = async (channelId: ChannelId, owner: string, ttl = TTL): Promise<Lease> => {
    const acquired = await store.leases.acquire(channelId, 'initiator', owner, ttl);
    if (!acquired.ok) throw new Error(`${owner} could not take the lease: ${acquired.owner} holds it`);
    return acquired.lease;
  };
  /** Tries to take the lease until it can: a lease with a short time runs out by itself. */
  const takeOnceFree = async (channelId: ChannelId, owner: string): Promise<Lease> => {
    for (let tries = 0; tries < 400; tries++) {
      const acquired = await store.leases.acquire(channelId, 'initiator', owner, TTL);
      if (acquired.ok) return acquired.lease;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the lease never ran out');
  };

  t.test('one owner at a time: another is refused with who holds it, the same owner takes it again with a new token', async (t) => {
    const channelId = newChannelId();
    const first = await take(channelId, 'a:1');
    const refused = await store.leases.acquire(channelId, 'initiator', 'b:2', TTL);
    t.match(refused, { ok: false, owner: 'a:1' });
    t.ok(!refused.ok && refused.remainingMs > 0 && refused.remainingMs <= TTL, 'and for how much longer');
    const again = await take(channelId, 'a:1');
    t.ok(again.token > first.token, `a restarted owner takes its own lease at once, with a higher token (${first.token} → ${again.token})`);
    t.ok((await store.leases.acquire(channelId, 'responder', 'b:2', TTL)).ok, "the other participant's FSM has a lease of its own");
  });

  t.test('a write with a lease another owner has taken is fenced and changes nothing', async (t) => {
    const channelId = newChannelId();
    const old = await take(channelId, 'a:1', 200);
    t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }, old), 'saved');
    t.equal(await store.saveRound(channelId, 'initiator', state(2), undefined, old), 'saved', 'its holder writes');
    const taken = await takeOnceFree(channelId, 'b:2');
    t.ok(taken.token > old.token, 'the taker has a higher token');

    t.equal(await store.saveRound(channelId, 'initiator', state(3), undefined, old), 'fenced', 'the old owner, awake again, is fenced off');
    t.equal(await store.leases.renew(old, TTL), false, 'and cannot renew');
    await t.rejects(store.saveOnchain(channelId, 'initiator', 'deposit', state(3), old), LeaseLostError, 'nor keep an on-chain tx');
    const both = await store.saveRoundForBoth(channelId, state(3), { initiator: old, responder: null });
    t.same(both, { initiator: 'fenced', responder: 'saved' }, 'a write for both fences the side whose lease is gone, and only that side');
    t.equal((await store.load(channelId, 'initiator'))?.state.round, 2, 'nothing of the old owner was written');
    t.same((await store.history(channelId, 'initiator')).map((s) => s.round), [1, 2]);
    t.equal((await store.load(channelId, 'initiator'))?.onchain, null);

    t.equal(await store.saveRound(channelId, 'initiator', state(3), undefined, taken), 'saved', 'the new owner writes');
    await store.leases.release(old);
    t.match(await store.leases.acquire(channelId, 'initiator', 'c:3', TTL), { ok: false, owner: 'b:2' }, "the old owner's release leaves the new owner's lease alone");
  });

  t.test('a lease that ran out with nobody taking it still writes and renews: only a taker fences', async (t) => {
    const channelId = newChannelId();
    const lease = await take(channelId, 'a:1', 100);
    // Redis's own clock says when it is gone
    for (let tries = 0; tries < 400 && (await store.leases.remainingMs(channelId, 'initiator')) > 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    t.equal(await store.leases.remainingMs(channelId, 'initiator'), 0, 'the lease ran out');
    t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }, lease), 'saved');
    t.equal(await store.leases.renew(lease, TTL), true, 'renewing takes it back');
    t.match(await store.leases.acquire(channelId, 'initiator', 'b:2', TTL), { ok: false, owner: 'a:1' });
  });

  t.test('a released lease is free at once', async (t) => {
    const channelId = newChannelId();
    const lease = await take(channelId, 'a:1');
    await store.leases.release(lease);
    const next = await take(channelId, 'b:2');
    t.ok(next.token > lease.token);
    t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }, lease), 'fenced');
  });

  t.test('every other write an FSM host makes is fenced once another owner took the lease, and changes nothing', async (t) => {
    const channelId = newChannelId();
    const old = await take(channelId, 'a:1', 200);
    t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }, old), 'saved');
    await store.saveProposal(channelId, 'initiator', { round: 2, updates: [transfer(5n)] }, old);
    await store.saveOnchain(channelId, 'initiator', 'deposit', state(2), old);
    await store.setFsmIdHash(channelId, 'initiator', 'bb', old);
    t.match(await store.load(channelId, 'initiator'), { fsmIdHash: 'bb', proposal: { round: 2 }, onchain: { kind: 'deposit' }, closed: false }, 'its holder writes each');
    await store.addWatchtowerAction(channelId, 'initiator', slash);
    const before = await store.load(channelId, 'initiator');

    const taken = await takeOnceFree(channelId, 'b:2');
    await t.rejects(store.setFsmIdHash(channelId, 'initiator', 'cc', old), LeaseLostError, 'the old owner cannot store a new fsm_id hash');
    await t.rejects(store.saveProposal(channelId, 'initiator', { round: 3, updates: [transfer(7n)] }, old), LeaseLostError, 'nor keep a proposal');
    await t.rejects(store.forgetOnchain(channelId, 'initiator', old), LeaseLostError, 'nor forget the on-chain tx');
    await t.rejects(store.markClosed(channelId, 'initiator', old), LeaseLostError, 'nor mark the channel closed');
    await t.rejects(store.takeWatchtowerActions(channelId, 'initiator', old), LeaseLostError, "nor take the watchtower's actions");
    t.same(await store.load(channelId, 'initiator'), before, 'the record is as it was');

    t.same(await store.takeWatchtowerActions(channelId, 'initiator', taken), [slash], "the new owner's client is told of the watchtower's action");
    await store.setFsmIdHash(channelId, 'initiator', 'cc', taken);
    await store.saveProposal(channelId, 'initiator', { round: 3, updates: [transfer(7n)] }, taken);
    await store.forgetOnchain(channelId, 'initiator', taken);
    await store.markClosed(channelId, 'initiator', taken);
    t.match(await store.load(channelId, 'initiator'), { fsmIdHash: 'cc', proposal: { round: 3 }, onchain: null, closed: true }, 'the new owner writes each');
    t.equal((await store.load(channelId, 'responder')), null, "the other participant's record is untouched");
  });

  t.test('a sleeping FSM lets its lease go and takes it back with its own token, with the round stored, while nobody took it since', async (t) => {
    const channelId = newChannelId();
    const lease = await take(channelId, 'a:1');
    t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }, lease), 'saved');
    t.equal(await store.saveRound(channelId, 'initiator', state(2), undefined, lease), 'saved');
    await store.leases.release(lease);
    t.equal(await store.leases.remainingMs(channelId, 'initiator'), 0, 'asleep: nobody holds the lease');
    t.same(await store.leases.resume(lease, TTL), { ok: true, round: 2 }, 'woken: taken back, and the record holds round 2');
    t.ok((await store.leases.remainingMs(channelId, 'initiator')) > 0, 'held again');
    t.match(await store.leases.acquire(channelId, 'initiator', 'b:2', TTL), { ok: false, owner: 'a:1' }, 'under its old token, and another is refused');
    t.equal(await store.saveRound(channelId, 'initiator', state(3), undefined, lease), 'saved', 'and it writes');
    t.same(await store.leases.resume(lease, TTL), { ok: true, round: 3 }, 'resuming a lease held is a renewal');

    const fresh = newChannelId();
    t.same(await store.leases.resume({ ...lease, channelId: fresh }, TTL), { ok: false }, 'a lease never taken is not resumed');
  });

  t.test('a sleeping FSM whose lease another owner took meanwhile cannot take it back, even once that owner let it go', async (t) => {
    const channelId = newChannelId();
    const lease = await take(channelId, 'a:1');
    t.equal(await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' }, lease), 'saved');
    await store.leases.release(lease);
    const other = await take(channelId, 'b:2');
    t.same(await store.leases.resume(lease, TTL), { ok: false }, 'taken: not resumed');
    t.equal(await store.saveRound(channelId, 'initiator', state(2), undefined, other), 'saved', 'the new owner writes');
    await store.leases.release(other);
    t.same(await store.leases.resume(lease, TTL), { ok: false }, 'let go again by the other owner: the fencing counter moved, still not resumed');
    t.equal(await store.saveRound(channelId, 'initiator', state(3), undefined, lease), 'fenced', 'nor can it write');
    t.equal(await store.leases.remainingMs(channelId, 'initiator'), 0, 'and it took nothing');
  });
}
