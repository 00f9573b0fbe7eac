/**
 * What a change of the live set costs each instance's CPU in rendezvous hashing alone: weighing a
 * million channel ids over 3 and over 10 instances (lib/watchtower/rendezvous.ts). Run: npx tsx test/lib/rendezvous-bench.ts
 */
import { randomBytes } from 'node:crypto';
import { encode, Encoding } from '../../lib/sdk.js';
import { Rendezvous } from '../../lib/watchtower/rendezvous.js';

const ids = Array.from({ length: 1_000_000 }, () => encode(randomBytes(32), Encoding.Channel));
for (const n of [3, 10]) {
  const ring = new Rendezvous(Array.from({ length: n }, (_, i) => `host-${i}:3014`));
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    let mine = 0;
    for (const id of ids) if (ring.ownerOf(id) === 'host-0:3014') mine++;
    console.log(`${n} instances: 1,000,000 channels weighed in ${(performance.now() - start).toFixed(0)} ms (${mine} this instance's)`);
  }
}
