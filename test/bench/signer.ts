/**
 * How the bench's clients sign: as a wallet that cares about speed would, with node:crypto ed25519 and
 * the secret key imported once, adding its signature to the SignedTx the service sent. It reads and
 * writes the RLP itself rather than through the aepp-sdk's full decoder, so the clients cost little
 * next to the service they measure.
 */
import { createPrivateKey, hash as nodeHash, sign, type KeyObject } from 'node:crypto';
import { decode, hash } from '@aeternity/aepp-sdk';
import { decode as rlpDecode, encode as rlpEncode } from 'rlp';

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
    const bytes = fromBase64Check(tx);
    const items = rlpDecode(bytes) as unknown as [Uint8Array, Uint8Array, Uint8Array[], Uint8Array];
    const isSigned = items[0].length === 1 && items[0][0] === SIGNED_TX_TAG;
    const inner = isSigned ? items[3] : bytes;
    const signatures = isSigned ? [...items[2]] : [];
    signatures.push(sign(null, Buffer.concat([this.networkPrefix, hash(inner)]), this.key));
    return toBase64Check(rlpEncode([SIGNED_TX_TAG, 1, signatures, inner]));
  }
}

// `tx_` strings: base64 of the bytes and the first 4 bytes of their double sha256
const checksum = (payload: Uint8Array) => nodeHash('sha256', nodeHash('sha256', payload, 'buffer'), 'buffer').subarray(0, 4);

function fromBase64Check(tx: string): Buffer {
  const bytes = Buffer.from(tx.slice(3), 'base64');
  const payload = bytes.subarray(0, -4);
  if (!tx.startsWith('tx_') || !checksum(payload).equals(bytes.subarray(-4))) throw new Error('not a tx_ string');
  return payload;
}

function toBase64Check(payload: Uint8Array): string {
  return `tx_${Buffer.concat([payload, checksum(payload)]).toString('base64')}`;
}
