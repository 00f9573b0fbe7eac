/**
 * Why a request was refused. The names are the Aeternity node's error reasons, so a client that
 * knows the node's API recognises them; lib/errors.ts maps each to the node's numeric code and text.
 */
export const REASONS = [
  'parse_error',
  'invalid_request',
  'method_not_found',
  'invalid_params',
  'internal_error',
  'not_found',
  'broken_encoding',
  'value_too_low',
  'conflict',
  'not_ready',
  'insufficient_balance',
  'negative_amount',
  'invalid_pubkeys',
  'broken_encoding_accounts',
  'broken_encoding_transaction',
  'not_a_number',
  'participant_not_found',
  'not_offchain_tx',
  'already_onchain',
  'invalid_meta_object',
  'invalid_error_code',
  'invalid_fsm_id',
  'bad_signature',
  'not_allowed_now',
  'missing_fsm_id',
  'bad_state_hash',
  'wrong_round',
  'frame_too_large',
  'store_unavailable',
  'channel_not_found',
  'service_full',
  'too_many_connections',
  'unknown_block_hash',
  'block_hash_too_new',
  'block_hash_too_old',
  'responder_port_not_allowed',
  'fsm_owned_elsewhere',
  'lease_lost',
] as const;

export type Reason = (typeof REASONS)[number];

/** Protocol codes of conflicts, aborts and timeouts (channel-api §4); 128 and up are the clients' own. */
export const CODE = { validation: 1, conflict: 2, timeout: 3, abort: 4, rejectedOnChain: 5 } as const;
