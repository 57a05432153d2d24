/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement sum.
 *
 * `sum16` returns a running sum (unfolded, or partly folded: equal modulo 0xffff) so headers
 * and payloads in separate buffers (and the TCP/UDP pseudo-header) are summed without copying;
 * `finish` folds and inverts it. A JS number holds 2^53, so folding is needed only at the end
 * for any buffer a link can carry.
 * @module
 */

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Adds the bytes of `data` as big-endian 16-bit words to `initial` (an odd trailing byte is
 * padded with zero, RFC 1071 4.1). The result is not folded to 16 bits, but it is congruent
 * to the plain sum modulo 0xffff, which is all `fold` and `finish` need.
 *
 * Buffers of 64 bytes and more at an even address are summed as 32-bit little-endian words and
 * byte-swapped back (RFC 1071 2(B): the sum is byte-order independent), about twice as fast.
 */
export function sum16(data: Uint8Array, initial = 0): number {
  const n = data.length;
  const offset = data.byteOffset;
  if (n < 64 || !LITTLE_ENDIAN || (offset & 1) !== 0) return sumBytes(data, 0, initial);
  const head = offset & 3; // 0 or 2: one big-endian word first brings the rest to 4-byte alignment
  const sum = initial + (head === 2 ? (data[0]! << 8) | data[1]! : 0);
  const words = (n - head) >>> 2;
  const u32 = new Uint32Array(data.buffer, offset + head, words);
  let acc = 0; // exact below 2^53: up to 2^21 words (8 MiB)
  for (let k = 0; k < words; k++) acc += u32[k]!;
  while (acc > 0xffff) acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
  return sumBytes(data, head + words * 4, sum + (((acc & 0xff) << 8) | (acc >>> 8)));
}

/** The byte-pair sum of `data[from..]`, four words per turn. */
function sumBytes(data: Uint8Array, from: number, initial: number): number {
  let sum = initial;
  const n = data.length;
  let i = from;
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
