/**
 * IPv4 headers (RFC 791).
 *
 * `Ipv4Packet.check` validates version, IHL, total length against the buffer, and the header
 * checksum, and returns either a view or the reason for rejecting the packet. Link-layer padding
 * past the total length is excluded from `payload`. `emitIpv4` writes a 20-byte header (no
 * options; the stack never sends any) with its checksum.
 * @module
 */

import { readIpv4, writeIpv4 } from "./address.ts";
import type { Ipv4Address } from "./address.ts";
import { internetChecksum } from "./checksum.ts";

/** A header without options. */
export const IPV4_HEADER_LENGTH = 20;
/** RFC 1700 default TTL; Linux uses 64 as well. */
export const IPV4_DEFAULT_TTL = 64;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;

/** A checked view over an IPv4 packet. */
export class Ipv4Packet {
  readonly bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /**
   * A view over the packet at the start of `bytes`, or the reason it is malformed:
   * `truncated`, `bad-version`, `bad-header-length`, `bad-total-length`, `bad-checksum`.
   */
  static check(bytes: Uint8Array): Ipv4Packet | string {
    if (bytes.length < IPV4_HEADER_LENGTH) return "truncated";
    if (bytes[0]! >>> 4 !== 4) return "bad-version";
    const headerLength = (bytes[0]! & 0x0f) * 4;
    if (headerLength < IPV4_HEADER_LENGTH) return "bad-header-length";
    const totalLength = (bytes[2]! << 8) | bytes[3]!;
    if (totalLength < headerLength) return "bad-total-length";
    if (totalLength > bytes.length) return "truncated";
    if (internetChecksum(bytes.subarray(0, headerLength)) !== 0) return "bad-checksum";
    return new Ipv4Packet(bytes.subarray(0, totalLength));
  }

  get headerLength(): number {
    return (this.bytes[0]! & 0x0f) * 4;
  }

  get tos(): number {
    return this.bytes[1]!;
  }

  get totalLength(): number {
    return this.bytes.length;
  }

  get identification(): number {
    return (this.bytes[4]! << 8) | this.bytes[5]!;
  }

  get #flagsFragment(): number {
    return (this.bytes[6]! << 8) | this.bytes[7]!;
  }

  get dontFragment(): boolean {
    return (this.#flagsFragment & FLAG_DF) !== 0;
  }

  get moreFragments(): boolean {
    return (this.#flagsFragment & FLAG_MF) !== 0;
  }

  /** The fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (this.#flagsFragment & 0x1fff) * 8;
  }

  /** True for any fragment (MF set or a non-zero offset). */
  get isFragment(): boolean {
    return (this.#flagsFragment & (FLAG_MF | 0x1fff)) !== 0;
  }

  get ttl(): number {
    return this.bytes[8]!;
  }

  get protocol(): number {
    return this.bytes[9]!;
  }

  get src(): Ipv4Address {
    return readIpv4(this.bytes, 12);
  }

  get dst(): Ipv4Address {
    return readIpv4(this.bytes, 16);
  }

  /** The bytes after the header, up to the total length (a view). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }
}

/** Fields of an outgoing header. */
export interface Ipv4HeaderFields {
  tos?: number;
  /** Header plus payload. */
  totalLength: number;
  identification: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In bytes; a multiple of 8. */
  fragmentOffset?: number;
  ttl?: number;
  protocol: number;
  src: Ipv4Address;
  dst: Ipv4Address;
}

/** Writes a 20-byte header with its checksum at `offset`; returns {@linkcode IPV4_HEADER_LENGTH}. */
export function emitIpv4(buffer: Uint8Array, offset: number, fields: Ipv4HeaderFields): number {
  const h = buffer.subarray(offset, offset + IPV4_HEADER_LENGTH);
  const fragment = (fields.dontFragment ? FLAG_DF : 0) | (fields.moreFragments ? FLAG_MF : 0) |
    ((fields.fragmentOffset ?? 0) >>> 3);
  h[0] = 0x45;
  h[1] = fields.tos ?? 0;
  h[2] = fields.totalLength >>> 8;
  h[3] = fields.totalLength & 0xff;
  h[4] = fields.identification >>> 8;
  h[5] = fields.identification & 0xff;
  h[6] = fragment >>> 8;
  h[7] = fragment & 0xff;
  h[8] = fields.ttl ?? IPV4_DEFAULT_TTL;
  h[9] = fields.protocol;
  h[10] = 0;
  h[11] = 0;
  writeIpv4(h, 12, fields.src);
  writeIpv4(h, 16, fields.dst);
  const sum = internetChecksum(h);
  h[10] = sum >>> 8;
  h[11] = sum & 0xff;
  return IPV4_HEADER_LENGTH;
}
