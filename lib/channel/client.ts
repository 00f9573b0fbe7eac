/**
 * A session's client as the channel sees it, whatever carries it (a WebSocket in either envelope, an
 * in-process participant): its requests come in the node's JSON-RPC model, what it is told goes out as
 * values. The envelopes (lib/ws) build the requests and implement the link: nothing in lib/channel
 * knows a frame.
 */
import type { Reason } from '../../fsm/reasons.js';
import type { ChannelId, ClientOutput } from '../../fsm/types.js';
import type { Json } from '../json.js';

export interface ClientRequest {
  method: string;
  params: Record<string, Json>;
  /** present when the client wants a reply (JSON-RPC `id`) */
  id?: Json;
  /** the request as the client sent it, echoed in error replies */
  raw: Json;
}

/** What the client sent that is not a request (unreadable, too large, not the envelope): refused in its turn. */
export interface BadRequest {
  error: Reason;
  detail: string;
  raw: Json;
}

/**
 * A JSON-RPC batch: several requests in one frame, taken in order; the client end hears when it
 * begins and ends, so that it can answer them together, as the node does.
 */
export interface BatchRequest {
  batch: Incoming[];
}

export type Incoming = ClientRequest | BadRequest | BatchRequest;

/** The client end of a session. Every method is told the channel id the client knows the channel by. */
export interface ClientLink {
  /** something the FSM tells the client */
  output(channelId: ChannelId | null, output: ClientOutput): void;
  /** the FSM took the request: told before what the request made it say (JSON-RPC answers an id "ok") */
  accepted(channelId: ChannelId | null, request: ClientRequest): void;
  /** the answer to a query */
  answer(channelId: ChannelId | null, request: ClientRequest, result: unknown): void;
  /** the request is refused, with the node's reason */
  refuse(channelId: ChannelId | null, request: { raw: Json; id?: Json }, reason: Reason, detail?: string): void;
  /** the answer to a ping */
  pong(channelId: ChannelId | null, request: ClientRequest): void;
  /** the session is over */
  close(code: number, reason: string): void;
  /** a batch's requests are taken from now on (`start`) or have all been taken (`end`) */
  batch?(phase: 'start' | 'end'): void;
}

export const isBadRequest = (incoming: Incoming): incoming is BadRequest => 'error' in incoming;
export const isBatch = (incoming: Incoming): incoming is BatchRequest => 'batch' in incoming;
