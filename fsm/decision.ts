/**
 * One decision per protocol step. A step is a pure function `decide(context, event)` that checks
 * what arrived, builds what it implies, and returns an outcome, the context changes and the effects.
 * The machine picks its transition by the outcome and applies the changes and effects in one action,
 * so a tx is built and a signature checked once per event, not once in a guard and again in an action.
 */
import type { ChannelEffect } from './types.js';
import type { ChannelContext, ChannelEvent } from './channel-context.js';

export interface Decision<O extends string = string> {
  outcome: O;
  assign?: Partial<ChannelContext>;
  effects?: ChannelEffect[];
}

/** A protocol step. Each takes the one event type it is wired to; the machine only calls it with that. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Step<O extends string = string> = (context: ChannelContext, event: any) => Decision<O>;

/**
 * The decision of `step` on this event in this context. The guards that pick the transition and the
 * action that applies it ask in turn within one transition: the first asks the step, the others
 * read its answer. A new context (or the same event raised again later) asks afresh.
 */
const decided = new WeakMap<object, { context: ChannelContext; step: Step; decision: Decision }>();
export function decisionOf(step: Step, context: ChannelContext, event: ChannelEvent): Decision {
  const known = decided.get(event);
  if (known && known.context === context && known.step === step) return known.decision;
  const decision = step(context, event);
  decided.set(event, { context, step, decision });
  return decision;
}
