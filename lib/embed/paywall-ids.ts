/**
 * Payment ids: `pi_` and 32 bytes in base64url, a random nonce and its HMAC-SHA-256 (cut to 16 bytes)
 * under a key kept in the service's store. Only this merchant can make one, so a forged or guessed id
 * is told apart from one it issued without a store lookup, and issuing an id writes nothing: anonymous
 * requests cannot fill the store.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'pi_';
const NONCE_BYTES = 16;
const MAC_BYTES = 16;

export interface PaymentIds {
  issue(): string;
  /** whether this merchant issued `id` */
  verify(id: string): boolean;
}

/** True when `text` has the shape of a payment id (issued by anyone). */
export function looksLikePaymentId(text: string): boolean {
  return text.startsWith(PREFIX);
}

/** The ids of one merchant, under its key (hex, at least 32 bytes; a secret). */
export function paymentIds(keyHex: string): PaymentIds {
  const key = Buffer.from(keyHex, 'hex');
  if (key.length < 32) throw new Error('the payment id key must have at least 32 bytes');
  const mac = (nonce: Buffer) => createHmac('sha256', key).update('aesc-paywall-payment-id\0').update(nonce).digest().subarray(0, MAC_BYTES);
  return {
    issue() {
      const nonce = randomBytes(NONCE_BYTES);
      return PREFIX + Buffer.concat([nonce, mac(nonce)]).toString('base64url');
    },
    verify(id) {
      if (!id.startsWith(PREFIX) || id.length !== PREFIX.length + 43 || !/^[A-Za-z0-9_-]+$/.test(id.slice(PREFIX.length))) return false;
      const bytes = Buffer.from(id.slice(PREFIX.length), 'base64url');
      // one spelling per id: the last character's two spare bits must be zero
      if (bytes.length !== NONCE_BYTES + MAC_BYTES || bytes.toString('base64url') !== id.slice(PREFIX.length)) return false;
      return timingSafeEqual(bytes.subarray(NONCE_BYTES), mac(bytes.subarray(0, NONCE_BYTES)));
    },
  };
}
