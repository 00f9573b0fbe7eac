/**
 * The hashing and signature checks of the per-update path, through libsodium (sodium-native): the
 * node itself hashes and verifies with libsodium (enacl), so the same bytes get the same answers,
 * and it is the fastest here: ed25519 verify about twice node:crypto's rate, BLAKE2b over ten times
 * the aepp-sdk's pure-JS blakejs. Each good signature is verified once per process: both FSMs of a
 * channel usually live here, and the second one to see a signature (the peer's proposal, its
 * acknowledgement) would otherwise verify again what the first already did.
 */
import sodium from 'sodium-native';
import type { AccountId } from '../../fsm/types.js';
import { asBuffer, decode } from './encoding.js';

const HASH_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const VERIFIED_LIMIT = 20_000;
/**
 * message ‖ signature → the account it was found good for. A verify is a pure function, so the answer
 * holds; and a signature good for one account is taken as not good for any other (a false "no" there
 * could only refuse, never accept), which spares the failing verify of trying a held signature against
 * the wrong participant.
 */
const verified = new Map<string, AccountId>();

/** BLAKE2b-256, the hash of tx hashes, state hashes, trie nodes and channel ids. */
export function blake2b256(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES);
  sodium.crypto_generichash(out, asBuffer(bytes));
  return out;
}

/** The bytes an Aeternity account signs for a transaction: utf8(networkId) ‖ blake2b-256(rlp(tx)). */
export function signingMessage(networkId: string, txBytes: Uint8Array): Buffer {
  const prefixBytes = Buffer.byteLength(networkId, 'utf8');
  const message = Buffer.allocUnsafe(prefixBytes + HASH_BYTES);
  message.write(networkId, 0, 'utf8');
  sodium.crypto_generichash(message.subarray(prefixBytes), asBuffer(txBytes));
  return message;
}

export function verifySignature(message: Uint8Array, signature: Uint8Array, account: AccountId): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = asBuffer(message).toString('latin1') + asBuffer(signature).toString('latin1');
  const known = verified.get(key);
  if (known !== undefined) return known === account;
  let publicKey: Buffer;
  try {
    publicKey = decode(account);
  } catch {
    return false;
  }
  if (publicKey.length !== PUBLIC_KEY_BYTES) return false;
  const good = sodium.crypto_sign_verify_detached(asBuffer(signature), asBuffer(message), publicKey);
  if (good) {
    // oldest first out: the signatures worth remembering are those of the rounds in flight
    if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.keys().next().value!);
    verified.set(key, account);
  }
  return good;
}
