/**
 * ARP for IPv4 over Ethernet (RFC 826): the only hardware/protocol pair the stack speaks, so a
 * packet with other types or lengths is rejected by `parseArp`.
 * @module
 */

import { readIpv4, writeIpv4 } from "./address.ts";
import type { Ipv4Address } from "./address.ts";

/** Bytes of an Ethernet/IPv4 ARP packet. */
export const ARP_LENGTH = 28;

/** ARP opcodes (RFC 826). */
export const ArpOperation = { REQUEST: 1, REPLY: 2 } as const;

/** A parsed ARP packet; MACs are views into the source buffer. */
export interface ArpPacket {
  operation: number;
  senderMac: Uint8Array;
  senderIp: Ipv4Address;
  targetMac: Uint8Array;
  targetIp: Ipv4Address;
}

/** Parses an ARP packet, or returns the reason it is not one we accept. */
export function parseArp(bytes: Uint8Array): ArpPacket | string {
  if (bytes.length < ARP_LENGTH) return "truncated";
  const htype = (bytes[0]! << 8) | bytes[1]!;
  const ptype = (bytes[2]! << 8) | bytes[3]!;
  if (htype !== 1 || ptype !== 0x0800 || bytes[4] !== 6 || bytes[5] !== 4) return "unsupported";
  const operation = (bytes[6]! << 8) | bytes[7]!;
  if (operation !== ArpOperation.REQUEST && operation !== ArpOperation.REPLY) {
    return "bad-operation";
  }
  return {
    operation,
    senderMac: bytes.subarray(8, 14),
    senderIp: readIpv4(bytes, 14),
    targetMac: bytes.subarray(18, 24),
    targetIp: readIpv4(bytes, 24),
  };
}

/** Writes `packet` at the start of `buffer`; returns {@linkcode ARP_LENGTH}. */
export function emitArp(buffer: Uint8Array, packet: ArpPacket): number {
  buffer[0] = 0;
  buffer[1] = 1;
  buffer[2] = 0x08;
  buffer[3] = 0x00;
  buffer[4] = 6;
  buffer[5] = 4;
  buffer[6] = packet.operation >>> 8;
  buffer[7] = packet.operation & 0xff;
  buffer.set(packet.senderMac.subarray(0, 6), 8);
  writeIpv4(buffer, 14, packet.senderIp);
  buffer.set(packet.targetMac.subarray(0, 6), 18);
  writeIpv4(buffer, 24, packet.targetIp);
  return ARP_LENGTH;
}
