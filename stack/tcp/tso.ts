/**
 * TCP segmentation and checksum offload done in software: what a NIC (or the kernel behind a
 * TAP's virtio-net header) does with a frame the stack handed over with a partial checksum or
 * as a TSO super-frame. Links that cannot pass offloaded frames on (the in-memory links, the
 * fault injector, IPv4 while ARP resolves) finish frames with these; tests use them as the
 * reference segmenter.
 *
 * Conventions (virtio-net 1.2 5.1.6.2, Linux `skb_checksum_help` and `tcp_gso_segment`):
 * - A partial checksum: the field at `csumStart + csumOffset` holds the folded, not inverted,
 *   pseudo-header sum; completing it sums from `csumStart` to the end of the IP packet and
 *   stores the inverted result (0 becomes 0xffff, CSUM_MANGLED_0).
 * - A TSO super-frame is one IPv4 packet (total length up to 65535) with one TCP header; cut at
 *   `gsoSize` payload bytes, each segment repeats the headers with its own IP total length,
 *   identification (+1 per segment), header checksum, TCP sequence number (+offset) and full
 *   TCP checksum. FIN and PSH stay on the last segment only, CWR on the first only.
 * Invariants: input that does not parse as what its metadata says is refused (the functions
 * return false / 0), never thrown; output segments are views of one scratch buffer, valid only
 * during the `emit` call.
 * @module
 */

import { finish, fold, internetChecksum, pseudoHeaderSum, sum16 } from "../wire/checksum.ts";

const TCP_FLAG_FIN = 0x01;
const TCP_FLAG_PSH = 0x08;
const TCP_FLAG_CWR = 0x80;
const IPV4_PROTOCOL_TCP = 6;

/**
 * Completes a partial transport checksum in place: `bytes[csumStart..end)` is summed (the
 * checksum field holds the pseudo-header sum) and the result stored at `csumStart + csumOffset`.
 * Returns false (and changes nothing) when the offsets do not fit in `bytes`.
 */
export function completeChecksum(
  bytes: Uint8Array,
  csumStart: number,
  csumOffset: number,
): boolean {
  const at = csumStart + csumOffset;
  if (csumStart < 0 || csumOffset < 0 || at + 2 > bytes.length) return false;
  const sum = finish(sum16(bytes.subarray(csumStart)));
  const value = sum === 0 ? 0xffff : sum;
  bytes[at] = value >>> 8;
  bytes[at + 1] = value & 0xff;
  return true;
}

/** The folded (not inverted) pseudo-header sum a partial TCP checksum field holds. */
export function partialTcpChecksum(src: number, dst: number, tcpLength: number): number {
  return fold(pseudoHeaderSum(src, dst, IPV4_PROTOCOL_TCP, tcpLength));
}

/**
 * The length of the IPv4 packet at `l3Offset` of `frame` (its total length field), or -1 when
 * there is no plausible IPv4 header there.
 */
export function ipv4PacketLength(frame: Uint8Array, l3Offset: number): number {
  if (frame.length < l3Offset + 20 || frame[l3Offset]! >>> 4 !== 4) return -1;
  const total = (frame[l3Offset + 2]! << 8) | frame[l3Offset + 3]!;
  return total >= 20 && l3Offset + total <= frame.length ? total : -1;
}

/**
 * Completes a partial checksum of the IPv4 packet inside an Ethernet frame (Ethernet padding
 * beyond the IP total length is left out of the sum). Returns false when it does not fit.
 */
export function completeFrameChecksum(
  frame: Uint8Array,
  l3Offset: number,
  csumStart: number,
  csumOffset: number,
): boolean {
  const total = ipv4PacketLength(frame, l3Offset);
  const end = total < 0 ? frame.length : l3Offset + total;
  return completeChecksum(frame.subarray(0, end), csumStart, csumOffset);
}

let scratch = new Uint8Array(2048);

/**
 * Cuts the TCP/IPv4 packet at `l3Offset` of `frame` into segments of at most `gsoSize` payload
 * bytes with full checksums; the bytes before `l3Offset` (the Ethernet header) are repeated in
 * front of each. Calls `emit` once per segment (a view of a scratch buffer, valid only during
 * the call) and returns the number of segments, or 0 when the frame is not a TCP/IPv4 packet.
 */
export function segmentTcp(
  frame: Uint8Array,
  l3Offset: number,
  gsoSize: number,
  emit: (segment: Uint8Array) => void,
): number {
  const total = ipv4PacketLength(frame, l3Offset);
  if (total < 0 || !(gsoSize >= 1) || frame[l3Offset + 9] !== IPV4_PROTOCOL_TCP) return 0;
  const ipHeader = (frame[l3Offset]! & 0x0f) * 4;
  const l4 = l3Offset + ipHeader;
  if (ipHeader < 20 || l4 + 20 > l3Offset + total) return 0;
  const tcpHeader = (frame[l4 + 12]! >>> 4) * 4;
  const headers = ipHeader + tcpHeader;
  if (tcpHeader < 20 || headers > total) return 0;
  const payload = total - headers;
  const src = readU32(frame, l3Offset + 12);
  const dst = readU32(frame, l3Offset + 16);
  const seq = readU32(frame, l4 + 4);
  const id = (frame[l3Offset + 4]! << 8) | frame[l3Offset + 5]!;
  const flags = frame[l4 + 13]!;
  const count = Math.max(1, Math.ceil(payload / gsoSize));
  const need = l3Offset + headers + Math.min(gsoSize, payload);
  if (scratch.length < need) scratch = new Uint8Array(need);
  for (let i = 0; i < count; i++) {
    const from = i * gsoSize;
    const size = Math.min(gsoSize, payload - from);
    const out = scratch.subarray(0, l3Offset + headers + size);
    out.set(frame.subarray(0, l3Offset + headers));
    out.set(
      frame.subarray(l3Offset + headers + from, l3Offset + headers + from + size),
      l3Offset + headers,
    );
    const last = i === count - 1;
    fixIpHeader(out, l3Offset, ipHeader, headers + size, (id + i) & 0xffff);
    writeU32(out, l4 + 4, (seq + from) >>> 0);
    let f = flags;
    if (!last) f &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
    if (i > 0) f &= ~TCP_FLAG_CWR;
    out[l4 + 13] = f;
    const segment = out.subarray(l4);
    segment[16] = 0;
    segment[17] = 0;
    const sum = finish(
      sum16(segment, pseudoHeaderSum(src, dst, IPV4_PROTOCOL_TCP, segment.length)),
    );
    segment[16] = sum >>> 8;
    segment[17] = sum & 0xff;
    emit(out);
  }
  return count;
}

function fixIpHeader(out: Uint8Array, at: number, headerBytes: number, total: number, id: number) {
  out[at + 2] = total >>> 8;
  out[at + 3] = total & 0xff;
  out[at + 4] = id >>> 8;
  out[at + 5] = id & 0xff;
  out[at + 10] = 0;
  out[at + 11] = 0;
  const sum = internetChecksum(out.subarray(at, at + headerBytes));
  out[at + 10] = sum >>> 8;
  out[at + 11] = sum & 0xff;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 24;
  b[at + 1] = value >>> 16;
  b[at + 2] = value >>> 8;
  b[at + 3] = value;
}
