/**
 * RLP written in one pass into one buffer: the size of every item is worked out first, then each is
 * written in place. The `rlp` package concatenates item by item, turning each level into a new array,
 * and goes through hex strings for lengths; on the per-round path (the state trie of a round, its
 * off-chain tx, the SignedTx around it) that was most of the kit's byte work and garbage. Writes
 * exactly what the `rlp` package writes for byte strings and lists (test/lib/rlp-write.test.ts).
 */

export type RlpInput = Uint8Array | RlpInput[];

/** an RLP string or list of up to 55 bytes has its length in its first byte; a longer one says how long its length is */
const SHORT_MAX = 55;
const STRING = 0x80;
const LIST = 0xc0;

/** Bytes of a string or list header for a payload of `length` bytes. */
export function headerBytes(length: number): number {
  if (length <= SHORT_MAX) return 1;
  let lenOfLen = 1;
  for (let n = Math.floor(length / 256); n > 0; n = Math.floor(n / 256)) lenOfLen++;
  return 1 + lenOfLen;
}

/** Writes a header (STRING or LIST) for `length` bytes of payload at `at`; returns where the payload starts. */
function writeHeader(out: Uint8Array, at: number, kind: number, length: number): number {
  if (length <= SHORT_MAX) {
    out[at] = kind + length;
    return at + 1;
  }
  const lenOfLen = headerBytes(length) - 1;
  out[at] = kind + SHORT_MAX + lenOfLen;
  let n = length;
  for (let i = lenOfLen; i > 0; i--) {
    out[at + i] = n % 256;
    n = Math.floor(n / 256);
  }
  return at + 1 + lenOfLen;
}

const isSingleByte = (bytes: Uint8Array) => bytes.length === 1 && bytes[0]! < STRING;

/** The payload length of a list of these items (each with its header). */
function listPayload(items: RlpInput[]): number {
  let length = 0;
  for (const item of items) length += encodedLength(item);
  return length;
}

/** Bytes the RLP of `item` takes, header included. */
export function encodedLength(item: RlpInput): number {
  if (item instanceof Uint8Array) return isSingleByte(item) ? 1 : headerBytes(item.length) + item.length;
  const payload = listPayload(item);
  return headerBytes(payload) + payload;
}

/** Writes the RLP of `item` at `at`; returns where it ends. */
function write(out: Uint8Array, at: number, item: RlpInput): number {
  if (item instanceof Uint8Array) {
    if (isSingleByte(item)) {
      out[at] = item[0]!;
      return at + 1;
    }
    const start = writeHeader(out, at, STRING, item.length);
    out.set(item, start);
    return start + item.length;
  }
  let next = writeHeader(out, at, LIST, listPayload(item));
  for (const child of item) next = write(out, next, child);
  return next;
}

/** The RLP of a byte string, or of a list of them and of lists, nested. */
export function rlpEncode(item: RlpInput): Buffer {
  const out = Buffer.allocUnsafe(encodedLength(item));
  write(out, 0, item);
  return out;
}

/**
 * An integer as the node serialises it (binary:encode_unsigned): minimal big-endian bytes, 0 as a
 * single zero byte. Without the hex strings the `rlp` package and the old writer went through.
 */
export function uintBytes(n: bigint | number): Buffer {
  let value = BigInt(n);
  if (value <= 0n) return value === 0n ? Buffer.of(0) : negativeBytes(value);
  let length = 0;
  for (let v = value; v > 0n; v >>= 8n) length++;
  const out = Buffer.allocUnsafe(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** What the hex-string writer made of a negative number (nothing asks for one; kept as it was). */
function negativeBytes(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}
