/**
 * The URL parameters that say what a client is told and kept of its FSM: the node's `report_*` flags,
 * `log_keep` and `msg_forwarding` (sc_ws_handler read_channel_options). The schema has checked their
 * types already.
 */
import { DEFAULT_LOG_KEEP, DEFAULT_REPORTS, MAX_LOG_KEEP, REPORT_TAGS, type ReportOptions } from '../channel/reporting.js';
import type { OpenRefusal } from '../channel/open-request.js';

export function reportParams(query: Record<string, string>): { reports: ReportOptions; msgForwarding: boolean } | OpenRefusal {
  const reports = { ...DEFAULT_REPORTS };
  for (const tag of REPORT_TAGS) {
    const flag = query[`report_${tag}`];
    if (flag !== undefined) reports[tag] = flag === 'true';
  }
  const logKeep = query.log_keep === undefined ? DEFAULT_LOG_KEEP : Number(query.log_keep);
  // the node takes a negative one and falls back to 10 with an error in its own log: said to the client here
  if (logKeep < 0) return { reason: 'invalid_params', detail: `log_keep must be 0 or more, not ${logKeep}` };
  if (logKeep > MAX_LOG_KEEP) return { reason: 'invalid_params', detail: `log_keep must be at most ${MAX_LOG_KEEP}, not ${logKeep}` };
  return { reports: { reports, logKeep }, msgForwarding: query.msg_forwarding === 'true' };
}
