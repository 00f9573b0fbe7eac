/**
 * The JSON-RPC frames between an in-process participant and its session, in the shapes the
 * aepp-sdk's `Channel` sees them: the same text the WebSocket carries, read the way the SDK reads it
 * (json-bigint with `storeAsString`: an integer of more than 15 digits arrives as a string, any other
 * number as a number), and written the way it writes them (amounts as exact JSON integers).
 */
import { parseJson, stringifyJson, type Json } from '../json.js';

/** A frame from the service, as the SDK's handlers see it. */
export interface IncomingMessage {
  id?: number | null;
  method?: string;
  // the handlers read the node's payloads as the SDK does: loosely, field by field
  params?: any;
  result?: any;
  error?: { code: number; message: string; data: Array<{ code: number; message: string }> };
}

/** An amount as the SDK takes it: a number, a numeric string, a bigint or a BigNumber. */
export type AmountLike = number | bigint | string | { toFixed(): string };

function sdkShape(value: Json): unknown {
  if (typeof value === 'bigint') return value.toString().replace('-', '').length > 15 ? value.toString() : Number(value);
  if (typeof value === 'number' && Number.isInteger(value) && String(Math.abs(value)).length > 15) return String(value);
  if (Array.isArray(value)) return value.map(sdkShape);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sdkShape(v)]));
  return value;
}

export function readFrame(text: string): IncomingMessage {
  return sdkShape(parseJson(text)) as IncomingMessage;
}

/** One request (with an `id`, a call that gets a reply) or notification (without). */
export function writeFrame(method: string, params: Record<string, unknown>, id?: number): string {
  return stringifyJson({ jsonrpc: '2.0', method, ...(id !== undefined && { id }), params });
}

/**
 * An amount for the wire: whole numbers exactly (a float such as 1e21 is an exact integer), anything
 * else as given, for the service to refuse with its reason (`not_a_number`, `negative_amount`).
 */
export function amountJson(amount: AmountLike): unknown {
  if (typeof amount === 'bigint') return amount;
  if (typeof amount === 'number') return Number.isInteger(amount) ? BigInt(amount) : amount;
  if (typeof amount === 'string') return /^-?\d+$/.test(amount) ? BigInt(amount) : amount;
  if (amount && typeof amount.toFixed === 'function') {
    const text = amount.toFixed();
    return /^-?\d+$/.test(text) ? BigInt(text) : text;
  }
  return amount;
}
