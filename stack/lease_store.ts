/**
 * Persistence boundaries of the DHCP client and server: what they remember across restarts, as
 * small synchronous interfaces the host implements (main.ts with a file in --state-dir), plus
 * in-memory implementations for tests.
 *
 * Invariants: records are plain JSON-safe values (numbers and strings, addresses as u32 host
 * order). Times are wall-clock Unix milliseconds, because monotonic stack time restarts with the
 * process; a service converts with the `unixOriginMs` the host gives it. The in-memory stores copy
 * on save and load, so a caller can never mutate what is stored.
 * @module
 */

import type { Ipv4Address } from "./wire/address.ts";

/** The DHCP client's last lease, requested again at the next start (RFC 2131 3.2 INIT-REBOOT). */
export interface StoredLease {
  address: Ipv4Address;
  prefixLength: number;
  /** Default router, 0 for none. */
  router: Ipv4Address;
  dnsServers: Ipv4Address[];
  /** The server identifier (option 54) that granted it. */
  server: Ipv4Address;
  leaseSeconds: number;
  /** Wall-clock end of the lease, or null when the client did not know the wall time. */
  expiresUnixMs: number | null;
  /**
   * The lease was given back with DHCPRELEASE: its address is only suggested in the next
   * DISCOVER, never assumed (no INIT-REBOOT).
   */
  released?: boolean;
}

/** Where the DHCP client keeps its lease; `save(null)` forgets it. */
export interface LeaseStore {
  load(): StoredLease | null;
  save(lease: StoredLease | null): void;
}

/** One binding of the DHCP server (RFC 2131 4.3.1), as persisted. */
export interface StoredBinding {
  /** The client key: "id:" + hex client identifier (option 61), else "hw:" + hex MAC. */
  key: string;
  /** Client MAC, `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  address: Ipv4Address;
  /** Wall-clock lease end; a past value keeps the client's address reserved for reuse. */
  expiresUnixMs: number;
  hostname?: string;
}

/** Where the DHCP server keeps its bindings; `save` replaces the whole table. */
export interface BindingStore {
  load(): StoredBinding[];
  save(bindings: StoredBinding[]): void;
}

/** A {@linkcode LeaseStore} in memory (tests; or a host without --state-dir). */
export class MemoryLeaseStore implements LeaseStore {
  #lease: StoredLease | null;
  /** Number of `save` calls, for tests. */
  saves = 0;

  constructor(initial: StoredLease | null = null) {
    this.#lease = initial === null ? null : copyLease(initial);
  }

  load(): StoredLease | null {
    return this.#lease === null ? null : copyLease(this.#lease);
  }

  save(lease: StoredLease | null): void {
    this.saves++;
    this.#lease = lease === null ? null : copyLease(lease);
  }
}

/** A {@linkcode BindingStore} in memory. */
export class MemoryBindingStore implements BindingStore {
  #bindings: StoredBinding[] = [];
  saves = 0;

  load(): StoredBinding[] {
    return this.#bindings.map((b) => ({ ...b }));
  }

  save(bindings: StoredBinding[]): void {
    this.saves++;
    this.#bindings = bindings.map((b) => ({ ...b }));
  }
}

function copyLease(lease: StoredLease): StoredLease {
  return { ...lease, dnsServers: [...lease.dnsServers] };
}
