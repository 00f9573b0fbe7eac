/**
 * What operators learn of a session: the metrics of its proposals, refusals and on-chain txs, and the
 * ops events of what its client is told (lifecycle events always, the rest only while a feed reader
 * listens, so that nobody pays for events nobody reads).
 */
import { performance } from 'node:perf_hooks';
import { Tag, unpackTx } from '../sdk.js';
import type { ChannelEvent } from '../../fsm/channel-machine.js';
import type { ChannelId, ClientOutput, Role } from '../../fsm/types.js';
import type { OpsEvent, OpsEvents } from '../ops/events.js';
import type { Metrics } from '../ops/metrics.js';

export interface ReportDeps {
  events?: OpsEvents;
  metrics?: Metrics;
}

/** Whose outputs are reported. */
export interface Reported {
  readonly role: Role;
  readonly channelId: ChannelId | null;
  readonly address: string | null;
  /** the latest co-signed round */
  round(): number | undefined;
}

/** A client's off-chain proposal under way, for its metrics. */
export interface Proposal {
  kind: string;
  started: number;
}

/** The metric label of a client's off-chain proposal. */
const PROPOSALS: Partial<Record<ChannelEvent['type'], string>> = {
  'CLIENT.UPDATE_NEW': 'transfer', 'CLIENT.DEPOSIT': 'deposit', 'CLIENT.WITHDRAW': 'withdraw', 'CLIENT.SHUTDOWN': 'shutdown',
};

/** The same, by the client's method, for proposals refused before they reach the FSM. */
export const PROPOSAL_METHODS: Record<string, string> = {
  'channels.update.new': 'transfer', 'channels.deposit': 'deposit', 'channels.withdraw': 'withdraw', 'channels.shutdown': 'shutdown',
};

/** Info events that are lifecycle events of their own. */
const LIFECYCLE_INFO: Record<string, OpsEvent['type']> = {
  open: 'channel_opened', channel_reestablished: 'channel_reestablished', peer_disconnected: 'peer_disconnected',
};

/** The proposal a client's event starts (null when it starts none, or nothing counts them). */
export function proposalOf(metrics: Metrics | undefined, event: ChannelEvent): Proposal | null {
  const kind = metrics && PROPOSALS[event.type];
  return kind ? { kind, started: performance.now() } : null;
}

/** Whether a client's event is a proposal that is counted. */
export function isProposal(metrics: Metrics | undefined, event: ChannelEvent): boolean {
  return metrics !== undefined && PROPOSALS[event.type] !== undefined;
}

export function endProposal(metrics: Metrics | undefined, proposal: Proposal, outcome: 'ok' | 'conflict' | 'refused'): void {
  const { kind, started } = proposal;
  metrics?.offchainUpdates.inc({ kind, outcome });
  if (outcome === 'ok') metrics?.updateDuration.observe({ kind }, (performance.now() - started) / 1000);
}

/**
 * Metrics and ops events of one output to the client. Returns the proposal still under way: an update,
 * a conflict or an error ends it (an error while the inbox holds the request's outputs ends it there).
 */
export function reportOutput(deps: ReportDeps, s: Reported, output: ClientOutput, proposal: Proposal | null, held: boolean): Proposal | null {
  const { events, metrics } = deps;
  switch (output.kind) {
    case 'update': if (proposal) { endProposal(metrics, proposal, 'ok'); proposal = null; } break;
    case 'conflict': if (proposal) { endProposal(metrics, proposal, 'conflict'); proposal = null; } break;
    case 'error':
      metrics?.refusals.inc({ reason: output.reason });
      if (proposal && !held) { endProposal(metrics, proposal, 'refused'); proposal = null; }
      break;
    case 'info': {
      const lifecycle = LIFECYCLE_INFO[output.event];
      if (lifecycle) events?.emit({ type: lifecycle, channel_id: s.channelId, role: s.role, address: s.address ?? undefined });
    }
  }
  if (!events?.wantsClientEvents) return proposal;
  const base = { channel_id: s.channelId, role: s.role };
  switch (output.kind) {
    // what the info says, never its data: fsm_up and funding_* carry the fsm_id
    case 'info': events.emit({ ...base, type: 'info', reason: output.event }); break;
    case 'update': events.emit({ ...base, type: 'update', round: s.round() }); break;
    case 'on_chain_tx': events.emit({ ...base, type: 'on_chain_tx', reason: output.info, tx_type: output.txType }); break;
    case 'conflict': events.emit({ ...base, type: 'conflict', round: output.round, reason: output.reason, code: output.code }); break;
    case 'error': events.emit({ ...base, type: 'error', reason: output.reason, detail: output.detail }); break;
  }
  return proposal;
}

/** Counts an on-chain tx by its type. */
export function reportTx(metrics: Metrics | undefined, signedTx: string, outcome: 'posted' | 'rejected'): void {
  metrics?.onchainTxs.inc({ type: txTypeName(signedTx), outcome });
}

function txTypeName(signedTx: string): string {
  try {
    const inner = (unpackTx(signedTx as `tx_${string}`, Tag.SignedTx) as unknown as { encodedTx: { tag: Tag } }).encodedTx;
    return Tag[inner.tag] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
