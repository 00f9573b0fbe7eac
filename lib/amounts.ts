/**
 * Amounts are aettos (1 AE = 10^18) and exceed 2^53, so they are bigints from the edge inwards.
 * Clients send them as JSON numbers, numeric strings or, from the aepp-sdk's URLs, `1e+21`.
 */
export type AmountError = 'not_a_number' | 'negative_amount';

const INTEGER = /^-?\d+$/;
const EXPONENT = /^(-?)(\d+)(?:\.(\d+))?[eE]\+?(\d+)$/;

/** Parse an amount to a bigint, or say why it is not one. Fractions are not amounts. */
export function parseAmount(value: unknown): bigint | AmountError {
  let n: bigint | undefined;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) n = BigInt(value);
    else if (Number.isInteger(value)) n = exponentToBigInt(value.toString()) ?? BigInt(value);
  } else if (typeof value === 'string') {
    const s = value.trim();
    if (INTEGER.test(s)) n = BigInt(s);
    else n = exponentToBigInt(s);
  }
  if (n === undefined) return 'not_a_number';
  if (n < 0n) return 'negative_amount';
  return n;
}

/** `1e+21` or `1.5e3` written exactly, or undefined when the value would not be an integer. */
function exponentToBigInt(s: string): bigint | undefined {
  const m = EXPONENT.exec(s);
  if (!m) return undefined;
  const [, sign, whole, fraction = '', exp] = m;
  const shift = Number(exp) - fraction.length;
  if (shift < 0) {
    const dropped = fraction.slice(fraction.length + shift);
    if (/[^0]/.test(dropped)) return undefined;
    return BigInt(`${sign}${whole}${fraction.slice(0, fraction.length + shift)}`);
  }
  if (shift > 400) return undefined; // no real amount has 400 digits; refuse to build one
  return BigInt(`${sign}${whole}${fraction}${'0'.repeat(shift)}`);
}

/** A JSON-safe rendering: a number while exact, else a bigint that lib/json writes as digits. */
export function amountToJson(n: bigint): number | bigint {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
