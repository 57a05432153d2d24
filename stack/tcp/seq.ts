/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4).
 *
 * Sequence numbers are unsigned 32-bit integers held in JS numbers in [0, 2^32). Comparisons
 * are wrap-safe as long as the two numbers are less than 2^31 apart, which TCP guarantees for
 * any two numbers it compares (windows are at most 2^30, RFC 7323 2.3).
 * @module
 */

/** a < b modulo 2^32. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b modulo 2^32. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b modulo 2^32. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b modulo 2^32. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n modulo 2^32 (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance a - b, in (-2^31, 2^31]. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** start <= x < end modulo 2^32 (an empty range when start == end). */
export function seqInRange(x: number, start: number, end: number): boolean {
  return seqLe(start, x) && seqLt(x, end);
}
