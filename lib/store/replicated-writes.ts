/**
 * Writes that must outlive the death of the Redis master that took them.
 *
 * Redis replicates asynchronously: a master that acknowledges a round and dies before its replica has
 * it loses the round when the replica is promoted, and by then the service has told both clients the
 * round is co-signed. So each such write goes to the master of its slot and is followed, on the same
 * connection, by `WAIT minReplicas timeout` (WAIT counts the replicas that have everything that
 * connection wrote so far); it counts as written only once enough replicas have it. When they fall
 * short the write is undone on the master (it was never released, so nothing anyone was told goes)
 * and fails, and the FSM treats it as any failed write: a conflict, nothing released.
 *
 * A write that fails because its master went away (the connection closed, MOVED after a failover,
 * CLUSTERDOWN while the cluster elects, READONLY from a master demoted meanwhile) is sent again to the
 * slot's new master until the failover window ends. The round scripts recognise their own retry: a
 * round already stored with the same state (the first attempt reached the replica before its master
 * died) counts as written, and is touched so that the WAIT after it covers it on the new master.
 *
 * One WAIT covers every write sent on its connection before it, so the writes of one event-loop turn
 * share one, and at most one WAIT is in flight per connection: Redis blocks the connection while WAIT
 * waits, and WAITs piling up behind each other while a replica is down would hold every other command
 * on that master for as long as they add up.
 */
import type { Cluster, Redis } from 'ioredis';
import { clusterSlot } from './cluster-slot.js';
import { StoreUnavailableError } from './store.js';

export interface DurabilityOptions {
  /** replicas that must have a write before it counts (0: no WAIT) */
  minReplicas: number;
  /** how long WAIT waits for them */
  waitMs: number;
  /** how long a write whose master went away is tried again (0: never; a single Redis does not fail over) */
  retryMs: number;
}

/** A write that reached fewer replicas than REDIS_MIN_REPLICAS asks for within the wait: undone, and failed. */
export class ReplicaShortfallError extends StoreUnavailableError {
  override name = 'ReplicaShortfallError';
}

/** How long to let a failover progress before sending a write again. */
const RETRY_DELAY_MS = 150;

/** What a master going away (or being replaced) looks like to a command sent to it. */
const MASTER_GONE = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|READONLY|LOADING|MASTERDOWN)\b|Connection is closed|Command timed out|ECONNRESET|ECONNREFUSED|EPIPE|Too many Cluster redirections|WAIT cannot be used with replica|Stream isn't writeable|no master serves slot/;

/** What one write does on the master it is sent to, and how it is undone. */
export interface ReplicatedWrite<T> {
  /** the key whose slot's master takes the write */
  key: string;
  /** sends the write to `node`; `retry` says an earlier attempt may have reached it */
  send(node: Redis, retry: boolean): Promise<T>;
  /** whether `result` changed anything a replica needs (a refused write needs no WAIT) */
  wrote(result: T): boolean;
  /** takes the write back on `node` when the replicas fell short, only if nothing came after it */
  undo?(node: Redis, result: T): Promise<unknown>;
}

export class ReplicatedWrites {
  /** per connection: whether a WAIT is in flight, and the WAIT the writes sent since then will share */
  private readonly waits = new WeakMap<Redis, { inFlight: boolean; next: Deferred<number> | null }>();

  constructor(private readonly client: Redis | Cluster, readonly options: DurabilityOptions, private readonly cluster: boolean) {}

  /** Runs the write on its slot's master, tries it again across a failover, and waits for its replicas. */
  async run<T>(write: ReplicatedWrite<T>): Promise<T> {
    const { minReplicas, waitMs, retryMs } = this.options;
    const deadline = Date.now() + retryMs;
    const mayRetry = () => Date.now() + RETRY_DELAY_MS <= deadline;
    // once a failover caught this write, its new master may still be getting a replica: it waits for one too
    let failedOver = false;
    for (let attempt = 0; ; attempt++) {
      let node: Redis;
      let result: T;
      let replicas: number;
      try {
        node = this.masterOf(write.key);
        const sent = write.send(node, attempt > 0);
        if (minReplicas === 0) return await sent;
        [result, replicas] = await Promise.all([sent, this.replicasAfter(node)]);
      } catch (err) {
        if (!MASTER_GONE.test((err as Error).message) || !mayRetry()) throw err;
        failedOver = true;
        await this.afterFailover();
        continue;
      }
      if (replicas >= minReplicas || !write.wrote(result)) return result;
      if (failedOver && mayRetry()) {
        await this.afterFailover();
        continue;
      }
      const undone = write.undo ? await write.undo(node, result).then(() => 'it was undone', (err: Error) => `undoing it failed too (${err.message})`) : 'it stays on the master';
      throw new ReplicaShortfallError(`the write reached ${replicas} of the ${minReplicas} replicas REDIS_MIN_REPLICAS asks for within `
        + `${waitMs} ms; ${undone} and counts as failed (a master dying now would lose it)`);
    }
  }

  /** Lets a failover progress, then learns where the slots are now. */
  private async afterFailover(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    if (!this.cluster) return;
    let timer: NodeJS.Timeout | undefined;
    // a refresh asks node after node: one that hangs must not hold the write past its window
    await Promise.race([
      new Promise<void>((resolve) => (this.client as Cluster).refreshSlotsCache(() => resolve())),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, 2 * RETRY_DELAY_MS); }),
    ]);
    clearTimeout(timer);
  }

  /** The connection to the master serving `key`'s slot (a single Redis: the one connection). */
  private masterOf(key: string): Redis {
    if (!this.cluster) return this.client as Redis;
    const cluster = this.client as Cluster;
    const slot = clusterSlot(key);
    const address = cluster.slots[slot]?.[0];
    const node = address && cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === address);
    if (!node) throw new Error(`no master serves slot ${slot} (yet)`);
    return node;
  }

  /** How many replicas have every write sent on `node` so far: the next WAIT on it. */
  private replicasAfter(node: Redis): Promise<number> {
    let wait = this.waits.get(node);
    if (!wait) this.waits.set(node, wait = { inFlight: false, next: null });
    if (!wait.next) {
      wait.next = deferred();
      // after this turn's writes; or, with a WAIT in flight, once it is back (see sendWait)
      if (!wait.inFlight) setImmediate(() => this.sendWait(node));
    }
    return wait.next.promise;
  }

  private sendWait(node: Redis): void {
    const wait = this.waits.get(node)!;
    const batch = wait.next;
    if (!batch || wait.inFlight) return;
    wait.next = null;
    wait.inFlight = true;
    (node.call('WAIT', this.options.minReplicas, this.options.waitMs) as Promise<number>).then(
      (replicas) => batch.resolve(Number(replicas)),
      (err: Error) => batch.reject(err),
    ).finally(() => {
      wait.inFlight = false;
      if (wait.next) this.sendWait(node);
    });
  }
}

interface Deferred<T> { promise: Promise<T>; resolve(value: T): void; reject(err: Error): void }

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined); // a write that failed first never asks for its WAIT's answer
  return { promise, resolve, reject };
}
