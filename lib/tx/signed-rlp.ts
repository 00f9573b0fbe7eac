/**
 * The RLP of a SignedTx, [11, 1, [signature…], tx], written and read by hand. Every round writes two
 * or three of them and reads as many: through the `rlp` package that cost more than the rest of the
 * kit's byte work (its encoder goes through hex strings and concatenates item by item, its decoder
 * copies every item), and made much of the kit's garbage.
 *
 * The reader takes only the canonical form (shortest lengths, no prefixed single bytes, nothing after
 * the list), the only one the `rlp` package and the node write. Anything else is left to the caller's
 * general decoder, so whatever that decoder accepts or refuses is still accepted or refused as before.
 */

const SIGNED_TX_TAG = 11;
const SIGNED_TX_VERSION = 1;
const SIGNATURE_BYTES = 64;
/** an RLP string or list of up to 55 bytes has its length in its first byte; longer ones say how long the length is */
const SHORT_MAX = 55;

/** Bytes of a string or list header for a payload of `length` bytes. */
function headerBytes(length: number): number {
  if (length <= SHORT_MAX) return 1;
  let lenOfLen = 1;
  for (let n = length >>> 8; n > 0; n >>>= 8) lenOfLen++;
  return 1 + lenOfLen;
}

/** Writes a header (`short` is 0x80 for strings, 0xc0 for lists) at `at`; returns where the payload starts. */
function writeHeader(out: Buffer, at: number, short: number, length: number): number {
  if (length <= SHORT_MAX) {
    out[at] = short + length;
    return at + 1;
  }
  const lenOfLen = headerBytes(length) - 1;
  out[at] = short + SHORT_MAX + lenOfLen;
  for (let i = lenOfLen; i > 0; i--) out[at + i] = (length >>> (8 * (lenOfLen - i))) & 0xff;
  return at + 1 + lenOfLen;
}

/** Bytes an RLP string of `payload` takes, header included. */
function stringBytes(payload: Uint8Array): number {
  return payload.length === 1 && payload[0]! < 0x80 ? 1 : headerBytes(payload.length) + payload.length;
}

function writeString(out: Buffer, at: number, payload: Uint8Array): number {
  if (payload.length === 1 && payload[0]! < 0x80) {
    out[at] = payload[0]!;
    return at + 1;
  }
  const start = writeHeader(out, at, 0x80, payload.length);
  out.set(payload, start);
  return start + payload.length;
}

/** The RLP of a SignedTx with these signatures (in this order) around the tx's RLP `inner`. */
export function encodeSignedTx(inner: Uint8Array, signatures: readonly Uint8Array[]): Buffer {
  let signaturesLength = 0;
  for (const signature of signatures) signaturesLength += stringBytes(signature);
  // tag and version are single bytes below 0x80: one byte each
  const payload = 2 + headerBytes(signaturesLength) + signaturesLength + stringBytes(inner);
  const out = Buffer.allocUnsafe(headerBytes(payload) + payload);
  let at = writeHeader(out, 0, 0xc0, payload);
  out[at++] = SIGNED_TX_TAG;
  out[at++] = SIGNED_TX_VERSION;
  at = writeHeader(out, at, 0xc0, signaturesLength);
  for (const signature of signatures) at = writeString(out, at, signature);
  writeString(out, at, inner);
  return out;
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
