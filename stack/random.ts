/**
 * Random numbers for the stack. Production uses the platform CSPRNG; tests pass a seeded
 * generator so every run of a scenario sends the same bytes.
 * @module
 */

/** A source of random 32-bit words. */
export interface Random {
  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number;
}

/** Cryptographically strong randomness (`crypto.getRandomValues`), refilled in batches. */
export class CryptoRandom implements Random {
  readonly #pool = new Uint32Array(256);
  #next = 256;

  u32(): number {
    if (this.#next === this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#next = 0;
    }
    return this.#pool[this.#next++]!;
  }
}

/**
 * Deterministic randomness for tests and for `--impair seed=N` (xoshiro128**, its state seeded
 * by a splitmix-style mixer). Not for secrets.
 */
export class SeededRandom implements Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next() | 1;
  }

  /** xoshiro128** step. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A float in [0, 1) from `random`. */
export function randomUnit(random: Random): number {
  return random.u32() / 4294967296;
}

/** An integer in [min, max] (inclusive) from `random`. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(randomUnit(random) * (max - min + 1));
}
