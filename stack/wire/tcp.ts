/**
 * TCP header codec (RFC 9293 3.1) with the options TCP negotiates: MSS (RFC 9293 3.2), window
 * scale and timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018).
 *
 * Reading: `TcpHeaderView.parse` checks the length and the data offset once; after that every
 * getter is in bounds. `parseTcpOptions` fills a reusable {@linkcode TcpOptions} record and
 * never reads past the option area: a malformed option (length 0 or 1, or running past the
 * header) stops parsing and keeps what was read before (Linux does the same); a known option
 * with the wrong length is ignored; at most 4 SACK blocks fit in 40 option bytes.
 * Writing: `emitTcpHeader` writes header and options in the order Linux uses, so our segments
 * look like the kernel's; `setTcpChecksum` / `verifyTcpChecksum` use the IPv4 pseudo-header.
 * Numbers are unsigned (sequence numbers in [0, 2^32)).
 * @module
 */

import { finish, pseudoHeaderSum, sum16 } from "./checksum.ts";

/** Length of a header without options. */
export const TCP_HEADER_LENGTH = 20;
/** Longest header: data offset 15 words (RFC 9293 3.1). */
export const TCP_MAX_HEADER_LENGTH = 60;
/** Most option bytes a header can carry. */
export const TCP_MAX_OPTIONS_LENGTH = 40;
/** IP protocol number. */
export const TCP_PROTOCOL = 6;

/** Control bits (RFC 9293 3.1, RFC 3168 for ECE/CWR). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  END: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** Largest shift a window scale option may carry (RFC 7323 2.3). */
export const TCP_MAX_WINDOW_SCALE = 14;

/** Why `TcpHeaderView.parse` refused a segment (a LayerCounters drop reason). */
export type TcpMalformed = "truncated" | "bad-data-offset";

/** A checked view over a TCP segment (header, options, payload). */
export class TcpHeaderView {
  readonly #b: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#b = bytes;
  }

  /** A view of `bytes`, or why it cannot be a TCP segment. */
  static parse(bytes: Uint8Array): TcpHeaderView | TcpMalformed {
    if (bytes.length < TCP_HEADER_LENGTH) return "truncated";
    const headerLength = (bytes[12]! >> 4) * 4;
    if (headerLength < TCP_HEADER_LENGTH) return "bad-data-offset";
    if (headerLength > bytes.length) return "truncated";
    return new TcpHeaderView(bytes);
  }

  /** The whole segment. */
  get bytes(): Uint8Array {
    return this.#b;
  }
  get srcPort(): number {
    return (this.#b[0]! << 8) | this.#b[1]!;
  }
  get dstPort(): number {
    return (this.#b[2]! << 8) | this.#b[3]!;
  }
  get seq(): number {
    return readU32(this.#b, 4);
  }
  get ack(): number {
    return readU32(this.#b, 8);
  }
  /** Header length in bytes (data offset * 4). */
  get headerLength(): number {
    return (this.#b[12]! >> 4) * 4;
  }
  /** The eight control bits ({@linkcode TcpFlag}). */
  get flags(): number {
    return this.#b[13]!;
  }
  get window(): number {
    return (this.#b[14]! << 8) | this.#b[15]!;
  }
  get checksum(): number {
    return (this.#b[16]! << 8) | this.#b[17]!;
  }
  get urgentPointer(): number {
    return (this.#b[18]! << 8) | this.#b[19]!;
  }
  /** The option bytes (a view). */
  get options(): Uint8Array {
    return this.#b.subarray(TCP_HEADER_LENGTH, this.headerLength);
  }
  /** The data (a view). */
  get payload(): Uint8Array {
    return this.#b.subarray(this.headerLength);
  }
}

/** Options of one segment; the same record is used to parse and to emit. */
export interface TcpOptions {
  /** Maximum segment size; 0 when absent. */
  mss: number;
  /** Window scale shift (clamped to 14); -1 when absent. */
  windowScale: number;
  sackPermitted: boolean;
  hasTimestamps: boolean;
  /** TSval and TSecr (RFC 7323 3.2), valid when `hasTimestamps`. */
  tsVal: number;
  tsEcr: number;
  /** SACK blocks flattened as [left0, right0, left1, right1, ...] (RFC 2018 3). */
  sackBlocks: number[];
}

/** A record with no options, for `parseTcpOptions` to fill or for emitting. */
export function newTcpOptions(): TcpOptions {
  return {
    mss: 0,
    windowScale: -1,
    sackPermitted: false,
    hasTimestamps: false,
    tsVal: 0,
    tsEcr: 0,
    sackBlocks: [],
  };
}

/** Resets `options` to "no options". */
export function clearTcpOptions(options: TcpOptions): void {
  options.mss = 0;
  options.windowScale = -1;
  options.sackPermitted = false;
  options.hasTimestamps = false;
  options.tsVal = 0;
  options.tsEcr = 0;
  options.sackBlocks.length = 0;
}

/**
 * Parses the option area of a header into `into` (cleared first). Returns false when an
 * option was malformed; the options before it are kept.
 */
export function parseTcpOptions(bytes: Uint8Array, into: TcpOptions): boolean {
  clearTcpOptions(into);
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const kind = bytes[i]!;
    if (kind === TcpOptionKind.END) return true;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= n) return false;
    const length = bytes[i + 1]!;
    if (length < 2 || i + length > n) return false; // RFC 9293 3.1: illegal length
    readOption(bytes, i, kind, length, into);
    i += length;
  }
  return true;
}

function readOption(
  bytes: Uint8Array,
  at: number,
  kind: number,
  length: number,
  into: TcpOptions,
): void {
  switch (kind) {
    case TcpOptionKind.MSS:
      if (length === 4) into.mss = (bytes[at + 2]! << 8) | bytes[at + 3]!;
      break;
    case TcpOptionKind.WINDOW_SCALE:
      // RFC 7323 2.3: a shift above 14 is logged and used as 14.
      if (length === 3) into.windowScale = Math.min(bytes[at + 2]!, TCP_MAX_WINDOW_SCALE);
      break;
    case TcpOptionKind.SACK_PERMITTED:
      if (length === 2) into.sackPermitted = true;
      break;
    case TcpOptionKind.TIMESTAMPS:
      if (length === 10) {
        into.hasTimestamps = true;
        into.tsVal = readU32(bytes, at + 2);
        into.tsEcr = readU32(bytes, at + 6);
      }
      break;
    case TcpOptionKind.SACK:
      // RFC 2018 3: length 2 + 8n, n >= 1; 40 option bytes hold at most 4 blocks.
      if (length >= 10 && (length - 2) % 8 === 0) {
        into.sackBlocks.length = 0;
        for (let p = at + 2; p < at + length; p += 8) {
          into.sackBlocks.push(readU32(bytes, p), readU32(bytes, p + 4));
        }
      }
      break;
    default:
      break; // Unknown options are skipped (RFC 9293 3.1).
  }
}

/** The fields of a header to emit (options come separately). */
export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgentPointer?: number;
}

/** Number of SACK blocks that fit beside the other options of `options`. */
export function sackBlocksThatFit(options: TcpOptions): number {
  const others = optionBytesWithoutSack(options);
  const wanted = options.sackBlocks.length >> 1;
  return Math.max(0, Math.min(wanted, Math.floor((TCP_MAX_OPTIONS_LENGTH - others - 4) / 8)));
}

function optionBytesWithoutSack(o: TcpOptions): number {
  let n = 0;
  if (o.mss > 0) n += 4;
  if (o.hasTimestamps) n += 12; // SACK-permitted rides in the two NOPs before TS
  else if (o.sackPermitted) n += 4;
  if (o.windowScale >= 0) n += 4;
  return n;
}

/** Bytes the options take when emitted (a multiple of 4, at most 40). */
export function tcpOptionsLength(options: TcpOptions): number {
  const blocks = sackBlocksThatFit(options);
  return optionBytesWithoutSack(options) + (blocks > 0 ? 4 + 8 * blocks : 0);
}

/**
 * Writes a header with `options` at the start of `buf` and returns its length. The checksum
 * field is left zero (see {@linkcode setTcpChecksum}). SACK blocks that do not fit are left out.
 */
export function emitTcpHeader(buf: Uint8Array, h: TcpHeader, options?: TcpOptions): number {
  const headerLength = TCP_HEADER_LENGTH + (options ? tcpOptionsLength(options) : 0);
  buf[0] = h.srcPort >> 8;
  buf[1] = h.srcPort;
  buf[2] = h.dstPort >> 8;
  buf[3] = h.dstPort;
  writeU32(buf, 4, h.seq);
  writeU32(buf, 8, h.ack);
  buf[12] = (headerLength / 4) << 4;
  buf[13] = h.flags;
  buf[14] = h.window >> 8;
  buf[15] = h.window;
  buf[16] = 0;
  buf[17] = 0;
  const urgent = h.urgentPointer ?? 0;
  buf[18] = urgent >> 8;
  buf[19] = urgent;
  if (options) emitOptions(buf, TCP_HEADER_LENGTH, options);
  return headerLength;
}

function emitOptions(buf: Uint8Array, at: number, o: TcpOptions): void {
  let i = at;
  if (o.mss > 0) {
    i = put4(buf, i, TcpOptionKind.MSS, 4, o.mss >> 8, o.mss & 0xff);
  }
  if (o.hasTimestamps) {
    // Linux puts SACK-permitted in the two bytes of padding before the timestamps.
    i = o.sackPermitted
      ? put4(buf, i, TcpOptionKind.SACK_PERMITTED, 2, TcpOptionKind.TIMESTAMPS, 10)
      : put4(buf, i, TcpOptionKind.NOP, TcpOptionKind.NOP, TcpOptionKind.TIMESTAMPS, 10);
    writeU32(buf, i, o.tsVal);
    writeU32(buf, i + 4, o.tsEcr);
    i += 8;
  } else if (o.sackPermitted) {
    i = put4(buf, i, TcpOptionKind.NOP, TcpOptionKind.NOP, TcpOptionKind.SACK_PERMITTED, 2);
  }
  if (o.windowScale >= 0) {
    i = put4(buf, i, TcpOptionKind.NOP, TcpOptionKind.WINDOW_SCALE, 3, o.windowScale);
  }
  const blocks = sackBlocksThatFit(o);
  if (blocks > 0) {
    i = put4(buf, i, TcpOptionKind.NOP, TcpOptionKind.NOP, TcpOptionKind.SACK, 2 + 8 * blocks);
    for (let b = 0; b < blocks; b++) {
      writeU32(buf, i, o.sackBlocks[2 * b]!);
      writeU32(buf, i + 4, o.sackBlocks[2 * b + 1]!);
      i += 8;
    }
  }
}

function put4(buf: Uint8Array, i: number, a: number, b: number, c: number, d: number): number {
  buf[i] = a;
  buf[i + 1] = b;
  buf[i + 2] = c;
  buf[i + 3] = d;
  return i + 4;
}

/** Computes and stores the checksum of a whole segment (RFC 9293 3.1, pseudo-header). */
export function setTcpChecksum(segment: Uint8Array, src: number, dst: number): void {
  segment[16] = 0;
  segment[17] = 0;
  const sum = sum16(segment, pseudoHeaderSum(src, dst, TCP_PROTOCOL, segment.length));
  const checksum = finish(sum);
  segment[16] = checksum >> 8;
  segment[17] = checksum;
}

/** True when the checksum of a received segment is right. */
export function verifyTcpChecksum(segment: Uint8Array, src: number, dst: number): boolean {
  return finish(sum16(segment, pseudoHeaderSum(src, dst, TCP_PROTOCOL, segment.length))) === 0;
}

/** Reads a big-endian unsigned 32-bit number. */
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Writes a big-endian unsigned 32-bit number. */
export function writeU32(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 24;
  b[at + 1] = value >>> 16;
  b[at + 2] = value >>> 8;
  b[at + 3] = value;
}
