/**
 * IPv4 and MAC addresses. Inside the stack an IPv4 address is an unsigned 32-bit integer in host
 * order (fast to compare, mask and hash); strings exist only at the API and in logs. A MAC is a
 * 6-byte Uint8Array.
 * @module
 */

/** An IPv4 address as an unsigned 32-bit integer (`192.168.0.1` is `0xc0a80001`). */
export type Ipv4Address = number;

/** 255.255.255.255 */
export const IPV4_BROADCAST: Ipv4Address = 0xffffffff;
/** 0.0.0.0 */
export const IPV4_ANY: Ipv4Address = 0;

/** ff:ff:ff:ff:ff:ff (shared: never write into it) */
export const MAC_BROADCAST: Uint8Array = new Uint8Array(6).fill(0xff);

/**
 * Parses dotted-quad text.
 *
 * @example
 * ```ts
 * parseIpv4("10.0.0.1"); // 0x0a000001
 * ```
 */
export function parseIpv4(text: string): Ipv4Address {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && +p <= 255)) {
    throw new TypeError(`Cannot parse IPv4 address '${text}': expected four decimal octets`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0) >>> 0;
}

/** True when `text` is dotted-quad IPv4. */
export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

/** Dotted-quad text of an address. */
export function formatIpv4(address: Ipv4Address): string {
  return `${address >>> 24}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}`;
}

/** The netmask of a prefix length (24 -> 255.255.255.0). */
export function prefixMask(prefixLength: number): Ipv4Address {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new RangeError(`Cannot use prefix length ${prefixLength}: expected 0-32`);
  }
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** The prefix length of a contiguous netmask, or -1 when the mask has holes. */
export function maskPrefixLength(mask: Ipv4Address): number {
  for (let n = 0; n <= 32; n++) if (prefixMask(n) === mask >>> 0) return n;
  return -1;
}

/** An address with its prefix length, as in `192.168.0.2/24`. */
export interface Ipv4Cidr {
  address: Ipv4Address;
  prefixLength: number;
}

/** Parses `a.b.c.d/n`. */
export function parseCidr(text: string): Ipv4Cidr {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  if (!match || Number(match[2]) > 32) {
    throw new TypeError(
      `Cannot parse address '${text}': expected IPv4 address and prefix length, e.g. 192.168.0.2/24`,
    );
  }
  return { address: parseIpv4(match[1]!), prefixLength: Number(match[2]) };
}

/** Reads a big-endian IPv4 address at `offset`. */
export function readIpv4(bytes: Uint8Array, offset: number): Ipv4Address {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!) >>> 0;
}

/** Writes a big-endian IPv4 address at `offset`. */
export function writeIpv4(bytes: Uint8Array, offset: number, address: Ipv4Address): void {
  bytes[offset] = address >>> 24;
  bytes[offset + 1] = (address >>> 16) & 255;
  bytes[offset + 2] = (address >>> 8) & 255;
  bytes[offset + 3] = address & 255;
}

/** Parses `aa:bb:cc:dd:ee:ff` (or with dashes). */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`Cannot parse MAC address '${text}': expected six hex octets`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** `aa:bb:cc:dd:ee:ff` text of a MAC. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** True when the 6 bytes at `offset` equal `mac`. */
export function macEquals(bytes: Uint8Array, offset: number, mac: Uint8Array): boolean {
  return bytes[offset] === mac[0] && bytes[offset + 1] === mac[1] &&
    bytes[offset + 2] === mac[2] && bytes[offset + 3] === mac[3] &&
    bytes[offset + 4] === mac[4] && bytes[offset + 5] === mac[5];
}

/** The Ethernet multicast MAC of an IPv4 multicast group (RFC 1112 6.4). */
export function ipv4MulticastMac(group: Ipv4Address): Uint8Array {
  return Uint8Array.of(0x01, 0x00, 0x5e, (group >>> 16) & 0x7f, (group >>> 8) & 255, group & 255);
}
