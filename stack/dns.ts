/**
 * A stub resolver for A records (RFC 1035) over UDP, sans-I/O, with a TTL cache and negative
 * caching (RFC 2308).
 *
 * Each query goes from a fresh ephemeral port with a random id and is closed after its answer or
 * timeout. Attempts go round the servers (`rounds` times over the list, `timeoutMs` each). A reply
 * counts only if it comes from the queried server and port 53, carries our id, and repeats our
 * question; anything else is ignored and counted on the UDP counters (`dns-<reason>`), so a
 * forged or broken reply at worst costs a timeout. CNAME chains are followed inside an answer
 * and, when the answer ends at a CNAME, by a fresh query for its target, up to 8 in all.
 *
 * Invariants: `resolve` never sends: it queues the name and asks for a poll, and the poll sends
 * (or answers from the cache) with its own `nowMs`; promises settle inside `poll` or the UDP
 * handler. At most `maxPending` names are in flight and `cacheSize` names cached (least recently
 * used evicted); TTLs are capped at one day and a TTL of 0 is not cached.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Stack } from "./stack.ts";
import type { DatagramMeta, UdpEndpoint } from "./udp.ts";
import { formatIpv4, type Ipv4Address, isIpv4, parseIpv4 } from "./wire/address.ts";
import {
  DNS_CLASS_IN,
  type DnsMessage,
  dnsNamesEqual,
  dnsQueryLength,
  DnsRcode,
  DnsType,
  emitDnsQuery,
  isValidDnsName,
  parseDnsMessage,
} from "./wire/dns.ts";

const log = getLogger(["mip", "dns"]);

/** The DNS port (RFC 1035 4.2.1). */
export const DNS_PORT = 53;
/** Longest CNAME chain followed (within answers and across queries). */
export const MAX_CNAME_DEPTH = 8;
/** RFC 2181 8 allows TTLs up to 2^31 - 1; a stub has no reason to trust more than a day. */
const MAX_TTL_SECONDS = 86_400;
const MAX_SERVERS = 8;
const MAX_ADDRESSES = 32;
const MAX_WAITERS_PER_NAME = 64;

/** Options of {@linkcode DnsResolver}. */
export interface DnsResolverOptions {
  servers?: Ipv4Address[];
  /** Wait per attempt; default 2000 ms. */
  timeoutMs?: number;
  /** Passes over the server list; default 2. */
  rounds?: number;
  /** Names cached; default 256. */
  cacheSize?: number;
  /** Names resolved at once; default 64. */
  maxPending?: number;
}

/** What the dashboard shows. */
export interface DnsResolverSnapshot {
  servers: string[];
  cachedNames: number;
  pending: number;
}

type CacheEntry =
  | { kind: "A"; addresses: Ipv4Address[]; expiresMs: number }
  | { kind: "CNAME"; target: string; expiresMs: number }
  | { kind: "NXDOMAIN" | "NODATA"; expiresMs: number };

interface Query {
  id: number;
  name: string;
  server: Ipv4Address;
  endpoint: UdpEndpoint;
  deadlineMs: number;
}

interface Lookup {
  /** The name asked for (canonical: lower case, no trailing dot). */
  name: string;
  /** The name being resolved now, after CNAMEs. */
  current: string;
  depth: number;
  /** Attempts made for `current`. */
  attempt: number;
  query: Query | null;
  waiters: { resolve: (value: Ipv4Address[]) => void; reject: (error: Error) => void }[];
}

/**
 * Resolves host names to IPv4 addresses through the stack.
 *
 * @example
 * ```ts
 * const resolver = new DnsResolver(stack, { servers: [parseIpv4("10.0.0.53")] });
 * const [address] = await resolver.resolve("example.test");
 * ```
 */
export class DnsResolver {
  readonly #stack: Stack;
  readonly #timeoutMs: number;
  readonly #rounds: number;
  readonly #cacheSize: number;
  readonly #maxPending: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #lookups = new Map<string, Lookup>();
  #queue: Lookup[] = [];
  #servers: Ipv4Address[] = [];
  #closed = false;

  constructor(stack: Stack, options: DnsResolverOptions = {}) {
    this.#stack = stack;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#rounds = Math.max(1, options.rounds ?? 2);
    this.#cacheSize = Math.max(1, options.cacheSize ?? 256);
    this.#maxPending = Math.max(1, options.maxPending ?? 64);
    this.servers = options.servers ?? [];
    stack.addPoller(this);
  }

  /** The servers asked, in order (DHCP's or --dns). */
  get servers(): Ipv4Address[] {
    return [...this.#servers];
  }

  set servers(servers: readonly Ipv4Address[]) {
    const next = [...new Set(servers)].filter((s) => s !== 0).slice(0, MAX_SERVERS);
    if (next.length === this.#servers.length && next.every((s, i) => s === this.#servers[i])) {
      return;
    }
    this.#servers = next;
    log.info("DNS servers: {servers}", {
      servers: this.#servers.length > 0 ? this.#servers.map(formatIpv4).join(" ") : "none",
    });
  }

  /**
   * The IPv4 addresses of `name`. Dotted quads resolve to themselves. Rejects with
   * `Deno.errors.NotFound` (NXDOMAIN or no A record), `TimedOut`, `InvalidData` (truncated or
   * broken answer), `NotConnected` (no servers) or `TypeError` (not a valid name).
   */
  resolve(name: string): Promise<Ipv4Address[]> {
    if (isIpv4(name)) return Promise.resolve([parseIpv4(name)]);
    const canonical = canonicalName(name);
    if (canonical === "" || !isValidDnsName(canonical)) {
      return Promise.reject(new TypeError(`Cannot resolve '${name}': not a valid host name`));
    }
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Resolver is closed"));
    let lookup = this.#lookups.get(canonical);
    if (lookup === undefined) {
      if (this.#lookups.size >= this.#maxPending) {
        return Promise.reject(
          new Deno.errors.WouldBlock(`Cannot resolve '${name}': ${this.#maxPending} in flight`),
        );
      }
      lookup = {
        name: canonical,
        current: canonical,
        depth: 0,
        attempt: 0,
        query: null,
        waiters: [],
      };
      this.#lookups.set(canonical, lookup);
      this.#queue.push(lookup);
      this.#stack.requestPoll();
    } else if (lookup.waiters.length >= MAX_WAITERS_PER_NAME) {
      return Promise.reject(new Deno.errors.WouldBlock(`Too many waiting for '${name}'`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<Ipv4Address[]>();
    lookup.waiters.push({ resolve, reject });
    return promise;
  }

  /** A plain summary for the dashboard. */
  snapshot(): DnsResolverSnapshot {
    return {
      servers: this.#servers.map(formatIpv4),
      cachedNames: this.#cache.size,
      pending: this.#lookups.size,
    };
  }

  /** Rejects everything pending with `BadResource` and stops. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stack.removePoller(this);
    for (const lookup of [...this.#lookups.values()]) {
      this.#fail(lookup, new Deno.errors.BadResource("Resolver closed"));
    }
    this.#queue = [];
  }

  /** Sends queued queries, answers from the cache, handles timeouts; returns the next one. */
  poll(nowMs: number): number {
    if (this.#closed) return Infinity;
    const queued = this.#queue;
    this.#queue = [];
    for (const lookup of queued) {
      if (this.#lookups.get(lookup.name) === lookup) this.#advance(lookup, nowMs);
    }
    let next = Infinity;
    for (const lookup of this.#lookups.values()) {
      const query = lookup.query;
      if (query !== null && query.deadlineMs <= nowMs) {
        log.debug("No DNS answer for {name} from {server}", {
          name: query.name,
          server: formatIpv4(query.server),
        });
        this.#endQuery(lookup);
        this.#send(lookup, nowMs);
      }
      if (lookup.query !== null) next = Math.min(next, lookup.query.deadlineMs);
    }
    return next;
  }

  /** Answers from the cache as far as it goes (following CNAMEs), else sends a query. */
  #advance(lookup: Lookup, nowMs: number): void {
    for (;;) {
      const entry = this.#cached(lookup.current, nowMs);
      if (entry === undefined) break;
      if (entry.kind === "A") return this.#finish(lookup, entry.addresses);
      if (entry.kind === "CNAME") {
        if (!this.#follow(lookup, entry.target)) return;
        continue;
      }
      return this.#fail(lookup, notFound(lookup, entry.kind));
    }
    this.#send(lookup, nowMs);
  }

  /** Sends attempt number `lookup.attempt` (server `attempt % n`), or fails when none are left. */
  #send(lookup: Lookup, nowMs: number): void {
    const servers = this.#servers;
    if (servers.length === 0) {
      return this.#fail(
        lookup,
        new Deno.errors.NotConnected(
          `Cannot resolve '${lookup.name}': no DNS servers (pass --dns or use DHCP)`,
        ),
      );
    }
    if (lookup.attempt >= servers.length * this.#rounds) {
      return this.#fail(
        lookup,
        new Deno.errors.TimedOut(
          `No DNS answer for '${lookup.current}' from ${servers.map(formatIpv4).join(", ")} ` +
            `after ${lookup.attempt} tries`,
        ),
      );
    }
    const server = servers[lookup.attempt % servers.length]!;
    lookup.attempt++;
    let query: Query | null = null;
    let endpoint: UdpEndpoint;
    try {
      endpoint = this.#stack.udp.open(0, (payload, meta, t) => {
        if (query !== null && lookup.query === query) {
          this.#onReply(lookup, query, payload, meta, t);
        }
      });
    } catch (error) {
      return this.#fail(lookup, error as Error);
    }
    query = {
      id: this.#stack.random.u32() & 0xffff,
      name: lookup.current,
      server,
      endpoint,
      deadlineMs: nowMs + this.#timeoutMs,
    };
    lookup.query = query;
    const request = { id: query.id, name: query.name, type: DnsType.A };
    const bytes = new Uint8Array(dnsQueryLength(request));
    emitDnsQuery(bytes, request);
    if (!endpoint.send(bytes, server, DNS_PORT)) this.#stack.counters.udp.drop("dns-send-failed");
    log.debug("DNS query {id} for {name} to {server}", {
      id: query.id,
      name: query.name,
      server: formatIpv4(server),
    });
  }

  #onReply(
    lookup: Lookup,
    query: Query,
    payload: Uint8Array,
    meta: DatagramMeta,
    nowMs: number,
  ): void {
    const counters = this.#stack.counters.udp;
    if (meta.src !== query.server || meta.srcPort !== DNS_PORT) {
      counters.drop("dns-wrong-source");
      return;
    }
    const message = parseDnsMessage(payload);
    if (typeof message === "string") {
      counters.drop(`dns-${message}`);
      return;
    }
    if (!message.qr || message.id !== query.id) {
      counters.drop("dns-id-mismatch");
      return;
    }
    if (message.opcode !== 0 || !questionMatches(message, query.name)) {
      counters.drop("dns-question-mismatch");
      return;
    }
    this.#endQuery(lookup);
    if (message.tc) {
      return this.#fail(
        lookup,
        new Deno.errors.InvalidData(
          `DNS answer for '${query.name}' from ${formatIpv4(query.server)} was truncated (TC); ` +
            "DNS over TCP is not supported",
        ),
      );
    }
    if (message.rcode !== DnsRcode.NOERROR && message.rcode !== DnsRcode.NXDOMAIN) {
      counters.drop(`dns-rcode-${message.rcode}`);
      log.debug("DNS rcode {rcode} for {name} from {server}; trying the next server", {
        rcode: message.rcode,
        name: query.name,
        server: formatIpv4(query.server),
      });
      return this.#requeue(lookup);
    }
    this.#onAnswer(lookup, query, message, nowMs);
  }

  /** Follows the CNAME chain in the answer, caches what it learns, and settles or re-asks. */
  #onAnswer(lookup: Lookup, query: Query, message: DnsMessage, nowMs: number): void {
    const records = message.answers.filter((r) => r.class === DNS_CLASS_IN);
    let name = query.name;
    for (;;) {
      const found: Ipv4Address[] = [];
      let ttl = Infinity;
      for (const r of records) {
        if (r.data.kind === "A" && dnsNamesEqual(r.name, name)) {
          if (!found.includes(r.data.address)) found.push(r.data.address);
          ttl = Math.min(ttl, r.ttl);
        }
      }
      if (found.length > 0) {
        const addresses = found.slice(0, MAX_ADDRESSES);
        this.#store(name, { kind: "A", addresses, expiresMs: 0 }, ttl, nowMs);
        return this.#finish(lookup, addresses);
      }
      const cname = records.find((r) => r.data.kind === "CNAME" && dnsNamesEqual(r.name, name));
      if (cname === undefined || cname.data.kind !== "CNAME") break;
      const target = canonicalName(cname.data.name);
      this.#store(name, { kind: "CNAME", target, expiresMs: 0 }, cname.ttl, nowMs);
      if (!this.#follow(lookup, target)) return;
      name = target;
    }
    const soa = message.authority.find((r) => r.data.kind === "SOA");
    const negativeTtl = soa !== undefined && soa.data.kind === "SOA"
      ? Math.min(soa.ttl, soa.data.minimum) // RFC 2308 5
      : 0;
    if (message.rcode === DnsRcode.NOERROR && name !== query.name && soa === undefined) {
      return this.#requeue(lookup); // the answer stopped at a CNAME: ask for its target
    }
    const kind = message.rcode === DnsRcode.NXDOMAIN ? "NXDOMAIN" : "NODATA";
    this.#store(name, { kind, expiresMs: 0 }, negativeTtl, nowMs);
    this.#fail(lookup, notFound(lookup, kind));
  }

  /** Moves the lookup to `target`; false (and failed) when the chain is too long. */
  #follow(lookup: Lookup, target: string): boolean {
    lookup.depth++;
    if (lookup.depth > MAX_CNAME_DEPTH) {
      this.#fail(
        lookup,
        new Deno.errors.InvalidData(
          `Cannot resolve '${lookup.name}': CNAME chain longer than ${MAX_CNAME_DEPTH}`,
        ),
      );
      return false;
    }
    if (!isValidDnsName(target)) {
      this.#fail(
        lookup,
        new Deno.errors.InvalidData(`Cannot resolve '${lookup.name}': bad CNAME '${target}'`),
      );
      return false;
    }
    lookup.current = target;
    lookup.attempt = 0;
    return true;
  }

  /** Sends the lookup's next attempt from the next poll. */
  #requeue(lookup: Lookup): void {
    this.#queue.push(lookup);
    this.#stack.requestPoll();
  }

  #endQuery(lookup: Lookup): void {
    lookup.query?.endpoint.close();
    lookup.query = null;
  }

  #finish(lookup: Lookup, addresses: Ipv4Address[]): void {
    this.#endQuery(lookup);
    this.#lookups.delete(lookup.name);
    log.debug("DNS {name}: {addresses}", {
      name: lookup.name,
      addresses: addresses.map(formatIpv4).join(" "),
    });
    for (const w of lookup.waiters) w.resolve([...addresses]);
  }

  #fail(lookup: Lookup, error: Error): void {
    this.#endQuery(lookup);
    this.#lookups.delete(lookup.name);
    log.info("DNS {name} failed: {message}", { name: lookup.name, message: error.message });
    for (const w of lookup.waiters) w.reject(error);
  }

  #cached(name: string, nowMs: number): CacheEntry | undefined {
    const entry = this.#cache.get(name);
    if (entry === undefined) return undefined;
    this.#cache.delete(name);
    if (entry.expiresMs <= nowMs) return undefined;
    this.#cache.set(name, entry); // most recently used last
    return entry;
  }

  #store(name: string, entry: CacheEntry, ttlSeconds: number, nowMs: number): void {
    if (!(ttlSeconds > 0)) return;
    entry.expiresMs = nowMs + Math.min(ttlSeconds, MAX_TTL_SECONDS) * 1000;
    this.#cache.delete(name);
    this.#cache.set(name, entry);
    if (this.#cache.size > this.#cacheSize) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
  }
}

function questionMatches(message: DnsMessage, name: string): boolean {
  const q = message.questions;
  return q.length === 1 && q[0]!.type === DnsType.A && q[0]!.class === DNS_CLASS_IN &&
    dnsNamesEqual(q[0]!.name, name);
}

function notFound(lookup: Lookup, kind: "NXDOMAIN" | "NODATA"): Error {
  const via = lookup.current !== lookup.name ? ` (via ${lookup.current})` : "";
  return new Deno.errors.NotFound(
    kind === "NXDOMAIN"
      ? `'${lookup.name}' does not exist${via} (NXDOMAIN)`
      : `'${lookup.name}' has no IPv4 address${via}`,
  );
}

/** Lower case without the trailing dot, as the cache keys names. */
function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
