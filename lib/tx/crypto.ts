/**
 * ed25519 signature checks with node:crypto (a hundred times faster here than tweetnacl), with the
 * public key imported once per account and cached, and each good signature verified once per process:
 * both FSMs of a channel usually live here, and the second one to see a signature (the peer's
 * proposal, its acknowledgement) would otherwise verify again what the first already did.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { hash } from '@aeternity/aepp-sdk';
import type { AccountId } from '../../fsm/types.js';
import { decode } from './encoding.js';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_CACHE_LIMIT = 100_000;
const VERIFIED_LIMIT = 20_000;
const keyCache = new Map<string, KeyObject>();
/**
 * message ‖ signature → the account it was found good for. A verify is a pure function, so the answer
 * holds; and a signature good for one account is taken as not good for any other (a false "no" there
 * could only refuse, never accept), which spares the failing verify of trying a held signature against
 * the wrong participant.
 */
const verified = new Map<string, AccountId>();

function publicKeyObject(account: AccountId): KeyObject {
  let key = keyCache.get(account);
  if (!key) {
    const raw = decode(account);
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(account, key);
  }
  return key;
}

/** The bytes an Aeternity account signs for a transaction: utf8(networkId) ‖ blake2b-256(rlp(tx)). */
export function signingMessage(networkId: string, txBytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(networkId, 'utf8'), hash(txBytes)]);
}

export function verifySignature(message: Uint8Array, signature: Uint8Array, account: AccountId): boolean {
  if (signature.length !== 64) return false;
  const key = `${Buffer.from(message).toString('base64')}:${Buffer.from(signature).toString('base64')}`;
  const known = verified.get(key);
  if (known !== undefined) return known === account;
  let good: boolean;
  try {
    good = verify(null, message, publicKeyObject(account), signature);
  } catch {
    return false;
  }
  if (good) {
    // oldest first out: the signatures worth remembering are those of the rounds in flight
    if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.keys().next().value!);
    verified.set(key, account);
  }
  return good;
}
