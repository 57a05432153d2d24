/**
 * The receive buffer: in-order bytes waiting for the application, followed by out-of-order
 * data held for reassembly, in one ring over a Uint8Array.
 *
 * Positions are stream offsets (a JS number counting bytes since the start of the stream; exact
 * up to 2^53), so reassembly never deals with sequence wrap; the connection maps sequence
 * numbers to offsets. Bytes from `readPos` to `inOrderEnd` are readable; out-of-order ranges lie
 * beyond `inOrderEnd`, sorted, disjoint and not touching, and every byte lies within `maxBytes`
 * of `readPos` (the caller trims segments to the advertised window, which never exceeds `free`).
 * At most `maxRanges` out-of-order ranges are kept; a segment that would need one more is
 * refused (the sender retransmits it later). The ring grows by doubling up to `maxBytes`.
 * Each byte is copied once in (`insert`) and once out (`read`).
 * @module
 */

const INITIAL_BYTES = 16 * 1024;

interface Range {
  start: number;
  end: number;
  /** When this range last grew (for the SACK block order of RFC 2018 4). */
  stamp: number;
}

/** Reassembly buffer with out-of-order ranges. */
export class ReceiveBuffer {
  #buf: Uint8Array;
  /** Ring index of `readPos`. */
  #head = 0;
  #readPos = 0;
  #readable = 0;
  readonly #maxBytes: number;
  readonly #maxRanges: number;
  readonly #ranges: Range[] = [];
  #stamp = 0;

  constructor(maxBytes: number, maxRanges = 32) {
    if (!(maxBytes >= 1)) throw new RangeError(`Cannot size a receive buffer of ${maxBytes} bytes`);
    this.#maxBytes = maxBytes;
    this.#maxRanges = maxRanges;
    this.#buf = new Uint8Array(Math.min(INITIAL_BYTES, maxBytes));
  }

  /** In-order bytes the application can read. */
  get readable(): number {
    return this.#readable;
  }

  /** Stream offset of the next byte the application reads. */
  get readPos(): number {
    return this.#readPos;
  }

  /** Stream offset just past the in-order bytes (RCV.NXT as an offset). */
  get inOrderEnd(): number {
    return this.#readPos + this.#readable;
  }

  /** Room from `inOrderEnd` on: the most the receive window may offer. */
  get free(): number {
    return this.#maxBytes - this.#readable;
  }

  /** The bound. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Number of out-of-order ranges held. */
  get rangeCount(): number {
    return this.#ranges.length;
  }

  /** True when out-of-order ranges already hold every byte of stream offsets [start, end). */
  holds(start: number, end: number): boolean {
    for (const r of this.#ranges) {
      if (r.start > start) return false;
      if (end <= r.end) return true;
    }
    return false;
  }

  /** Bytes held out of order. */
  get outOfOrderBytes(): number {
    let n = 0;
    for (const r of this.#ranges) n += r.end - r.start;
    return n;
  }

  /**
   * Stores `data` at stream offset `at` (>= `inOrderEnd`, ending within `free`). Returns how
   * far the in-order end advanced, or -1 when the segment was refused (too many ranges).
   */
  insert(at: number, data: Uint8Array): number {
    const rel = at - this.inOrderEnd;
    const n = data.length;
    if (rel < 0 || rel + n > this.free) {
      throw new RangeError(`Cannot store ${n} bytes ${rel} past the in-order end`);
    }
    if (n === 0) return 0;
    if (rel > 0 && !this.#canAddRange(at, at + n)) return -1;
    this.#copyIn(this.#readable + rel, data);
    if (rel > 0) {
      this.#addRange(at, at + n);
      return 0;
    }
    let end = at + n;
    const ranges = this.#ranges;
    while (ranges.length > 0 && ranges[0]!.start <= end) {
      end = Math.max(end, ranges[0]!.end);
      ranges.shift();
    }
    const advance = end - this.inOrderEnd;
    this.#readable += advance;
    return advance;
  }

  /** Copies up to `dst.length` readable bytes into `dst`; returns how many. */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.#readable);
    if (n === 0) return 0;
    const cap = this.#buf.length;
    const first = Math.min(n, cap - this.#head);
    dst.set(this.#buf.subarray(this.#head, this.#head + first), 0);
    if (first < n) dst.set(this.#buf.subarray(0, n - first), first);
    this.#head = (this.#head + n) % cap;
    this.#readPos += n;
    this.#readable -= n;
    return n;
  }

  /**
   * Writes up to `maxBlocks` out-of-order ranges into `out` as [start, end, ...] stream
   * offsets, most recently grown first (RFC 2018 4); returns the number of blocks.
   */
  sackRanges(out: number[], maxBlocks: number): number {
    out.length = 0;
    const ranges = this.#ranges;
    if (ranges.length === 0 || maxBlocks <= 0) return 0;
    const order = ranges.slice();
    order.sort((a, b) => b.stamp - a.stamp);
    const n = Math.min(maxBlocks, order.length);
    for (let i = 0; i < n; i++) out.push(order[i]!.start, order[i]!.end);
    return n;
  }

  /** Drops the out-of-order data (e.g. on abort). Readable bytes stay. */
  clearOutOfOrder(): void {
    this.#ranges.length = 0;
  }

  /** Gives the memory back when nothing is readable or held (TIME-WAIT, CLOSED). */
  shrink(): void {
    if (this.#readable > 0 || this.#ranges.length > 0) return;
    this.#buf = new Uint8Array(0);
    this.#head = 0;
  }

  #canAddRange(start: number, end: number): boolean {
    if (this.#ranges.length < this.#maxRanges) return true;
    // Full: only a segment touching an existing range (no new range needed) is kept.
    return this.#ranges.some((r) => r.start <= end && start <= r.end);
  }

  #addRange(start: number, end: number): void {
    const ranges = this.#ranges;
    const stamp = ++this.#stamp;
    let i = 0;
    while (i < ranges.length && ranges[i]!.end < start) i++;
    let j = i;
    while (j < ranges.length && ranges[j]!.start <= end) {
      start = Math.min(start, ranges[j]!.start);
      end = Math.max(end, ranges[j]!.end);
      j++;
    }
    ranges.splice(i, j - i, { start, end, stamp });
  }

  /** Copies `data` to `offset` bytes after `readPos`, growing the ring when needed. */
  #copyIn(offset: number, data: Uint8Array): void {
    this.#reserve(offset + data.length);
    const cap = this.#buf.length;
    const start = (this.#head + offset) % cap;
    const first = Math.min(data.length, cap - start);
    this.#buf.set(data.subarray(0, first), start);
    if (first < data.length) this.#buf.set(data.subarray(first), 0);
  }

  #reserve(bytes: number): void {
    const old = this.#buf;
    if (bytes <= old.length) return;
    let cap = Math.max(old.length, INITIAL_BYTES);
    while (cap < bytes) cap *= 2;
    const next = new Uint8Array(Math.min(cap, this.#maxBytes));
    // Keep every byte from readPos on (in-order and out-of-order alike), linearised.
    if (old.length > 0) {
      next.set(old.subarray(this.#head), 0);
      next.set(old.subarray(0, this.#head), old.length - this.#head);
    }
    this.#buf = next;
    this.#head = 0;
  }
}
