/**
 * SNTP client (RFC 4330), sans-I/O: keeps the offset between the host's wall clock and a server's.
 *
 * Wall time without I/O: the host measures `unixOriginMs`, the wall-clock time at stack time 0,
 * so our local wall time is `unixOriginMs + nowMs`. A sync sends T1 (local), the server stamps
 * T2 (receive) and T3 (transmit), we note T4 (local) and take offset = ((T2-T1)+(T3-T4))/2 and
 * delay = (T4-T1)-(T3-T2) (RFC 4330 5). `nowUnixMs(nowMs)` is the corrected wall time.
 *
 * Schedule: a sync at the first poll, then every `intervalMs` (1 h); a failed sync (every try
 * timed out or was refused) retries after `retryMs` (5 min), doubling per failure up to the
 * interval. Each sync makes up to `triesPerSync` tries, each from a fresh ephemeral port,
 * rotating over the server's addresses. A name is resolved through the resolver at each sync.
 *
 * Invariants: requests are sent only from `poll`; the resolver's continuation only records the
 * addresses and asks for a poll. A reply counts only from the queried address and port 123, in
 * mode 4, with our transmit timestamp as its origin (else ignored and counted `ntp-<reason>`,
 * the try still waits); leap 3, stratum > 15 and zero timestamps fail the try; a kiss-o'-death
 * (stratum 0) RATE multiplies the interval (up to 16x), DENY/RSTR drops that address for a day
 * (RFC 4330 8). At most one request is in flight.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DnsResolver } from "./dns.ts";
import type { Stack } from "./stack.ts";
import type { DatagramMeta, UdpEndpoint } from "./udp.ts";
import { formatIpv4, type Ipv4Address, isIpv4, parseIpv4 } from "./wire/address.ts";
import {
  emitNtpRequest,
  NTP_LEAP_UNSYNCHRONIZED,
  NTP_PACKET_LENGTH,
  ntpKissCode,
  NtpMode,
  type NtpPacket,
  type NtpTimestamp,
  ntpTimestampEquals,
  ntpToUnixMs,
  parseNtp,
  unixMsToNtp,
} from "./wire/ntp.ts";

const log = getLogger(["mip", "ntp"]);

/** The NTP port (RFC 4330 4). */
export const NTP_PORT = 123;
const MAX_STRATUM = 15; // RFC 4330 4: 16+ means unsynchronised / reserved
const MAX_RATE_FACTOR = 16;
const DENY_BACKOFF_MS = 86_400_000;
const MAX_ADDRESSES = 8;
const MAX_DENIED = 16;
/** An offset change beyond this is recorded as an event (a clock step). */
const STEP_EVENT_MS = 1_000;

/** Options of {@linkcode SntpClient}. */
export interface SntpClientOptions {
  /** Host name or dotted quad; default "pool.ntp.org". */
  server?: string;
  /** Resolves `server` when it is a name. */
  resolver?: DnsResolver;
  /** Wall-clock Unix ms at stack time 0, measured by the host. */
  unixOriginMs: number;
  /** Between successful syncs; default 1 h. */
  intervalMs?: number;
  /** After the first failed sync; doubles per failure up to `intervalMs`. Default 5 min. */
  retryMs?: number;
  /** Wait for one reply; default 5 s. */
  timeoutMs?: number;
  /** Requests per sync before it counts as failed; default 3. */
  triesPerSync?: number;
}

/** What the dashboard shows; times are stack ms. */
export interface SntpSnapshot {
  server: string;
  address: string | null;
  synchronized: boolean;
  offsetMs: number | null;
  delayMs: number | null;
  stratum: number | null;
  lastSyncMs: number | null;
  nextSyncMs: number | null;
  lastError: string | null;
}

type Phase = "idle" | "resolving" | "ready" | "waiting";

interface Request {
  /** Sent while ARP still had to resolve the next hop: the sample is skewed and not used. */
  warmup: boolean;
  endpoint: UdpEndpoint;
  address: Ipv4Address;
  sentMs: number;
  /** The transmit timestamp as sent; the reply's origin must equal it bit for bit. */
  transmit: NtpTimestamp;
  deadlineMs: number;
}

/**
 * Keeps wall-clock time for the appliance.
 *
 * @example
 * ```ts
 * const sntp = new SntpClient(stack, { server: "pool.ntp.org", resolver, unixOriginMs });
 * new Date(sntp.nowUnixMs(clock.now()));
 * ```
 */
export class SntpClient {
  readonly #stack: Stack;
  readonly #server: string;
  readonly #resolver: DnsResolver | null;
  readonly #unixOriginMs: number;
  readonly #intervalMs: number;
  readonly #retryMs: number;
  readonly #timeoutMs: number;
  readonly #triesPerSync: number;
  readonly #denied = new Map<Ipv4Address, number>();
  #phase: Phase = "idle";
  #nextSyncMs = -Infinity;
  #addresses: Ipv4Address[] = [];
  #addressIndex = 0;
  #tries = 0;
  /** A try of this sync already went out (so ARP has been asked). */
  #warm = false;
  #request: Request | null = null;
  #resolveError: string | null = null;
  #generation = 0;
  #failures = 0;
  #rateFactor = 1;
  #offsetMs: number | null = null;
  #delayMs: number | null = null;
  #stratum: number | null = null;
  #lastSyncMs: number | null = null;
  #lastAddress: Ipv4Address | null = null;
  #lastError: string | null = null;
  #closed = false;

  constructor(stack: Stack, options: SntpClientOptions) {
    this.#stack = stack;
    this.#server = options.server ?? "pool.ntp.org";
    this.#resolver = options.resolver ?? null;
    this.#unixOriginMs = options.unixOriginMs;
    this.#intervalMs = options.intervalMs ?? 3_600_000;
    this.#retryMs = options.retryMs ?? 300_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#triesPerSync = Math.max(1, options.triesPerSync ?? 3);
    if (!isIpv4(this.#server) && this.#resolver === null) {
      throw new TypeError(`Cannot use NTP server '${this.#server}': a name needs a resolver`);
    }
    stack.addPoller(this);
    stack.requestPoll();
  }

  /** The configured server (name or address). */
  get server(): string {
    return this.#server;
  }

  /** Server clock minus local clock (ms), or null before the first sync. */
  get offsetMs(): number | null {
    return this.#offsetMs;
  }

  /** Stack time of the last successful sync, or null. */
  get lastSyncMs(): number | null {
    return this.#lastSyncMs;
  }

  /** Corrected wall-clock Unix ms at stack time `nowMs` (uncorrected before the first sync). */
  nowUnixMs(nowMs: number): number {
    return this.#unixOriginMs + nowMs + (this.#offsetMs ?? 0);
  }

  /** Syncs at the next poll (e.g. when DHCP has just brought the network up). */
  syncNow(): void {
    if (this.#phase !== "idle") return;
    this.#nextSyncMs = -Infinity;
    this.#stack.requestPoll();
  }

  /** A plain summary for the dashboard. */
  snapshot(): SntpSnapshot {
    return {
      server: this.#server,
      address: this.#lastAddress === null ? null : formatIpv4(this.#lastAddress),
      synchronized: this.#offsetMs !== null,
      offsetMs: this.#offsetMs,
      delayMs: this.#delayMs,
      stratum: this.#stratum,
      lastSyncMs: this.#lastSyncMs,
      nextSyncMs: this.#phase === "idle" && isFinite(this.#nextSyncMs) ? this.#nextSyncMs : null,
      lastError: this.#lastError,
    };
  }

  /** Stops syncing; the last offset stays. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stack.removePoller(this);
    this.#generation++;
    this.#endRequest();
  }

  /** Runs the schedule; returns the next deadline. */
  poll(nowMs: number): number {
    if (this.#closed) return Infinity;
    const request = this.#request;
    if (request !== null && nowMs >= request.deadlineMs) {
      this.#tryFailed(`no reply from ${formatIpv4(request.address)}`);
    }
    if (this.#resolveError !== null) {
      const error = this.#resolveError;
      this.#resolveError = null;
      this.#syncFailed(nowMs, error);
    }
    if (this.#phase === "idle" && nowMs >= this.#nextSyncMs) this.#startSync(nowMs);
    if (this.#phase === "ready") this.#sendTry(nowMs);
    switch (this.#phase) {
      case "idle":
        return this.#nextSyncMs;
      case "waiting":
        return this.#request!.deadlineMs;
      default:
        return Infinity; // resolving: the resolver's answer asks for a poll
    }
  }

  #startSync(nowMs: number): void {
    this.#tries = 0;
    this.#warm = false;
    for (const [address, untilMs] of this.#denied) {
      if (untilMs <= nowMs) this.#denied.delete(address);
    }
    if (isIpv4(this.#server)) {
      this.#useAddresses([parseIpv4(this.#server)]);
      return;
    }
    this.#phase = "resolving";
    const generation = ++this.#generation;
    this.#resolver!.resolve(this.#server).then(
      (addresses) => {
        if (generation !== this.#generation) return;
        this.#useAddresses(addresses);
        this.#stack.requestPoll();
      },
      (error: Error) => {
        if (generation !== this.#generation) return;
        this.#phase = "idle";
        this.#resolveError = `cannot resolve ${this.#server}: ${error.message}`;
        this.#stack.requestPoll();
      },
    );
    log.debug("SNTP: resolving {server} at {nowMs}", { server: this.#server, nowMs });
  }

  #useAddresses(addresses: Ipv4Address[]): void {
    this.#addresses = addresses.filter((a) => !this.#denied.has(a)).slice(0, MAX_ADDRESSES);
    this.#phase = "ready";
  }

  /** Sends the next try of this sync, or ends the sync as failed when none are left. */
  #sendTry(nowMs: number): void {
    if (this.#addresses.length === 0) {
      return this.#syncFailed(
        nowMs,
        `no usable address for ${this.#server}`,
        this.#denied.size > 0 ? DENY_BACKOFF_MS : undefined,
      );
    }
    if (this.#tries >= this.#triesPerSync) {
      return this.#syncFailed(nowMs, this.#lastError ?? "no reply");
    }
    this.#tries++;
    const address = this.#addresses[this.#addressIndex++ % this.#addresses.length]!;
    let transmit: NtpTimestamp;
    try {
      const t1 = unixMsToNtp(this.#unixOriginMs + nowMs);
      // The low bits (< 0.25 ms) are random so an off-path forger cannot guess the origin.
      const noise = this.#stack.random.u32() & 0xfffff;
      transmit = { seconds: t1.seconds, fraction: ((t1.fraction & 0xfff00000) | noise) >>> 0 };
    } catch (error) {
      return this.#syncFailed(nowMs, (error as Error).message);
    }
    let request: Request | null = null;
    const endpoint = this.#stack.udp.open(0, (payload, meta, t) => {
      if (request !== null && this.#request === request) this.#onReply(request, payload, meta, t);
    });
    request = {
      warmup: !this.#warm && !this.#nextHopKnown(address, nowMs),
      endpoint,
      address,
      sentMs: nowMs,
      transmit,
      deadlineMs: nowMs + this.#timeoutMs,
    };
    this.#warm = true;
    this.#request = request;
    this.#phase = "waiting";
    const bytes = new Uint8Array(NTP_PACKET_LENGTH);
    emitNtpRequest(bytes, transmit);
    if (!endpoint.send(bytes, address, NTP_PORT)) this.#stack.counters.udp.drop("ntp-send-failed");
  }

  #onReply(request: Request, payload: Uint8Array, meta: DatagramMeta, nowMs: number): void {
    const counters = this.#stack.counters.udp;
    if (meta.src !== request.address || meta.srcPort !== NTP_PORT) {
      counters.drop("ntp-wrong-source");
      return;
    }
    const packet = parseNtp(payload);
    if (typeof packet === "string") {
      counters.drop(`ntp-${packet}`);
      return;
    }
    if (packet.mode !== NtpMode.SERVER) {
      counters.drop("ntp-bad-mode");
      return;
    }
    if (!ntpTimestampEquals(packet.originateTimestamp, request.transmit)) {
      counters.drop("ntp-bad-origin"); // RFC 4330 5: not an answer to our request
      return;
    }
    if (packet.stratum === 0) return this.#onKiss(request, packet, nowMs);
    const problem = packet.leap === NTP_LEAP_UNSYNCHRONIZED
      ? "unsynchronized"
      : packet.stratum > MAX_STRATUM
      ? "bad-stratum"
      : isZero(packet.transmitTimestamp) || isZero(packet.receiveTimestamp)
      ? "zero-timestamp"
      : null;
    if (problem !== null) {
      counters.drop(`ntp-${problem}`);
      this.#tryFailed(`${formatIpv4(request.address)} sent an unusable reply (${problem})`);
      this.#stack.requestPoll();
      return;
    }
    if (request.warmup) {
      // T1 was taken before the request waited for ARP; the next try goes out at once.
      log.debug("SNTP: sample from {address} spans an ARP resolution; asking again", {
        address: formatIpv4(request.address),
      });
      this.#tries--;
      this.#tryFailed("first reply spanned an ARP resolution");
      this.#stack.requestPoll();
      return;
    }
    this.#synced(request, packet, nowMs);
  }

  /** True when the link-layer address of the next hop to `address` is cached. */
  #nextHopKnown(address: Ipv4Address, nowMs: number): boolean {
    const config = this.#stack.ipv4.config;
    if (config === null) return false;
    const mask = config.prefixLength === 0 ? 0 : (0xffffffff << (32 - config.prefixLength)) >>> 0;
    const onLink = ((address ^ config.address) & mask) === 0;
    const hop = onLink || config.gateway === 0 ? address : config.gateway;
    return this.#stack.arp.lookup(hop, nowMs) !== null;
  }

  #synced(request: Request, packet: NtpPacket, nowMs: number): void {
    const t1 = this.#unixOriginMs + request.sentMs;
    const t4 = this.#unixOriginMs + nowMs;
    const t2 = ntpToUnixMs(packet.receiveTimestamp);
    const t3 = ntpToUnixMs(packet.transmitTimestamp);
    const offsetMs = ((t2 - t1) + (t3 - t4)) / 2; // RFC 4330 5
    const delayMs = (t4 - t1) - (t3 - t2);
    const previous = this.#offsetMs;
    this.#endRequest();
    this.#offsetMs = offsetMs;
    this.#delayMs = delayMs;
    this.#stratum = packet.stratum;
    this.#lastSyncMs = nowMs;
    this.#lastAddress = request.address;
    this.#lastError = null;
    this.#failures = 0;
    this.#phase = "idle";
    this.#nextSyncMs = nowMs + this.#intervalMs * this.#rateFactor;
    const properties = {
      address: formatIpv4(request.address),
      offset: offsetMs.toFixed(1),
      delay: delayMs.toFixed(1),
      stratum: packet.stratum,
    };
    log.info(
      "SNTP sync with {address}: offset {offset} ms, delay {delay} ms, stratum {stratum}",
      properties,
    );
    if (previous === null || Math.abs(offsetMs - previous) > STEP_EVENT_MS) {
      this.#stack.events.add(
        nowMs,
        "ntp",
        `clock synchronised with ${this.#server} (${properties.address}): offset ` +
          `${properties.offset} ms, stratum ${packet.stratum}`,
      );
    }
  }

  /** Kiss-o'-death (RFC 4330 8). */
  #onKiss(request: Request, packet: NtpPacket, nowMs: number): void {
    const code = ntpKissCode(packet) ?? "????";
    const address = request.address;
    this.#stack.counters.udp.drop(`ntp-kiss-${code.toLowerCase()}`);
    this.#endRequest();
    const text = `${formatIpv4(address)} sent kiss-o'-death ${code}`;
    log.warn("SNTP: {text}", { text });
    if (code === "RATE") {
      this.#rateFactor = Math.min(this.#rateFactor * 2, MAX_RATE_FACTOR);
      this.#lastError = `${text}; polling every ${this.#intervalMs * this.#rateFactor / 1000} s`;
      this.#phase = "idle";
      this.#nextSyncMs = nowMs + this.#intervalMs * this.#rateFactor;
      this.#stack.events.add(nowMs, "ntp", this.#lastError, "warning");
      return;
    }
    if (code === "DENY" || code === "RSTR") {
      if (this.#denied.size >= MAX_DENIED) this.#denied.delete(this.#denied.keys().next().value!);
      this.#denied.set(address, nowMs + DENY_BACKOFF_MS);
      this.#addresses = this.#addresses.filter((a) => a !== address);
      this.#stack.events.add(nowMs, "ntp", `${text}; not asking it again for a day`, "warning");
    }
    this.#lastError = text;
    this.#phase = "ready";
    this.#stack.requestPoll();
  }

  /** Ends the current try; the next poll sends another or fails the sync. */
  #tryFailed(why: string): void {
    this.#endRequest();
    this.#lastError = why;
    this.#phase = "ready";
  }

  #syncFailed(nowMs: number, why: string, backoffMs?: number): void {
    this.#endRequest();
    this.#failures++;
    this.#lastError = why;
    this.#phase = "idle";
    const retryMs = backoffMs ??
      Math.min(this.#retryMs * 2 ** (this.#failures - 1), this.#intervalMs);
    this.#nextSyncMs = nowMs + retryMs;
    log.warn("SNTP sync failed: {why}; retrying in {seconds} s", {
      why,
      seconds: Math.round(retryMs / 1000),
    });
    if (this.#failures === 1) {
      this.#stack.events.add(nowMs, "ntp", `time sync failed: ${why}`, "warning");
    }
  }

  #endRequest(): void {
    this.#request?.endpoint.close();
    this.#request = null;
  }
}

function isZero(timestamp: NtpTimestamp): boolean {
  return timestamp.seconds === 0 && timestamp.fraction === 0;
}
