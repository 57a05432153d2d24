/**
 * DHCP client (RFC 2131, options RFC 2132) with an ARP address check (RFC 5227), sans-I/O.
 *
 * States are RFC 2131 Figure 5's: INIT -> SELECTING -> REQUESTING -> BOUND -> RENEWING (T1,
 * unicast) -> REBINDING (T2, broadcast) -> INIT at lease expiry; INIT-REBOOT -> REBOOTING when a
 * stored lease exists. After an ACK in REQUESTING or REBOOTING the offered address is probed
 * (still in that state) and only then configured; a conflict sends DECLINE and restarts after 10 s.
 *
 * Invariants: the client only acts inside `poll` (timers) and its UDP handler (replies), so every
 * message is stamped with the time of the call that sent it. There is one timer (`#deadlineMs`),
 * always moved past `nowMs` when it fires. Replies are accepted only with our xid and MAC, and in
 * the states that expect them; anything else is counted on the UDP counters as `dhcp-<reason>`.
 * The stack is configured only in BOUND/RENEWING/REBINDING and unconfigured on leaving them. Every
 * transition is logged at info (["mip", "dhcp"]) and recorded as a "dhcp" event.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { EventPriority } from "./events.ts";
import type { Ipv4Config } from "./ipv4.ts";
import type { LeaseStore, StoredLease } from "./lease_store.ts";
import { randomInt } from "./random.ts";
import type { Stack } from "./stack.ts";
import type { DatagramMeta, UdpEndpoint } from "./udp.ts";
import {
  formatIpv4,
  formatMac,
  IPV4_BROADCAST,
  type Ipv4Address,
  macEquals,
  maskPrefixLength,
} from "./wire/address.ts";
import {
  BootpOp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  dhcpLength,
  type DhcpMessage,
  DhcpMessageType,
  type DhcpOptions,
  emitDhcp,
  type ParsedDhcpMessage,
  parseDhcp,
} from "./wire/dhcp.ts";

const log = getLogger(["mip", "dhcp"]);

/** RFC 2131 4.1: retransmit after 4 s, doubling up to 64 s, each randomised by +-1 s. */
const RETRANSMIT_FIRST_MS = 4_000;
const RETRANSMIT_MAX_MS = 64_000;
const RETRANSMIT_JITTER_MS = 1_000;
/** REQUESTs sent before starting over (RFC 2131 3.1.5); REBOOTING gives up sooner (3.2), since
 * a server that does not know us (non-authoritative) stays silent. */
const REQUEST_TRIES = 4;
const REBOOT_TRIES = 2;
/** RFC 2131 3.1.5: wait at least 10 s after a DECLINE before restarting. */
const DECLINE_WAIT_MS = 10_000;
/** RFC 2131 4.4.5: in RENEWING/REBINDING retransmit after half the time left, at least 60 s. */
const EXTEND_RETRY_MIN_MS = 60_000;
/** RFC 2131 4.4.5 defaults: T1 = 0.5 lease, T2 = 0.875 lease. */
const T1_FRACTION = 0.5;
const T2_FRACTION = 0.875;
/** RFC 2131 3.3: 0xffffffff seconds is an infinite lease. */
const INFINITE_LEASE = 0xffffffff;
/** Shorter leases are stretched, so that a broken server cannot make us spin. */
const MIN_LEASE_SECONDS = 10;
/** DNS servers kept from option 6. */
const MAX_DNS_SERVERS = 8;
/** Options asked for (RFC 2132): mask, router, DNS, domain, broadcast, NTP, lease, T1, T2. */
const PARAMETER_REQUEST_LIST = Uint8Array.of(1, 3, 6, 15, 28, 42, 51, 58, 59);
/** RFC 2132 9.10: the largest message we accept (an Ethernet MTU). */
const MAX_MESSAGE_SIZE = 1500;

/** RFC 2131 Figure 5 state names. */
export type DhcpClientState =
  | "INIT"
  | "SELECTING"
  | "REQUESTING"
  | "BOUND"
  | "RENEWING"
  | "REBINDING"
  | "INIT-REBOOT"
  | "REBOOTING";

/** RFC 5227 1.1 probe timing; `probeCount` 0 skips the check. */
export interface ProbeTiming {
  probeWaitMs: number;
  probeCount: number;
  probeMinMs: number;
  probeMaxMs: number;
  announceWaitMs: number;
}

/** RFC 5227 1.1: PROBE_WAIT 1 s, PROBE_NUM 3, PROBE_MIN 1 s, PROBE_MAX 2 s, ANNOUNCE_WAIT 2 s. */
export const RFC5227_PROBE: ProbeTiming = Object.freeze({
  probeWaitMs: 1_000,
  probeCount: 3,
  probeMinMs: 1_000,
  probeMaxMs: 2_000,
  announceWaitMs: 2_000,
});

/** A lease as the client holds it; times are absolute stack ms (Infinity for infinite). */
export interface DhcpLease {
  address: Ipv4Address;
  prefixLength: number;
  /** Default router, 0 for none. */
  router: Ipv4Address;
  dnsServers: Ipv4Address[];
  /** Server identifier (option 54), or the reply's source when absent. */
  server: Ipv4Address;
  leaseSeconds: number;
  /** When the REQUEST that obtained it was sent (RFC 2131 4.4.1: the lease starts then). */
  obtainedMs: number;
  renewAtMs: number;
  rebindAtMs: number;
  expiresMs: number;
}

/** Options of {@linkcode DhcpClient}. */
export interface DhcpClientOptions {
  /** Option 12 (RFC 2132 3.14); default "mip-tap". */
  hostname?: string;
  /** Keeps the last lease for INIT-REBOOT at the next start. */
  store?: LeaseStore;
  /** Called with each new or renewed lease, and with null when the address is lost. */
  onLease?: (lease: DhcpLease | null) => void;
  /** Wall-clock time at stack time 0, to store the lease end as wall time. */
  unixOriginMs?: number;
  /** ARP probe timing; default RFC 5227's. */
  probe?: Partial<ProbeTiming>;
  /** The first DISCOVER goes out within this many ms of the first poll (default 50). */
  startDelayMaxMs?: number;
}

/** What the dashboard shows; times are absolute stack ms, null when unknown or infinite. */
export interface DhcpClientSnapshot {
  state: DhcpClientState;
  address: string | null;
  prefixLength: number | null;
  server: string | null;
  router: string | null;
  dnsServers: string[];
  leaseSeconds: number | null;
  leaseExpiresMs: number | null;
  t1Ms: number | null;
  t2Ms: number | null;
  /** The address being checked with ARP probes, if any. */
  probing: string | null;
}

interface SendFields {
  dst?: Ipv4Address;
  ciaddr?: Ipv4Address;
  requestedIp?: Ipv4Address;
  serverId?: Ipv4Address;
  message?: string;
}

/**
 * Obtains and keeps an IPv4 address for a {@linkcode Stack}.
 *
 * @example
 * ```ts
 * const dhcp = new DhcpClient(stack, { hostname: "mip-tap", onLease: (l) => console.log(l) });
 * // ... on shutdown:
 * dhcp.release(); // the host polls once more, then exits
 * ```
 */
export class DhcpClient {
  readonly #stack: Stack;
  readonly #endpoint: UdpEndpoint;
  readonly #hostname: string;
  readonly #store: LeaseStore | null;
  readonly #onLease: ((lease: DhcpLease | null) => void) | null;
  readonly #unixOriginMs: number | null;
  readonly #probeTiming: ProbeTiming;
  readonly #startDelayMaxMs: number;
  readonly #clientId: Uint8Array;
  readonly #previousOnClaim: ((ip: Ipv4Address, mac: Uint8Array) => void) | null;
  #state: DhcpClientState = "INIT";
  #deadlineMs = Infinity;
  #started = false;
  #xid = 0;
  #tries = 0;
  #exchangeStartMs = 0;
  #requestSentMs = 0;
  #offer: { address: Ipv4Address; server: Ipv4Address } | null = null;
  /** The address asked for in INIT-REBOOT, or a hint for DISCOVER. */
  #requested: Ipv4Address = 0;
  #stored: StoredLease | null = null;
  #lease: DhcpLease | null = null;
  #probe: { lease: DhcpLease; sent: number } | null = null;
  #nakStreak = 0;
  #releaseRequested = false;
  #stopped = false;
  #closed = false;

  constructor(stack: Stack, options: DhcpClientOptions = {}) {
    const hostname = options.hostname ?? "mip-tap";
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) {
      throw new TypeError(
        `Cannot use DHCP hostname '${hostname}': expected 1-63 letters, digits, '-' or '.'`,
      );
    }
    this.#stack = stack;
    this.#hostname = hostname;
    this.#store = options.store ?? null;
    this.#onLease = options.onLease ?? null;
    this.#unixOriginMs = options.unixOriginMs ?? null;
    this.#probeTiming = { ...RFC5227_PROBE, ...options.probe };
    this.#startDelayMaxMs = options.startDelayMaxMs ?? 50;
    this.#clientId = Uint8Array.of(1, ...stack.mac); // RFC 2132 9.14: type 1 (Ethernet) + MAC
    this.#endpoint = stack.udp.open(DHCP_CLIENT_PORT, (p, m, t) => this.#input(p, m, t));
    this.#previousOnClaim = stack.arp.onClaim;
    stack.arp.onClaim = (ip, mac) => {
      this.#previousOnClaim?.(ip, mac);
      this.#onClaim(ip, mac);
    };
    this.#loadStored();
    stack.addPoller(this);
    stack.requestPoll();
  }

  /** The RFC 2131 state. */
  get state(): DhcpClientState {
    return this.#state;
  }

  /** The lease in use (BOUND, RENEWING, REBINDING), else null. */
  get lease(): DhcpLease | null {
    return this.#lease;
  }

  /** A plain summary for the dashboard. */
  snapshot(): DhcpClientSnapshot {
    const l = this.#lease;
    const time = (ms: number | undefined) => (ms === undefined || !isFinite(ms) ? null : ms);
    return {
      state: this.#state,
      address: l ? formatIpv4(l.address) : null,
      prefixLength: l?.prefixLength ?? null,
      server: l ? formatIpv4(l.server) : null,
      router: l && l.router !== 0 ? formatIpv4(l.router) : null,
      dnsServers: l ? l.dnsServers.map(formatIpv4) : [],
      leaseSeconds: l?.leaseSeconds ?? null,
      leaseExpiresMs: time(l?.expiresMs),
      t1Ms: time(l?.renewAtMs),
      t2Ms: time(l?.rebindAtMs),
      probing: this.#probe ? formatIpv4(this.#probe.lease.address) : null,
    };
  }

  /**
   * Gives the address back (DHCPRELEASE, RFC 2131 4.4.6) at the next poll and stops the client;
   * the host polls once more, then exits. Without a lease it only stops.
   */
  release(): void {
    if (this.#closed) return;
    this.#releaseRequested = true;
    this.#stack.requestPoll();
  }

  /** Stops the client without releasing; the address stays configured. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stack.removePoller(this);
    this.#endpoint.close();
    this.#stack.arp.onClaim = this.#previousOnClaim;
  }

  /** Runs the timer; returns the next deadline. */
  poll(nowMs: number): number {
    if (this.#closed) return Infinity;
    if (this.#releaseRequested) {
      this.#releaseRequested = false;
      this.#release(nowMs);
    }
    if (this.#stopped) return Infinity;
    if (!this.#started) this.#start(nowMs);
    // A handler may leave the timer due now (restart after NAK); a few rounds settle it.
    for (let i = 0; i < 4 && this.#deadlineMs <= nowMs; i++) this.#onTimer(nowMs);
    return this.#deadlineMs;
  }

  /** A stored lease means INIT-REBOOT, until the first poll finds it expired. */
  #loadStored(): void {
    const stored = this.#store?.load() ?? null;
    if (stored === null) return;
    this.#requested = stored.address;
    if (stored.released === true) {
      // Released on a clean exit: start with a DISCOVER that suggests the old address (RFC 2131
      // 4.4.1 "MAY suggest a network address"), which a server hands back when it is free.
      return;
    }
    this.#stored = stored;
    this.#state = "INIT-REBOOT";
  }

  /** First poll: the first DISCOVER (or REQUEST) goes out within `startDelayMaxMs`. */
  #start(nowMs: number): void {
    this.#started = true;
    const stored = this.#stored;
    if (
      stored !== null && stored.expiresUnixMs !== null && this.#unixOriginMs !== null &&
      stored.expiresUnixMs <= this.#unixOriginMs + nowMs
    ) {
      this.#state = "INIT"; // RFC 2131 3.2 reuses only an unexpired lease; DISCOVER still hints it
      log.info("DHCP: the stored lease on {address} has expired", {
        address: formatIpv4(stored.address),
      });
    }
    this.#stored = null;
    this.#deadlineMs = nowMs + randomInt(this.#stack.random, 0, this.#startDelayMaxMs);
  }

  #onTimer(nowMs: number): void {
    switch (this.#state) {
      case "INIT":
      case "SELECTING":
        return this.#discover(nowMs);
      case "INIT-REBOOT":
        return this.#reboot(nowMs);
      case "REQUESTING":
      case "REBOOTING":
        if (this.#probe !== null) return this.#probeStep(nowMs);
        if (this.#tries >= (this.#state === "REBOOTING" ? REBOOT_TRIES : REQUEST_TRIES)) {
          this.#toInit(nowMs, 0, `no answer to ${this.#tries} REQUESTs, starting over`);
          return;
        }
        return this.#sendRequest(nowMs);
      case "BOUND":
        return this.#renew(nowMs);
      case "RENEWING":
      case "REBINDING":
        return this.#extend(nowMs);
    }
  }

  /** INIT: a new DISCOVER exchange; SELECTING: a retransmission (RFC 2131 4.4.1). */
  #discover(nowMs: number): void {
    if (this.#state === "INIT") {
      this.#newExchange(nowMs);
      this.#offer = null;
      const hint = this.#requested !== 0 ? `, asking for ${formatIpv4(this.#requested)}` : "";
      this.#transition("SELECTING", nowMs, `DISCOVER xid ${hex(this.#xid)}${hint}`);
    }
    this.#send(DhcpMessageType.DISCOVER, nowMs, { requestedIp: this.#requested || undefined });
    this.#tries++;
    this.#deadlineMs = nowMs + this.#backoffMs();
  }

  /** INIT-REBOOT: REQUEST the stored address, no server id (RFC 2131 3.2, 4.3.2). */
  #reboot(nowMs: number): void {
    this.#newExchange(nowMs);
    this.#transition(
      "REBOOTING",
      nowMs,
      `REQUEST for the stored address ${formatIpv4(this.#requested)}`,
    );
    this.#sendRequest(nowMs);
  }

  /** Sends (or resends) the REQUEST of REQUESTING or REBOOTING. */
  #sendRequest(nowMs: number): void {
    this.#tries++;
    this.#requestSentMs = nowMs;
    const offer = this.#offer;
    if (this.#state === "REQUESTING" && offer !== null) {
      this.#send(DhcpMessageType.REQUEST, nowMs, {
        requestedIp: offer.address,
        serverId: offer.server,
      });
    } else {
      this.#send(DhcpMessageType.REQUEST, nowMs, { requestedIp: this.#requested });
    }
    this.#deadlineMs = nowMs + this.#backoffMs();
  }

  /** T1 reached in BOUND (RFC 2131 4.4.5). */
  #renew(nowMs: number): void {
    const lease = this.#lease!;
    this.#newExchange(nowMs);
    this.#transition("RENEWING", nowMs, `T1 reached, renewing with ${formatIpv4(lease.server)}`);
    this.#sendExtend(nowMs, lease);
  }

  /** A RENEWING/REBINDING timer: retransmit, move on at T2, or give up at expiry. */
  #extend(nowMs: number): void {
    const lease = this.#lease!;
    if (nowMs >= lease.expiresMs) {
      this.#store?.save(null);
      this.#requested = lease.address;
      this.#toInit(nowMs, 0, `lease on ${formatIpv4(lease.address)} expired`, "warning");
      return;
    }
    if (this.#state === "RENEWING" && nowMs >= lease.rebindAtMs) {
      this.#transition(
        "REBINDING",
        nowMs,
        `T2 reached without an answer from ${formatIpv4(lease.server)}, broadcasting`,
        "warning",
      );
    }
    this.#sendExtend(nowMs, lease);
  }

  #sendExtend(nowMs: number, lease: DhcpLease): void {
    const renewing = this.#state === "RENEWING";
    this.#tries++;
    this.#requestSentMs = nowMs;
    this.#send(DhcpMessageType.REQUEST, nowMs, {
      dst: renewing ? lease.server : IPV4_BROADCAST,
      ciaddr: lease.address,
    });
    const end = renewing ? lease.rebindAtMs : lease.expiresMs;
    this.#deadlineMs = Math.min(end, nowMs + Math.max(EXTEND_RETRY_MIN_MS, (end - nowMs) / 2));
  }

  #input(payload: Uint8Array, meta: DatagramMeta, nowMs: number): void {
    if (this.#closed || this.#stopped) return;
    const counters = this.#stack.counters.udp;
    const message = parseDhcp(payload);
    if (typeof message === "string") {
      counters.drop(`dhcp-${message}`);
      return;
    }
    if (
      message.op !== BootpOp.REPLY || message.xid !== this.#xid ||
      !macEquals(message.chaddr, 0, this.#stack.mac)
    ) {
      counters.drop("dhcp-not-ours");
      return;
    }
    const waiting = this.#probe === null &&
      (this.#state === "REQUESTING" || this.#state === "REBOOTING" ||
        this.#state === "RENEWING" || this.#state === "REBINDING");
    if (message.messageType === DhcpMessageType.OFFER && this.#state === "SELECTING") {
      this.#onOffer(message, nowMs);
    } else if (message.messageType === DhcpMessageType.ACK && waiting) {
      this.#onAck(message, meta, nowMs);
    } else if (message.messageType === DhcpMessageType.NAK && waiting) {
      this.#onNak(message, meta, nowMs);
    } else {
      counters.drop("dhcp-unexpected");
    }
  }

  /** SELECTING: take the first usable offer (RFC 2131 4.4.1). */
  #onOffer(message: ParsedDhcpMessage, nowMs: number): void {
    const server = message.options.serverId;
    if (!isUsableAddress(message.yiaddr) || server === undefined) {
      this.#stack.counters.udp.drop("dhcp-bad-offer");
      return;
    }
    this.#offer = { address: message.yiaddr, server };
    this.#tries = 0;
    this.#transition(
      "REQUESTING",
      nowMs,
      `OFFER of ${formatIpv4(message.yiaddr)} from ${formatIpv4(server)}`,
    );
    this.#sendRequest(nowMs);
  }

  #onAck(message: ParsedDhcpMessage, meta: DatagramMeta, nowMs: number): void {
    const counters = this.#stack.counters.udp;
    const lease = leaseFrom(message, meta, this.#requestSentMs);
    if (typeof lease === "string") {
      counters.drop(`dhcp-${lease}`);
      return;
    }
    const offer = this.#offer;
    const expected = this.#state === "REQUESTING"
      ? offer?.address
      : this.#state === "REBOOTING"
      ? this.#requested
      : undefined;
    if (expected !== undefined && lease.address !== expected) {
      counters.drop("dhcp-ack-wrong-address");
      return;
    }
    if (this.#state === "REQUESTING" && offer !== null && lease.server !== offer.server) {
      counters.drop("dhcp-ack-other-server");
      return;
    }
    const current = this.#lease;
    if (current !== null && current.address === lease.address) {
      this.#bind(lease, nowMs, "renewed");
      return;
    }
    if (current !== null) {
      // RENEWING/REBINDING and the server moved us: drop the old address, check the new one.
      this.#unconfigure(nowMs);
      this.#transition("REQUESTING", nowMs, `server moved us to ${formatIpv4(lease.address)}`);
    }
    this.#startProbe(lease, nowMs);
  }

  #onNak(message: ParsedDhcpMessage, meta: DatagramMeta, nowMs: number): void {
    const server = message.options.serverId ?? meta.src;
    const expected = this.#state === "REQUESTING"
      ? this.#offer?.server
      : this.#state === "RENEWING"
      ? this.#lease?.server
      : undefined;
    if (expected !== undefined && server !== expected) {
      this.#stack.counters.udp.drop("dhcp-nak-other-server");
      return;
    }
    this.#nakStreak++;
    this.#store?.save(null);
    this.#requested = 0;
    // RFC 2131 3.1.5: restart at once; repeated NAKs back off so a confused server is not flooded.
    const delayMs = this.#nakStreak <= 1
      ? 0
      : Math.min(RETRANSMIT_FIRST_MS * 2 ** (this.#nakStreak - 2), RETRANSMIT_MAX_MS);
    const text = message.options.message ? ` (${message.options.message})` : "";
    this.#toInit(nowMs, delayMs, `NAK from ${formatIpv4(server)}${text}`, "warning");
  }

  /** RFC 5227 2.1.1: wait 0-PROBE_WAIT, then PROBE_NUM probes PROBE_MIN-PROBE_MAX apart. */
  #startProbe(lease: DhcpLease, nowMs: number): void {
    const t = this.#probeTiming;
    if (t.probeCount <= 0) {
      this.#bind(lease, nowMs, "bound");
      return;
    }
    this.#probe = { lease, sent: 0 };
    this.#deadlineMs = nowMs + randomInt(this.#stack.random, 0, t.probeWaitMs);
    log.info("DHCP ACK for {address}; checking it with ARP probes (RFC 5227)", {
      address: formatIpv4(lease.address),
    });
  }

  #probeStep(nowMs: number): void {
    const probe = this.#probe!;
    const t = this.#probeTiming;
    if (probe.sent < t.probeCount) {
      this.#stack.arp.probe(probe.lease.address);
      probe.sent++;
      this.#deadlineMs = nowMs +
        (probe.sent < t.probeCount
          ? randomInt(this.#stack.random, t.probeMinMs, t.probeMaxMs)
          : t.announceWaitMs);
      return;
    }
    this.#bind(probe.lease, nowMs, "bound");
  }

  /** Any ARP packet from another MAC claiming the address being probed (RFC 5227 2.1.1). */
  #onClaim(ip: Ipv4Address, mac: Uint8Array): void {
    const probe = this.#probe;
    if (this.#closed || probe === null || ip !== probe.lease.address) return;
    if (macEquals(mac, 0, this.#stack.mac)) return;
    const nowMs = this.#stack.nowMs;
    const lease = probe.lease;
    this.#probe = null;
    const who = formatMac(mac);
    this.#send(DhcpMessageType.DECLINE, nowMs, {
      requestedIp: lease.address,
      serverId: lease.server,
      message: `address in use by ${who}`,
    });
    this.#store?.save(null);
    this.#requested = 0;
    this.#toInit(
      nowMs,
      DECLINE_WAIT_MS,
      `${formatIpv4(lease.address)} is in use by ${who}: DECLINE sent, restarting in 10 s`,
      "warning",
    );
  }

  #bind(lease: DhcpLease, nowMs: number, how: "bound" | "renewed"): void {
    this.#lease = lease;
    this.#probe = null;
    this.#offer = null;
    this.#nakStreak = 0;
    this.#requested = lease.address;
    const config: Ipv4Config = {
      address: lease.address,
      prefixLength: lease.prefixLength,
      gateway: lease.router,
    };
    const current = this.#stack.ipv4.config;
    if (
      current === null || current.address !== config.address ||
      current.prefixLength !== config.prefixLength || current.gateway !== config.gateway
    ) {
      this.#stack.configure(config, nowMs);
    }
    this.#store?.save(this.#toStored(lease));
    const router = lease.router !== 0 ? ` via ${formatIpv4(lease.router)}` : "";
    const dns = lease.dnsServers.length > 0
      ? `, DNS ${lease.dnsServers.map(formatIpv4).join(" ")}`
      : "";
    const seconds = lease.leaseSeconds === INFINITE_LEASE ? "ever" : `${lease.leaseSeconds} s`;
    this.#transition(
      "BOUND",
      nowMs,
      `${how} ${formatIpv4(lease.address)}/${lease.prefixLength}${router} from ` +
        `${formatIpv4(lease.server)} for ${seconds}${dns}`,
    );
    this.#deadlineMs = Math.max(lease.renewAtMs, nowMs + 1);
    this.#notify(lease);
  }

  /** Leaves the bound states (if in one) and schedules a new DISCOVER after `delayMs`. */
  #toInit(nowMs: number, delayMs: number, why: string, priority: EventPriority = "info"): void {
    this.#unconfigure(nowMs);
    this.#probe = null;
    this.#offer = null;
    this.#transition("INIT", nowMs, why, priority);
    this.#deadlineMs = nowMs + delayMs;
  }

  #unconfigure(nowMs: number): void {
    if (this.#lease === null) return;
    this.#lease = null;
    this.#stack.configure(null, nowMs);
    this.#notify(null);
  }

  #release(nowMs: number): void {
    this.#stopped = true;
    this.#deadlineMs = Infinity;
    const lease = this.#lease;
    if (lease === null) {
      this.#probe = null;
      log.info("DHCP client stopped in {state}; no lease to release", { state: this.#state });
      return;
    }
    // RFC 2131 4.4.6 says unicast; without the server's MAC at hand (the host exits after one
    // more poll, too soon for ARP) the RELEASE is broadcast, which servers accept as well.
    const known = this.#stack.arp.lookup(lease.server, nowMs) !== null;
    this.#xid = this.#stack.random.u32();
    this.#send(DhcpMessageType.RELEASE, nowMs, {
      dst: known ? lease.server : IPV4_BROADCAST,
      ciaddr: lease.address,
      serverId: lease.server,
    });
    // Keep the address (marked released) to suggest it again on the next start.
    this.#store?.save({ ...this.#toStored(lease), released: true });
    this.#unconfigure(nowMs);
    this.#transition(
      "INIT",
      nowMs,
      `released ${formatIpv4(lease.address)} to ${formatIpv4(lease.server)}`,
    );
  }

  #newExchange(nowMs: number): void {
    this.#xid = this.#stack.random.u32();
    this.#tries = 0;
    this.#exchangeStartMs = nowMs;
  }

  /** RFC 2131 4.1: 4 s, 8 s, ... 64 s, each +-1 s, for the `#tries`-th transmission. */
  #backoffMs(): number {
    const base = Math.min(
      RETRANSMIT_FIRST_MS * 2 ** Math.max(0, this.#tries - 1),
      RETRANSMIT_MAX_MS,
    );
    return base + randomInt(this.#stack.random, -RETRANSMIT_JITTER_MS, RETRANSMIT_JITTER_MS);
  }

  /** Builds and sends one client message (RFC 2131 Table 5 says which fields go in which). */
  #send(type: number, nowMs: number, fields: SendFields): void {
    const ciaddr = fields.ciaddr ?? 0;
    const full = type !== DhcpMessageType.DECLINE && type !== DhcpMessageType.RELEASE;
    const options: DhcpOptions = {
      clientId: this.#clientId,
      requestedIp: fields.requestedIp,
      serverId: fields.serverId,
      message: fields.message,
      ...(full
        ? {
          hostname: this.#hostname,
          parameterRequestList: PARAMETER_REQUEST_LIST,
          maxMessageSize: MAX_MESSAGE_SIZE,
        }
        : {}),
    };
    const message: DhcpMessage = {
      op: BootpOp.REQUEST,
      xid: this.#xid,
      secs: full ? Math.min(0xffff, Math.floor((nowMs - this.#exchangeStartMs) / 1000)) : 0,
      broadcast: false,
      ciaddr,
      yiaddr: 0,
      siaddr: 0,
      giaddr: 0,
      chaddr: this.#stack.mac,
      messageType: type,
      options,
    };
    const bytes = new Uint8Array(dhcpLength(message));
    emitDhcp(bytes, message);
    const dst = fields.dst ?? IPV4_BROADCAST;
    // Until configured the source is 0.0.0.0 (RFC 2131 4.1).
    const sent = this.#endpoint.send(bytes, dst, DHCP_SERVER_PORT, ciaddr === 0 ? { src: 0 } : {});
    if (!sent) this.#stack.counters.udp.drop("dhcp-send-failed");
  }

  #transition(
    to: DhcpClientState,
    nowMs: number,
    why: string,
    priority: EventPriority = "info",
  ): void {
    const from = this.#state;
    this.#state = to;
    const properties = { from, to, why };
    if (priority === "info") log.info("DHCP {from} -> {to}: {why}", properties);
    else log.warn("DHCP {from} -> {to}: {why}", properties);
    this.#stack.events.add(nowMs, "dhcp", `${from} -> ${to}: ${why}`, priority);
  }

  #notify(lease: DhcpLease | null): void {
    try {
      this.#onLease?.(lease);
    } catch (error) {
      log.error("DHCP onLease callback failed: {error}", { error });
    }
  }

  #toStored(lease: DhcpLease): StoredLease {
    return {
      address: lease.address,
      prefixLength: lease.prefixLength,
      router: lease.router,
      dnsServers: [...lease.dnsServers],
      server: lease.server,
      leaseSeconds: lease.leaseSeconds,
      expiresUnixMs: this.#unixOriginMs !== null && isFinite(lease.expiresMs)
        ? this.#unixOriginMs + lease.expiresMs
        : null,
    };
  }
}

/** The lease an ACK grants, or why it is unusable. Lease times count from `sentMs`. */
function leaseFrom(
  message: ParsedDhcpMessage,
  meta: DatagramMeta,
  sentMs: number,
): DhcpLease | string {
  const o = message.options;
  const address = message.yiaddr;
  if (!isUsableAddress(address)) return "bad-yiaddr";
  if (o.leaseSeconds === undefined) return "no-lease-time";
  const prefixLength = o.subnetMask !== undefined
    ? maskPrefixLength(o.subnetMask)
    : classfulPrefix(address);
  if (prefixLength < 1) return "bad-subnet-mask";
  const infinite = o.leaseSeconds === INFINITE_LEASE;
  const leaseSeconds = infinite ? INFINITE_LEASE : Math.max(MIN_LEASE_SECONDS, o.leaseSeconds);
  // RFC 2131 4.4.5: T1 < T2 < lease, else the defaults.
  const t2 = o.rebindingSeconds !== undefined && o.rebindingSeconds > 0 &&
      o.rebindingSeconds < leaseSeconds
    ? o.rebindingSeconds
    : leaseSeconds * T2_FRACTION;
  const t1 = o.renewalSeconds !== undefined && o.renewalSeconds > 0 && o.renewalSeconds <= t2
    ? o.renewalSeconds
    : Math.min(leaseSeconds * T1_FRACTION, t2);
  const at = (seconds: number) => (infinite ? Infinity : sentMs + seconds * 1000);
  return {
    address,
    prefixLength,
    router: o.routers?.find((r) => isUsableAddress(r) && r !== address) ?? 0,
    dnsServers: (o.dnsServers ?? []).filter(isUsableAddress).slice(0, MAX_DNS_SERVERS),
    server: o.serverId ?? meta.src,
    leaseSeconds,
    obtainedMs: sentMs,
    renewAtMs: at(t1),
    rebindAtMs: at(t2),
    expiresMs: at(leaseSeconds),
  };
}

/** Unicast, not 0.0.0.0, loopback, multicast or broadcast. */
function isUsableAddress(address: Ipv4Address): boolean {
  const first = address >>> 24;
  return address !== 0 && first !== 127 && first < 224;
}

/** RFC 791 class A/B/C masks, for a server that sends no subnet mask. */
function classfulPrefix(address: Ipv4Address): number {
  const first = address >>> 24;
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}

function hex(value: number): string {
  return "0x" + value.toString(16).padStart(8, "0");
}
