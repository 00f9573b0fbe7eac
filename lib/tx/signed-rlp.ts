/**
 * The RLP of a SignedTx, [11, 1, [signature…], tx], written (rlp-write.ts) and read by hand. Every
 * round writes two or three of them and reads as many: through the `rlp` package that cost more than
 * the rest of the kit's byte work (its decoder copies every item, its encoder concatenates item by
 * item), and made much of the kit's garbage.
 *
 * The reader takes only the canonical form (shortest lengths, no prefixed single bytes, nothing after
 * the list), the only one the `rlp` package and the node write. Anything else is left to the caller's
 * general decoder, so whatever that decoder accepts or refuses is still accepted or refused as before.
 */

import { rlpEncode } from './rlp-write.js';

const SIGNED_TX_TAG = 11;
const SIGNED_TX_VERSION = 1;
const SIGNATURE_BYTES = 64;
/** an RLP string or list of up to 55 bytes has its length in its first byte; longer ones say how long the length is */
const SHORT_MAX = 55;

const TAG_BYTES = Buffer.of(SIGNED_TX_TAG);
const VERSION_BYTES = Buffer.of(SIGNED_TX_VERSION);

/** The RLP of a SignedTx with these signatures (in this order) around the tx's RLP `inner`. */
export function encodeSignedTx(inner: Uint8Array, signatures: Uint8Array[]): Buffer {
  return rlpEncode([TAG_BYTES, VERSION_BYTES, signatures, inner]);
}

/** A canonical header at `at`: whether it is a list, where its payload starts and ends; null if not canonical. */
function readHeader(bytes: Buffer, at: number): { list: boolean; start: number; end: number } | null {
  if (at >= bytes.length) return null;
  const b0 = bytes[at]!;
  if (b0 < 0x80) return null; // a single byte: not what this reader is asked for
  const list = b0 >= 0xc0;
  const short = b0 - (list ? 0xc0 : 0x80);
  let start = at + 1;
  let length = short;
  if (short > SHORT_MAX) {
    const lenOfLen = short - SHORT_MAX;
    if (lenOfLen > 4 || start + lenOfLen > bytes.length || bytes[start] === 0) return null;
    length = 0;
    for (let i = 0; i < lenOfLen; i++) length = length * 256 + bytes[start + i]!;
    if (length <= SHORT_MAX) return null;
    start += lenOfLen;
  } else if (!list && short === 1 && bytes[start]! < 0x80) {
    return null; // a single byte below 0x80 is written without a header
  }
  const end = start + length;
  return end > bytes.length ? null : { list, start, end };
}

/**
 * The signatures and the tx of a SignedTx in its canonical RLP, as views into `bytes`; null if
 * `bytes` is anything else (another tx, or a form only a general decoder should judge).
 */
export function readSignedTx(bytes: Buffer): { signatures: Buffer[]; inner: Buffer } | null {
  const outer = readHeader(bytes, 0);
  if (!outer?.list || outer.end !== bytes.length) return null;
  let at = outer.start;
  if (bytes[at] !== SIGNED_TX_TAG || bytes[at + 1] !== SIGNED_TX_VERSION) return null;
  at += 2;
  const list = readHeader(bytes, at);
  if (!list?.list) return null;
  const signatures: Buffer[] = [];
  for (at = list.start; at < list.end;) {
    const signature = readHeader(bytes, at);
    if (!signature || signature.list || signature.end - signature.start !== SIGNATURE_BYTES || signature.end > list.end) return null;
    signatures.push(bytes.subarray(signature.start, signature.end));
    at = signature.end;
  }
  const inner = readHeader(bytes, at);
  if (!inner || inner.list || inner.end !== outer.end) return null;
  return { signatures, inner: bytes.subarray(inner.start, inner.end) };
}
