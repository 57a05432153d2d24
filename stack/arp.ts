/**
 * ARP (RFC 826): answers requests for our address, resolves next hops, and holds packets while a
 * resolution is under way.
 *
 * Invariants: the cache holds at most `maxEntries` (the oldest entry is evicted past that); at most
 * `maxPendingPerHost` packets wait per address and `maxPendingBytes` in all, beyond which new ones
 * are dropped and counted. An unanswered resolution is retried every `retryMs` up to `maxRetries`
 * times, then its packets are dropped. A reachable entry lives `entryTtlMs`; in its last
 * `refreshMs` a use sends one unicast request (as Linux does when an entry goes stale) so a busy
 * flow never has to queue behind a fresh broadcast resolution.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LayerCounters } from "./counters.ts";
import { formatIpv4, formatMac, type Ipv4Address, MAC_BROADCAST } from "./wire/address.ts";
import { ARP_LENGTH, ArpOperation, type ArpPacket, emitArp, parseArp } from "./wire/arp.ts";
import { EtherType } from "./wire/ethernet.ts";

const log = getLogger(["mip", "arp"]);

/** Limits and timers of {@linkcode ArpLayer}. */
export interface ArpOptions {
  /** How long a learned mapping is trusted (RFC 1122 2.3.2.1: some timeout is required). */
  entryTtlMs: number;
  /** Before expiry, the window in which a use triggers a unicast refresh. */
  refreshMs: number;
  /** Interval between requests for an unresolved address (RFC 1122 2.3.2.1: at most 1/s). */
  retryMs: number;
  /** Requests sent before giving up on an address. */
  maxRetries: number;
  maxEntries: number;
  maxPendingPerHost: number;
  maxPendingBytes: number;
}

/** Linux-like defaults. */
export const DEFAULT_ARP_OPTIONS: ArpOptions = {
  entryTtlMs: 60_000,
  refreshMs: 5_000,
  retryMs: 1_000,
  maxRetries: 3,
  maxEntries: 512,
  maxPendingPerHost: 64,
  maxPendingBytes: 1 << 20,
};

/** Sends one Ethernet frame of `length` payload bytes filled by `write`. */
export type EthernetOutput = (
  destination: Uint8Array,
  etherType: number,
  length: number,
  write: (payload: Uint8Array) => void,
) => boolean;

interface Entry {
  mac: Uint8Array | null; // null while resolving
  expiresMs: number;
  refreshing: boolean;
  retries: number;
  nextRetryMs: number;
  pending: Uint8Array[];
}

/** A cache entry as shown to users. */
export interface ArpEntryInfo {
  ip: string;
  mac: string | null;
  expiresInMs: number;
}

/** The ARP protocol and cache of one interface. */
export class ArpLayer {
  readonly #mac: Uint8Array;
  readonly #counters: LayerCounters;
  readonly #output: EthernetOutput;
  readonly #options: ArpOptions;
  readonly #entries = new Map<Ipv4Address, Entry>();
  readonly #resolving = new Set<Ipv4Address>();
  #pendingBytes = 0;
  #address: Ipv4Address = 0;
  /**
   * Called for every address another host claims (RFC 5227 conflict detection): the sender
   * address of any ARP packet, or the target address of an ARP probe (sender 0.0.0.0).
   */
  onClaim: ((ip: Ipv4Address, mac: Uint8Array) => void) | null = null;

  constructor(
    mac: Uint8Array,
    counters: LayerCounters,
    output: EthernetOutput,
    options: Partial<ArpOptions> = {},
  ) {
    this.#mac = mac;
    this.#counters = counters;
    this.#output = output;
    this.#options = { ...DEFAULT_ARP_OPTIONS, ...options };
  }

  /** Sets the address we answer for (0 = none). */
  set address(address: Ipv4Address) {
    this.#address = address;
  }

  /** Handles one received ARP packet (the Ethernet payload). */
  input(bytes: Uint8Array, nowMs: number): void {
    const packet = parseArp(bytes);
    if (typeof packet === "string") {
      this.#counters.drop(packet);
      return;
    }
    this.#counters.received(bytes.length);
    if (packet.senderIp !== 0) {
      this.onClaim?.(packet.senderIp, packet.senderMac);
    } else if (packet.operation === ArpOperation.REQUEST) {
      // An ARP probe (RFC 5227 2.1.1): another host wants the target address as well.
      this.onClaim?.(packet.targetIp, packet.senderMac);
    }
    if (packet.senderIp === this.#address && this.#address !== 0) {
      log.warn("Address conflict: {ip} is also used by {mac}", {
        ip: formatIpv4(packet.senderIp),
        mac: formatMac(packet.senderMac),
      });
      this.#counters.drop("address-conflict");
      return;
    }
    // RFC 826 "merge": update a mapping we already have; add one if we are the target.
    const forUs = this.#address !== 0 && packet.targetIp === this.#address;
    if (packet.senderIp !== 0 && (forUs || this.#entries.has(packet.senderIp))) {
      this.#learn(packet.senderIp, packet.senderMac, nowMs);
    }
    if (forUs && packet.operation === ArpOperation.REQUEST) {
      this.#send(packet.senderMac, {
        operation: ArpOperation.REPLY,
        senderMac: this.#mac,
        senderIp: this.#address,
        targetMac: packet.senderMac,
        targetIp: packet.senderIp,
      });
    }
  }

  /**
   * The MAC for `ip`, or null when it is not known yet (the caller then queues the packet with
   * {@linkcode enqueue}, which starts a resolution).
   */
  lookup(ip: Ipv4Address, nowMs: number): Uint8Array | null {
    const entry = this.#entries.get(ip);
    if (entry === undefined || entry.mac === null) return null;
    if (entry.expiresMs <= nowMs) {
      this.#entries.delete(ip);
      return null;
    }
    if (!entry.refreshing && entry.expiresMs - nowMs <= this.#options.refreshMs) {
      entry.refreshing = true;
      this.#request(ip, entry.mac);
    }
    return entry.mac;
  }

  /** Queues a whole IPv4 packet (copied) for `ip`, resolving it if needed. False when shed. */
  enqueue(ip: Ipv4Address, packet: Uint8Array, nowMs: number): boolean {
    let entry = this.#entries.get(ip);
    if (entry === undefined || (entry.mac !== null && entry.expiresMs <= nowMs)) {
      if (entry === undefined) this.#makeRoom();
      entry = {
        mac: null,
        expiresMs: Infinity,
        refreshing: false,
        retries: 0,
        nextRetryMs: nowMs,
        pending: [],
      };
      this.#entries.set(ip, entry);
    }
    if (entry.mac !== null) {
      // Resolved in the meantime: send straight away.
      return this.#output(entry.mac, EtherType.IPV4, packet.length, (p) => p.set(packet));
    }
    const { maxPendingPerHost, maxPendingBytes } = this.#options;
    if (
      entry.pending.length >= maxPendingPerHost ||
      this.#pendingBytes + packet.length > maxPendingBytes
    ) {
      this.#counters.drop("pending-full");
      return false;
    }
    entry.pending.push(packet.slice());
    this.#pendingBytes += packet.length;
    if (!this.#resolving.has(ip)) {
      this.#resolving.add(ip);
      this.#retry(ip, entry, nowMs);
    }
    return true;
  }

  /** Sends a gratuitous ARP announcing our address (RFC 5227 2.3 announcement). */
  announce(): void {
    if (this.#address === 0) return;
    this.#send(MAC_BROADCAST, {
      operation: ArpOperation.REQUEST,
      senderMac: this.#mac,
      senderIp: this.#address,
      targetMac: new Uint8Array(6),
      targetIp: this.#address,
    });
  }

  /** Sends an ARP probe for `ip` (RFC 5227 2.1.1: sender address 0.0.0.0). */
  probe(ip: Ipv4Address): void {
    this.#send(MAC_BROADCAST, {
      operation: ArpOperation.REQUEST,
      senderMac: this.#mac,
      senderIp: 0,
      targetMac: new Uint8Array(6),
      targetIp: ip,
    });
  }

  /** Retries due resolutions; returns the next retry time or Infinity. */
  poll(nowMs: number): number {
    let next = Infinity;
    for (const ip of this.#resolving) {
      const entry = this.#entries.get(ip);
      if (entry === undefined || entry.mac !== null) {
        this.#resolving.delete(ip);
        continue;
      }
      if (entry.nextRetryMs <= nowMs) this.#retry(ip, entry, nowMs);
      if (this.#resolving.has(ip)) next = Math.min(next, entry.nextRetryMs);
    }
    return next;
  }

  /** Forgets every mapping and pending packet (link down, address change). */
  clear(): void {
    this.#entries.clear();
    this.#resolving.clear();
    this.#pendingBytes = 0;
  }

  /** The cache, for the dashboard and tests. */
  entries(nowMs: number): ArpEntryInfo[] {
    return [...this.#entries].map(([ip, e]) => ({
      ip: formatIpv4(ip),
      mac: e.mac === null ? null : formatMac(e.mac),
      expiresInMs: e.mac === null ? 0 : Math.max(0, e.expiresMs - nowMs),
    }));
  }

  #retry(ip: Ipv4Address, entry: Entry, nowMs: number): void {
    if (entry.retries >= this.#options.maxRetries) {
      log.debug("No ARP reply from {ip}; dropping {n} packets", {
        ip: formatIpv4(ip),
        n: entry.pending.length,
      });
      for (const p of entry.pending) {
        this.#pendingBytes -= p.length;
        this.#counters.drop("unresolved");
      }
      this.#entries.delete(ip);
      this.#resolving.delete(ip);
      return;
    }
    entry.retries++;
    entry.nextRetryMs = nowMs + this.#options.retryMs;
    this.#request(ip, MAC_BROADCAST);
  }

  #learn(ip: Ipv4Address, mac: Uint8Array, nowMs: number): void {
    let entry = this.#entries.get(ip);
    if (entry === undefined) {
      this.#makeRoom();
      entry = {
        mac: null,
        expiresMs: 0,
        refreshing: false,
        retries: 0,
        nextRetryMs: 0,
        pending: [],
      };
      this.#entries.set(ip, entry);
    }
    entry.mac = mac.slice(0, 6);
    entry.expiresMs = nowMs + this.#options.entryTtlMs;
    entry.refreshing = false;
    this.#resolving.delete(ip);
    const pending = entry.pending;
    entry.pending = [];
    for (const packet of pending) {
      this.#pendingBytes -= packet.length;
      this.#output(entry.mac, EtherType.IPV4, packet.length, (p) => p.set(packet));
    }
  }

  #request(ip: Ipv4Address, destination: Uint8Array): void {
    this.#send(destination, {
      operation: ArpOperation.REQUEST,
      senderMac: this.#mac,
      senderIp: this.#address,
      targetMac: new Uint8Array(6),
      targetIp: ip,
    });
  }

  #send(destination: Uint8Array, packet: ArpPacket): void {
    if (this.#output(destination, EtherType.ARP, ARP_LENGTH, (p) => emitArp(p, packet))) {
      this.#counters.sent(ARP_LENGTH);
    }
  }

  #makeRoom(): void {
    if (this.#entries.size < this.#options.maxEntries) return;
    let oldestIp: Ipv4Address | undefined;
    let oldest = Infinity;
    for (const [ip, e] of this.#entries) {
      if (e.mac !== null && e.expiresMs < oldest) {
        oldest = e.expiresMs;
        oldestIp = ip;
      }
    }
    if (oldestIp !== undefined) this.#entries.delete(oldestIp);
    this.#counters.drop("cache-evicted");
  }
}
