/**
 * The two client envelopes behind one request model. Both decode a frame into a JSON-RPC style
 * request ({method, params, id}) and render FSM output in their own shape:
 *   json-rpc: what the Aeternity node and the aepp-sdk speak (channel-api §1);
 *   legacy:   {action, tag, payload} from the original WebSocket API (seed 004).
 */
import type { ChannelId, ClientOutput } from '../../fsm/types.js';
import type { ClientRequest, Incoming } from '../channel/client.js';
import type { Reason } from '../../fsm/reasons.js';
import { ERRORS, jsonRpcError } from '../errors.js';
import type { Json } from '../json.js';
import { errorCodeMessage, outputData } from '../channel/output-data.js';

export type Protocol = 'json-rpc' | 'legacy';

/** An outbound frame before serialisation (lib/json writes its bigints exactly). */
export type Frame = Record<string, unknown>;

export interface Codec {
  readonly protocol: Protocol;
  decode(frame: Json): Incoming;
  output(channelId: ChannelId | null, output: ClientOutput): Frame;
  result(channelId: ChannelId | null, request: ClientRequest, result: unknown): Frame;
  /** what a request the FSM took is answered before what it causes (null: nothing) */
  accepted(channelId: ChannelId | null, request: ClientRequest): Frame | null;
  /** a query's answer */
  answer(channelId: ChannelId | null, request: ClientRequest, result: unknown): Frame;
  error(channelId: ChannelId | null, request: unknown, id: Json | undefined, reason: Reason, detail?: string): Frame;
  pong(channelId: ChannelId | null, request: ClientRequest): Frame;
}

const isObject = (v: Json | undefined): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const jsonRpcCodec: Codec = {
  protocol: 'json-rpc',

  decode(frame) {
    if (!isObject(frame)) return { error: 'invalid_request', detail: 'a request is a JSON object', raw: frame };
    if (frame.jsonrpc !== '2.0') return { error: 'invalid_request', detail: 'jsonrpc must be "2.0"', raw: frame };
    if (typeof frame.method !== 'string') return { error: 'invalid_request', detail: 'method must be a string', raw: frame };
    const params = frame.params ?? {};
    if (!isObject(params)) return { error: 'invalid_params', detail: 'params must be an object', raw: frame };
    return { method: frame.method, params, ...(frame.id !== undefined && { id: frame.id }), raw: frame };
  },

  output(channelId, output) {
    if (output.kind === 'error' && output.request !== undefined && output.request !== null) {
      const request = output.request as Json;
      const id = isObject(request) ? request.id : undefined;
      return this.error(channelId, request, id, output.reason, output.detail);
    }
    const { method, data } = outputData(channelId, output);
    return { jsonrpc: '2.0', version: 1, method, params: { channel_id: channelId, data } };
  },

  result(channelId, request, result) {
    return { jsonrpc: '2.0', version: 1, channel_id: channelId, id: request.id ?? null, result };
  },

  accepted(channelId, request) {
    return request.id === undefined ? null : this.result(channelId, request, 'ok');
  },

  answer(channelId, request, result) {
    if (request.id !== undefined) return this.result(channelId, request, result);
    // a query sent as a notification is answered by one, as the node does
    return { jsonrpc: '2.0', version: 1, method: `${request.method}.reply`, params: { channel_id: channelId, data: result } };
  },

  error(channelId, request, id, reason, detail) {
    return { jsonrpc: '2.0', version: 1, channel_id: channelId, id: id ?? null, error: jsonRpcError(reason, request ?? {}, detail) };
  },

  pong(channelId, request) {
    if (request.id !== undefined) return this.result(channelId, request, { action: 'system', tag: 'pong' });
    return { jsonrpc: '2.0', version: 1, method: 'channels.system.pong', params: { channel_id: channelId, data: { action: 'system', tag: 'pong' } } };
  },
};

/** Legacy replies to a sign request came back as {action: <tag>, payload: {tx}}. */
const LEGACY_TX_FIELD = 'tx';

export const legacyCodec: Codec = {
  protocol: 'legacy',

  decode(frame) {
    if (!isObject(frame)) return { error: 'invalid_request', detail: 'a request is a JSON object', raw: frame };
    const { action, tag, payload } = frame;
    if (typeof action !== 'string' || action === '') return { error: 'invalid_request', detail: 'action must be a string', raw: frame };
    if (tag !== undefined && typeof tag !== 'string') return { error: 'invalid_request', detail: 'tag must be a string', raw: frame };
    const params = payload ?? {};
    if (!isObject(params)) return { error: 'invalid_params', detail: 'payload must be an object', raw: frame };
    const normalized = { ...params };
    if (LEGACY_TX_FIELD in normalized && !('signed_tx' in normalized)) {
      normalized.signed_tx = normalized[LEGACY_TX_FIELD]!;
      delete normalized[LEGACY_TX_FIELD];
    }
    const method = `channels.${action}${tag ? `.${tag}` : ''}`;
    return { method, params: normalized, ...(frame.id !== undefined && { id: frame.id }), raw: frame };
  },

  output(channelId, output) {
    if (output.kind === 'error') {
      return this.error(channelId, output.request ?? {}, undefined, output.reason, output.detail);
    }
    if (output.kind === 'conflict') {
      return { action: 'conflict', channel_id: channelId, payload: { channel_id: channelId, round: output.round, error_code: output.code, error_msg: errorCodeMessage(output.code) } };
    }
    if (output.kind === 'sign') {
      const { data } = outputData(channelId, output);
      const { signed_tx: tx, updates } = data;
      return { action: 'sign', tag: output.tag, channel_id: channelId, payload: { tx, signed_tx: tx, updates } };
    }
    const { method, data } = outputData(channelId, output);
    const action = method.slice('channels.'.length);
    return { action, channel_id: channelId, payload: data };
  },

  result(channelId, request, result) {
    const [, action, tag] = request.method.split('.');
    return { action, ...(tag && { tag }), channel_id: channelId, ...(request.id !== undefined && { id: request.id }), payload: result };
  },

  accepted() {
    return null;
  },

  answer(channelId, request, result) {
    return this.result(channelId, request, result);
  },

  error(channelId, request, id, reason, detail) {
    const info = ERRORS[reason];
    return {
      action: 'error', channel_id: channelId, ...(id !== undefined && { id }),
      payload: { reason, code: info.code, message: info.message, ...(detail && { detail }), request: request ?? {} },
    };
  },

  pong(channelId) {
    return { action: 'system', tag: 'pong', channel_id: channelId, payload: {} };
  },
};

export const codecs: Record<Protocol, Codec> = { 'json-rpc': jsonRpcCodec, legacy: legacyCodec };
