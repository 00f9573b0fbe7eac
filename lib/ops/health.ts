/**
 * Readiness: the store answers and the chain advances. Checked when asked (GET /ready) and every few
 * seconds in the background, so that trouble and recovery are events (logged, in the feed) as they happen.
 */
import type { ChannelId } from '../../fsm/types.js';
import type { Chain } from '../chain/types.js';
import type { ChannelStore } from '../store/store.js';
import type { OpsEvents } from './events.js';
import type { Metrics } from './metrics.js';

/** How long a store read or a chain height may take before it counts as not answering. */
const PROBE_TIMEOUT_MS = 2_000;
/** A channel id no channel has: reading it asks the store a real question and finds nothing. */
const PROBE_CHANNEL = 'ch_readinessProbe' as ChannelId;

export interface Readiness {
  ready: boolean;
  store: { ok: boolean; reason?: string };
  chain: { ok: boolean; height: number | null; reason?: string };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export class ReadinessMonitor {
  private height: number | null = null;
  private heightSince = Date.now();
  private last: { store: boolean; chain: boolean } = { store: true, chain: true };
  private timer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: { store: ChannelStore; chain: Chain; events: OpsEvents; metrics: Metrics; chainStallMs: number }) {
    this.unsubscribe = deps.chain.onBlock((height) => this.seen(height));
  }

  private seen(height: number): void {
    if (height !== this.height) {
      this.height = height;
      this.heightSince = Date.now();
      this.deps.metrics.chainHeight.set(height);
    }
  }

  async check(): Promise<Readiness> {
    const [store, chain] = await Promise.all([this.checkStore(), this.checkChain()]);
    this.report('store', store.ok, store.reason);
    this.report('chain', chain.ok, chain.reason);
    return { ready: store.ok && chain.ok, store, chain };
  }

  private async checkStore(): Promise<Readiness['store']> {
    try {
      await within(this.deps.store.load(PROBE_CHANNEL, 'initiator'), PROBE_TIMEOUT_MS, 'the store');
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: `store_unavailable: ${(err as Error).message}` };
    }
  }

  private async checkChain(): Promise<Readiness['chain']> {
    try {
      this.seen(await within(this.deps.chain.height(), PROBE_TIMEOUT_MS, 'the chain'));
    } catch (err) {
      return { ok: false, height: this.height, reason: `chain_unavailable: ${(err as Error).message}` };
    }
    const still = Date.now() - this.heightSince;
    if (still > this.deps.chainStallMs) {
      return { ok: false, height: this.height, reason: `chain_stalled: height ${this.height} for ${Math.round(still / 1000)} s (OPS_CHAIN_STALL_MS=${this.deps.chainStallMs})` };
    }
    return { ok: true, height: this.height };
  }

  /** Trouble and recovery are events once each, when they begin and end. */
  private report(what: 'store' | 'chain', ok: boolean, reason?: string): void {
    if (this.last[what] === ok) return;
    this.last[what] = ok;
    this.deps.events.emit(ok ? { type: `${what}_recovered` } : { type: `${what}_trouble`, reason: reason?.split(':')[0], detail: reason });
  }

  /** Checks every `everyMs` in the background (the timer keeps no process alive). */
  start(everyMs: number): void {
    const tick = () => {
      void this.check().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, everyMs).unref();
      });
    };
    this.timer = setTimeout(tick, everyMs).unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe();
  }
}
