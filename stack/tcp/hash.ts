/**
 * HalfSipHash-2-4 (Aumasson and Bernstein; the 32-bit SipHash variant Linux calls hsiphash):
 * a keyed PRF with a 64-bit key and 32-bit output, built from 32-bit additions, rotations and
 * xors, so it is cheap in JavaScript. Used for ISNs (RFC 6528), timestamp offsets and SYN
 * cookies, where the key comes from the stack's Random.
 *
 * Input is a sequence of 32-bit words, hashed as their little-endian bytes (so the output
 * equals the reference implementation on those bytes).
 * @module
 */

/** A 64-bit key as two 32-bit words (the little-endian halves of the reference key bytes). */
export interface HashKey {
  k0: number;
  k1: number;
}

/** A fresh key from `random`. */
export function randomHashKey(random: { u32(): number }): HashKey {
  return { k0: random.u32(), k1: random.u32() };
}

/** HalfSipHash-2-4 with 32-bit output over `count` words of `words`. */
export function halfSipHash24(
  key: HashKey,
  words: ArrayLike<number>,
  count = words.length,
): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const round = () => {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  };
  for (let i = 0; i < count; i++) {
    const m = words[i]! | 0;
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  const b = ((count * 4) << 24) | 0;
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return (v1 ^ v3) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
