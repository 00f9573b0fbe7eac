/** The effects the machine emits, built the same way by every phase. Pure data, no xstate. */
import { minimumDepth } from './protocol.js';
import type { Reason } from './reasons.js';
import type { ChannelEffect, ClientOutput, EncodedTx, OperationKind, PeerMessage } from './types.js';
import { OPERATIONS, lastRound, pendingKind, type ChannelContext } from './channel-context.js';

export const toClient = (output: ClientOutput): ChannelEffect => ({ type: 'toClient', output });
export const toPeer = (message: PeerMessage): ChannelEffect => ({ type: 'toPeer', message });
export const info = (event: string, data?: Record<string, unknown>): ChannelEffect => toClient({ kind: 'info', event, ...(data && { data }) });
export const reject = (reason: Reason, request: unknown, detail?: string): ChannelEffect =>
  toClient({ kind: 'error', reason, request, ...(detail && { detail }) });
/** The operation in flight did not happen: the client stays on the last co-signed round. */
export const conflict = (c: ChannelContext, code: number, reason?: Reason): ChannelEffect =>
  toClient({ kind: 'conflict', round: lastRound(c), code, ...(reason && { reason }) });
export const onChainTx = (c: ChannelContext, infoName: string, tx: EncodedTx): ChannelEffect =>
  toClient({ kind: 'on_chain_tx', info: infoName, tx, txType: OPERATIONS[pendingKind(c)].txType });
/**
 * The peer rolls back its proposal (or what it was co-signing), with this protocol code and, when we
 * can say it, why; the round is our latest co-signed one, as the node's *_error messages carry it.
 */
export const refuseToPeer = (c: ChannelContext, kind: OperationKind, signedTx: EncodedTx, code: number, reason?: Reason): ChannelEffect =>
  toPeer({ type: 'update_error', kind, signedTx, round: lastRound(c), code, ...(reason && { reason }) });

/** The channel's minimum depth for a tx (it may depend on the tx's fee). */
function depthFor(c: ChannelContext, signedTx: EncodedTx): number {
  const fee = c.kit.txTerms(signedTx)?.fee ?? 0n;
  return minimumDepth(c.params.minimumDepthStrategy, c.params.minimumDepth, fee);
}

/** Follow a tx on chain down to the channel's minimum depth for it. */
export function watchTx(c: ChannelContext, signedTx: EncodedTx): ChannelEffect {
  return { type: 'watchTx', signedTx, minimumDepth: depthFor(c, signedTx) };
}

/** Follow our own snapshot_solo tx to minimum depth: only its sender hears of it, and nothing waits on it (aesc_fsm). */
export function watchSnapshot(c: ChannelContext, signedTx: EncodedTx): ChannelEffect {
  return { type: 'watchSnapshot', signedTx, minimumDepth: depthFor(c, signedTx) };
}
