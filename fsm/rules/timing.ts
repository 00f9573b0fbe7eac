/** How long the machine waits for each thing, and who never gives up waiting. */
import type { Timeouts } from '../types.js';
import { DEFAULT_TIMEOUTS } from '../types.js';
import type { ChannelContext } from '../channel-context.js';

/** A keep_running responder waits for its initiator however long it is idle (the node ignores its idle timeout). */
export function keepsRunning(c: Pick<ChannelContext, 'role' | 'keepRunning'>): boolean {
  return c.role === 'responder' && c.keepRunning;
}

export function timeout(c: Pick<ChannelContext, 'timeouts'>, name: keyof Timeouts): number {
  return c.timeouts?.[name] ?? DEFAULT_TIMEOUTS[name];
}
