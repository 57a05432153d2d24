/**
 * The send buffer: bytes the application wrote that are not yet acknowledged, in a ring over one
 * Uint8Array.
 *
 * Invariants: `length <= maxBytes`; byte 0 is the oldest unacknowledged byte (at SND.UNA once the
 * SYN is acknowledged). The ring starts small and doubles up to `maxBytes` when writes need the
 * room, so an idle connection holds little memory. Bytes are copied once in (`write`) and once
 * out (`copyOut`, straight into an outgoing segment); there are no per-byte loops.
 * @module
 */

const INITIAL_BYTES = 16 * 1024;

/** A bounded, growable byte ring. */
export class SendBuffer {
  #buf: Uint8Array;
  #head = 0;
  #length = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    if (!(maxBytes >= 1)) throw new RangeError(`Cannot size a send buffer of ${maxBytes} bytes`);
    this.#maxBytes = maxBytes;
    this.#buf = new Uint8Array(Math.min(INITIAL_BYTES, maxBytes));
  }

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Bytes that can still be written. */
  get free(): number {
    return this.#maxBytes - this.#length;
  }

  /** The bound. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Copies as much of `src` as fits; returns how many bytes were taken. */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    if (n === 0) return 0;
    this.#reserve(this.#length + n);
    const cap = this.#buf.length;
    const tail = (this.#head + this.#length) % cap;
    const first = Math.min(n, cap - tail);
    this.#buf.set(src.subarray(0, first), tail);
    if (first < n) this.#buf.set(src.subarray(first, n), 0);
    this.#length += n;
    return n;
  }

  /** Copies `dst.length` bytes starting `offset` bytes after the oldest into `dst`. */
  copyOut(offset: number, dst: Uint8Array): void {
    const n = dst.length;
    if (offset < 0 || offset + n > this.#length) {
      throw new RangeError(`Cannot copy ${n} bytes at ${offset} of ${this.#length}`);
    }
    if (n === 0) return;
    const cap = this.#buf.length;
    const start = (this.#head + offset) % cap;
    const first = Math.min(n, cap - start);
    dst.set(this.#buf.subarray(start, start + first), 0);
    if (first < n) dst.set(this.#buf.subarray(0, n - first), first);
  }

  /** Drops the `n` oldest bytes (they were acknowledged). */
  consume(n: number): void {
    if (n < 0 || n > this.#length) {
      throw new RangeError(`Cannot consume ${n} bytes of ${this.#length}`);
    }
    this.#length -= n;
    this.#head = this.#length === 0 ? 0 : (this.#head + n) % this.#buf.length;
  }

  /** Drops everything and gives the memory back (TIME-WAIT and CLOSED keep none). */
  clear(): void {
    this.#head = 0;
    this.#length = 0;
    this.#buf = new Uint8Array(0);
  }

  #reserve(bytes: number): void {
    const old = this.#buf;
    if (bytes <= old.length) return;
    let cap = Math.max(old.length, INITIAL_BYTES);
    while (cap < bytes) cap *= 2;
    const next = new Uint8Array(Math.min(cap, this.#maxBytes));
    const first = Math.min(this.#length, old.length - this.#head);
    next.set(old.subarray(this.#head, this.#head + first), 0);
    if (first < this.#length) next.set(old.subarray(0, this.#length - first), first);
    this.#buf = next;
    this.#head = 0;
  }
}
