/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement sum.
 *
 * `sum16` returns an unfolded running sum so headers and payloads in separate buffers (and the
 * TCP/UDP pseudo-header) are summed without copying; `finish` folds and inverts it. A JS number
 * holds 2^53, so folding is needed only at the end for any buffer a link can carry.
 * @module
 */

/**
 * Adds the bytes of `data` as big-endian 16-bit words to `initial` (an odd trailing byte is
 * padded with zero, RFC 1071 4.1). The result is not folded.
 */
export function sum16(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = data.length;
  let i = 0;
  // Four words per turn; the sum of 65535 * 4 per turn stays exact in a double for any frame.
  for (const end = n - 7; i < end; i += 8) {
    sum += ((data[i]! << 8) | data[i + 1]!) + ((data[i + 2]! << 8) | data[i + 3]!) +
      ((data[i + 4]! << 8) | data[i + 5]!) + ((data[i + 6]! << 8) | data[i + 7]!);
  }
  for (const end = n - 1; i < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < n) sum += data[i]! << 8;
  return sum;
}

/** Folds a running sum to 16 bits (end-around carry) without inverting it. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Folds and inverts a running sum: the value that goes in the checksum field. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The checksum of `data` in one call. A buffer that includes its own valid checksum gives 0. */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return finish(sum16(data, initial));
}

/**
 * The unfolded sum of the IPv4 pseudo-header (RFC 793 3.1, RFC 768) for TCP and UDP.
 * Addresses are unsigned 32-bit integers in host order.
 */
export function pseudoHeaderSum(
  src: number,
  dst: number,
  protocol: number,
  length: number,
): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
