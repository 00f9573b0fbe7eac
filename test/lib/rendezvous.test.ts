/**
 * Rendezvous hashing (lib/watchtower/rendezvous.ts), which instance watches each channel: every
 * instance computes the same owner from the same live set in any order; the channels are spread
 * evenly; an instance that goes hands on its own channels only, and one that joins takes only from
 * the others, about its share.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { encode, Encoding } from '../../lib/sdk.js';
import { murmur3, Rendezvous } from '../../lib/watchtower/rendezvous.js';

const CHANNELS = 30_000;
const ids = Array.from({ length: CHANNELS }, () => encode(randomBytes(32), Encoding.Channel));
const instances = ['host-a:3014', 'host-b:3014', 'host-c:3014'];

const owners = (ring: Rendezvous) => ids.map((id) => ring.ownerOf(id)!);
const counts = (list: string[]) => list.reduce((m, o) => m.set(o, (m.get(o) ?? 0) + 1), new Map<string, number>());

t.test('MurmurHash3 x86 32-bit: the published test values', async (t) => {
  t.equal(murmur3('', 0), 0);
  t.equal(murmur3('', 1), 0x514e28b7);
  t.equal(murmur3('a', 0x9747b28c), 0x7fa09ea6);
  t.equal(murmur3('abc', 0), 0xb3dd93fa);
  t.equal(murmur3('Hello, world!', 0x9747b28c), 0x24884cba);
  t.equal(murmur3('The quick brown fox jumps over the lazy dog', 0x9747b28c), 0x2fa826cd);
});

t.test('every instance names the same owner, whatever order it lists the instances in', async (t) => {
  const a = owners(new Rendezvous(instances));
  const b = owners(new Rendezvous([...instances].reverse()));
  t.same(a, b);
  t.same(new Rendezvous(instances).ownerOf(ids[0]!), new Rendezvous(instances).ownerOf(ids[0]!), 'and the same again later');
  t.equal(new Rendezvous([]).ownerOf(ids[0]!), null, 'nobody alive: no owner');
});

t.test('balanced: each of three instances watches about a third', async (t) => {
  const byOwner = counts(owners(new Rendezvous(instances)));
  t.equal(byOwner.size, 3);
  for (const [owner, n] of byOwner) {
    const share = n / CHANNELS;
    t.comment(`${owner}: ${n} (${(share * 100).toFixed(1)} %)`);
    // 30,000 draws of 1/3: a standard deviation of 0.27 %; 3 % off is far outside chance
    t.ok(Math.abs(share - 1 / 3) < 0.03, `${owner} watches ${(share * 100).toFixed(1)} %`);
  }
  const ten = Array.from({ length: 10 }, (_, i) => `10.0.0.${i}:3014:w${i}`);
  for (const [owner, n] of counts(owners(new Rendezvous(ten)))) t.ok(Math.abs(n / CHANNELS - 0.1) < 0.02, `one of ten: ${owner} watches ${n}`);
});

t.test('stable: an instance that dies hands on only its own channels, spread over the survivors', async (t) => {
  const before = owners(new Rendezvous(instances));
  const after = owners(new Rendezvous(instances.filter((i) => i !== 'host-b:3014')));
  let moved = 0;
  let survivorsMoved = 0;
  for (let i = 0; i < CHANNELS; i++) {
    if (before[i] === 'host-b:3014') moved++;
    else if (after[i] !== before[i]) survivorsMoved++;
  }
  t.equal(survivorsMoved, 0, 'no survivor\'s channel moves');
  const taken = counts(after.filter((_, i) => before[i] === 'host-b:3014'));
  t.ok(Math.abs(taken.get('host-a:3014')! / moved - 0.5) < 0.05 && Math.abs(taken.get('host-c:3014')! / moved - 0.5) < 0.05,
    `the dead instance's ${moved} channels go half each way: ${JSON.stringify([...taken])}`);
});

t.test('stable: an instance that joins takes about its share, and only from the others', async (t) => {
  const before = owners(new Rendezvous(instances));
  const after = owners(new Rendezvous([...instances, 'host-d:3014']));
  let moved = 0;
  let elsewhere = 0;
  for (let i = 0; i < CHANNELS; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (after[i] !== 'host-d:3014') elsewhere++;
  }
  t.equal(elsewhere, 0, 'whatever moved, moved to the newcomer');
  t.ok(Math.abs(moved / CHANNELS - 0.25) < 0.03, `${moved} of ${CHANNELS} moved to the newcomer`);
});

t.test('sameAs compares the live sets', async (t) => {
  t.ok(new Rendezvous(['a', 'b']).sameAs(new Rendezvous(['b', 'a', 'a'])));
  t.notOk(new Rendezvous(['a', 'b']).sameAs(new Rendezvous(['a'])));
  t.notOk(new Rendezvous(['a']).sameAs(null));
});
