/**
 * A small bounded memo for pure functions on the per-update path. Both FSMs of a channel usually live
 * in this process and work out the same things for the same round (its state hash, the hash its
 * signatures sign); the second asks the memo. Oldest first out, as only the rounds in flight matter.
 */
export class Memo<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly limit: number) {}

  /** Remembers a value worked out elsewhere (what a key will be asked for is known in advance). */
  set(key: string, value: V): void {
    if (!this.entries.has(key) && this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, value);
  }

  get(key: string, work: () => V): V {
    let value = this.entries.get(key);
    if (value === undefined) {
      value = work();
      if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, value);
    }
    return value;
  }
}
