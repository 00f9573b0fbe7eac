/**
 * The one registry of error codes. Reasons come from fsm/reasons.ts; here each gets the node's
 * JSON-RPC detail code and message text (apps/aehttp sc_ws_api_jsonrpc), so unmodified clients
 * that match on either keep working.
 */
import type { Reason } from '../fsm/reasons.js';

export interface ErrorInfo {
  /** the node's detail code (the `data[].code` of a JSON-RPC error) */
  code: number;
  /** the node's fixed text for the code: what went wrong in particular goes in a `detail` beside it */
  message: string;
  /** the top-level JSON-RPC code of a refusal when it is not 3 ("Rejected") */
  rpcCode?: 2;
}

/** Top-level JSON-RPC codes: transport problems get their own code, protocol refusals get 3. */
export const JSONRPC_CODE = {
  parse_error: -32700,
  invalid_request: -32000,
  method_not_found: -32601,
  invalid_params: -32602,
  internal_error: -32603,
  action_not_allowed: 2,
  rejected: 3,
} as const;

/** The node's texts of its top-level refusal codes (sc_ws_api_jsonrpc error_msgs). */
const TOP_LEVEL_MESSAGE: Record<number, string> = { [JSONRPC_CODE.action_not_allowed]: 'Action not allowed', [JSONRPC_CODE.rejected]: 'Rejected' };

export const ERRORS: Record<Reason, ErrorInfo> = {
  parse_error: { code: -32700, message: 'Parse error' },
  invalid_request: { code: -32000, message: 'Invalid request' },
  method_not_found: { code: -32601, message: 'Method not found' },
  invalid_params: { code: -32602, message: 'Invalid params' },
  internal_error: { code: -32603, message: 'Internal error' },
  not_found: { code: 100, message: 'X doesn\'t exist' },
  broken_encoding: { code: 104, message: 'Rejected' },
  value_too_low: { code: 105, message: 'Value too low' },
  conflict: { code: 107, message: 'Conflict' },
  not_ready: { code: 108, message: 'Not ready' },
  insufficient_balance: { code: 1001, message: 'Insufficient balance' },
  negative_amount: { code: 1002, message: 'Negative amount' },
  invalid_pubkeys: { code: 1003, message: 'Invalid pubkeys' },
  broken_encoding_accounts: { code: 1005, message: 'Broken encoding: account pubkey' },
  broken_encoding_transaction: { code: 1010, message: 'Broken encoding: transaction' },
  not_a_number: { code: 1008, message: 'Not a number' },
  participant_not_found: { code: 1011, message: 'Participant not found' },
  not_offchain_tx: { code: 1012, message: 'Offchain tx expected', rpcCode: 2 },
  already_onchain: { code: 1013, message: 'Tx already on-chain' },
  invalid_meta_object: { code: 1014, message: 'Invalid meta object' },
  invalid_error_code: { code: 1015, message: 'Invalid error code (expect 1...65535)' },
  invalid_fsm_id: { code: 1016, message: 'Invalid fsm id' },
  bad_signature: { code: 1017, message: 'Bad signature' },
  not_allowed_now: { code: 1018, message: 'Not allowed at current channel state' },
  missing_fsm_id: { code: 2000, message: 'Missing field: existing_fsm_id' },
  // Beyond the node: reasons only this service gives, numbered above the node's range.
  bad_state_hash: { code: 3001, message: 'State hash mismatch' },
  wrong_round: { code: 3002, message: 'Wrong round' },
  frame_too_large: { code: 3003, message: 'Frame too large' },
  store_unavailable: { code: 3004, message: 'Could not persist the co-signed state' },
  channel_not_found: { code: 3005, message: 'Channel not found' },
  service_full: { code: 3006, message: 'The service hosts as many channels as it may' },
  too_many_connections: { code: 3007, message: 'Too many connections from this address' },
  // the node's reasons for a pinned block hash, which its JSON-RPC has no code for (it answers -32603)
  unknown_block_hash: { code: 3008, message: 'Unknown block hash' },
  block_hash_too_new: { code: 3009, message: 'Block hash too new' },
  block_hash_too_old: { code: 3010, message: 'Block hash too old' },
  responder_port_not_allowed: { code: 3011, message: 'Responder port not allowed' },
  // several service instances on one store: each FSM runs in the one holding its lease
  fsm_owned_elsewhere: { code: 3012, message: 'The FSM is hosted by another service instance' },
  lease_lost: { code: 3013, message: 'Another service instance took the FSM over' },
};

/** Reasons that are about the frame itself rather than a refusal by the channel. */
const TOP_LEVEL: ReadonlySet<Reason> = new Set([
  'parse_error', 'invalid_request', 'method_not_found', 'invalid_params', 'internal_error',
]);

/**
 * The JSON-RPC `error` object for a reason, as the node has it: fixed texts, and what this service can
 * say in particular in a `detail` beside the code's text. `data` is never empty (the aepp-sdk reads
 * it), though the node leaves it out for the top-level codes.
 */
export function jsonRpcError(reason: Reason, request: unknown, detail?: string) {
  const info = ERRORS[reason];
  const data = [{ code: info.code, message: info.message, ...(detail && { detail }) }];
  if (TOP_LEVEL.has(reason)) return { code: info.code, message: info.message, data, request };
  const code = info.rpcCode ?? JSONRPC_CODE.rejected;
  return { code, message: TOP_LEVEL_MESSAGE[code]!, data, request };
}
