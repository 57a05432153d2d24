/**
 * The contract between the IPv4 layer and the transports on it (ICMP, UDP, TCP).
 *
 * Receive: `ipv4.ts` validates and reassembles, then calls `Transport.input` with the packet's
 * addresses and a view of its payload (valid only during the call).
 * Send: a transport calls `IpSender.send` with the payload length and a `write` callback; the IP
 * layer routes, resolves the next hop, and hands `write` a view of exactly that many bytes inside
 * the outgoing frame (or inside a pending buffer while ARP resolves, or a buffer it fragments),
 * plus the source address for the pseudo-header checksum. The payload is written once.
 * Time: the stack calls `poll(nowMs)` on every transport; each returns its next deadline.
 * @module
 */

import type { Ipv4Address } from "./wire/address.ts";

/** IP protocol numbers (IANA). */
export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;

/** What a transport learns about a received packet. */
export interface PacketInfo {
  src: Ipv4Address;
  dst: Ipv4Address;
  ttl: number;
  tos: number;
  /** The destination was a broadcast or multicast address (never answer with RST/ICMP). */
  nonUnicast: boolean;
}

/** Per-packet options for {@linkcode IpSender.send}. */
export interface SendOptions {
  ttl?: number;
  tos?: number;
  /** Set DF; a packet over the MTU is then dropped instead of fragmented. */
  dontFragment?: boolean;
  /** Source address override (e.g. 0.0.0.0 for a DHCP client before it has an address). */
  src?: Ipv4Address;
}

/** Fills a payload of the length given to `send`; `src` is the source address being used. */
export type PayloadWriter = (payload: Uint8Array, src: Ipv4Address) => void;

/** What transports need from the IPv4 layer. */
export interface IpSender {
  /** Our configured address, or 0 (0.0.0.0) while unconfigured. */
  readonly localAddress: Ipv4Address;
  /** The largest IP packet that goes to `dst` unfragmented (the link MTU). */
  mtuTo(dst: Ipv4Address): number;
  /**
   * Sends one IPv4 packet of `protocol` with a `length`-byte payload filled by `write`.
   * Returns false when it was dropped at once (no route, no address, queue full); true means
   * handed to the link or queued for ARP, not delivered.
   */
  send(
    dst: Ipv4Address,
    protocol: number,
    length: number,
    write: PayloadWriter,
    options?: SendOptions,
  ): boolean;
}

/** An ICMP error about a packet we sent, handed to the transport that sent it (RFC 1122 3.2.2). */
export interface IcmpErrorInfo {
  type: number;
  code: number;
  /** The original packet's destination and source. */
  dst: Ipv4Address;
  src: Ipv4Address;
  /** The first bytes of the original transport header (at least 8). */
  quoted: Uint8Array;
  /** Next-hop MTU for "fragmentation needed" (RFC 1191), else 0. */
  nextHopMtu: number;
}

/** A protocol above IPv4. */
export interface Transport {
  readonly protocol: number;
  /** One received packet; `payload` is valid only during the call. Never throws. */
  input(info: PacketInfo, payload: Uint8Array, nowMs: number): void;
  /** Runs due timers; returns the next deadline (absolute ms) or Infinity. */
  poll(nowMs: number): number;
  /** An ICMP error quoting a packet this transport sent. */
  icmpError?(error: IcmpErrorInfo, nowMs: number): void;
}
