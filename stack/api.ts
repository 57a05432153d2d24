/**
 * The public socket API of a stack, shaped like Deno's own: `listen` / `connect` give
 * `Deno.TcpListener` / `Deno.TcpConn`-shaped objects, `listenDatagram` a `Deno.DatagramConn`-
 * shaped socket, and `resolve` looks names up through the stack's resolver. Code written against
 * `Deno.listen` and `Deno.connect` runs on the user-space stack by swapping the object it calls.
 *
 * @example
 * ```ts
 * const net = new NetApi(stack);
 * const listener = net.listen({ port: 80 });
 * for await (const conn of listener) conn.close();
 * ```
 * @module
 */

import type { Stack } from "./stack.ts";
import type { TcpConn, TcpListener } from "./tcp/mod.ts";
import type { UdpSocket } from "./udp.ts";
import { formatIpv4, type Ipv4Address, isIpv4, parseIpv4 } from "./wire/address.ts";

/** What resolves names (the DNS resolver service). */
export interface Resolver {
  resolve(name: string): Promise<Ipv4Address[]>;
}

/** Deno.listen / Deno.connect / Deno.listenDatagram / Deno.resolveDns, on one stack. */
export class NetApi {
  readonly #stack: Stack;
  /** Set when a resolver service runs; `connect` to a name and `resolve` need it. */
  resolver: Resolver | null;

  constructor(stack: Stack, resolver: Resolver | null = null) {
    this.#stack = stack;
    this.resolver = resolver;
  }

  /** A TCP listener on `port` (0 = ephemeral); throws `AddrInUse` when taken. */
  listen(options: { port: number; hostname?: string; transport?: "tcp" }): TcpListener {
    const listener = this.#stack.tcp.listen({ port: options.port, hostname: options.hostname });
    this.#stack.requestPoll();
    return listener;
  }

  /** Opens a TCP connection; a host name is resolved first. */
  async connect(options: { hostname: string; port: number; transport?: "tcp" }): Promise<TcpConn> {
    const address = isIpv4(options.hostname)
      ? options.hostname
      : formatIpv4((await this.resolve(options.hostname))[0]!);
    const conn = this.#stack.tcp.connect({ hostname: address, port: options.port });
    this.#stack.requestPoll();
    return await conn;
  }

  /** A UDP socket on `port` (0 = ephemeral). */
  listenDatagram(options: { port: number; hostname?: string; transport: "udp" }): UdpSocket {
    return this.#stack.udp.listenDatagram(options.port);
  }

  /** The IPv4 addresses of `name` (a dotted quad resolves to itself). */
  async resolve(name: string): Promise<Ipv4Address[]> {
    if (isIpv4(name)) return [parseIpv4(name)];
    if (this.resolver === null) {
      throw new Deno.errors.NotConnected(`Cannot resolve '${name}': no DNS resolver is running`);
    }
    const addresses = await this.resolver.resolve(name);
    this.#stack.requestPoll();
    if (addresses.length === 0) throw new Deno.errors.NotFound(`No IPv4 address for '${name}'`);
    return addresses;
  }
}
