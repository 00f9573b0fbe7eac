/**
 * Reading RLP as views into the bytes, without copying or decoding what is not asked for: the link
 * reads a field or two of every tx that crosses it, and the `rlp` package's full decode of a SignedTx
 * cost more than the rest of the message's translation. Returns null on anything malformed.
 */
export interface RlpItem {
  list: boolean;
  /** the payload: a string's bytes, or a list's encoded items */
  payload: Uint8Array;
}

/** The one item `bytes` holds, exactly (nothing may follow it). */
export function rlpItem(bytes: Uint8Array): RlpItem | null {
  const read = readAt(bytes, 0);
  return read && read.next === bytes.length ? read.item : null;
}

/** A list's items; null if `item` is not a list or its payload is malformed. */
export function rlpList(item: RlpItem | null): RlpItem[] | null {
  if (!item?.list) return null;
  const out: RlpItem[] = [];
  for (let at = 0; at < item.payload.length;) {
    const read = readAt(item.payload, at);
    if (!read) return null;
    out.push(read.item);
    at = read.next;
  }
  return out;
}

/**
 * An integer as aeserialization writes it (binary:encode_unsigned: 0 is one zero byte; no other
 * leading zero), up to 2^48; null otherwise.
 */
export function rlpUint(item: RlpItem | undefined): number | null {
  if (!item || item.list) return null;
  const b = item.payload;
  if (b.length > 6 || (b.length > 1 && b[0] === 0)) return null;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

function readAt(buf: Uint8Array, at: number): { item: RlpItem; next: number } | null {
  if (at >= buf.length) return null;
  const b0 = buf[at]!;
  if (b0 < 0x80) return { item: { list: false, payload: buf.subarray(at, at + 1) }, next: at + 1 };
  const list = b0 >= 0xc0;
  const short = list ? b0 - 0xc0 : b0 - 0x80;
  let start = at + 1;
  let len = short;
  if (short > 55) {
    const lenOfLen = short - 55;
    if (lenOfLen > 4 || start + lenOfLen > buf.length || buf[start] === 0) return null;
    len = 0;
    for (let i = 0; i < lenOfLen; i++) len = len * 256 + buf[start + i]!;
    if (len <= 55) return null;
    start += lenOfLen;
  }
  const end = start + len;
  if (end > buf.length) return null;
  return { item: { list, payload: buf.subarray(start, end) }, next: end };
}
