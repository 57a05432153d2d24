/**
 * DHCP server (RFC 2131 4.3) for the host side of a point-to-point TAP, sans-I/O.
 *
 * Hands out addresses from a pool inside the stack's own subnet, with lease time, T1/T2, subnet
 * mask, router and DNS options. Answers DISCOVER, REQUEST (SELECTING, INIT-REBOOT, RENEWING and
 * REBINDING, told apart by server id / requested IP / ciaddr as RFC 2131 4.3.2 does), RELEASE,
 * DECLINE and INFORM. Replies are broadcast unless the client's ciaddr is set (then unicast); NAKs
 * are always broadcast.
 *
 * Invariants: the binding table holds at most `maxLeases` clients and the declined list at most
 * `maxLeases` addresses; a new client past the bound reuses the oldest free binding or gets no
 * offer (counted `dhcp-table-full`). An address is never offered while another client holds it
 * (offered or bound and unexpired), while it is declined, or if it is ours, the router, the
 * network or the broadcast address. Bound and free bindings are persisted through the store on
 * every change (not offers). Malformed input is counted on the UDP counters as `dhcp-<reason>`.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { BindingStore, StoredBinding } from "./lease_store.ts";
import type { Stack } from "./stack.ts";
import type { UdpEndpoint } from "./udp.ts";
import {
  formatIpv4,
  formatMac,
  IPV4_BROADCAST,
  type Ipv4Address,
  parseMac,
  prefixMask,
} from "./wire/address.ts";
import {
  BootpOp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  dhcpLength,
  DhcpMessageType,
  type DhcpOptions,
  emitDhcp,
  type ParsedDhcpMessage,
  parseDhcp,
} from "./wire/dhcp.ts";

const log = getLogger(["mip", "dhcp", "server"]);

/** Defaults of {@linkcode DhcpServerOptions}. */
const DEFAULT_LEASE_SECONDS = 3600;
const DEFAULT_MAX_LEASES = 256;
/** How long an offered address stays reserved for the client's REQUEST. */
const DEFAULT_OFFER_HOLD_MS = 60_000;
/** How long a declined address is left alone (RFC 2131 4.3.3 leaves it to the server). */
const DEFAULT_DECLINE_HOLD_MS = 600_000;

/** Options of {@linkcode DhcpServer}. */
export interface DhcpServerOptions {
  /** First and last pool address; default: every host address of our subnet. */
  poolFirst?: Ipv4Address;
  poolLast?: Ipv4Address;
  /** Lease time in seconds (option 51); default 3600. */
  leaseSeconds?: number;
  /** Router option; default the stack's gateway, else our own address; 0 sends none. */
  router?: Ipv4Address;
  /** DNS servers option (6); default none. */
  dnsServers?: Ipv4Address[];
  store?: BindingStore;
  /** Most clients remembered; default 256. */
  maxLeases?: number;
  offerHoldMs?: number;
  declineHoldMs?: number;
  /**
   * Answer INIT-REBOOT/RENEWING/REBINDING requests of unknown clients (ACK a free pool address,
   * NAK a wrong one) instead of staying silent (RFC 2131 4.3.2); default true: on a TAP we are
   * the only server.
   */
  authoritative?: boolean;
  /** Wall-clock time at stack time 0, to persist lease ends as wall time (default 0). */
  unixOriginMs?: number;
}

/** A binding as the dashboard shows it. */
export interface DhcpServerLease {
  mac: string;
  address: string;
  state: "offered" | "bound" | "free";
  /** Absolute stack ms. */
  expiresMs: number;
  hostname: string | null;
}

interface Binding {
  key: string;
  mac: Uint8Array;
  address: Ipv4Address;
  state: "offered" | "bound" | "free";
  expiresMs: number;
  hostname?: string;
}

interface ReplyFields {
  yiaddr?: Ipv4Address;
  ciaddr?: Ipv4Address;
  options?: DhcpOptions;
  /** Unicast to this address instead of broadcasting. */
  to?: Ipv4Address;
}

/**
 * Serves DHCP on a stack with a static address.
 *
 * @example
 * ```ts
 * const server = new DhcpServer(stack, { dnsServers: [parseIpv4("10.0.0.1")] });
 * ```
 */
export class DhcpServer {
  readonly #stack: Stack;
  readonly #endpoint: UdpEndpoint;
  readonly #address: Ipv4Address;
  readonly #mask: Ipv4Address;
  readonly #first: Ipv4Address;
  readonly #last: Ipv4Address;
  readonly #router: Ipv4Address;
  readonly #dns: Ipv4Address[];
  readonly #leaseSeconds: number;
  readonly #maxLeases: number;
  readonly #offerHoldMs: number;
  readonly #declineHoldMs: number;
  readonly #authoritative: boolean;
  readonly #unixOriginMs: number;
  readonly #store: BindingStore | null;
  readonly #bindings = new Map<string, Binding>();
  readonly #declined = new Map<Ipv4Address, number>();
  #closed = false;

  constructor(stack: Stack, options: DhcpServerOptions = {}) {
    const config = stack.ipv4.config;
    if (config === null) {
      throw new TypeError("Cannot start a DHCP server: the stack needs a static IPv4 address");
    }
    this.#stack = stack;
    this.#address = config.address;
    this.#mask = prefixMask(config.prefixLength);
    const network = (config.address & this.#mask) >>> 0;
    const broadcast = (network | ~this.#mask) >>> 0;
    this.#first = options.poolFirst ?? network + 1;
    this.#last = options.poolLast ?? broadcast - 1;
    if (
      this.#first > this.#last || !this.#inSubnet(this.#first) || !this.#inSubnet(this.#last)
    ) {
      throw new RangeError(
        `Cannot use DHCP pool ${formatIpv4(this.#first)}-${formatIpv4(this.#last)}: ` +
          `expected a range inside ${formatIpv4(network)}/${config.prefixLength}`,
      );
    }
    this.#router = options.router ?? (config.gateway !== 0 ? config.gateway : config.address);
    this.#dns = [...(options.dnsServers ?? [])];
    this.#leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    if (!Number.isInteger(this.#leaseSeconds) || this.#leaseSeconds < 10) {
      throw new RangeError(`Cannot use DHCP lease time ${this.#leaseSeconds} s: expected >= 10`);
    }
    this.#maxLeases = Math.max(1, options.maxLeases ?? DEFAULT_MAX_LEASES);
    this.#offerHoldMs = options.offerHoldMs ?? DEFAULT_OFFER_HOLD_MS;
    this.#declineHoldMs = options.declineHoldMs ?? DEFAULT_DECLINE_HOLD_MS;
    this.#authoritative = options.authoritative ?? true;
    this.#unixOriginMs = options.unixOriginMs ?? 0;
    this.#store = options.store ?? null;
    this.#load();
    this.#endpoint = stack.udp.open(DHCP_SERVER_PORT, (payload, _meta, nowMs) => {
      if (!this.#closed) this.#input(payload, nowMs);
    });
    stack.addPoller(this);
    log.info("DHCP server on {address}, pool {first}-{last}, leases of {seconds} s", {
      address: formatIpv4(this.#address),
      first: formatIpv4(this.#first),
      last: formatIpv4(this.#last),
      seconds: this.#leaseSeconds,
    });
  }

  /** The binding table, for the dashboard and tests. */
  leases(): DhcpServerLease[] {
    return [...this.#bindings.values()].map((b) => ({
      mac: formatMac(b.mac),
      address: formatIpv4(b.address),
      state: b.state,
      expiresMs: b.expiresMs,
      hostname: b.hostname ?? null,
    }));
  }

  /** Stops serving and frees port 67. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stack.removePoller(this);
    this.#endpoint.close();
  }

  /** Expires offers, leases and declines; returns the next expiry. */
  poll(nowMs: number): number {
    if (this.#closed) return Infinity;
    let next = Infinity;
    let changed = false;
    for (const b of this.#bindings.values()) {
      if (b.state === "free") continue;
      if (b.expiresMs > nowMs) {
        next = Math.min(next, b.expiresMs);
        continue;
      }
      if (b.state === "bound") {
        changed = true;
        this.#event(nowMs, `lease of ${formatIpv4(b.address)} to ${formatMac(b.mac)} expired`);
      }
      b.state = "free";
    }
    for (const [address, untilMs] of this.#declined) {
      if (untilMs <= nowMs) this.#declined.delete(address);
      else next = Math.min(next, untilMs);
    }
    if (changed) this.#save();
    return next;
  }

  #input(payload: Uint8Array, nowMs: number): void {
    const counters = this.#stack.counters.udp;
    const message = parseDhcp(payload);
    if (typeof message === "string") {
      counters.drop(`dhcp-${message}`);
      return;
    }
    if (message.op !== BootpOp.REQUEST) {
      counters.drop("dhcp-not-request");
      return;
    }
    if (message.giaddr !== 0) {
      counters.drop("dhcp-relayed"); // no relay agents on a point-to-point TAP
      return;
    }
    switch (message.messageType) {
      case DhcpMessageType.DISCOVER:
        return this.#onDiscover(message, nowMs);
      case DhcpMessageType.REQUEST:
        return this.#onRequest(message, nowMs);
      case DhcpMessageType.RELEASE:
        return this.#onRelease(message, nowMs);
      case DhcpMessageType.DECLINE:
        return this.#onDecline(message, nowMs);
      case DhcpMessageType.INFORM:
        return this.#reply(message, DhcpMessageType.ACK, {
          ciaddr: message.ciaddr,
          options: this.#configOptions(),
          to: message.ciaddr || undefined,
        }); // RFC 2131 4.3.5: parameters only, no lease
      default:
        counters.drop("dhcp-unexpected");
    }
  }

  /** RFC 2131 4.3.1. */
  #onDiscover(message: ParsedDhcpMessage, nowMs: number): void {
    const key = clientKey(message);
    const address = this.#allocate(key, message.options.requestedIp, nowMs);
    if (address === null) {
      this.#stack.counters.udp.drop("dhcp-pool-exhausted");
      log.warn("DHCP pool exhausted: no address for {mac}", { mac: formatMac(message.chaddr) });
      return;
    }
    const binding = this.#binding(key, message, address, nowMs);
    if (binding === null) return;
    if (binding.state !== "bound" || binding.expiresMs <= nowMs) {
      binding.state = "offered";
      binding.expiresMs = nowMs + this.#offerHoldMs;
    }
    log.info("DHCP OFFER {address} to {mac}", {
      address: formatIpv4(address),
      mac: formatMac(message.chaddr),
    });
    this.#reply(message, DhcpMessageType.OFFER, { yiaddr: address, options: this.#leaseOptions() });
  }

  /** RFC 2131 4.3.2: which kind of REQUEST this is decides how it is checked. */
  #onRequest(message: ParsedDhcpMessage, nowMs: number): void {
    const o = message.options;
    const key = clientKey(message);
    if (o.serverId !== undefined) {
      // SELECTING: the client chose a server.
      const binding = this.#bindings.get(key);
      if (o.serverId !== this.#address) {
        if (binding?.state === "offered") binding.state = "free"; // it chose someone else
        return;
      }
      const requested = o.requestedIp ?? message.ciaddr;
      const held = binding !== undefined && binding.address === requested &&
        (binding.state !== "free" || this.#available(requested, key, nowMs));
      if (!held) return this.#nak(message, nowMs, "requested address was not offered");
      return this.#grant(message, requested, nowMs);
    }
    const requested = o.requestedIp ?? message.ciaddr;
    if (requested === 0) {
      this.#stack.counters.udp.drop("dhcp-bad-request");
      return;
    }
    // INIT-REBOOT (requested IP, no ciaddr) or RENEWING/REBINDING (ciaddr).
    if (!this.#inSubnet(requested)) return this.#nak(message, nowMs, "wrong network");
    const binding = this.#bindings.get(key);
    if (binding !== undefined && binding.address === requested) {
      if (binding.state !== "free" || this.#available(requested, key, nowMs)) {
        return this.#grant(message, requested, nowMs);
      }
      return this.#nak(message, nowMs, "address no longer available");
    }
    if (binding !== undefined && binding.state !== "free" && binding.expiresMs > nowMs) {
      return this.#nak(message, nowMs, "client holds another address");
    }
    if (!this.#authoritative) return; // RFC 2131 4.3.2: no record, so remain silent
    if (this.#available(requested, key, nowMs)) return this.#grant(message, requested, nowMs);
    this.#nak(message, nowMs, "address not available");
  }

  /** Binds `address` to the client and ACKs (RFC 2131 4.3.2). */
  #grant(message: ParsedDhcpMessage, address: Ipv4Address, nowMs: number): void {
    const key = clientKey(message);
    const binding = this.#binding(key, message, address, nowMs);
    if (binding === null) return;
    const wasBound = binding.state === "bound";
    binding.state = "bound";
    binding.expiresMs = nowMs + this.#leaseSeconds * 1000;
    this.#save();
    const text = `leased ${formatIpv4(address)} to ${formatMac(message.chaddr)}` +
      (binding.hostname ? ` (${binding.hostname})` : "") + ` for ${this.#leaseSeconds} s`;
    if (wasBound) log.debug("DHCP renewed: {text}", { text });
    else this.#event(nowMs, text);
    this.#reply(message, DhcpMessageType.ACK, {
      yiaddr: address,
      ciaddr: message.ciaddr,
      options: this.#leaseOptions(),
      to: message.ciaddr || undefined,
    });
  }

  #nak(message: ParsedDhcpMessage, nowMs: number, why: string): void {
    this.#event(nowMs, `NAK to ${formatMac(message.chaddr)}: ${why}`);
    this.#reply(message, DhcpMessageType.NAK, { options: { message: why } });
  }

  /** RFC 2131 4.3.4: the address becomes free; the binding is remembered for reuse. */
  #onRelease(message: ParsedDhcpMessage, nowMs: number): void {
    const o = message.options;
    const binding = this.#bindings.get(clientKey(message));
    if (o.serverId !== undefined && o.serverId !== this.#address) return;
    if (binding === undefined || binding.address !== message.ciaddr || binding.state === "free") {
      this.#stack.counters.udp.drop("dhcp-release-unknown");
      return;
    }
    binding.state = "free";
    binding.expiresMs = nowMs;
    this.#save();
    this.#event(nowMs, `${formatMac(message.chaddr)} released ${formatIpv4(binding.address)}`);
  }

  /** RFC 2131 4.3.3: the address is in use by someone else; leave it alone for a while. */
  #onDecline(message: ParsedDhcpMessage, nowMs: number): void {
    const o = message.options;
    const address = o.requestedIp;
    if (o.serverId !== undefined && o.serverId !== this.#address) return;
    const key = clientKey(message);
    const binding = this.#bindings.get(key);
    if (address === undefined || binding === undefined || binding.address !== address) {
      this.#stack.counters.udp.drop("dhcp-decline-unknown");
      return;
    }
    this.#bindings.delete(key);
    if (this.#declined.size >= this.#maxLeases) {
      const oldest = [...this.#declined].sort((a, b) => a[1] - b[1])[0]!;
      this.#declined.delete(oldest[0]);
    }
    this.#declined.set(address, nowMs + this.#declineHoldMs);
    this.#save();
    const why = o.message ? `: ${o.message}` : "";
    this.#event(
      nowMs,
      `${formatMac(message.chaddr)} declined ${formatIpv4(address)}${why}`,
      "warning",
    );
  }

  /**
   * RFC 2131 4.3.1 order: the client's current or previous address, the requested one, then a
   * fresh address (one no other client used before, if any is left).
   */
  #allocate(
    key: string,
    requested: Ipv4Address | undefined,
    nowMs: number,
  ): Ipv4Address | null {
    const previous = this.#bindings.get(key)?.address;
    if (previous !== undefined && this.#available(previous, key, nowMs)) return previous;
    if (
      requested !== undefined && this.#available(requested, key, nowMs) &&
      !this.#rememberedByOther(requested, key)
    ) {
      return requested;
    }
    for (const fresh of [true, false]) {
      for (let a = this.#first; a <= this.#last; a++) {
        if (!this.#available(a, key, nowMs)) continue;
        if (fresh && this.#rememberedByOther(a, key)) continue;
        return a;
      }
    }
    return null;
  }

  /** True when `address` may go to `key` now. */
  #available(address: Ipv4Address, key: string, nowMs: number): boolean {
    const network = (this.#address & this.#mask) >>> 0;
    const broadcast = (network | ~this.#mask) >>> 0;
    if (address < this.#first || address > this.#last) return false;
    if (address === network || address === broadcast || address === this.#address) return false;
    if (address === this.#router) return false;
    if ((this.#declined.get(address) ?? 0) > nowMs) return false;
    for (const b of this.#bindings.values()) {
      if (b.address === address && b.key !== key && b.state !== "free" && b.expiresMs > nowMs) {
        return false;
      }
    }
    return true;
  }

  #rememberedByOther(address: Ipv4Address, key: string): boolean {
    for (const b of this.#bindings.values()) {
      if (b.address === address && b.key !== key) return true;
    }
    return false;
  }

  /** The client's binding, moved to `address` (created if new); null when the table is full. */
  #binding(
    key: string,
    message: ParsedDhcpMessage,
    address: Ipv4Address,
    nowMs: number,
  ): Binding | null {
    // Whoever remembered this address as free loses it.
    for (const [k, b] of this.#bindings) {
      if (k !== key && b.address === address) this.#bindings.delete(k);
    }
    let binding = this.#bindings.get(key);
    if (binding === undefined) {
      if (this.#bindings.size >= this.#maxLeases && !this.#evict(nowMs)) {
        this.#stack.counters.udp.drop("dhcp-table-full");
        log.warn("DHCP lease table full ({n}): ignoring {mac}", {
          n: this.#maxLeases,
          mac: formatMac(message.chaddr),
        });
        return null;
      }
      binding = { key, mac: message.chaddr.slice(), address, state: "free", expiresMs: nowMs };
      this.#bindings.set(key, binding);
    }
    if (binding.address !== address) {
      binding.address = address;
      binding.state = "free";
    }
    const hostname = message.options.hostname;
    if (hostname !== undefined) binding.hostname = hostname.slice(0, 63);
    return binding;
  }

  /** Drops the free or expired binding that ended first; false when every one is live. */
  #evict(nowMs: number): boolean {
    let victim: Binding | null = null;
    for (const b of this.#bindings.values()) {
      const dead = b.state === "free" || b.expiresMs <= nowMs;
      if (dead && (victim === null || b.expiresMs < victim.expiresMs)) victim = b;
    }
    if (victim === null) return false;
    this.#bindings.delete(victim.key);
    return true;
  }

  #reply(request: ParsedDhcpMessage, type: number, fields: ReplyFields): void {
    const message = {
      op: BootpOp.REPLY,
      xid: request.xid,
      secs: 0,
      broadcast: request.broadcast,
      ciaddr: fields.ciaddr ?? 0,
      yiaddr: fields.yiaddr ?? 0,
      siaddr: 0,
      giaddr: 0,
      chaddr: request.chaddr,
      messageType: type,
      options: { serverId: this.#address, ...fields.options },
    };
    const bytes = new Uint8Array(dhcpLength(message));
    emitDhcp(bytes, message);
    const dst = type !== DhcpMessageType.NAK && fields.to !== undefined
      ? fields.to
      : IPV4_BROADCAST;
    if (!this.#endpoint.send(bytes, dst, DHCP_CLIENT_PORT)) {
      this.#stack.counters.udp.drop("dhcp-send-failed");
    }
  }

  /** Lease time, T1/T2 (RFC 2131 4.4.5 defaults) and the configuration options. */
  #leaseOptions(): DhcpOptions {
    const lease = this.#leaseSeconds;
    return {
      leaseSeconds: lease,
      renewalSeconds: Math.floor(lease * 0.5),
      rebindingSeconds: Math.floor(lease * 0.875),
      ...this.#configOptions(),
    };
  }

  #configOptions(): DhcpOptions {
    return {
      subnetMask: this.#mask,
      routers: this.#router !== 0 ? [this.#router] : undefined,
      dnsServers: this.#dns.length > 0 ? this.#dns : undefined,
    };
  }

  #inSubnet(address: Ipv4Address): boolean {
    return ((address ^ this.#address) & this.#mask) === 0;
  }

  #event(nowMs: number, text: string, priority: "info" | "warning" = "info"): void {
    if (priority === "info") log.info("DHCP server: {text}", { text });
    else log.warn("DHCP server: {text}", { text });
    this.#stack.events.add(nowMs, "dhcp-server", text, priority);
  }

  #load(): void {
    if (this.#store === null) return;
    const now = this.#stack.nowMs;
    for (const stored of this.#store.load().slice(0, this.#maxLeases)) {
      let mac: Uint8Array;
      try {
        mac = parseMac(stored.mac);
      } catch {
        continue;
      }
      if (!this.#inSubnet(stored.address)) continue;
      const expiresMs = stored.expiresUnixMs - this.#unixOriginMs;
      this.#bindings.set(stored.key, {
        key: stored.key,
        mac,
        address: stored.address,
        state: expiresMs > now ? "bound" : "free",
        expiresMs,
        hostname: stored.hostname,
      });
    }
  }

  #save(): void {
    if (this.#store === null) return;
    const rows: StoredBinding[] = [];
    for (const b of this.#bindings.values()) {
      if (b.state === "offered") continue;
      rows.push({
        key: b.key,
        mac: formatMac(b.mac),
        address: b.address,
        expiresUnixMs: this.#unixOriginMs + b.expiresMs,
        ...(b.hostname !== undefined ? { hostname: b.hostname } : {}),
      });
    }
    this.#store.save(rows);
  }
}

/** RFC 2131 4.2: a client is its client identifier (option 61) if sent, else its MAC. */
function clientKey(message: ParsedDhcpMessage): string {
  const id = message.options.clientId;
  return id !== undefined ? `id:${hexBytes(id)}` : `hw:${hexBytes(message.chaddr)}`;
}

function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
