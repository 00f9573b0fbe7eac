/**
 * The aepp-sdk's `encode`/`decode` (prefixed base64check and base58check strings), with the checksum
 * hashed by libsodium (twice node:crypto's rate on these short inputs) instead of the sdk's pure-JS
 * sha256. Transactions and state hashes are encoded and decoded several times per update, and the
 * sdk's codec was a tenth of the service's CPU under load. Base58 strings (accounts, channel ids) are few per channel, so their decodings are memoized.
 */
import sodium from 'sodium-native';
import { decode as sdkDecode, encode as sdkEncode, Encoding, type Encoded } from '../sdk.js';
import { Memo } from './memo.js';

const BASE64_TYPES = new Set<string>([
  Encoding.ContractBytearray, Encoding.ContractStoreKey, Encoding.ContractStoreValue, Encoding.Transaction, Encoding.OracleQuery,
  Encoding.OracleResponse, Encoding.State, Encoding.Poi, Encoding.StateTrees, Encoding.CallStateTree, Encoding.Bytearray,
]);
const STATE_HASH_BYTES = 32;
const BASE58_MEMO_LIMIT = 50_000;
/** accounts and channel ids are about 50 characters; nothing longer is worth remembering */
const BASE58_MEMO_MAX_CHARS = 128;
/** the txs of the rounds in flight are decoded by several checks each */
const BASE64_MEMO_LIMIT = 1_000;
/** only what a round's tx can be: a client's megabyte string is decoded, not remembered */
const BASE64_MEMO_MAX_CHARS = 4_096;
const base58Decoded = new Memo<Buffer>(BASE58_MEMO_LIMIT);
const base64Decoded = new Memo<Buffer>(BASE64_MEMO_LIMIT);

const SHA256_BYTES = 32;
const CHECKSUM_BYTES = 4;

/** scratch for the two sha256 of a checksum: used and read within one synchronous call, never kept */
const firstHash = Buffer.alloc(SHA256_BYTES);
const secondHash = Buffer.alloc(SHA256_BYTES);

/** The first 4 bytes of sha256(sha256(payload)), written to `out` at `at`. */
function writeChecksum(payload: Uint8Array, out: Uint8Array, at: number): void {
  sodium.crypto_hash_sha256(firstHash, asBuffer(payload));
  sodium.crypto_hash_sha256(secondHash, firstHash);
  out[at] = secondHash[0]!;
  out[at + 1] = secondHash[1]!;
  out[at + 2] = secondHash[2]!;
  out[at + 3] = secondHash[3]!;
}

/** Whether the 4 bytes of `bytes` at `at` are the checksum of `payload`. */
function checksumMatches(payload: Uint8Array, bytes: Uint8Array, at: number): boolean {
  sodium.crypto_hash_sha256(firstHash, asBuffer(payload));
  sodium.crypto_hash_sha256(secondHash, firstHash);
  return secondHash[0] === bytes[at] && secondHash[1] === bytes[at + 1] && secondHash[2] === bytes[at + 2] && secondHash[3] === bytes[at + 3];
}

/** A view of the same memory as a Buffer (no copy): for Buffer's methods, and sodium-native's typings. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A copy with memory of its own. Small Buffers are views into shared 8 KB pool slabs, and one kept
 * for long (in a memo, a record) keeps its whole slab alive: a few such views per channel cost more
 * memory than the channel itself.
 */
export function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

export function encode<E extends Encoding>(data: Uint8Array, type: E): Encoded.Generic<E> {
  if (!BASE64_TYPES.has(type)) return sdkEncode(data, type);
  // payload and checksum in one buffer, encoded at once
  const bytes = Buffer.allocUnsafe(data.length + CHECKSUM_BYTES);
  bytes.set(data);
  writeChecksum(data, bytes, data.length);
  return `${type}_${bytes.toString('base64')}` as Encoded.Generic<E>;
}

export function decode(data: Encoded.Any): Buffer {
  const separator = data.indexOf('_');
  const prefix = data.slice(0, separator);
  const base64 = separator >= 0 && BASE64_TYPES.has(prefix);
  const decodeOnce = base64 ? () => decodeBase64(data, prefix) : () => sdkDecode(data);
  if (data.length > (base64 ? BASE64_MEMO_MAX_CHARS : BASE58_MEMO_MAX_CHARS)) return decodeOnce();
  // a copy each time: callers may write into what they get
  return Buffer.from((base64 ? base64Decoded : base58Decoded).get(data, () => ownCopy(decodeOnce())));
}

/**
 * `decode` without its memo, for a caller that keeps what it reads in a memo of its own (the tx kit's
 * signed txs): remembering the bytes twice, and copying them in and out, would be work for nothing.
 */
export function decodeUnremembered(data: Encoded.Any): Buffer {
  const separator = data.indexOf('_');
  const prefix = data.slice(0, separator);
  return separator >= 0 && BASE64_TYPES.has(prefix) ? decodeBase64(data, prefix) : sdkDecode(data);
}

function decodeBase64(data: string, prefix: string): Buffer {
  const text = data.slice(prefix.length + 1);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error(`Encoded string is not base64: ${data.slice(0, 40)}…`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length < 4) throw new Error(`Encoded string too short: ${data.slice(0, 40)}`);
  const payload = bytes.subarray(0, -4);
  if (!checksumMatches(payload, bytes, bytes.length - CHECKSUM_BYTES)) throw new Error('Invalid checksum');
  if (prefix === Encoding.State && payload.length !== STATE_HASH_BYTES) {
    throw new Error(`Payload should be ${STATE_HASH_BYTES} bytes, got ${payload.length} instead`);
  }
  return payload;
}
