/**
 * UDP headers (RFC 768).
 *
 * `parseUdp` validates the length field against the packet (a datagram may not claim more than it
 * carries; IP padding beyond the UDP length is cut off) and the checksum with the pseudo-header
 * (zero means the sender computed none). `emitUdp` writes the header and checksum once the payload
 * is in place behind it; a computed checksum of zero is sent as 0xffff (RFC 768).
 * @module
 */

import type { Ipv4Address } from "./address.ts";
import { finish, pseudoHeaderSum, sum16 } from "./checksum.ts";

/** Source port, destination port, length, checksum. */
export const UDP_HEADER_LENGTH = 8;
const PROTOCOL_UDP = 17;

/** A parsed datagram; `payload` is a view. */
export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** Parses a datagram, or returns `truncated`, `bad-length` or `bad-checksum`. */
export function parseUdp(
  bytes: Uint8Array,
  src: Ipv4Address,
  dst: Ipv4Address,
): UdpDatagram | string {
  if (bytes.length < UDP_HEADER_LENGTH) return "truncated";
  const length = (bytes[4]! << 8) | bytes[5]!;
  if (length < UDP_HEADER_LENGTH || length > bytes.length) return "bad-length";
  const datagram = bytes.subarray(0, length);
  const checksum = (bytes[6]! << 8) | bytes[7]!;
  if (
    checksum !== 0 && finish(sum16(datagram, pseudoHeaderSum(src, dst, PROTOCOL_UDP, length))) !== 0
  ) {
    return "bad-checksum";
  }
  return {
    srcPort: (bytes[0]! << 8) | bytes[1]!,
    dstPort: (bytes[2]! << 8) | bytes[3]!,
    payload: datagram.subarray(UDP_HEADER_LENGTH),
  };
}

/**
 * Writes the header at the start of `datagram` (header + payload, payload already in place) and
 * its checksum.
 */
export function emitUdp(
  datagram: Uint8Array,
  srcPort: number,
  dstPort: number,
  src: Ipv4Address,
  dst: Ipv4Address,
): void {
  const length = datagram.length;
  datagram[0] = srcPort >>> 8;
  datagram[1] = srcPort & 0xff;
  datagram[2] = dstPort >>> 8;
  datagram[3] = dstPort & 0xff;
  datagram[4] = length >>> 8;
  datagram[5] = length & 0xff;
  datagram[6] = 0;
  datagram[7] = 0;
  const sum = finish(sum16(datagram, pseudoHeaderSum(src, dst, PROTOCOL_UDP, length))) || 0xffff;
  datagram[6] = sum >>> 8;
  datagram[7] = sum & 0xff;
}
