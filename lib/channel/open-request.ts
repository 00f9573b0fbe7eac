/**
 * What a client asks for when it connects, whatever carries it: a new channel with its parameters, or
 * a channel to reestablish with its fsm_id. The envelopes build it (lib/ws/open-params.ts reads it from
 * the WebSocket URL); admission takes it.
 */
import type { Reason } from '../../fsm/reasons.js';
import type { BlockHashDelta, ChannelId, ChannelParams, Role, Timeouts } from '../../fsm/types.js';
import type { ReportOptions } from './reporting.js';

interface Common {
  role: Role;
  port: number;
  /** an initiator's: where the responder's service is (absent: this one) */
  host?: string;
  keepRunning: boolean;
  /** name the service's watchtower key as this participant's delegate (new channels only) */
  watchtower: boolean;
  /** the timeout_* parameters given */
  timeouts: Partial<Timeouts>;
  /** the bh_delta_* parameters, the node's defaults for those left out */
  blockHashDelta: BlockHashDelta;
  /** parameters neither the node nor this service reads: ignored, as the node ignores them */
  unknown: string[];
  /** the report_* flags and log_keep */
  reports: ReportOptions;
  /** msg_forwarding */
  msgForwarding: boolean;
}

export type OpenRequest =
  | (Common & {
    kind: 'new';
    params: ChannelParams;
    /** a responder that accepts any initiator (`initiator_id=any`) */
    anyInitiator: boolean;
    ttl: number;
    fee?: bigint;
    /** the gas price the create tx's fee is computed at */
    gasPrice?: bigint;
    nonce?: number;
  })
  | (Common & {
    kind: 'reestablish';
    channelId: ChannelId;
    fsmId: string;
    /** what the client holds to recover the channel if the service lost its records */
    recovery?: { offchainTx: string; poi?: string; minimumDepth: number; minimumDepthStrategy: 'txfee' | 'plain' };
  });

export type OpenRefusal = { reason: Reason; detail: string };
