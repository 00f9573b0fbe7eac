/**
 * ed25519 signature checks with node:crypto (a hundred times faster here than tweetnacl), with the
 * public key imported once per account and cached.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { decode, hash } from '@aeternity/aepp-sdk';
import type { AccountId } from '../../fsm/types.js';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_CACHE_LIMIT = 100_000;
const keyCache = new Map<string, KeyObject>();

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
  try {
    return verify(null, message, publicKeyObject(account), signature);
  } catch {
    return false;
  }
}
