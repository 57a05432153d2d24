/**
 * libpcap capture files for `--pcap`: a synchronous writer and a {@linkcode Link} decorator that
 * records every frame in and out of the link it wraps.
 *
 * File format (https://www.tcpdump.org/manpages/pcap-savefile.5.html, also
 * draft-ietf-opsawg-pcap): a 24-byte global header (magic 0xa1b2c3d4 = microsecond timestamps,
 * version 2.4, thiszone 0, sigfigs 0, snaplen, linktype 1 = LINKTYPE_ETHERNET), then per frame
 * a 16-byte record header (ts_sec, ts_usec, incl_len, orig_len) and `incl_len` bytes. Every field
 * is written in this host's byte order (little-endian); readers detect it from the magic.
 *
 * Invariants: records go into a small buffer that is written with `writeSync` when full and on
 * `flush`/`close`, so a record is never split across the buffer and the file between calls;
 * frames longer than `snapLength` are truncated (orig_len keeps the real length).
 * @module
 */

import type { Clock } from "../stack/clock.ts";
import type { FrameHandler, Link, LinkCapabilities, RxMeta, TxOffload } from "../stack/link.ts";

/** Magic number of the microsecond-resolution format. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** LINKTYPE_ETHERNET: IEEE 802.3 Ethernet frames (Ethernet II too), no FCS. */
export const LINKTYPE_ETHERNET = 1;
/** Default snapshot length: tcpdump's maximum. */
export const DEFAULT_SNAP_LENGTH = 262144;
const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;

/** Where a {@linkcode PcapWriter} puts bytes: `Deno.FsFile` fits. */
export interface SyncWriter {
  writeSync(p: Uint8Array): number;
  close(): void;
}

/** Options for {@linkcode PcapWriter}. */
export interface PcapWriterOptions {
  /** Largest number of bytes kept of each frame. Default 262144. */
  snapLength?: number;
  /** Size of the write buffer. Default 64 KiB. */
  bufferBytes?: number;
}

/**
 * Writes a pcap file synchronously.
 *
 * @example
 * ```ts
 * const pcap = PcapWriter.create("out/capture.pcap");
 * pcap.write(frame, Date.now());
 * pcap.close();
 * ```
 */
export class PcapWriter {
  readonly snapLength: number;
  /** Records written so far. */
  frames = 0;
  readonly #out: SyncWriter;
  readonly #buffer: Uint8Array;
  readonly #view: DataView;
  #used = 0;
  #closed = false;

  constructor(out: SyncWriter, options: PcapWriterOptions = {}) {
    const snapLength = options.snapLength ?? DEFAULT_SNAP_LENGTH;
    const bufferBytes = options.bufferBytes ?? 65536;
    if (!(Number.isInteger(snapLength) && snapLength >= 1)) {
      throw new RangeError(`Cannot use snapLength ${snapLength}: expected an integer >= 1`);
    }
    if (!(Number.isInteger(bufferBytes) && bufferBytes >= GLOBAL_HEADER_BYTES)) {
      throw new RangeError(`Cannot use bufferBytes ${bufferBytes}: expected an integer >= 24`);
    }
    this.snapLength = snapLength;
    this.#out = out;
    this.#buffer = new Uint8Array(bufferBytes);
    this.#view = new DataView(this.#buffer.buffer);
    this.#writeGlobalHeader();
  }

  /** Creates (or truncates) the file at `path` and writes the global header. */
  static create(path: string | URL, options?: PcapWriterOptions): PcapWriter {
    const file = Deno.openSync(path, { write: true, create: true, truncate: true });
    try {
      return new PcapWriter(file, options);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Appends one frame captured at `timestampMs` (Unix epoch, fractional ms allowed). */
  write(frame: Uint8Array, timestampMs: number): void {
    if (this.#closed) throw new Error("Cannot write to a closed PcapWriter");
    const included = Math.min(frame.length, this.snapLength);
    const micros = Math.max(0, Math.round(timestampMs * 1000));
    if (this.#used + RECORD_HEADER_BYTES > this.#buffer.length) this.flush();
    const at = this.#used;
    this.#view.setUint32(at, Math.floor(micros / 1e6), true); // ts_sec
    this.#view.setUint32(at + 4, micros % 1e6, true); // ts_usec
    this.#view.setUint32(at + 8, included, true); // incl_len
    this.#view.setUint32(at + 12, frame.length, true); // orig_len
    this.#used += RECORD_HEADER_BYTES;
    const data = frame.subarray(0, included);
    if (this.#used + included > this.#buffer.length) {
      this.flush();
      if (included > this.#buffer.length) {
        writeAll(this.#out, data);
        this.frames++;
        return;
      }
    }
    this.#buffer.set(data, this.#used);
    this.#used += included;
    this.frames++;
  }

  /** Writes buffered records to the file. */
  flush(): void {
    if (this.#used === 0) return;
    writeAll(this.#out, this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  /** Flushes and closes the file (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.flush();
    } finally {
      this.#out.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #writeGlobalHeader(): void {
    const v = this.#view;
    v.setUint32(0, PCAP_MAGIC, true);
    v.setUint16(4, 2, true); // version_major
    v.setUint16(6, 4, true); // version_minor
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, this.snapLength, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.#used = GLOBAL_HEADER_BYTES;
  }
}

function writeAll(out: SyncWriter, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += out.writeSync(bytes.subarray(offset));
}

function ignoreFrame(_frame: Uint8Array, _meta?: RxMeta): void {}

/** Options for {@linkcode PcapLink}. */
export interface PcapLinkOptions {
  /** The clock the stack runs on; record times are `wallClockOriginMs + (now - nowAtStart)`. */
  clock: Clock;
  /** Unix time (ms) matching the clock's reading at construction. Default `Date.now()`. */
  wallClockOriginMs?: number;
}

/**
 * A decorator that records every frame the wrapped link delivers and every frame committed to
 * it, then passes it on unchanged, offloads included: with an offloading TAP the capture shows
 * frames as the stack built or received them (TCP super-frames, partial checksums that a
 * reader flags as wrong, as with any NIC's offloads), never the vnet header. The caller owns
 * (and closes) the writer.
 */
export class PcapLink implements Link {
  readonly #inner: Link;
  readonly #writer: PcapWriter;
  readonly #clock: Clock;
  readonly #offsetMs: number;
  #buffer: Uint8Array | null = null;
  #rxNowMs = 0;
  #onFrame: FrameHandler = ignoreFrame;
  readonly #record = (frame: Uint8Array, meta?: RxMeta): void => {
    this.#writer.write(frame, this.#offsetMs + this.#rxNowMs);
    this.#onFrame(frame, meta);
  };

  constructor(inner: Link, writer: PcapWriter, options: PcapLinkOptions) {
    this.#inner = inner;
    this.#writer = writer;
    this.#clock = options.clock;
    this.#offsetMs = (options.wallClockOriginMs ?? Date.now()) - options.clock.now();
  }

  get mtu(): number {
    return this.#inner.mtu;
  }

  get capabilities(): LinkCapabilities | undefined {
    return this.#inner.capabilities;
  }

  acquire(length: number): Uint8Array | null {
    this.#buffer = this.#inner.acquire(length);
    return this.#buffer;
  }

  commit(length: number, offload?: TxOffload): void {
    if (this.#buffer !== null && length <= this.#buffer.length) {
      this.#writer.write(this.#buffer.subarray(0, length), this.#offsetMs + this.#clock.now());
    }
    this.#buffer = null;
    this.#inner.commit(length, offload);
  }

  receive(nowMs: number, onFrame: FrameHandler): number {
    this.#rxNowMs = nowMs;
    this.#onFrame = onFrame;
    try {
      return this.#inner.receive(nowMs, this.#record);
    } finally {
      this.#onFrame = ignoreFrame;
    }
  }

  nextDueMs(): number {
    return this.#inner.nextDueMs();
  }
}
