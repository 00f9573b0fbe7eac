/**
 * What instances sharing a Redis share the watchtower out with (lib/store/watch-share.ts), on the real
 * Redis under a key prefix of its own: the claim of an answer is exclusive under concurrent claimers
 * on connections of their own, runs out when its claimant dies before posting, and is kept once posted
 * (unless its tx was dropped: then exactly one takes it over);
 * the live set follows heartbeats (in Redis's clock) and clean leaves; the join feed names new
 * channels in the order they were stored and says when a reader fell behind what it keeps.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { encode, Encoding } from '../../lib/sdk.js';
import { Redis } from 'ioredis';
import type { ChannelId } from '../../fsm/types.js';
import { RedisWatchShare } from '../../lib/store/watch-share.js';
import { REDIS_URL } from '../helpers/storage.js';

const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
const connections: Redis[] = [];
function share(kept?: number): RedisWatchShare {
  const redis = new Redis(REDIS_URL);
  connections.push(redis);
  return new RedisWatchShare(redis, prefix, kept);
}
const channelId = () => encode(randomBytes(32), Encoding.Channel) as ChannelId;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.teardown(async () => {
  const keys = await connections[0]!.keys(`${prefix}*`);
  if (keys.length) await connections[0]!.del(...keys);
  await Promise.all(connections.map((c) => c.quit()));
});

t.test('twenty instances claim the answer to one close at once: exactly one wins', async (t) => {
  const claimants = Array.from({ length: 20 }, () => share());
  for (let trial = 0; trial < 5; trial++) {
    const id = channelId();
    const results = await Promise.all(claimants.map((c, i) => c.claim(id, 3, `instance-${i}`, 10_000)));
    const winners = results.flatMap((r, i) => (r.won ? [i] : []));
    t.equal(winners.length, 1, `trial ${trial}: one winner`);
    for (const r of results) if (!r.won) t.equal(r.holder, `claimed|instance-${winners[0]}`, 'the others are told who holds it');
    // another round of the same channel is another close: claimed afresh
    t.ok((await claimants[1]!.claim(id, 4, 'instance-1', 10_000)).won, 'a close on another round is claimed afresh');
  }
});

t.test('a claimant that dies before posting blocks the others only until its claim runs out', async (t) => {
  const [a, b] = [share(), share()];
  const id = channelId();
  t.ok((await a.claim(id, 3, 'a', 300)).won);
  t.notOk((await b.claim(id, 3, 'b', 300)).won, 'held');
  await sleep(400);
  t.ok((await b.claim(id, 3, 'b', 300)).won, 'taken by another once it ran out');
  t.notOk(await a.posted(id, 3, 'a', 'th_x', 60_000), 'the old claimant can no longer mark it posted');
});

t.test('a failed answer is released at once; a posted one stays, and only the claimant releases', async (t) => {
  const [a, b] = [share(), share()];
  const id = channelId();
  t.ok((await a.claim(id, 3, 'a', 10_000)).won);
  await b.release(id, 3, 'b');
  t.notOk((await b.claim(id, 3, 'b', 10_000)).won, 'another\'s release leaves the claim alone');
  await a.release(id, 3, 'a');
  t.ok((await b.claim(id, 3, 'b', 10_000)).won, 'released: claimed by the next at once');
  t.ok(await b.posted(id, 3, 'b', 'th_posted', 60_000));
  await b.release(id, 3, 'b');
  const after = await a.claim(id, 3, 'a', 10_000);
  t.same(after, { won: false, holder: 'posted|b|th_posted' }, 'posted: nobody answers again, and whoever asks is told the tx');
});

t.test('a posted answer the chain dropped is taken over by exactly one, and only from the holder named', async (t) => {
  const claimants = Array.from({ length: 10 }, () => share());
  const id = channelId();
  t.ok((await claimants[0]!.claim(id, 3, 'instance-0', 10_000)).won);
  t.ok(await claimants[0]!.posted(id, 3, 'instance-0', 'th_dropped', 60_000));
  t.notOk(await claimants[1]!.takeOver(id, 3, 'claimed|instance-0', 'instance-1', 10_000), 'not from a holder it no longer is');
  const taken = await Promise.all(claimants.map((c, i) => c.takeOver(id, 3, 'posted|instance-0|th_dropped', `instance-${i}`, 10_000)));
  t.equal(taken.filter(Boolean).length, 1, 'one of ten takes it over');
  const winner = taken.indexOf(true);
  t.same(await claimants[0]!.claim(id, 3, 'instance-0', 10_000), { won: false, holder: `claimed|instance-${winner}` }, 'and holds it as a fresh claim');
});

t.test('the live set follows heartbeats and leaves', async (t) => {
  const [a, b] = [share(), share()];
  await a.heartbeat('instance-a', 300);
  await b.heartbeat('instance-b', 10_000);
  t.same(await a.live(), ['instance-a', 'instance-b']);
  await sleep(400);
  t.same(await b.live(), ['instance-b'], 'a heartbeat not renewed runs out');
  await a.heartbeat('instance-a', 10_000);
  t.same(await b.live(), ['instance-a', 'instance-b'], 'and comes back when renewed');
  await b.leave('instance-b');
  t.same(await a.live(), ['instance-a'], 'a clean leave is seen at once');
  await a.leave('instance-a');
});

t.test('the join feed names new channels in order, from any point; a reader left behind is told', async (t) => {
  const writer = share(5);
  const reader = share(5);
  const start = await reader.joinedSeq();
  const ids = Array.from({ length: 3 }, channelId);
  for (const id of ids) await writer.joined(id);
  const first = await reader.joinedSince(start);
  t.same(first.ids, ids, 'in the order they were stored');
  t.notOk(first.missed);
  const more = [channelId(), channelId()];
  for (const id of more) await writer.joined(id);
  const second = await reader.joinedSince(first.seq);
  t.same(second.ids, more, 'only the new ones next time');
  t.same((await reader.joinedSince(second.seq)).ids, [], 'nothing new: nothing');
  for (let i = 0; i < 7; i++) await writer.joined(channelId());
  const behind = await reader.joinedSince(second.seq);
  t.ok(behind.missed, 'more were stored than the feed keeps: the reader must read the whole index');
  t.equal(behind.ids.length, 5, 'the ones kept are still named');
});

t.test('a thousand and more joins are read a page at a time', async (t) => {
  const writer = share();
  const from = await writer.joinedSeq();
  const ids = Array.from({ length: 2500 }, channelId);
  await Promise.all(ids.map((id) => writer.joined(id)));
  const read = await share().joinedSince(from);
  t.equal(read.ids.length, 2500);
  t.same(new Set(read.ids), new Set(ids));
});
