/**
 * One receive buffer per connection. The HTTP/1.1 parser and the WebSocket framer both read
 * through it: heads and chunk-size lines are found in place, body bytes beyond what is
 * buffered are read straight into fresh arrays handed to the consumer (no copy through the
 * buffer), and what is left after an upgrade stays here for the next protocol.
 *
 * Invariants: `#start <= #end <= capacity`; bytes in `[#start, #end)` are unread; the buffer never
 * grows (a head or line larger than the capacity is the caller's error to report); at most one
 * `conn.read` is in flight (callers serialise their reads).
 * @module
 */

import type { Conn } from "./conn.ts";

const CR = 0x0d;
const LF = 0x0a;

/** Largest array handed out by one direct read of body bytes. */
export const DIRECT_READ_BYTES = 32 * 1024;

/** A buffered reader over `Conn.read`. */
export class ConnReader {
  readonly #conn: Pick<Conn, "read">;
  readonly #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #eof = false;

  constructor(conn: Pick<Conn, "read">, capacityBytes: number) {
    this.#conn = conn;
    this.#buf = new Uint8Array(capacityBytes);
  }

  /** Number of unread bytes held in the buffer. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** True once the connection reported end of stream. */
  get eof(): boolean {
    return this.#eof;
  }

  /** The buffer's capacity, the longest head or line that can be found in it. */
  get capacity(): number {
    return this.#buf.length;
  }

  /** The unread bytes, as a view valid until the next `fill`. */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Drops `n` unread bytes. */
  consume(n: number): void {
    this.#start += Math.min(n, this.buffered);
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Removes and returns every buffered byte (a copy), e.g. to hand over after an upgrade. */
  takeBuffered(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }

  /**
   * Reads more bytes from the connection into the free end of the buffer, compacting first.
   * Resolves the count read, or `null` at end of stream; throws a RangeError when full.
   */
  async fill(): Promise<number | null> {
    if (this.#eof) return null;
    if (this.#end === this.#buf.length) {
      if (this.#start === 0) throw new RangeError("Cannot fill the receive buffer: it is full");
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return null;
    }
    this.#end += n;
    return n;
  }

  /**
   * Finds the blank line ending a head (CRLF CRLF) in the unread bytes, searching from
   * `fromOffset`. Returns the offset just past it, or -1.
   */
  findHeadEnd(fromOffset: number): number {
    const buf = this.#buf;
    let i = this.#start + Math.max(0, fromOffset);
    while (i + 3 < this.#end) {
      const cr = buf.indexOf(CR, i);
      if (cr < 0 || cr + 3 >= this.#end) return -1;
      if (buf[cr + 1] === LF && buf[cr + 2] === CR && buf[cr + 3] === LF) {
        return cr + 4 - this.#start;
      }
      i = cr + 1;
    }
    return -1;
  }

  /** Finds CRLF in the unread bytes; returns the offset of the CR, or -1. */
  findLineEnd(): number {
    const buf = this.#buf;
    let i = this.#start;
    while (i + 1 < this.#end) {
      const cr = buf.indexOf(CR, i);
      if (cr < 0 || cr + 1 >= this.#end) return -1;
      if (buf[cr + 1] === LF) return cr - this.#start;
      i = cr + 1;
    }
    return -1;
  }

  /**
   * Reads up to `maxBytes` (> 0): buffered bytes first (copied out), else one read from the
   * connection into a fresh array. Resolves `null` at end of stream. The result is owned by
   * the caller.
   */
  async readChunk(maxBytes: number): Promise<Uint8Array | null> {
    if (this.buffered > 0) {
      const n = Math.min(this.buffered, maxBytes);
      const out = this.#buf.slice(this.#start, this.#start + n);
      this.consume(n);
      return out;
    }
    if (this.#eof) return null;
    const out = new Uint8Array(Math.min(maxBytes, DIRECT_READ_BYTES));
    const n = await this.#conn.read(out);
    if (n === null) {
      this.#eof = true;
      return null;
    }
    return out.subarray(0, n);
  }

  /** Fills all of `dst`; resolves false if the stream ended first. */
  async readExact(dst: Uint8Array): Promise<boolean> {
    const fromBuffer = Math.min(this.buffered, dst.length);
    dst.set(this.#buf.subarray(this.#start, this.#start + fromBuffer));
    this.consume(fromBuffer);
    let offset = fromBuffer;
    while (offset < dst.length) {
      if (this.#eof) return false;
      const n = await this.#conn.read(dst.subarray(offset));
      if (n === null) {
        this.#eof = true;
        return false;
      }
      offset += n;
    }
    return true;
  }

  /** Ensures at least `n` (<= capacity) bytes are buffered; resolves false at end of stream. */
  async ensure(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.#start > 0 && this.#buf.length - this.#start < n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if ((await this.fill()) === null) return false;
    }
    return true;
  }
}
