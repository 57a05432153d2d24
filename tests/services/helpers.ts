/**
 * Harness of the UDP service tests: a small in-memory LAN (a hub) of stacks on one virtual clock,
 * with seeded loss and delay per receiving port (the same `ImpairedPath` a `MemoryLink` uses),
 * sniffers and filters on what each host sends, frame injection, and hand-built DHCP/DNS/NTP
 * wire messages for scripted peers. `run` works like tests/stack/pair.ts: deliver, poll, let
 * promise continuations run, jump the clock to the next deadline.
 * @module
 */

import {
  ImpairedPath,
  type Link,
  NO_IMPAIRMENT,
  SeededRandom,
  Stack,
  VirtualClock,
} from "../../stack/mod.ts";
import {
  formatIpv4,
  type Ipv4Address,
  MAC_BROADCAST,
  macEquals,
  parseCidr,
  parseIpv4,
  parseMac,
  writeIpv4,
} from "../../stack/wire/address.ts";
import { ARP_LENGTH, type ArpPacket, emitArp, parseArp } from "../../stack/wire/arp.ts";
import { type ParsedDhcpMessage, parseDhcp } from "../../stack/wire/dhcp.ts";
import { emitEthernet, EthernetFrame, EtherType } from "../../stack/wire/ethernet.ts";
import { emitIpv4, Ipv4Packet } from "../../stack/wire/ipv4.ts";
import { parseUdp } from "../../stack/wire/udp.ts";
import { flushMicrotasks } from "../stack/pair.ts";
import { ethernetIpv4, udpDatagram } from "../stack/frames.ts";

/** Options of {@linkcode Lan}: faults applied to every frame a port receives. */
export interface LanOptions {
  lossPercent?: number;
  delayMs?: number;
  seed?: number;
}

/** One host on the LAN. */
export interface HostOptions {
  mac: string;
  /** `a.b.c.d/n`, or omitted for an unconfigured stack (a DHCP client). */
  cidr?: string;
  gateway?: string;
  seed?: number;
  /** Per-port fault override (e.g. a different one-way delay towards this host). */
  inbound?: LanOptions;
}

/** A frame as a host sent it, with the virtual time. */
export interface SentFrame {
  atMs: number;
  bytes: Uint8Array;
}

class Port implements Link {
  readonly mtu = 1500;
  readonly mac: Uint8Array;
  readonly inbound: ImpairedPath;
  readonly injected: Uint8Array[] = [];
  readonly sent: SentFrame[] = [];
  stack!: Stack;
  /** Return false to drop a frame this host sends. */
  filter: ((frame: Uint8Array) => boolean) | null = null;
  plugged = true;
  readonly #lan: Lan;
  #scratch = new Uint8Array(2048);

  constructor(lan: Lan, mac: Uint8Array, spec: LanOptions, seed: number) {
    this.#lan = lan;
    this.mac = mac;
    const full = {
      ...NO_IMPAIRMENT,
      lossPercent: spec.lossPercent ?? 0,
      delayMs: spec.delayMs ?? 0,
      seed: spec.seed ?? seed,
    };
    this.inbound = new ImpairedPath(full, new SeededRandom(full.seed), 4096);
  }

  acquire(length: number): Uint8Array | null {
    if (length > this.#scratch.length) this.#scratch = new Uint8Array(length);
    return this.#scratch;
  }

  commit(length: number): void {
    this.#lan.transmit(this, this.#scratch.subarray(0, length));
  }

  receive(nowMs: number, onFrame: (frame: Uint8Array) => void): number {
    const injected = this.injected.splice(0);
    for (const frame of injected) onFrame(frame);
    return injected.length + this.inbound.deliver(nowMs, onFrame);
  }

  nextDueMs(): number {
    return this.injected.length > 0 ? -Infinity : this.inbound.nextDueMs();
  }
}

/** A hub of stacks sharing one virtual clock. */
export class Lan {
  readonly clock = new VirtualClock();
  readonly #options: LanOptions;
  readonly #ports: Port[] = [];

  constructor(options: LanOptions = {}) {
    this.#options = options;
  }

  /** Adds a host and returns its stack. */
  add(host: HostOptions): Stack {
    const seed = host.seed ?? 100 + this.#ports.length;
    const mac = parseMac(host.mac);
    const spec = { ...this.#options, ...host.inbound };
    const port = new Port(this, mac, spec, (this.#options.seed ?? 1) * 31 + this.#ports.length);
    const cidr = host.cidr ? parseCidr(host.cidr) : null;
    port.stack = new Stack({
      link: port,
      mac,
      ipv4: cidr
        ? {
          address: cidr.address,
          prefixLength: cidr.prefixLength,
          gateway: host.gateway ? parseIpv4(host.gateway) : 0,
        }
        : null,
      random: new SeededRandom(seed),
    });
    this.#ports.push(port);
    return port.stack;
  }

  /** Every frame `stack` has sent (before its filter). */
  sent(stack: Stack): SentFrame[] {
    return this.#port(stack).sent;
  }

  /** Drops frames `stack` sends for which `predicate` is false; null removes the filter. */
  filter(stack: Stack, predicate: ((frame: Uint8Array) => boolean) | null): void {
    this.#port(stack).filter = predicate;
  }

  /** Disconnects (false) or reconnects (true) a host: nothing in or out while unplugged. */
  plug(stack: Stack, plugged: boolean): void {
    this.#port(stack).plugged = plugged;
  }

  /** Hands `frame` to `stack` at the next step, bypassing loss and delay. */
  inject(stack: Stack, frame: Uint8Array): void {
    this.#port(stack).injected.push(frame.slice());
  }

  /** @internal Called by a port for each frame its stack sends. */
  transmit(from: Port, frame: Uint8Array): void {
    const nowMs = this.clock.now();
    from.sent.push({ atMs: nowMs, bytes: frame.slice() });
    if (!from.plugged || (from.filter !== null && !from.filter(frame))) return;
    const eth = EthernetFrame.check(frame);
    if (eth === null) return;
    for (const port of this.#ports) {
      if (port === from || !port.plugged) continue;
      if (eth.isGroup || eth.isFor(port.mac)) port.inbound.send(frame, nowMs);
    }
  }

  /** Delivers what is due and polls every stack; returns the next deadline. */
  step(): number {
    const now = this.clock.now();
    let next = Infinity;
    for (const port of this.#ports) {
      port.receive(now, (frame) => port.stack.input(frame, now));
    }
    for (const port of this.#ports) next = Math.min(next, port.stack.poll(now));
    for (const port of this.#ports) next = Math.min(next, port.nextDueMs());
    return next;
  }

  /** Runs until `done()` or `limitMs` of virtual time pass; returns whether done. */
  async run(done: () => boolean, limitMs = 60_000): Promise<boolean> {
    const end = this.clock.now() + limitMs;
    for (let turns = 0; turns < 200_000; turns++) {
      const next = this.step();
      await flushMicrotasks();
      if (done()) return true;
      const again = Math.min(next, this.step());
      await flushMicrotasks();
      if (done()) return true;
      if (again > end) return false;
      this.clock.advanceTo(Math.max(again, this.clock.now()));
    }
    throw new Error("Lan.run: too many turns (a timer that never moves?)");
  }

  /** Runs for exactly `ms` of virtual time. */
  async runFor(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    await this.run(() => this.clock.now() >= end, ms);
    this.clock.advanceTo(end);
    this.step();
    await flushMicrotasks();
  }

  /** Awaits `promise` while running; throws if it does not settle within `limitMs`. */
  async settle<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let state: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    promise.then(
      (value) => (state = { ok: true, value }),
      (error) => (state = { ok: false, error }),
    );
    await this.run(() => state !== null, limitMs);
    const s = state as { ok: true; value: T } | { ok: false; error: unknown } | null;
    if (s === null) throw new Error(`Promise did not settle within ${limitMs} ms of virtual time`);
    if (!s.ok) throw s.error;
    return s.value;
  }

  #port(stack: Stack): Port {
    const port = this.#ports.find((p) => p.stack === stack);
    if (port === undefined) throw new Error("Stack is not on this LAN");
    return port;
  }
}

/** A UDP datagram seen in a frame. */
export interface SeenUdp {
  toBroadcastMac: boolean;
  src: Ipv4Address;
  dst: Ipv4Address;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** The UDP datagram inside an Ethernet frame, or null. */
export function decodeUdp(frame: Uint8Array): SeenUdp | null {
  const eth = EthernetFrame.check(frame);
  if (eth === null || eth.etherType !== EtherType.IPV4) return null;
  const ip = Ipv4Packet.check(eth.payload);
  if (typeof ip === "string" || ip.protocol !== 17) return null;
  const udp = parseUdp(ip.payload, ip.src, ip.dst);
  if (typeof udp === "string") return null;
  return {
    toBroadcastMac: eth.isBroadcast,
    src: ip.src,
    dst: ip.dst,
    srcPort: udp.srcPort,
    dstPort: udp.dstPort,
    payload: udp.payload,
  };
}

/** The DHCP message inside a frame (either direction), with its datagram, or null. */
export function decodeDhcp(
  frame: Uint8Array,
): { udp: SeenUdp; dhcp: ParsedDhcpMessage } | null {
  const udp = decodeUdp(frame);
  if (udp === null || (udp.dstPort !== 67 && udp.dstPort !== 68)) return null;
  const dhcp = parseDhcp(udp.payload);
  return typeof dhcp === "string" ? null : { udp, dhcp };
}

/** The ARP packet inside a frame, or null. */
export function decodeArp(frame: Uint8Array): ArpPacket | null {
  const eth = EthernetFrame.check(frame);
  if (eth === null || eth.etherType !== EtherType.ARP) return null;
  const arp = parseArp(eth.payload);
  return typeof arp === "string" ? null : arp;
}

/** The DHCP messages a host sent, with their times. */
export function dhcpSentBy(lan: Lan, stack: Stack) {
  return lan.sent(stack).flatMap((f) => {
    const d = decodeDhcp(f.bytes);
    return d === null ? [] : [{ atMs: f.atMs, ...d }];
  });
}

/** An Ethernet frame with an ARP packet. */
export function arpFrame(dstMac: Uint8Array, packet: ArpPacket): Uint8Array {
  const frame = new Uint8Array(60);
  emitEthernet(frame, dstMac, packet.senderMac, EtherType.ARP);
  emitArp(frame.subarray(14, 14 + ARP_LENGTH), packet);
  return frame;
}

/** An Ethernet/IPv4/UDP frame (valid checksums) for injection. */
export function udpFrame(
  srcMac: string,
  dstMac: Uint8Array | string,
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
): Uint8Array {
  const datagram = udpDatagram(src, dst, srcPort, dstPort, payload);
  const packet = new Uint8Array(20 + datagram.length);
  emitIpv4(packet, 0, {
    totalLength: packet.length,
    identification: 1,
    protocol: 17,
    src: parseIpv4(src),
    dst: parseIpv4(dst),
  });
  packet.set(datagram, 20);
  const dmac = typeof dstMac === "string" ? dstMac : formatMacText(dstMac);
  return ethernetIpv4(dmac, srcMac, packet);
}

function formatMacText(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** True when `frame` goes to the broadcast MAC. */
export function isBroadcastFrame(frame: Uint8Array): boolean {
  return macEquals(frame, 0, MAC_BROADCAST);
}

// ---- DNS messages built by hand (RFC 1035 4.1), no compression unless asked ----

/** One resource record for {@linkcode dnsReply}. */
export type TestRecord =
  | { name: string; type: "A"; ttl: number; address: string }
  | { name: string; type: "CNAME"; ttl: number; target: string }
  | { name: string; type: "SOA"; ttl: number; minimum: number };

/** Fields of a hand-built reply. */
export interface TestReply {
  id: number;
  question: string;
  qtype?: number;
  rcode?: number;
  tc?: boolean;
  answers?: TestRecord[];
  authority?: TestRecord[];
}

/** Encodes a name as labels (no compression). */
export function dnsName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split(".").filter((l) => l !== "")) {
    out.push(label.length, ...new TextEncoder().encode(label));
  }
  out.push(0);
  return out;
}

/** A DNS response with one question, built byte by byte. */
export function dnsReply(reply: TestReply): Uint8Array {
  const answers = reply.answers ?? [];
  const authority = reply.authority ?? [];
  const flags = 0x8180 | (reply.tc ? 0x0200 : 0) | (reply.rcode ?? 0); // QR RD RA
  const bytes: number[] = [
    ...u16(reply.id),
    ...u16(flags),
    ...u16(1),
    ...u16(answers.length),
    ...u16(authority.length),
    ...u16(0),
    ...dnsName(reply.question),
    ...u16(reply.qtype ?? 1),
    ...u16(1),
  ];
  for (const record of [...answers, ...authority]) bytes.push(...dnsRecord(record));
  return Uint8Array.from(bytes);
}

function dnsRecord(record: TestRecord): number[] {
  let type: number;
  let rdata: number[];
  switch (record.type) {
    case "A": {
      type = 1;
      const a = new Uint8Array(4);
      writeIpv4(a, 0, parseIpv4(record.address));
      rdata = [...a];
      break;
    }
    case "CNAME":
      type = 5;
      rdata = dnsName(record.target);
      break;
    case "SOA":
      type = 6;
      rdata = [
        ...dnsName("ns.test"),
        ...dnsName("hostmaster.test"),
        ...u32(1),
        ...u32(3600),
        ...u32(600),
        ...u32(86400),
        ...u32(record.minimum),
      ];
      break;
  }
  return [
    ...dnsName(record.name),
    ...u16(type),
    ...u16(1),
    ...u32(record.ttl),
    ...u16(rdata.length),
    ...rdata,
  ];
}

/** The id and question name of a query (read by hand). */
export function readQuery(bytes: Uint8Array): { id: number; name: string; type: number } {
  const labels: string[] = [];
  let at = 12;
  while (bytes[at]! !== 0) {
    const n = bytes[at]!;
    labels.push(new TextDecoder().decode(bytes.subarray(at + 1, at + 1 + n)));
    at += 1 + n;
  }
  return {
    id: (bytes[0]! << 8) | bytes[1]!,
    name: labels.join("."),
    type: (bytes[at + 1]! << 8) | bytes[at + 2]!,
  };
}

// ---- NTP replies built by hand (RFC 5905 7.3) ----

/** Seconds from 1900 to 1970. */
const NTP_EPOCH_OFFSET = 2208988800;

/** Fields of a hand-built server reply. */
export interface TestNtpReply {
  /** The request, whose transmit timestamp becomes the origin unless `origin` is given. */
  request: Uint8Array;
  receiveUnixMs: number;
  transmitUnixMs: number;
  leap?: number;
  mode?: number;
  stratum?: number;
  /** Four ASCII characters (a kiss code when stratum is 0). */
  refId?: string;
  origin?: Uint8Array;
  zeroTransmit?: boolean;
}

/** A 48-byte NTP reply. */
export function ntpReply(reply: TestNtpReply): Uint8Array {
  const bytes = new Uint8Array(48);
  bytes[0] = ((reply.leap ?? 0) << 6) | (4 << 3) | (reply.mode ?? 4);
  bytes[1] = reply.stratum ?? 2;
  bytes[2] = 6;
  bytes[3] = 0xec; // precision -20
  const ref = reply.refId ?? "GPS\0";
  for (let i = 0; i < 4; i++) bytes[12 + i] = ref.charCodeAt(i) || 0;
  bytes.set(reply.origin ?? reply.request.subarray(40, 48), 24);
  ntpTime(bytes, 32, reply.receiveUnixMs);
  if (!reply.zeroTransmit) ntpTime(bytes, 40, reply.transmitUnixMs);
  ntpTime(bytes, 16, reply.receiveUnixMs - 60_000);
  return bytes;
}

function ntpTime(bytes: Uint8Array, offset: number, unixMs: number): void {
  const seconds = Math.floor(unixMs / 1000);
  const fraction = Math.floor(((unixMs - seconds * 1000) / 1000) * 2 ** 32);
  writeIpv4(bytes, offset, seconds + NTP_EPOCH_OFFSET);
  writeIpv4(bytes, offset + 4, fraction);
}

function u16(value: number): number[] {
  return [(value >>> 8) & 0xff, value & 0xff];
}

function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/** Dotted quad of an address (re-exported for brevity in tests). */
export const ip = formatIpv4;
