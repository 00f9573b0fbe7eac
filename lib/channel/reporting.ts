/**
 * What a client is told of its FSM, and what it can look back on, as the node has it (aesc_fsm
 * report/3, log/4, aesc_window): the `report_*` flags say which reports reach the client; the reports
 * it is told and the peer messages of its FSM go into a small log of the latest `log_keep` or so,
 * which `channels.history.fetch` reads and a `channels.debug` report carries when the FSM dies.
 */
import type { ChannelId, ClientOutput, PeerMessage } from '../../fsm/types.js';
import { outputData } from './output-data.js';

/** The node's report tags (aesc_fsm.hrl DEFAULT_REPORT_FLAGS). `min_depth` is read and used by no report, there too. */
export const REPORT_TAGS = ['info', 'update', 'leave', 'conflict', 'message', 'error', 'debug', 'on_chain_tx', 'min_depth'] as const;
export type ReportTag = (typeof REPORT_TAGS)[number];

/** Everything but debug, as the node. */
export const DEFAULT_REPORTS: Readonly<Record<ReportTag, boolean>> = {
  info: true, update: true, leave: true, conflict: true, message: true, error: true, debug: false, on_chain_tx: true, min_depth: true,
};

/** The node's default `log_keep` (aesc_fsm.hrl KEEP). */
export const DEFAULT_LOG_KEEP = 10;
/** Beyond the node: each FSM keeps up to twice this many entries in memory, so a client may not ask for more. */
export const MAX_LOG_KEEP = 1000;

export interface ReportOptions {
  reports: Readonly<Record<ReportTag, boolean>>;
  logKeep: number;
}

export const DEFAULT_REPORT_OPTIONS: ReportOptions = { reports: DEFAULT_REPORTS, logKeep: DEFAULT_LOG_KEEP };

/** The node's entry types, as `channels.history.fetch` names them, and as its `type` filter names them. */
const ENTRY_TYPES = { rpt: 'report', snd: 'send', rcv: 'receive' } as const;
export type EntryType = keyof typeof ENTRY_TYPES;
/** What the node's `tag` filter takes. */
export const FILTER_TAGS = ['info', 'on_chain_tx', 'conflict', 'update', 'leave', 'error', 'debug'] as const;
export const FILTER_TYPES = ['rpt', 'rcv', 'snd', 'req'] as const;

type Entry =
  | { type: 'rpt'; tag: ReportTag; time: number; channelId: ChannelId | null; output: ClientOutput }
  | { type: 'snd' | 'rcv'; tag: string; time: number; message: PeerMessage };

/** One entry as `channels.history.fetch` returns it. */
export interface HistoryEntry {
  type: 'report' | 'send' | 'receive';
  tag: string;
  /** RFC 3339, UTC */
  time: string;
  info: unknown;
}

export interface HistoryFilter {
  /** how many, newest first (the node's default: 10) */
  n?: number;
  type?: readonly string[];
  tag?: readonly string[];
}

/**
 * The node's sliding window: entries go to `a` until it holds `keep`, then `a` becomes `b` (the older
 * `b` is dropped), so it holds the newest `keep` to `2 × keep` entries, and adding costs O(1).
 */
class Window<T> {
  private a: T[] = [];
  private b: T[] = [];

  constructor(private readonly keep: number) {}

  add(item: T): void {
    if (this.a.length >= this.keep) {
      this.b = this.a;
      this.a = [];
    }
    this.a.push(item);
  }

  /** newest first */
  *newest(): Generator<T> {
    for (let i = this.a.length - 1; i >= 0; i--) yield this.a[i]!;
    for (let i = this.b.length - 1; i >= 0; i--) yield this.b[i]!;
  }
}

/** The report tag of an output; null when it is not a report (a sign request, or the answer to a request). */
export function reportTag(output: ClientOutput): ReportTag | null {
  switch (output.kind) {
    case 'sign': return null;
    // a refused request is answered, not reported: the node's handler replies it whatever the flags say
    case 'error': return output.request !== undefined && output.request !== null ? null : 'error';
    default: return output.kind;
  }
}

export class Reporting {
  private readonly log: Window<Entry>;

  constructor(private readonly options: ReportOptions = DEFAULT_REPORT_OPTIONS) {
    this.log = new Window(options.logKeep);
  }

  /** Whether the client is told this output: not a report, or a report its flags let through (then it is logged too). */
  admit(channelId: ChannelId | null, output: ClientOutput): boolean {
    const tag = reportTag(output);
    if (tag === null) return true;
    if (!this.options.reports[tag]) return false;
    this.log.add({ type: 'rpt', tag, time: Date.now(), channelId, output });
    return true;
  }

  /** Whether the client hears reports of this tag. */
  reports(tag: ReportTag): boolean {
    return this.options.reports[tag];
  }

  /** A message to or from the peer's FSM, for the log. */
  peerMessage(type: 'snd' | 'rcv', message: PeerMessage): void {
    this.log.add({ type, tag: message.type, time: Date.now(), message });
  }

  /** The log, newest first, as the node's get_history filters it: the first `n` entries of the types and tags asked for. */
  history(filter: HistoryFilter = {}): HistoryEntry[] {
    const n = filter.n ?? 10;
    const found: HistoryEntry[] = [];
    for (const entry of this.log.newest()) {
      if (found.length >= n) break;
      if (filter.type && !filter.type.includes(entry.type)) continue;
      if (filter.tag && !filter.tag.includes(entry.tag)) continue;
      found.push(render(entry));
    }
    return found;
  }
}

function render(entry: Entry): HistoryEntry {
  const time = new Date(entry.time).toISOString();
  if (entry.type === 'rpt') return { type: ENTRY_TYPES.rpt, tag: entry.tag, time, info: outputData(entry.channelId, entry.output).data };
  const { type: _tag, ...info } = entry.message;
  return { type: ENTRY_TYPES[entry.type], tag: entry.tag, time, info };
}
