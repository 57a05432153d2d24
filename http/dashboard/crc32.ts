/**
 * CRC-32 as used by zlib, PNG and Ethernet (ISO-HDLC: reflected polynomial 0xEDB88320, initial
 * value and final XOR 0xFFFFFFFF), computed incrementally so a firmware image can be checked as
 * its chunks arrive.
 *
 * Invariant: `value` is always the CRC of every byte passed to `update` so far, as an unsigned
 * 32-bit number.
 * @module
 */

const POLYNOMIAL = 0xedb88320; // ISO 3309 / ITU-T V.42, bit-reversed

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** An incremental CRC-32.
 *
 * @example
 * ```ts
 * const crc = new Crc32();
 * crc.update(new TextEncoder().encode("123456789"));
 * crc.value.toString(16); // "cbf43926"
 * ```
 */
export class Crc32 {
  #state = 0xffffffff;

  /** Adds `bytes` to the checksum. */
  update(bytes: Uint8Array): this {
    let c = this.#state;
    for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
    this.#state = c;
    return this;
  }

  /** The CRC of everything added so far. */
  get value(): number {
    return (this.#state ^ 0xffffffff) >>> 0;
  }
}

/** CRC-32 of `bytes` in one call. */
export function crc32(bytes: Uint8Array): number {
  return new Crc32().update(bytes).value;
}

/** Formats a CRC as 8 lowercase hex digits (the form /api/firmware/status reports). */
export function formatCrc32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, "0");
}
