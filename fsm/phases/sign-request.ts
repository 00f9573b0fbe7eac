/** Which sign request a client's answer must name: the one of the operation in flight, or a fixed one. */
import type { SignTag } from '../types.js';
import { DISPUTES, OPERATIONS, pendingKind, type ChannelContext } from '../channel-context.js';

export type SignRequest = 'own proposal' | 'ack' | 'solo' | SignTag;

export function signTag(c: ChannelContext, request: SignRequest): SignTag {
  switch (request) {
    case 'own proposal': return OPERATIONS[pendingKind(c)].ownTag;
    case 'ack': return OPERATIONS[pendingKind(c)].ackTag;
    case 'solo': return DISPUTES[c.solo?.kind ?? 'close_solo'].tag;
    default: return request;
  }
}
