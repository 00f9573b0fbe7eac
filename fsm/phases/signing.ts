/**
 * The steps every phase shares: a client's signature on the tx it was asked to sign, and the peer's
 * co-signature on ours. Pure (no xstate): each returns the outcome and what it changes.
 */
import type { ChannelEvent, ChannelContext } from '../channel-context.js';
import type { Decision, Step } from '../decision.js';
import { reject } from '../effects.js';
import { checkOwnSignature, checkPeerSignature } from '../rules/proposals.js';
import { signTag, type SignRequest } from './sign-request.js';

type Signed = Extract<ChannelEvent, { type: 'CLIENT.SIGNED' }>;

/**
 * Our client signed the pending tx: keep its signature on it. A signature for another request is
 * not allowed now; one that does not check out is refused with its reason, and nothing changes.
 */
export function ownSignature(request: SignRequest): Step<'other request' | 'bad signature' | 'signed'> {
  return (c: ChannelContext, e: Signed): Decision<'other request' | 'bad signature' | 'signed'> => {
    if (e.tag !== signTag(c, request)) return { outcome: 'other request', effects: [reject('not_allowed_now', e.request)] };
    const check = checkOwnSignature(c, e.signedTx);
    if (!check.ok) return { outcome: 'bad signature', effects: [reject(check.reason, e.request, check.detail)] };
    return { outcome: 'signed', assign: { pending: { ...c.pending!, signedTx: check.signedTx } } };
  };
}

export const signedOwnProposal = ownSignature('own proposal');
export const signedAck = ownSignature('ack');
export const signedInitiatorCreate = ownSignature('initiator_sign');
export const signedResponderCreate = ownSignature('responder_sign');

/** The peer co-signed what we proposed (funding_signed, update_ack): keep its signature on the pending tx. */
export function peerCoSignature(c: ChannelContext, e: Extract<ChannelEvent, { type: 'PEER.update_ack' | 'PEER.funding_signed' }>): Decision<'bad signature' | 'co-signed'> {
  const check = checkPeerSignature(c, e.msg.signedTx);
  if (!check.ok) return { outcome: 'bad signature' };
  return { outcome: 'co-signed', assign: { pending: { ...c.pending!, signedTx: check.signedTx } } };
}
