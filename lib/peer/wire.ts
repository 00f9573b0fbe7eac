/**
 * TEMPORARY stand-in for the peer-wire branch's PeerWire (same interface), so that the link can be
 * run end to end before it lands: JSON with tagged bigints. Replaced by the real translation to the
 * node's messages (lib/peer/codec.ts) at the merge.
 */
import type { PeerMessage } from '../../fsm/types.js';

export interface WireContext { chainHash: Uint8Array }
export type WireRefusal = { reason: string; detail: string };

export class PeerWire {
  constructor(readonly context: WireContext) {}

  encode(message: PeerMessage): Uint8Array {
    return Buffer.from(JSON.stringify(message, (_k, v: unknown) => (typeof v === 'bigint' ? { $big: v.toString() } : v)));
  }

  decode(bytes: Uint8Array): { message: PeerMessage } | { refusal: WireRefusal } {
    try {
      const message = JSON.parse(Buffer.from(bytes).toString(), (_k, v: unknown) =>
        (v && typeof v === 'object' && '$big' in v ? BigInt((v as { $big: string }).$big) : v)) as PeerMessage;
      if (typeof message?.type !== 'string') return { refusal: { reason: 'invalid', detail: 'no type' } };
      return { message };
    } catch (err) {
      return { refusal: { reason: 'undecodable', detail: (err as Error).message } };
    }
  }
}
