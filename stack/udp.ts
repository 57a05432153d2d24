/**
 * UDP (RFC 768): ports, a low-level endpoint for the stack's own services (DHCP, DNS, SNTP), and a
 * socket shaped like `Deno.DatagramConn` for applications.
 *
 * Invariants: the checksum is verified on input (zero means none) and always set on output. A
 * datagram for a port nobody holds gets ICMP port unreachable (rate-limited by ICMP), never for
 * broadcast or multicast. Each socket queues at most `maxQueued` datagrams and `maxQueuedBytes`;
 * past that datagrams are dropped and counted (`receive-queue-full`). Endpoint handlers run inside
 * `input`; application promises settle there too, never synchronously inside an app call.
 * @module
 */

import type { LayerCounters } from "./counters.ts";
import { type Random, randomInt } from "./random.ts";
import type { IpSender, PacketInfo, SendOptions, Transport } from "./transport.ts";
import { IpProtocol } from "./transport.ts";
import { formatIpv4, type Ipv4Address, parseIpv4 } from "./wire/address.ts";
import { emitUdp, parseUdp, UDP_HEADER_LENGTH } from "./wire/udp.ts";

/** IANA dynamic port range (RFC 6335), used for ephemeral ports. */
export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_LAST = 65535;
/** The largest payload of one datagram (65535 - IP header - UDP header). */
export const UDP_MAX_PAYLOAD = 65535 - 20 - UDP_HEADER_LENGTH;

/** Where a datagram came from and went to. */
export interface DatagramMeta {
  src: Ipv4Address;
  srcPort: number;
  dst: Ipv4Address;
  dstPort: number;
  ttl: number;
  nonUnicast: boolean;
}

/** Receives datagrams for an endpoint; `payload` is valid only during the call. */
export type DatagramHandler = (payload: Uint8Array, meta: DatagramMeta, nowMs: number) => void;

/** Sends ICMP port unreachable. */
export type PortUnreachable = (info: PacketInfo, protocol: number, datagram: Uint8Array) => void;

/** A bound port with a synchronous handler: what the stack's own services use. */
export class UdpEndpoint {
  readonly port: number;
  readonly #layer: UdpLayer;
  #open = true;

  /** @internal Created by {@linkcode UdpLayer.open}. */
  constructor(layer: UdpLayer, port: number) {
    this.#layer = layer;
    this.port = port;
  }

  /** Sends `payload` to `dst:dstPort`; false when it could not be handed to the link. */
  send(payload: Uint8Array, dst: Ipv4Address, dstPort: number, options?: SendOptions): boolean {
    if (!this.#open) return false;
    return this.#layer.sendFrom(this.port, payload, dst, dstPort, options);
  }

  /** Releases the port. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#layer.release(this.port);
  }
}

/** Bounds of a {@linkcode UdpSocket}'s receive queue. */
export interface UdpSocketOptions {
  maxQueued?: number;
  maxQueuedBytes?: number;
}

/** The UDP protocol of one stack. */
export class UdpLayer implements Transport {
  readonly protocol = IpProtocol.UDP;
  readonly #ip: IpSender;
  readonly #counters: LayerCounters;
  readonly #random: Random;
  readonly #handlers = new Map<number, DatagramHandler>();
  #unreachable: PortUnreachable | null = null;

  constructor(ip: IpSender, counters: LayerCounters, random: Random) {
    this.#ip = ip;
    this.#counters = counters;
    this.#random = random;
  }

  /** Where port-unreachable errors go (the ICMP layer). */
  set unreachable(sink: PortUnreachable) {
    this.#unreachable = sink;
  }

  /** Binds `port` (0 = an ephemeral port) to `handler`; throws `AddrInUse` when taken. */
  open(port: number, handler: DatagramHandler): UdpEndpoint {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`Cannot bind UDP port ${port}: expected 0-65535`);
    }
    const chosen = port === 0 ? this.#ephemeral() : port;
    if (this.#handlers.has(chosen)) {
      throw new Deno.errors.AddrInUse(`UDP port ${chosen} is already in use`);
    }
    this.#handlers.set(chosen, handler);
    return new UdpEndpoint(this, chosen);
  }

  /** A Deno-shaped datagram socket on `port` (0 = ephemeral). */
  listenDatagram(port: number, options: UdpSocketOptions = {}): UdpSocket {
    return new UdpSocket(this, port, options, this.#ip);
  }

  /** @internal */
  release(port: number): void {
    this.#handlers.delete(port);
  }

  /** @internal Sends one datagram from `srcPort`. */
  sendFrom(
    srcPort: number,
    payload: Uint8Array,
    dst: Ipv4Address,
    dstPort: number,
    options?: SendOptions,
  ): boolean {
    if (payload.length > UDP_MAX_PAYLOAD) return false;
    const length = UDP_HEADER_LENGTH + payload.length;
    const sent = this.#ip.send(dst, IpProtocol.UDP, length, (datagram, src) => {
      datagram.set(payload, UDP_HEADER_LENGTH);
      emitUdp(datagram, srcPort, dstPort, src, dst);
    }, options);
    if (sent) this.#counters.sent(length);
    return sent;
  }

  input(info: PacketInfo, payload: Uint8Array, nowMs: number): void {
    const datagram = parseUdp(payload, info.src, info.dst);
    if (typeof datagram === "string") {
      this.#counters.drop(datagram);
      return;
    }
    this.#counters.received(payload.length);
    const handler = this.#handlers.get(datagram.dstPort);
    if (handler === undefined) {
      this.#counters.drop("port-closed");
      if (!info.nonUnicast) this.#unreachable?.(info, IpProtocol.UDP, payload);
      return;
    }
    handler(datagram.payload, {
      src: info.src,
      srcPort: datagram.srcPort,
      dst: info.dst,
      dstPort: datagram.dstPort,
      ttl: info.ttl,
      nonUnicast: info.nonUnicast,
    }, nowMs);
  }

  poll(_nowMs: number): number {
    return Infinity;
  }

  /** @internal Counts a datagram a socket could not queue. */
  dropQueued(): void {
    this.#counters.drop("receive-queue-full");
  }

  #ephemeral(): number {
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    const start = randomInt(this.#random, 0, span - 1);
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_FIRST + ((start + i) % span);
      if (!this.#handlers.has(port)) return port;
    }
    throw new Deno.errors.AddrInUse("No free ephemeral UDP port");
  }
}

/** An address as Deno spells it. */
export interface UdpAddr {
  transport: "udp";
  hostname: string;
  port: number;
}

interface Waiter {
  resolve: (value: [Uint8Array, UdpAddr]) => void;
  reject: (error: Error) => void;
}

/** A datagram socket shaped like `Deno.DatagramConn`. */
export class UdpSocket implements AsyncIterable<[Uint8Array, UdpAddr]> {
  readonly addr: UdpAddr;
  readonly #endpoint: UdpEndpoint;
  readonly #layer: UdpLayer;
  readonly #queue: [Uint8Array, UdpAddr][] = [];
  readonly #waiters: Waiter[] = [];
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  #queuedBytes = 0;
  #closed = false;

  /** @internal Created by {@linkcode UdpLayer.listenDatagram}. */
  constructor(layer: UdpLayer, port: number, options: UdpSocketOptions, ip: IpSender) {
    this.#layer = layer;
    this.#maxQueued = options.maxQueued ?? 512;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 1 << 20;
    this.#endpoint = layer.open(port, (payload, meta) => this.#deliver(payload, meta));
    this.addr = {
      transport: "udp",
      hostname: formatIpv4(ip.localAddress),
      port: this.#endpoint.port,
    };
  }

  /** The next datagram and its sender. Copies into `p` when given (truncating, as Deno does). */
  receive(p?: Uint8Array): Promise<[Uint8Array, UdpAddr]> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Socket is closed"));
    const next = this.#queue.shift();
    if (next !== undefined) {
      this.#queuedBytes -= next[0].length;
      return Promise.resolve(copyInto(next, p));
    }
    const { promise, resolve, reject } = Promise.withResolvers<[Uint8Array, UdpAddr]>();
    this.#waiters.push({ resolve: (v) => resolve(copyInto(v, p)), reject });
    return promise;
  }

  /** Sends `p` to `addr`; resolves with the bytes sent. */
  send(p: Uint8Array, addr: { hostname: string; port: number }): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Socket is closed"));
    let dst: Ipv4Address;
    try {
      dst = parseIpv4(addr.hostname);
    } catch (error) {
      return Promise.reject(error);
    }
    if (p.length > UDP_MAX_PAYLOAD) {
      return Promise.reject(new RangeError(`Cannot send a ${p.length}-byte datagram: too long`));
    }
    if (!this.#endpoint.send(p, dst, addr.port)) {
      return Promise.reject(new Deno.errors.NetworkUnreachable(`Cannot send to ${addr.hostname}`));
    }
    return Promise.resolve(p.length);
  }

  /** Closes the socket; pending receives reject with `BadResource`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#endpoint.close();
    for (const w of this.#waiters.splice(0)) w.reject(new Deno.errors.BadResource("Socket closed"));
    this.#queue.length = 0;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<[Uint8Array, UdpAddr]> {
    while (!this.#closed) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
    }
  }

  #deliver(payload: Uint8Array, meta: DatagramMeta): void {
    const item: [Uint8Array, UdpAddr] = [
      payload.slice(),
      { transport: "udp", hostname: formatIpv4(meta.src), port: meta.srcPort },
    ];
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(item);
      return;
    }
    if (
      this.#queue.length >= this.#maxQueued ||
      this.#queuedBytes + payload.length > this.#maxQueuedBytes
    ) {
      this.#layer.dropQueued();
      return;
    }
    this.#queue.push(item);
    this.#queuedBytes += payload.length;
  }
}

function copyInto(item: [Uint8Array, UdpAddr], p?: Uint8Array): [Uint8Array, UdpAddr] {
  if (p === undefined) return item;
  const n = Math.min(p.length, item[0].length);
  p.set(item[0].subarray(0, n));
  return [p.subarray(0, n), item[1]];
}
