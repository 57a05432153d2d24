/**
 * The IPv4 layer (RFC 791, RFC 1122 3.2.1): input validation and demultiplexing, routing to an
 * on-link neighbour or the gateway, fragmentation on send and reassembly on receive.
 *
 * Invariants: a packet that fails validation is counted by reason and dropped before any state is
 * touched. A transport's `write` callback runs synchronously inside `send` (into the outgoing frame
 * when the next hop is resolved, else into a buffer that waits for ARP or is cut into fragments),
 * so payload views handed in by `input` may be echoed straight back. The layer never sends with
 * TTL 0 and never answers a broadcast, multicast or non-initial fragment with an ICMP error.
 *
 * Offloads: a transport may write a partial checksum and ask for TSO (`Ipv4SendOptions.offload`).
 * When the packet goes straight to an offloading link it leaves as it is (a TSO super-packet
 * may exceed the MTU: it is never fragmented); on every other path (ARP pending, a link without
 * offloads, fragmentation) the checksum is completed here and a super-packet cut by the
 * reference segmenter, so what leaves is always correct. On receive, a checksum the link
 * verified, or left partial for a TCP header exactly where this packet's TCP header is, is
 * trusted (`ReceivedInfo.checksumVerified`); any other partial checksum is completed in place
 * and verified by the transport as usual.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ArpLayer } from "./arp.ts";
import type { LayerCounters } from "./counters.ts";
import { ETHERNET_OVERHEAD, type LinkCapabilities, MAX_IPV4_PACKET, type RxMeta } from "./link.ts";
import { Reassembler, type ReassemblyOptions } from "./reassembly.ts";
import type { IpSender, PacketInfo, PayloadWriter, SendOptions, Transport } from "./transport.ts";
import {
  formatIpv4,
  type Ipv4Address,
  ipv4MulticastMac,
  MAC_BROADCAST,
  prefixMask,
} from "./wire/address.ts";
import { EtherType } from "./wire/ethernet.ts";
import {
  emitIpv4,
  IPV4_DEFAULT_TTL,
  IPV4_HEADER_LENGTH,
  type Ipv4HeaderFields,
  Ipv4Packet,
} from "./wire/ipv4.ts";
import { completeChecksum, segmentTcp } from "./tcp/tso.ts";

const log = getLogger(["mip", "ipv4"]);

const TCP = 6;
/** Where the checksum sits in a TCP header (RFC 9293 3.1). */
const TCP_CHECKSUM_OFFSET = 16;

/** An interface address. */
export interface Ipv4Config {
  address: Ipv4Address;
  prefixLength: number;
  /** Default router, or 0 for none. */
  gateway: Ipv4Address;
}

/** An outgoing packet's offload for the link; offsets count from the IP header. */
export interface PacketOffload {
  csumStart: number;
  csumOffset: number;
  /** Segment payload bytes of a TSO super-packet; 0 for a packet that goes as it is. */
  gsoSize: number;
  /** IP + transport header bytes. */
  headerBytes: number;
}

/** A received packet's offload state ({@linkcode RxMeta} with offsets from the IP header). */
export type RxOffload = RxMeta;

/** What a transport asks of IPv4 for a packet whose checksum it left partial. */
export interface TransportOffload {
  /** The checksum field's offset in the transport header (16 for TCP). */
  csumOffset: number;
  /** Segment payload bytes when the packet may be a TSO super-packet; 0 for none. */
  gsoSize: number;
  /** Transport header bytes (every segment repeats them). */
  headerBytes: number;
}

/** {@linkcode SendOptions} plus an offload request. */
export interface Ipv4SendOptions extends SendOptions {
  offload?: TransportOffload;
}

/** What a transport learns about a received packet, offload state included. */
export interface ReceivedInfo extends PacketInfo {
  /** The link verified the transport checksum, or it was left partial by a local sender. */
  checksumVerified: boolean;
  /** Payload bytes per original segment of a coalesced super-packet; 0 for a plain packet. */
  gsoSize: number;
}

/** Sends one Ethernet frame of `length` payload bytes filled by `write`, maybe offloaded. */
export type OffloadEthernetOutput = (
  destination: Uint8Array,
  etherType: number,
  length: number,
  write: (payload: Uint8Array) => void,
  offload?: PacketOffload,
) => boolean;

/** Receives packets for which no transport is registered, and reassembly timeouts. */
export interface Ipv4ErrorSink {
  protocolUnreachable(packet: Uint8Array, info: PacketInfo): void;
  reassemblyTimeout(dst: Ipv4Address, quote: Uint8Array): void;
}

/** The IPv4 layer of one interface. */
export class Ipv4Layer implements IpSender {
  readonly #counters: LayerCounters;
  readonly #arp: ArpLayer;
  readonly #output: OffloadEthernetOutput;
  readonly #mtu: number;
  readonly #txChecksum: boolean;
  readonly #tso: boolean;
  /** Largest packet the link takes as a TSO super-packet. */
  readonly #maxPacket: number;
  readonly #txOffload: PacketOffload = { csumStart: 0, csumOffset: 0, gsoSize: 0, headerBytes: 0 };
  readonly #reassembler: Reassembler;
  readonly #transports = new Map<number, Transport>();
  #config: Ipv4Config | null = null;
  #mask = 0;
  #identification: number;
  #nowMs = 0;
  #multicast = new Set<Ipv4Address>([0xe0000001]); // 224.0.0.1 all-hosts (RFC 1112)
  errors: Ipv4ErrorSink | null = null;

  constructor(
    arp: ArpLayer,
    output: OffloadEthernetOutput,
    options: {
      counters: LayerCounters;
      mtu: number;
      firstId: number;
      reassembly?: Partial<ReassemblyOptions>;
      /** What the link offloads; default nothing. */
      capabilities?: LinkCapabilities;
    },
  ) {
    this.#arp = arp;
    this.#output = output;
    this.#counters = options.counters;
    this.#mtu = options.mtu;
    const caps = options.capabilities;
    this.#txChecksum = caps?.txChecksum ?? false;
    this.#tso = this.#txChecksum && (caps?.tso ?? false);
    this.#maxPacket = this.#tso
      ? Math.min(MAX_IPV4_PACKET, caps!.maxFrameBytes - ETHERNET_OVERHEAD)
      : options.mtu;
    this.#identification = options.firstId & 0xffff;
    this.#reassembler = new Reassembler(options.counters, options.reassembly);
  }

  /** Registers the handler of an IP protocol number. */
  register(transport: Transport): void {
    this.#transports.set(transport.protocol, transport);
  }

  /** The current interface address, or null while unconfigured. */
  get config(): Ipv4Config | null {
    return this.#config;
  }

  set config(config: Ipv4Config | null) {
    this.#config = config;
    this.#mask = config === null ? 0 : prefixMask(config.prefixLength);
    this.#arp.address = config?.address ?? 0;
  }

  get localAddress(): Ipv4Address {
    return this.#config?.address ?? 0;
  }

  /** Fragments and datagrams held for reassembly. */
  get reassembly(): { datagrams: number; bytes: number } {
    return { datagrams: this.#reassembler.size, bytes: this.#reassembler.bytes };
  }

  mtuTo(_dst: Ipv4Address): number {
    return this.#mtu;
  }

  /** Accepts frames for a multicast group. */
  joinGroup(group: Ipv4Address): void {
    this.#multicast.add(group);
  }

  /** True when a group MAC (01:00:5e:...) maps from a group we joined (RFC 1112 6.4). */
  acceptsGroupMac(frame: Uint8Array): boolean {
    const low = ((frame[3]! & 0x7f) << 16) | (frame[4]! << 8) | frame[5]!;
    for (const group of this.#multicast) if ((group & 0x7fffff) === low) return true;
    return false;
  }

  /** True when `dst` is ours, broadcast, or a group we joined. */
  accepts(dst: Ipv4Address): boolean {
    const c = this.#config;
    if (dst === 0xffffffff || this.#multicast.has(dst)) return true;
    if (c === null) return true; // unconfigured: take unicast too (a DHCP offer may be unicast)
    return dst === c.address ||
      (this.#mask !== 0xffffffff && dst === (c.address | ~this.#mask) >>> 0);
  }

  /** Handles one received IPv4 packet (the Ethernet payload); `rx` from an offloading link. */
  input(bytes: Uint8Array, nowMs: number, rx?: RxOffload): void {
    this.#nowMs = nowMs;
    const packet = Ipv4Packet.check(bytes);
    if (typeof packet === "string") {
      this.#counters.drop(packet);
      return;
    }
    const dst = packet.dst;
    if (!this.accepts(dst)) {
      this.#counters.drop("not-for-us");
      return;
    }
    const src = packet.src;
    if (src === 0xffffffff || (src >>> 28) === 0xe || this.#isLocalBroadcast(src)) {
      this.#counters.drop("bad-source"); // RFC 1122 3.2.1.3
      return;
    }
    this.#counters.received(packet.totalLength);
    const verified = rx === undefined || rx.checksum === "unknown"
      ? false
      : this.#checkOffload(packet, rx);
    if (verified === null) return;
    const nonUnicast = !this.#isUnicast(dst);
    if (packet.isFragment) {
      const whole = this.#reassembler.add(packet, nowMs);
      if (whole === null) return;
      this.#deliver(
        {
          src,
          dst,
          ttl: whole.ttl,
          tos: whole.tos,
          nonUnicast,
          checksumVerified: false,
          gsoSize: 0,
        },
        whole.protocol,
        whole.payload,
        null,
      );
      return;
    }
    this.#deliver(
      {
        src,
        dst,
        ttl: packet.ttl,
        tos: packet.tos,
        nonUnicast,
        checksumVerified: verified,
        gsoSize: rx?.gsoSize ?? 0,
      },
      packet.protocol,
      packet.payload,
      packet.bytes,
    );
  }

  /**
   * Whether the transport may trust the checksum of an offloaded packet: a verified one (not a
   * fragment), or a partial one exactly over this packet's TCP header. Any other partial
   * checksum is completed in place (false: verify as usual); null when its offsets do not fit
   * the packet (dropped and counted).
   */
  #checkOffload(packet: Ipv4Packet, rx: RxOffload): boolean | null {
    if (rx.checksum === "verified") return !packet.isFragment;
    if (
      packet.protocol === TCP && !packet.isFragment && rx.csumStart === packet.headerLength &&
      rx.csumOffset === TCP_CHECKSUM_OFFSET
    ) {
      return true;
    }
    if (completeChecksum(packet.bytes, rx.csumStart, rx.csumOffset)) return false;
    this.#counters.drop("bad-offload");
    return null;
  }

  send(
    dst: Ipv4Address,
    protocol: number,
    length: number,
    write: PayloadWriter,
    options: Ipv4SendOptions = {},
  ): boolean {
    const src = options.src ?? this.localAddress;
    const nextHop = this.#route(dst);
    if (nextHop === null) {
      this.#counters.drop("no-route");
      return false;
    }
    const total = IPV4_HEADER_LENGTH + length;
    const offload = options.offload;
    const tso = offload !== undefined && offload.gsoSize > 0 && this.#tso &&
      total <= this.#maxPacket;
    const header = {
      tos: options.tos ?? 0,
      totalLength: total,
      identification: this.#nextId(),
      dontFragment: options.dontFragment ?? false,
      ttl: Math.max(1, options.ttl ?? IPV4_DEFAULT_TTL),
      protocol,
      src,
      dst,
    };
    if (total <= this.#mtu || tso) {
      const mac = this.#macFor(nextHop);
      if (mac !== null) return this.#sendNow(mac, header, write, offload);
      const packet = new Uint8Array(total);
      emitIpv4(packet, 0, header);
      write(packet.subarray(IPV4_HEADER_LENGTH), src);
      return this.#sendFinished(nextHop, packet, offload);
    }
    if (header.dontFragment) {
      this.#counters.drop("too-big");
      return false;
    }
    const payload = new Uint8Array(length);
    write(payload, src);
    if (offload !== undefined && !completeChecksum(payload, 0, offload.csumOffset)) {
      this.#counters.drop("bad-offload");
      return false;
    }
    return this.#fragment(nextHop, header, payload);
  }

  /** Builds the packet straight into the outgoing frame; the link finishes an offload. */
  #sendNow(
    mac: Uint8Array,
    header: Ipv4HeaderFields,
    write: PayloadWriter,
    offload: TransportOffload | undefined,
  ): boolean {
    const total = header.totalLength;
    let linkOffload: PacketOffload | undefined;
    if (offload !== undefined && this.#txChecksum) {
      linkOffload = this.#txOffload;
      linkOffload.csumStart = IPV4_HEADER_LENGTH;
      linkOffload.csumOffset = offload.csumOffset;
      linkOffload.gsoSize = total > this.#mtu ? offload.gsoSize : 0;
      linkOffload.headerBytes = IPV4_HEADER_LENGTH + offload.headerBytes;
    }
    const sent = this.#output(mac, EtherType.IPV4, total, (packet) => {
      emitIpv4(packet, 0, header);
      const payload = packet.subarray(IPV4_HEADER_LENGTH, total);
      write(payload, header.src);
      if (offload !== undefined && linkOffload === undefined) {
        completeChecksum(payload, 0, offload.csumOffset);
      }
    }, linkOffload);
    if (sent) {
      this.#counters.sent(total);
      if (linkOffload !== undefined && linkOffload.gsoSize > 0) {
        // The link numbers the segments id, id+1, ... (RFC 6864 4.1: keep IDs unique).
        const payload = total - linkOffload.headerBytes;
        this.#identification = (this.#identification + Math.ceil(payload / offload!.gsoSize) - 1) &
          0xffff;
      }
    } else {
      this.#counters.drop("link-full");
    }
    return sent;
  }

  /** A packet built in a buffer (ARP pending): finishes its offload in software, then sends. */
  #sendFinished(
    nextHop: Ipv4Address,
    packet: Uint8Array,
    offload: TransportOffload | undefined,
  ): boolean {
    if (offload === undefined) return this.#sendPacket(nextHop, packet);
    if (packet.length > this.#mtu && offload.gsoSize > 0) {
      let ok = true;
      const n = segmentTcp(packet, 0, offload.gsoSize, (segment) => {
        ok = this.#sendPacket(nextHop, segment) && ok;
      });
      this.#identification = (this.#identification + Math.max(0, n - 1)) & 0xffff;
      return n > 0 && ok;
    }
    if (!completeChecksum(packet, IPV4_HEADER_LENGTH, offload.csumOffset)) {
      this.#counters.drop("bad-offload");
      return false;
    }
    return this.#sendPacket(nextHop, packet);
  }

  /** Expires reassembly; returns the next deadline. */
  poll(nowMs: number): number {
    this.#nowMs = nowMs;
    const { expired, nextMs } = this.#reassembler.expire(nowMs);
    for (const e of expired) {
      if (e.quote !== null) this.errors?.reassemblyTimeout(e.src, e.quote);
    }
    return nextMs;
  }

  /** Updates the time used by `send` (the stack calls it before handing time to transports). */
  set nowMs(nowMs: number) {
    this.#nowMs = nowMs;
  }

  #deliver(
    info: ReceivedInfo,
    protocol: number,
    payload: Uint8Array,
    whole: Uint8Array | null,
  ): void {
    const transport = this.#transports.get(protocol);
    if (transport === undefined) {
      this.#counters.drop("unknown-protocol");
      if (!info.nonUnicast && whole !== null) this.errors?.protocolUnreachable(whole, info);
      return;
    }
    transport.input(info, payload, this.#nowMs);
  }

  /** Cuts `payload` into fragments of at most the MTU (RFC 791 3.2, offsets in 8-byte units). */
  #fragment(
    nextHop: Ipv4Address,
    header: Parameters<typeof emitIpv4>[2],
    payload: Uint8Array,
  ): boolean {
    const step = ((this.#mtu - IPV4_HEADER_LENGTH) >>> 3) << 3;
    let ok = true;
    for (let offset = 0; offset < payload.length; offset += step) {
      const chunk = payload.subarray(offset, Math.min(payload.length, offset + step));
      const packet = new Uint8Array(IPV4_HEADER_LENGTH + chunk.length);
      emitIpv4(packet, 0, {
        ...header,
        totalLength: packet.length,
        fragmentOffset: offset,
        moreFragments: offset + step < payload.length,
      });
      packet.set(chunk, IPV4_HEADER_LENGTH);
      ok = this.#sendPacket(nextHop, packet) && ok;
    }
    return ok;
  }

  #sendPacket(nextHop: Ipv4Address, packet: Uint8Array): boolean {
    const mac = this.#macFor(nextHop);
    if (mac === null) {
      const queued = this.#arp.enqueue(nextHop, packet, this.#nowMs);
      if (queued) this.#counters.sent(packet.length);
      return queued;
    }
    const sent = this.#output(mac, EtherType.IPV4, packet.length, (p) => p.set(packet));
    if (sent) this.#counters.sent(packet.length);
    else this.#counters.drop("link-full");
    return sent;
  }

  /** Broadcast and multicast map to fixed MACs; unicast asks ARP. */
  #macFor(nextHop: Ipv4Address): Uint8Array | null {
    if (nextHop === 0xffffffff || this.#isLocalBroadcast(nextHop)) return MAC_BROADCAST;
    if ((nextHop >>> 28) === 0xe) return ipv4MulticastMac(nextHop);
    return this.#arp.lookup(nextHop, this.#nowMs);
  }

  /** The next hop for `dst`, or null when there is no route. */
  #route(dst: Ipv4Address): Ipv4Address | null {
    if (dst === 0xffffffff || (dst >>> 28) === 0xe) return dst;
    const c = this.#config;
    if (c === null) return null;
    if (((dst ^ c.address) & this.#mask) === 0) return dst;
    if (c.gateway !== 0) return c.gateway;
    log.debug("No route to {dst}", { dst: formatIpv4(dst) });
    return null;
  }

  #isLocalBroadcast(address: Ipv4Address): boolean {
    const c = this.#config;
    return c !== null && this.#mask !== 0xffffffff && address === (c.address | ~this.#mask) >>> 0;
  }

  #isUnicast(dst: Ipv4Address): boolean {
    return dst !== 0xffffffff && (dst >>> 28) !== 0xe && !this.#isLocalBroadcast(dst);
  }

  #nextId(): number {
    this.#identification = (this.#identification + 1) & 0xffff;
    return this.#identification;
  }
}
