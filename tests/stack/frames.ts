/** Builders of raw frames for tests that feed a stack crafted input. */

import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { emitEthernet, EtherType } from "../../stack/wire/ethernet.ts";
import { emitIpv4 } from "../../stack/wire/ipv4.ts";
import { emitUdp } from "../../stack/wire/udp.ts";

/** An Ethernet frame around an IPv4 packet. */
export function ethernetIpv4(dstMac: string, srcMac: string, packet: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + packet.length);
  emitEthernet(frame, parseMac(dstMac), parseMac(srcMac), EtherType.IPV4);
  frame.set(packet, 14);
  return frame;
}

/** A UDP datagram (header + payload) with a valid checksum. */
export function udpDatagram(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
): Uint8Array {
  const datagram = new Uint8Array(8 + payload.length);
  datagram.set(payload, 8);
  emitUdp(datagram, srcPort, dstPort, parseIpv4(src), parseIpv4(dst));
  return datagram;
}

/** One IPv4 fragment of `payload` covering [offset, offset + length). */
export function fragment(
  src: string,
  dst: string,
  protocol: number,
  id: number,
  payload: Uint8Array,
  offset: number,
  length: number,
  more: boolean,
): Uint8Array {
  const data = payload.subarray(offset, offset + length);
  const packet = new Uint8Array(20 + data.length);
  emitIpv4(packet, 0, {
    totalLength: packet.length,
    identification: id,
    protocol,
    src: parseIpv4(src),
    dst: parseIpv4(dst),
    fragmentOffset: offset,
    moreFragments: more,
  });
  packet.set(data, 20);
  return packet;
}

/** Deterministic filler bytes. */
export function pattern(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** The parsed value, or a thrown Error with the parser's reason (narrows `T | string`). */
export function parsed<T>(value: T | string, what = "value"): T {
  if (typeof value === "string") throw new Error(`Expected a valid ${what}, got '${value}'`);
  return value;
}
