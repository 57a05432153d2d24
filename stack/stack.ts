/**
 * Stack: one network interface with its protocols, sans-I/O.
 *
 * Frames come in through `input(frame, nowMs)` and leave through the link's `acquire`/`commit`;
 * `poll(nowMs)` runs every due timer and returns the next deadline. Nothing here waits, reads a
 * clock or touches the OS. Invariants: `input` and `poll` never throw (a bug inside a protocol is
 * caught, logged and counted as `internal-error`); frames not for our MAC, broadcast or a joined
 * group are dropped and counted; every outgoing frame is at least 60 bytes (padded with zeros).
 *
 * Offloads: the link's {@linkcode LinkCapabilities} are read once, at construction. When the
 * link takes partial checksums and TSO, TCP builds super-segments and leaves checksums partial,
 * and the frames leave with a {@linkcode TxOffload}; a received frame's {@linkcode RxMeta}
 * travels down to IPv4 (offsets made relative to the IP header), which decides what to trust.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ArpLayer, type ArpOptions } from "./arp.ts";
import { createCounters, type StackCounters } from "./counters.ts";
import { EventLog } from "./events.ts";
import { IcmpLayer, type PingOptions, type PingResult } from "./icmp.ts";
import { type Ipv4Config, Ipv4Layer, type PacketOffload, type RxOffload } from "./ipv4.ts";
import {
  type FrameSink,
  type LinkCapabilities,
  plainCapabilities,
  type RxMeta,
  type TxOffload,
} from "./link.ts";
import { CryptoRandom, type Random } from "./random.ts";
import type { ReassemblyOptions } from "./reassembly.ts";
import type { Transport } from "./transport.ts";
import { UdpLayer } from "./udp.ts";
import { type TcpConfig, TcpLayer } from "./tcp/mod.ts";
import { formatIpv4, type Ipv4Address, macEquals, parseIpv4 } from "./wire/address.ts";
import { emitEthernet, ETHERNET_HEADER_LENGTH, EthernetFrame, EtherType } from "./wire/ethernet.ts";

const log = getLogger(["mip", "stack"]);

/** The smallest Ethernet frame without FCS (IEEE 802.3: 64 bytes with it). */
const MIN_FRAME = 60;
/**
 * TCP socket buffers (so the largest window) on a link that takes TSO super-frames: it moves
 * 10+ Gb/s, and at that rate the bytes in flight across a pump turn or two (the
 * bandwidth-delay product here) exceed TcpConfig's 256 KiB default. A config that sets the
 * buffers wins.
 */
const OFFLOAD_SOCKET_BUFFER_BYTES = 1 << 20;
/** RFC 5227 2.3: ANNOUNCE_NUM 2, ANNOUNCE_INTERVAL 2 s. */
const ANNOUNCE_INTERVAL_MS = 2000;

/** Options of {@linkcode Stack}. */
export interface StackOptions {
  /** Where frames go out. */
  link: FrameSink;
  /** Our MAC address. */
  mac: Uint8Array;
  /** A static address; omitted or null leaves the interface unconfigured (for DHCP). */
  ipv4?: Ipv4Config | null;
  /** Randomness for IDs, ports and ISNs (tests pass a SeededRandom). */
  random?: Random;
  /** Called when an application queued work that needs a `poll` soon. */
  requestPoll?: () => void;
  arp?: Partial<ArpOptions>;
  reassembly?: Partial<ReassemblyOptions>;
  tcp?: TcpConfig;
  /** The event log to record into (shared across stack restarts); default a new one. */
  events?: EventLog;
}

/** One interface and its protocol stack. */
export class Stack {
  readonly mac: Uint8Array;
  readonly counters: StackCounters = createCounters();
  readonly events: EventLog;
  readonly random: Random;
  readonly arp: ArpLayer;
  readonly ipv4: Ipv4Layer;
  readonly icmp: IcmpLayer;
  readonly udp: UdpLayer;
  readonly tcp: TcpLayer;
  readonly #link: FrameSink;
  /** What the link offloads (read once). */
  readonly capabilities: LinkCapabilities;
  readonly #txOffload: TxOffload = { csumStart: 0, csumOffset: 0, gsoSize: 0, headerBytes: 0 };
  readonly #rxOffload: RxOffload = { checksum: "unknown", csumStart: 0, csumOffset: 0, gsoSize: 0 };
  readonly #transports: Transport[] = [];
  readonly #pollers: { poll(nowMs: number): number }[] = [];
  #requestPoll: () => void;
  #nowMs = 0;
  #announceAtMs = Infinity;

  constructor(options: StackOptions) {
    this.mac = options.mac.slice(0, 6);
    if (this.mac.length !== 6 || (this.mac[0]! & 1) !== 0) {
      throw new TypeError("Cannot use this MAC address for an interface: expected a unicast MAC");
    }
    this.#link = options.link;
    this.capabilities = options.link.capabilities ?? plainCapabilities(options.link.mtu);
    this.events = options.events ?? new EventLog();
    this.random = options.random ?? new CryptoRandom();
    this.#requestPoll = options.requestPoll ?? (() => {});
    const output = this.#ethernetOutput.bind(this);
    this.arp = new ArpLayer(this.mac, this.counters.arp, output, options.arp);
    this.ipv4 = new Ipv4Layer(this.arp, output, {
      counters: this.counters.ipv4,
      mtu: options.link.mtu,
      capabilities: this.capabilities,
      firstId: this.random.u32(),
      reassembly: options.reassembly,
    });
    this.icmp = new IcmpLayer(this.ipv4, this.counters.icmp, (p) => this.transport(p));
    this.udp = new UdpLayer(this.ipv4, this.counters.udp, this.random);
    this.udp.unreachable = (info, protocol, datagram) =>
      this.icmp.portUnreachable(info, protocol, datagram);
    this.tcp = new TcpLayer({
      ip: this.ipv4,
      counters: this.counters.tcp,
      random: this.random,
      requestPoll: () => this.#requestPoll(),
      options: this.capabilities.tso
        ? {
          ...options.tcp,
          sendBufferBytes: options.tcp?.sendBufferBytes ?? OFFLOAD_SOCKET_BUFFER_BYTES,
          receiveBufferBytes: options.tcp?.receiveBufferBytes ?? OFFLOAD_SOCKET_BUFFER_BYTES,
        }
        : options.tcp,
      offload: this.capabilities.txChecksum
        ? {
          tso: this.capabilities.tso,
          maxPacketBytes: this.capabilities.maxFrameBytes - ETHERNET_HEADER_LENGTH,
        }
        : undefined,
    });
    this.ipv4.errors = this.icmp;
    this.register(this.icmp);
    this.register(this.udp);
    this.register(this.tcp);
    if (options.ipv4) this.configure(options.ipv4, 0);
  }

  /** Adds a transport (TCP plugs in here). */
  register(transport: Transport): void {
    this.#transports.push(transport);
    this.ipv4.register(transport);
  }

  /** Adds something with timers (a service such as the DHCP client). */
  addPoller(poller: { poll(nowMs: number): number }): void {
    this.#pollers.push(poller);
  }

  /** Removes a poller added with {@linkcode addPoller} (a service that was closed). */
  removePoller(poller: { poll(nowMs: number): number }): void {
    const i = this.#pollers.indexOf(poller);
    if (i >= 0) this.#pollers.splice(i, 1);
  }

  /** The transport for an IP protocol number. */
  transport(protocol: number): Transport | undefined {
    return this.#transports.find((t) => t.protocol === protocol);
  }

  /** The latest time the stack was given. */
  get nowMs(): number {
    return this.#nowMs;
  }

  /** Sets or clears the interface address; announces a new one with gratuitous ARP. */
  configure(config: Ipv4Config | null, nowMs = this.#nowMs): void {
    const before = this.ipv4.config;
    this.ipv4.config = config;
    if (config === null) {
      this.arp.clear();
      this.#announceAtMs = Infinity;
      if (before !== null) this.events.add(nowMs, "network", "IPv4 address removed");
      return;
    }
    if (before?.address !== config.address) this.arp.clear();
    const text = `IPv4 address ${formatIpv4(config.address)}/${config.prefixLength}` +
      (config.gateway ? ` via ${formatIpv4(config.gateway)}` : "");
    log.info(text);
    this.events.add(nowMs, "network", text);
    this.arp.announce();
    this.#announceAtMs = nowMs + ANNOUNCE_INTERVAL_MS;
    this.#requestPoll();
  }

  /**
   * Handles one received frame; `frame` is only read (or, for a partial checksum the link
   * could not vouch for, completed in place) during the call. `meta` comes from an offloading
   * link.
   */
  input(frame: Uint8Array, nowMs: number, meta?: RxMeta): void {
    this.#setTime(nowMs);
    const eth = EthernetFrame.check(frame);
    const counters = this.counters.ethernet;
    if (eth === null) {
      counters.drop("truncated");
      return;
    }
    if (!eth.isFor(this.mac) && !eth.isBroadcast && !this.#acceptsGroup(eth)) {
      counters.drop("not-for-us");
      return;
    }
    counters.received(frame.length);
    try {
      switch (eth.etherType) {
        case EtherType.IPV4:
          this.ipv4.input(eth.payload, nowMs, this.#l3Offload(meta));
          return;
        case EtherType.ARP:
          this.arp.input(eth.payload, nowMs);
          return;
        case EtherType.IPV6:
          counters.drop("ipv6");
          return;
        default:
          counters.drop("unknown-ethertype");
      }
    } catch (error) {
      counters.drop("internal-error");
      log.error("Frame handling failed: {error}", { error });
    }
  }

  /** Runs every due timer; returns the next deadline (absolute ms) or Infinity. */
  poll(nowMs: number): number {
    this.#setTime(nowMs);
    let next = Infinity;
    const run = (poller: { poll(nowMs: number): number }) => {
      try {
        next = Math.min(next, poller.poll(nowMs));
      } catch (error) {
        this.counters.ethernet.drop("internal-error");
        log.error("Timer handling failed: {error}", { error });
      }
    };
    if (this.#announceAtMs <= nowMs) {
      this.#announceAtMs = Infinity;
      this.arp.announce();
    }
    next = Math.min(next, this.#announceAtMs);
    run(this.arp);
    run(this.ipv4);
    for (const t of this.#transports) run(t);
    for (const p of this.#pollers) run(p);
    return next;
  }

  /** Sends an ICMP echo request to `dst` (dotted quad or u32). */
  ping(dst: string | Ipv4Address, options?: PingOptions): Promise<PingResult> {
    const address = typeof dst === "string" ? parseIpv4(dst) : dst;
    const result = this.icmp.ping(address, options);
    this.#requestPoll();
    return result;
  }

  /** Asks the host for a `poll` soon (applications call this after queueing work). */
  requestPoll(): void {
    this.#requestPoll();
  }

  #setTime(nowMs: number): void {
    this.#nowMs = nowMs;
    this.ipv4.nowMs = nowMs;
    this.icmp.nowMs = nowMs;
  }

  /** The frame's offload state with offsets relative to the IP header, or undefined. */
  #l3Offload(meta: RxMeta | undefined): RxOffload | undefined {
    if (meta === undefined || (meta.checksum === "unknown" && meta.gsoSize === 0)) return undefined;
    const o = this.#rxOffload;
    o.checksum = meta.checksum;
    o.csumStart = meta.csumStart - ETHERNET_HEADER_LENGTH;
    o.csumOffset = meta.csumOffset;
    o.gsoSize = meta.gsoSize;
    return o;
  }

  #acceptsGroup(eth: EthernetFrame): boolean {
    const b = eth.bytes;
    if (b[0] !== 0x01 || b[1] !== 0x00 || b[2] !== 0x5e) return false;
    return macEquals(b, 0, ALL_HOSTS_MAC) || this.ipv4.acceptsGroupMac(b);
  }

  #ethernetOutput(
    destination: Uint8Array,
    etherType: number,
    length: number,
    write: (payload: Uint8Array) => void,
    offload?: PacketOffload,
  ): boolean {
    const size = Math.max(MIN_FRAME, ETHERNET_HEADER_LENGTH + length);
    const frame = this.#link.acquire(size);
    if (frame === null) {
      this.counters.ethernet.drop("tx-full");
      return false;
    }
    emitEthernet(frame, destination, this.mac, etherType);
    write(frame.subarray(ETHERNET_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + length));
    if (ETHERNET_HEADER_LENGTH + length < size) {
      frame.fill(0, ETHERNET_HEADER_LENGTH + length, size);
    }
    if (offload === undefined) {
      this.#link.commit(size);
    } else {
      const o = this.#txOffload;
      o.csumStart = ETHERNET_HEADER_LENGTH + offload.csumStart;
      o.csumOffset = offload.csumOffset;
      o.gsoSize = offload.gsoSize;
      o.headerBytes = ETHERNET_HEADER_LENGTH + offload.headerBytes;
      this.#link.commit(size, o);
    }
    this.counters.ethernet.sent(size);
    return true;
  }
}

const ALL_HOSTS_MAC = Uint8Array.of(0x01, 0x00, 0x5e, 0x00, 0x00, 0x01);
