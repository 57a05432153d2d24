/**
 * The protocol core of mip-tap: a sans-I/O TCP/IP stack. Give it frames and the time; it gives
 * back frames through its link and tells when it next needs the time.
 *
 * @example
 * ```ts
 * import { MemoryLink, Stack, VirtualClock, parseMac, parseIpv4 } from "./mod.ts";
 * const clock = new VirtualClock();
 * const [a, b] = MemoryLink.pair({ clock });
 * const stack = new Stack({
 *   link: a,
 *   mac: parseMac("02:00:00:00:00:01"),
 *   ipv4: { address: parseIpv4("10.0.0.1"), prefixLength: 24, gateway: 0 },
 * });
 * ```
 * @module
 */

export * from "./clock.ts";
export * from "./counters.ts";
export * from "./events.ts";
export * from "./impair.ts";
export * from "./link.ts";
export * from "./random.ts";
export * from "./ring.ts";
export * from "./stack.ts";
export type { Ipv4Config } from "./ipv4.ts";
export type { PingOptions, PingResult } from "./icmp.ts";
export { UdpEndpoint, UdpLayer, UdpSocket } from "./udp.ts";
export type { DatagramMeta, UdpAddr } from "./udp.ts";
export * from "./wire/address.ts";
export { DhcpClient } from "./dhcp_client.ts";
export type { DhcpClientSnapshot, DhcpClientState, DhcpLease } from "./dhcp_client.ts";
export { DhcpServer } from "./dhcp_server.ts";
export { DnsResolver } from "./dns.ts";
export { SntpClient } from "./sntp.ts";
export * from "./lease_store.ts";
export { NetApi } from "./api.ts";
export type { Resolver } from "./api.ts";
export { TcpConn, TcpLayer, TcpListener } from "./tcp/mod.ts";
export type { TcpConfig, TcpState } from "./tcp/mod.ts";
