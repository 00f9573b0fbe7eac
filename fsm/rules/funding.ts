/** Opening a channel as pure rules: the parameters both sides agree on, and the create tx they sign. */
import { openMismatch, openParamsRefusal, type Refusal } from '../protocol.js';
import type { Reason } from '../reasons.js';
import type { ChannelId, ChannelParams } from '../types.js';
import { participants, type ChannelContext, type Pending } from '../channel-context.js';

/**
 * The responder's parameters as agreed: the initiator filled in when it accepted any, and the
 * initiator's delegates as it names them (each side names its own).
 */
export function agreedParams(c: ChannelContext, proposed: ChannelParams): ChannelParams {
  return {
    ...c.params,
    initiatorDelegateIds: proposed.initiatorDelegateIds,
    ...(c.anyInitiator && { initiatorId: proposed.initiatorId }),
  };
}

export function openRefusal(c: ChannelContext, proposed: ChannelParams): Refusal | null {
  const own = agreedParams(c, proposed);
  return openMismatch(own, proposed) ?? openParamsRefusal(own);
}

/** Initiator: the create tx of the agreed parameters, as the operation both sides now sign. */
export function createOperation(c: ChannelContext, params: ChannelParams): { channelId: ChannelId; pending: Pending } {
  const created = c.kit.createTx(params, c.terms!);
  return {
    channelId: created.channelId,
    pending: {
      kind: 'create', round: 1, balances: created.balances, updates: [], stateHash: created.stateHash,
      signedTx: created.signedTx, proposer: 'initiator',
    },
  };
}

/** The create tx's tag: anything else in funding_created is `not_create_tx` at the node. */
const CREATE_TX_TAG = 50;

/** Why the initiator's funding_created is refused: the node's reason (it reports the last three as info events). */
export type FundingRefusal = { reason: Reason | 'not_create_tx' };

/**
 * Responder: rebuilds the create tx from our own parameters and the terms the initiator chose, and
 * checks the initiator's signature on it. Refused with the reason when it does not match.
 */
export function fundingCheck(c: ChannelContext, signedTx: string): { channelId: ChannelId; pending: Pending } | FundingRefusal {
  const tag = c.kit.innerTag(signedTx);
  if (tag === null) return { reason: 'broken_encoding_transaction' };
  if (tag !== CREATE_TX_TAG) return { reason: 'not_create_tx' };
  const terms = c.kit.txTerms(signedTx);
  if (!terms) return { reason: 'broken_encoding' };
  const created = c.kit.createTx(c.params, terms);
  const check = c.kit.checkSigned(signedTx, created.signedTx, [c.params.initiatorId], participants(c));
  if (!check.ok) return { reason: check.reason };
  return {
    channelId: created.channelId,
    pending: {
      kind: 'create', round: 1, balances: created.balances, updates: [], stateHash: created.stateHash,
      signedTx: check.signedTx, proposer: 'initiator',
    },
  };
}
