/**
 * How the bench's clients sign: as a wallet that cares about speed would, with node:crypto ed25519 and
 * the secret key imported once, adding its signature to the SignedTx the service sent. It reads and
 * writes the RLP itself, and the prefixed strings with the service's own fast codec, rather than
 * through the aepp-sdk's full decoder, so the clients cost little next to the service they measure.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { Encoding, hash } from '../../lib/sdk.js';
import { decode as rlpDecode, encode as rlpEncode } from 'rlp';
import { decode, encode } from '../../lib/tx/encoding.js';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SIGNED_TX_TAG = 11;

export class Signer {
  private readonly key: KeyObject;
  private readonly networkPrefix: Buffer;

  /** `secretKey` is an aepp-sdk `sk_…` key (its first 32 bytes are the ed25519 seed). */
  constructor(secretKey: string, networkId: string) {
    const seed = decode(secretKey as `sk_${string}`).subarray(0, 32);
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.networkPrefix = Buffer.from(networkId, 'utf8');
  }

  /** Adds this account's signature to a SignedTx (or signs a bare tx), keeping the signatures already there. */
  cosign(tx: string): string {
    const bytes = decode(tx as `tx_${string}`);
    const items = rlpDecode(bytes) as unknown as [Uint8Array, Uint8Array, Uint8Array[], Uint8Array];
    const isSigned = items[0].length === 1 && items[0][0] === SIGNED_TX_TAG;
    const inner = isSigned ? items[3] : bytes;
    const signatures = isSigned ? [...items[2]] : [];
    signatures.push(sign(null, Buffer.concat([this.networkPrefix, hash(inner)]), this.key));
    return encode(rlpEncode([SIGNED_TX_TAG, 1, signatures, inner]), Encoding.Transaction);
  }
}

