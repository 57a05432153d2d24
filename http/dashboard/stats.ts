/**
 * What the dashboard shows about the stack: the {@linkcode StatsSnapshot} the host fills from the
 * stack's counters, ARP cache, TCP connections and DHCP client; the throughput history sampled
 * from it once a second; and the JSON body of /api/stats/get built from both.
 *
 * Invariants: the history holds at most `capacity` samples (oldest dropped); rates are never
 * negative (counters that went back, e.g. after a device reset, count as a fresh start).
 * @module
 */

import type { ArpEntryInfo } from "../../stack/arp.ts";
import type { LayerSnapshot } from "../../stack/counters.ts";

/**
 * A TCP state name as RFC 9293 3.3.2 spells it (`stack/tcp/connection.ts` TcpState); kept as a
 * string here so the dashboard does not depend on the TCP module.
 */
export type TcpStateName = string;

/** The DHCP client's lease as shown on the dashboard. */
export interface DhcpLeaseInfo {
  /** Client state, e.g. "BOUND", "RENEWING", "SELECTING" (RFC 2131 figure 5). */
  state: string;
  /** Leased address, dotted quad, or null before one is bound. */
  address: string | null;
  /** The server that granted it (option 54). */
  server: string | null;
  leaseSeconds: number | null;
  /** Wall-clock Unix ms at which the lease ends, or null. */
  expiresUnixMs: number | null;
}

/** The interface address, however it was configured. */
export interface Ipv4Info {
  address: string;
  prefixLength: number;
  gateway: string | null;
  source: "static" | "dhcp";
}

/** The link (TAP device). */
export interface LinkInfo {
  name: string;
  up: boolean;
  mac: string;
  mtu: number;
}

/** One snapshot of the stack, filled by the host (main.ts). */
export interface StatsSnapshot {
  /** Milliseconds since the stack started. */
  uptimeMs: number;
  link: LinkInfo | null;
  ipv4: Ipv4Info | null;
  /** Per-layer counters (`LayerCounters.snapshot()`); `ethernet` counts frames. */
  layers: Readonly<Record<string, LayerSnapshot>>;
  arp: readonly ArpEntryInfo[];
  /** Open TCP connections by state (RFC 9293 3.3.2 names); absent states mean 0. */
  tcp: Readonly<Record<TcpStateName, number>>;
  dhcp: DhcpLeaseInfo | null;
}

/** One point of the throughput chart. */
export interface ThroughputSample {
  /** Unix seconds. */
  time: number;
  rxBytesPerSecond: number;
  txBytesPerSecond: number;
  rxFramesPerSecond: number;
  txFramesPerSecond: number;
}

interface Totals {
  atMs: number;
  rxBytes: number;
  txBytes: number;
  rxFrames: number;
  txFrames: number;
}

/** A bounded history of link throughput, computed from successive snapshots. */
export class ThroughputHistory {
  readonly capacity: number;
  readonly #samples: ThroughputSample[] = [];
  #last: Totals | null = null;

  constructor(capacity = 120) {
    this.capacity = capacity;
  }

  /** Records the rates since the previous call (the first call only sets the baseline). */
  sample(snapshot: StatsSnapshot, nowMs: number): void {
    const link = snapshot.layers.ethernet;
    const totals: Totals = {
      atMs: nowMs,
      rxBytes: link?.rxBytes ?? 0,
      txBytes: link?.txBytes ?? 0,
      rxFrames: link?.rxPackets ?? 0,
      txFrames: link?.txPackets ?? 0,
    };
    const last = this.#last;
    this.#last = totals;
    if (last === null || totals.atMs <= last.atMs) return;
    const seconds = (totals.atMs - last.atMs) / 1000;
    const rate = (now: number, before: number) =>
      now >= before ? Math.round((now - before) / seconds) : Math.round(now / seconds);
    this.#samples.push({
      time: Math.round(nowMs / 1000),
      rxBytesPerSecond: rate(totals.rxBytes, last.rxBytes),
      txBytesPerSecond: rate(totals.txBytes, last.txBytes),
      rxFramesPerSecond: rate(totals.rxFrames, last.rxFrames),
      txFramesPerSecond: rate(totals.txFrames, last.txFrames),
    });
    if (this.#samples.length > this.capacity) this.#samples.shift();
  }

  /** Samples, oldest first. */
  list(): readonly ThroughputSample[] {
    return this.#samples;
  }
}

/** The body of /api/stats/get (and of each WebSocket push). */
export interface StatsBody {
  uptime: number;
  link: LinkInfo | null;
  ipv4: Ipv4Info | null;
  frames: { in: number; out: number };
  bytes: { in: number; out: number };
  drops: { total: number; byReason: Record<string, number> };
  layers: Readonly<Record<string, LayerSnapshot>>;
  arp: readonly ArpEntryInfo[];
  tcp: { total: number; byState: Readonly<Record<TcpStateName, number>> };
  dhcp: DhcpLeaseInfo | null;
  history: readonly ThroughputSample[];
  /** Mongoose's chart series: total bytes per second of each history sample. */
  points: number[];
  /** Events recorded since start, so a client knows when to refresh its event list. */
  eventsTotal: number;
}

/** Builds the /api/stats/get body. Drops are keyed `layer/reason`. */
export function statsBody(
  snapshot: StatsSnapshot,
  history: readonly ThroughputSample[],
  eventsTotal: number,
): StatsBody {
  const byReason: Record<string, number> = {};
  let dropped = 0;
  for (const [layer, counters] of Object.entries(snapshot.layers)) {
    for (const [reason, n] of Object.entries(counters.drops)) {
      byReason[`${layer}/${reason}`] = n;
      dropped += n;
    }
  }
  let connections = 0;
  for (const n of Object.values(snapshot.tcp)) connections += n ?? 0;
  const link = snapshot.layers.ethernet;
  return {
    uptime: Math.floor(snapshot.uptimeMs / 1000),
    link: snapshot.link,
    ipv4: snapshot.ipv4,
    frames: { in: link?.rxPackets ?? 0, out: link?.txPackets ?? 0 },
    bytes: { in: link?.rxBytes ?? 0, out: link?.txBytes ?? 0 },
    drops: { total: dropped, byReason },
    layers: snapshot.layers,
    arp: snapshot.arp,
    tcp: { total: connections, byState: snapshot.tcp },
    dhcp: snapshot.dhcp,
    history,
    points: history.map((s) => s.rxBytesPerSecond + s.txBytesPerSecond),
    eventsTotal,
  };
}
