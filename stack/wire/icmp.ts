/**
 * ICMP for IPv4 (RFC 792): echo, and the error messages that quote an offending packet.
 * @module
 */

import { internetChecksum } from "./checksum.ts";

/** Type, code, checksum, and the 4-byte rest of header. */
export const ICMP_HEADER_LENGTH = 8;

/** ICMP types (RFC 792). */
export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;

/** Destination unreachable codes (RFC 792, RFC 1191). */
export const UnreachableCode = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAGMENTATION_NEEDED: 4,
} as const;

/** A parsed ICMP message; `body` is a view of what follows the 8-byte header. */
export interface IcmpMessage {
  type: number;
  code: number;
  /** Echo: identifier. Other types: the high half of the rest-of-header word. */
  identifier: number;
  /** Echo: sequence number; fragmentation needed: next-hop MTU. */
  sequence: number;
  body: Uint8Array;
}

/** Types whose body quotes the packet that caused them. */
export function isIcmpError(type: number): boolean {
  return type === IcmpType.DEST_UNREACHABLE || type === IcmpType.SOURCE_QUENCH ||
    type === IcmpType.REDIRECT || type === IcmpType.TIME_EXCEEDED ||
    type === IcmpType.PARAMETER_PROBLEM;
}

/** Parses and checks an ICMP message, or returns `truncated` / `bad-checksum`. */
export function parseIcmp(bytes: Uint8Array): IcmpMessage | string {
  if (bytes.length < ICMP_HEADER_LENGTH) return "truncated";
  if (internetChecksum(bytes) !== 0) return "bad-checksum";
  return {
    type: bytes[0]!,
    code: bytes[1]!,
    identifier: (bytes[4]! << 8) | bytes[5]!,
    sequence: (bytes[6]! << 8) | bytes[7]!,
    body: bytes.subarray(ICMP_HEADER_LENGTH),
  };
}

/**
 * Writes the 8-byte header at the start of `message` (whose body is already in place after it)
 * and the checksum over the whole message.
 */
export function emitIcmp(
  message: Uint8Array,
  type: number,
  code: number,
  identifier: number,
  sequence: number,
): void {
  message[0] = type;
  message[1] = code;
  message[2] = 0;
  message[3] = 0;
  message[4] = identifier >>> 8;
  message[5] = identifier & 0xff;
  message[6] = sequence >>> 8;
  message[7] = sequence & 0xff;
  const sum = internetChecksum(message);
  message[2] = sum >>> 8;
  message[3] = sum & 0xff;
}
