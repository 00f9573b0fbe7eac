/**
 * What the client is told of an FSM output, as the node's `data` object (sc_ws_api event_to_payload),
 * with the JSON-RPC method it comes under. Both envelopes wrap it (lib/ws/codec.ts), and the history
 * (channels.history.fetch) lists reports in it.
 */
import { CODE } from '../../fsm/reasons.js';
import type { ChannelId, ClientOutput } from '../../fsm/types.js';
import { amountToJson } from '../amounts.js';

/** The node's text for a protocol code in conflicts (aesc_fsm error_code_to_msg). */
export function errorCodeMessage(code: number): string {
  switch (code) {
    case CODE.validation: return 'validation error';
    case CODE.conflict: return 'conflict';
    case CODE.timeout: return 'timeout';
    case CODE.abort: return 'abort';
    case CODE.rejectedOnChain: return 'rejected on-chain';
    default: return code >= 128 ? 'user-defined' : 'unknown';
  }
}

/** The payload every envelope shares for an FSM output: the node's `data` object. */
export function outputData(channelId: ChannelId | null, output: ClientOutput): { method: string; data: Record<string, unknown> } {
  switch (output.kind) {
    case 'info':
      return { method: 'channels.info', data: { event: output.event, ...output.data } };
    case 'sign':
      return {
        method: `channels.sign.${output.tag}`,
        data: {
          signed_tx: output.signedTx,
          updates: output.updates.map((u) => (u.op === 'OffChainTransfer' ? { ...u, amount: amountToJson(u.amount) } : u)),
        },
      };
    case 'update':
      return { method: 'channels.update', data: { state: output.state } };
    case 'leave':
      return { method: 'channels.leave', data: { state: output.state } };
    case 'on_chain_tx':
      return { method: 'channels.on_chain_tx', data: { info: output.info, tx: output.tx, type: output.txType } };
    case 'conflict':
      return {
        method: 'channels.conflict',
        data: {
          channel_id: channelId, error_code: output.code, error_msg: errorCodeMessage(output.code), round: output.round,
          ...(output.reason && { reason: output.reason }),
        },
      };
    case 'message':
      return { method: 'channels.message', data: { message: { channel_id: channelId, from: output.from, to: output.to, info: output.info } } };
    case 'error':
      return { method: 'channels.error', data: { message: output.reason, ...(output.detail && { detail: output.detail }) } };
    case 'debug':
      return { method: 'channels.debug', data: output.data };
  }
}
