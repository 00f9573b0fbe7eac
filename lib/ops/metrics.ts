/**
 * Prometheus metrics, on a registry of this service's own (several services may share a process).
 * The hot path touches counters and histograms only; gauges are read when Prometheus scrapes.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OpsEvents } from './events.js';

export interface MetricsSources {
  /** FSM count by state name ("asleep" for a hibernating one) */
  channelsByState(): Map<string, number>;
  clientConnections(): number;
  /** channels this instance's watchtower watches */
  watchtowerChannels?(): number;
  /** clients relayed from here to the instance hosting their FSM, now (forwarding only) */
  forwardedConnections?(): number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly offchainUpdates: Counter<'kind' | 'outcome'>;
  readonly updateDuration: Histogram<'kind'>;
  readonly storeWriteDuration: Histogram<'kind'>;
  readonly refusals: Counter<'reason'>;
  readonly forwards: Counter<'outcome'>;
  readonly onchainTxs: Counter<'type' | 'outcome'>;
  readonly watchtowerActions: Counter<'action' | 'outcome'>;
  readonly chainHeight: Gauge;
  private sources: MetricsSources | null = null;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const metrics = this;
    new Gauge({
      name: 'aesc_channels', help: 'Participant FSMs hosted, by FSM state (a hibernating one as "asleep")', labelNames: ['state'], registers,
      collect() {
        this.reset();
        for (const [state, count] of metrics.sources?.channelsByState() ?? []) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'aesc_client_connections', help: 'Client WebSocket connections open', registers,
      collect() { this.set(metrics.sources?.clientConnections() ?? 0); },
    });
    new Gauge({
      name: 'aesc_watchtower_channels', help: 'Channels this instance\'s watchtower watches (instances sharing a Redis share them out)', registers,
      collect() { this.set(metrics.sources?.watchtowerChannels?.() ?? 0); },
    });
    this.offchainUpdates = new Counter({
      name: 'aesc_offchain_updates_total', help: 'Off-chain operations proposed by a client, by kind and outcome (ok, conflict, refused)',
      labelNames: ['kind', 'outcome'], registers,
    });
    this.updateDuration = new Histogram({
      name: 'aesc_update_duration_seconds', help: 'From a client proposing an off-chain operation to its proposer being told it is co-signed',
      labelNames: ['kind'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    this.storeWriteDuration = new Histogram({
      name: 'aesc_store_write_duration_seconds', help: 'Store writes of co-signed rounds and pending on-chain txs',
      labelNames: ['kind'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers,
    });
    new Gauge({
      name: 'aesc_forwarded_connections', help: 'Client connections relayed from here to the service instance hosting their FSM', registers,
      collect() { this.set(metrics.sources?.forwardedConnections?.() ?? 0); },
    });
    this.forwards = new Counter({
      name: 'aesc_forwards_total', help: 'Reestablishes whose FSM another instance hosts, by outcome (relayed, owner_unreachable)', labelNames: ['outcome'], registers,
    });
    this.refusals = new Counter({ name: 'aesc_refusals_total', help: 'Connections and requests refused, by reason code', labelNames: ['reason'], registers });
    this.onchainTxs = new Counter({ name: 'aesc_onchain_txs_total', help: 'Txs posted on chain, by tx type and outcome (posted, rejected)', labelNames: ['type', 'outcome'], registers });
    this.watchtowerActions = new Counter({ name: 'aesc_watchtower_actions_total', help: 'Watchtower actions, by action and outcome', labelNames: ['action', 'outcome'], registers });
    this.chainHeight = new Gauge({ name: 'aesc_chain_height', help: 'The chain height last seen', registers });
  }

  /** Where the gauges read from, once the service has them. */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** The counters that follow lifecycle events. */
  follow(events: OpsEvents): () => void {
    return events.on((event) => {
      if (event.type === 'connection_refused' && event.reason) this.refusals.inc({ reason: event.reason });
      else if (event.type === 'connection_forwarded' && event.reason) this.forwards.inc({ outcome: event.reason });
      else if (event.type === 'watchtower_slash') this.watchtowerActions.inc({ action: 'slash', outcome: 'posted' });
      else if (event.type === 'watchtower_slash_failed') this.watchtowerActions.inc({ action: 'slash', outcome: 'failed' });
    });
  }
}
