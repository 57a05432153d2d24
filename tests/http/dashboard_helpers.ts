/**
 * Fixtures of the dashboard tests: a fake device (stats snapshot, event log, log level and reset
 * recorders) on a virtual clock, a dashboard over a fresh temporary state dir, and small request
 * helpers. PBKDF2 runs with few iterations here so the tests stay fast.
 * @module
 */

import { crc32 as zlibCrc32 } from "node:zlib";
import { VirtualClock } from "../../stack/clock.ts";
import { EventLog } from "../../stack/events.ts";
import {
  createDashboard,
  type Dashboard,
  type DashboardDeps,
  type StatsSnapshot,
} from "../../http/dashboard/mod.ts";

/** The admin password the tests configure. */
export const PASSWORD = "correct horse battery";
/** Wall-clock origin of the virtual clock (2023-11-14T22:13:20Z). */
export const ORIGIN_MS = 1_700_000_000_000;
/** A client address, as Deno.serve's info gives it. */
export const CLIENT = { remoteAddr: { hostname: "192.0.2.10" } };

/** What the dashboard was asked to do, and the data it is shown. */
export class FakeDevice {
  readonly clock = new VirtualClock(ORIGIN_MS);
  readonly events = new EventLog(100);
  readonly logLevels: number[] = [];
  resets = 0;
  #resetWaiters: (() => void)[] = [];
  snapshot: StatsSnapshot = {
    uptimeMs: 3_723_000,
    link: { name: "tap0", up: true, mac: "02:00:00:00:00:01", mtu: 1500 },
    ipv4: { address: "10.0.0.2", prefixLength: 24, gateway: "10.0.0.1", source: "dhcp" },
    layers: {
      ethernet: { rxPackets: 10, rxBytes: 1000, txPackets: 7, txBytes: 700, drops: { short: 2 } },
      ipv4: {
        rxPackets: 8,
        rxBytes: 800,
        txPackets: 7,
        txBytes: 700,
        drops: { "bad-checksum": 3 },
      },
    },
    arp: [
      { ip: "10.0.0.1", mac: "02:00:00:00:00:fe", expiresInMs: 50_000 },
      { ip: "10.0.0.9", mac: null, expiresInMs: 1_000 },
    ],
    tcp: { ESTABLISHED: 2, "TIME-WAIT": 1, LISTEN: 1 },
    dhcp: {
      state: "BOUND",
      address: "10.0.0.2",
      server: "10.0.0.1",
      leaseSeconds: 3600,
      expiresUnixMs: ORIGIN_MS + 3_600_000,
    },
  };

  /** Resolves after the next device reset. */
  nextReset(): Promise<void> {
    return new Promise((resolve) => this.#resetWaiters.push(resolve));
  }

  /** The deps of a dashboard over this device. */
  deps(stateDir: string, overrides: Partial<DashboardDeps> = {}): DashboardDeps {
    return {
      stats: () => this.snapshot,
      events: this.events,
      eventNowMs: () => this.clock.now() - ORIGIN_MS,
      wallTimeMs: (t) => ORIGIN_MS + t,
      now: () => this.clock.now(),
      stateDir,
      adminPassword: PASSWORD,
      setLogLevel: (level) => this.logLevels.push(level),
      resetDevice: () => {
        this.resets++;
        for (const wake of this.#resetWaiters.splice(0)) wake();
        return Promise.resolve();
      },
      upgradeWebSocket: () => {
        throw new Error("no WebSocket in handler-level tests");
      },
      sampleIntervalMs: 0,
      resetDelayMs: 0,
      pbkdf2Iterations: 1000,
      ...overrides,
    };
  }
}

/** A dashboard over a fresh temporary state dir, closed and removed after `fn`. */
export async function withDashboard(
  fn: (dashboard: Dashboard, device: FakeDevice, stateDir: string) => Promise<void>,
  overrides: Partial<DashboardDeps> = {},
): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
  const device = new FakeDevice();
  const dashboard = await createDashboard(device.deps(stateDir, overrides));
  try {
    await fn(dashboard, device, stateDir);
  } finally {
    await dashboard.close();
    await Deno.remove(stateDir, { recursive: true });
  }
}

/** An `Authorization: Basic` value. */
export function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return "Basic " + btoa(String.fromCharCode(...bytes));
}

/** Headers of an admin request with Basic credentials. */
export const ADMIN = { authorization: basic("admin", PASSWORD) };

/** Calls the handler with a request to `http://x` + `path`. */
export function call(
  dashboard: Dashboard,
  path: string,
  init: RequestInit = {},
  info = CLIENT,
): Promise<Response> {
  const url = path.startsWith("http") ? path : `http://x${path}`;
  return dashboard.fetch(new Request(url, init), info);
}

/** POSTs JSON as admin (Basic) and returns the response. */
export function postJson(
  dashboard: Dashboard,
  path: string,
  body: unknown,
  headers: Record<string, string> = ADMIN,
): Promise<Response> {
  return call(dashboard, path, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Logs in with Basic and returns the `access_token=...` cookie pair. */
export async function login(dashboard: Dashboard, password = PASSWORD): Promise<string> {
  const res = await call(dashboard, "/api/login", {
    method: "POST",
    headers: { authorization: basic("admin", password) },
  });
  await res.body?.cancel();
  const cookie = res.headers.get("set-cookie");
  if (res.status !== 200 || cookie === null) throw new Error(`login failed: ${res.status}`);
  return cookie.split(";")[0]!;
}

/** CRC-32 from node:zlib, independent of http/dashboard/crc32.ts. */
export function referenceCrc32(bytes: Uint8Array): number {
  return zlibCrc32(bytes) >>> 0;
}

/** `n` pseudo-random bytes from a fixed seed (xorshift32). */
export function testBytes(n: number, seed = 0x12345678): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
