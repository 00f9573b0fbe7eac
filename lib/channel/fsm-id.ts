/**
 * The fsm_id: the secret a client reestablishes its channel with. The service keeps and compares only
 * its hash, so a store that leaks does not leak it, and compares in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { encode, Encoding } from '../sdk.js';

export function newFsmId(): string {
  return encode(randomBytes(32), Encoding.Bytearray);
}

export function hashFsmId(fsmId: string): string {
  return createHash('sha256').update(fsmId).digest('hex');
}

/** Whether two fsm_id hashes are the same, in a time that does not tell how much of them is. */
export function sameFsmIdHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
