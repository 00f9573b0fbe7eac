/**
 * JSON-RPC batches (an array of requests in one frame), as the node handles them
 * (sc_ws_api_jsonrpc `unpack`, `process_incoming`, `reply`): each request is handled in order, and
 * what answers the requests (results, errors, `.reply` notifications) leaves as one frame; what the
 * FSM says meanwhile (sign requests, info events) follows it, as from the node, whose FSM speaks after
 * the handler has answered.
 */
import type { Frame } from './codec.js';

/** Whether a frame answers a request (rather than being something the channel says by itself). */
export function answersRequest(frame: Frame): boolean {
  return 'id' in frame || (typeof frame.method === 'string' && frame.method.endsWith('.reply'));
}

/** The answers to a batch as the node sends them: nothing, one object, or an array of several. */
export function batchReply(answers: Frame[]): Frame | Frame[] | null {
  if (answers.length === 0) return null;
  return answers.length === 1 ? answers[0]! : answers;
}
