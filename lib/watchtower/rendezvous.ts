/**
 * Rendezvous (highest-random-weight) hashing: which live instance watches a channel. Every instance
 * computes the same answer from the same list of live instances, with nothing stored per channel, and
 * when an instance goes only its own channels move (each to whichever survivor weighs highest for it);
 * when one joins, only the channels it now weighs highest for move to it.
 *
 * The weight of (channel, instance) is MurmurHash3's finalizer over the channel id's MurmurHash3 (x86,
 * 32-bit) xor the instance id's: the id is hashed once, however many instances it is weighed over, so a
 * change of membership costs each instance one hash per stored channel and a few multiplications per
 * instance (test/lib/rendezvous-bench.ts prints what a million channels cost).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86 32-bit over the string's UTF-16 code units (low byte of each: ids are ASCII). */
export function murmur3(text: string, seed: number): number {
  let h = seed >>> 0;
  const length = text.length;
  const blocks = length - (length % 4);
  for (let i = 0; i < blocks; i += 4) {
    let k = (text.charCodeAt(i) & 0xff) | ((text.charCodeAt(i + 1) & 0xff) << 8) | ((text.charCodeAt(i + 2) & 0xff) << 16) | ((text.charCodeAt(i + 3) & 0xff) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (length & 3) {
    case 3: k ^= (text.charCodeAt(blocks + 2) & 0xff) << 16; // falls through
    case 2: k ^= (text.charCodeAt(blocks + 1) & 0xff) << 8; // falls through
    case 1:
      k ^= text.charCodeAt(blocks) & 0xff;
      k = Math.imul(k, C1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, C2);
      h ^= k;
  }
  return mix(h ^ length);
}

/** MurmurHash3's 32-bit finalizer: every input bit moves every output bit. */
function mix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The live instances, ready to weigh channels over. */
export class Rendezvous {
  readonly members: readonly string[];
  private readonly seeds: number[];

  constructor(members: Iterable<string>) {
    this.members = [...new Set(members)].sort();
    this.seeds = this.members.map((id) => murmur3(id, 0x9747b28c));
  }

  /** The instance that watches `channelId` (null when there is none); ties go to the greater id. */
  ownerOf(channelId: string): string | null {
    let best = -1;
    let owner: string | null = null;
    const hash = murmur3(channelId, 0);
    for (let i = 0; i < this.members.length; i++) {
      const weight = mix(hash ^ this.seeds[i]!);
      if (weight >= best) { best = weight; owner = this.members[i]!; } // members are sorted: >= lets the greater id win a tie
    }
    return owner;
  }

  /** Whether `other` names the same instances. */
  sameAs(other: Rendezvous | null): boolean {
    return !!other && other.members.length === this.members.length && other.members.every((id, i) => id === this.members[i]);
  }
}
