/**
 * Disputes as pure rules: which solo tx (close_solo, snapshot_solo, slash, settle) the chain allows
 * now, and what it carries.
 */
import type { Refusal } from '../protocol.js';
import type { DisputeKind, EncodedTx, OnchainChannel, OnchainTerms } from '../types.js';
import { me, OFFCHAIN_TX_TAG, type ChannelContext } from '../channel-context.js';
import { feeRefusal } from './chain-terms.js';

/** Our latest co-signed state is an off-chain tx the chain has not seen: something to close or slash with. */
export function newerThanChain(c: ChannelContext, onchainRound: number): boolean {
  return c.state !== null && c.kit.innerTag(c.state.signedTx) === OFFCHAIN_TX_TAG && c.state.round > onchainRound;
}

export interface DisputeRequest { kind: DisputeKind; terms: OnchainTerms; onchain: OnchainChannel | null }

/** Builds the dispute tx our client asked for, or says why it cannot be sent now. */
export function buildDispute(c: ChannelContext, e: DisputeRequest): { kind: DisputeKind; signedTx: EncodedTx } | Refusal {
  if (!c.state || !c.channelId) return { reason: 'not_allowed_now' };
  const chain = e.onchain;
  if (!chain) return { reason: 'not_found', detail: 'the channel is not on chain' };
  const closing = chain.lockedUntil !== 0;
  const base = { channelId: c.channelId, from: me(c), terms: e.terms };
  const newer = newerThanChain(c, chain.round);
  let signedTx: EncodedTx;
  switch (e.kind) {
    case 'close_solo':
      if (closing) return { reason: 'not_allowed_now', detail: 'the channel is already closing' };
      signedTx = c.kit.disputeTx({ ...base, kind: 'close_solo', payload: newer ? c.state.signedTx : null, params: c.params, balances: c.state.balances });
      break;
    case 'snapshot_solo':
      if (closing) return { reason: 'not_allowed_now', detail: 'the channel is closing' };
      if (c.kit.innerTag(c.state.signedTx) !== OFFCHAIN_TX_TAG) return { reason: 'not_offchain_tx' };
      if (!newer) return { reason: 'already_onchain' };
      signedTx = c.kit.disputeTx({ ...base, kind: 'snapshot_solo', payload: c.state.signedTx });
      break;
    case 'slash':
      if (!closing) return { reason: 'not_allowed_now', detail: 'the channel is not closing' };
      if (!newer) return { reason: 'already_onchain', detail: 'the chain already has our latest round' };
      signedTx = c.kit.disputeTx({ ...base, kind: 'slash', payload: c.state.signedTx, params: c.params, balances: c.state.balances });
      break;
    case 'settle':
      if (!closing) return { reason: 'not_allowed_now', detail: 'the channel is not closing' };
      if (chain.lockedUntil > chain.height + 1) return { reason: 'not_allowed_now', detail: `the channel is locked until height ${chain.lockedUntil}` };
      // the amounts the chain holds, which is what settle must pay (the node's own FSM uses its off-chain ones)
      signedTx = c.kit.disputeTx({ ...base, kind: 'settle', finals: { initiator: chain.initiatorAmount, responder: chain.responderAmount } });
      break;
  }
  const tooLow = feeRefusal(c, e.terms, signedTx);
  if (tooLow) return tooLow;
  return { kind: e.kind, signedTx };
}
