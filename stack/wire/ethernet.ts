/**
 * Ethernet II frames (IEEE 802.3 with an EtherType; no preamble or FCS: the TAP strips them).
 *
 * `EthernetFrame.check` is the one place the length is validated; after it, every accessor reads
 * inside the buffer. `emitEthernet` writes the 14-byte header in front of a payload that is already
 * in place.
 * @module
 */

import { macEquals } from "./address.ts";

/** Destination, source, EtherType. */
export const ETHERNET_HEADER_LENGTH = 14;
/** The largest payload of an untagged frame. */
export const ETHERNET_MAX_PAYLOAD = 1500;

/** EtherType values the stack knows. */
export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd } as const;

/** A checked view over an Ethernet II frame. */
export class EthernetFrame {
  readonly bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** A view over `bytes`, or null when they are too short to be a frame. */
  static check(bytes: Uint8Array): EthernetFrame | null {
    return bytes.length >= ETHERNET_HEADER_LENGTH ? new EthernetFrame(bytes) : null;
  }

  /** The destination MAC (a view). */
  get destination(): Uint8Array {
    return this.bytes.subarray(0, 6);
  }

  /** The source MAC (a view). */
  get source(): Uint8Array {
    return this.bytes.subarray(6, 12);
  }

  get etherType(): number {
    return (this.bytes[12]! << 8) | this.bytes[13]!;
  }

  /** Everything after the header (a view). */
  get payload(): Uint8Array {
    return this.bytes.subarray(ETHERNET_HEADER_LENGTH);
  }

  /** The destination is `mac`. */
  isFor(mac: Uint8Array): boolean {
    return macEquals(this.bytes, 0, mac);
  }

  /** The group bit of the destination is set (broadcast or multicast). */
  get isGroup(): boolean {
    return (this.bytes[0]! & 1) === 1;
  }

  /** The destination is ff:ff:ff:ff:ff:ff. */
  get isBroadcast(): boolean {
    const b = this.bytes;
    return (b[0]! & b[1]! & b[2]! & b[3]! & b[4]! & b[5]!) === 0xff;
  }
}

/** Writes the 14-byte header at the start of `frame`. */
export function emitEthernet(
  frame: Uint8Array,
  destination: Uint8Array,
  source: Uint8Array,
  etherType: number,
): void {
  frame.set(destination.subarray(0, 6), 0);
  frame.set(source.subarray(0, 6), 6);
  frame[12] = etherType >>> 8;
  frame[13] = etherType & 0xff;
}
