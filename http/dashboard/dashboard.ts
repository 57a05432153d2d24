/**
 * The device dashboard as one `(Request, info) => Promise<Response>` handler (the Deno.serve
 * shape), so it runs under `Deno.serve` and under our own http/server.ts alike. Everything it
 * needs from the device comes in through {@linkcode DashboardDeps}; the file-backed stores
 * (admin password, settings, firmware slots) live in `stateDir`.
 *
 * Invariants: every /api/* request is authenticated first (403 otherwise, 429 while a client is
 * rate-limited); request bodies are bounded; the one timer (throughput sampling and WebSocket
 * push) and any pending reset are stopped by `close()`.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { Hono } from "hono";
import type { DeviceEvent, EventPriority } from "../../stack/events.ts";
import { registerApi } from "./api.ts";
import { Authenticator, type AuthOptions } from "./auth.ts";
import { FirmwareStore } from "./firmware_store.ts";
import { HttpError } from "./_http.ts";
import { LiveHub, type LiveSocket } from "./live.ts";
import { type AdminPassword, DEFAULT_PBKDF2_ITERATIONS, loadAdminPassword } from "./password.ts";
import { type Settings, SettingsStore } from "./settings_store.ts";
import { type StatsBody, statsBody, type StatsSnapshot, ThroughputHistory } from "./stats.ts";
import { registerUi, securityHeaders } from "./ui.ts";

const log = getLogger(["mip", "dashboard"]);

/** The event log as the dashboard needs it (`stack/events.ts` EventLog satisfies it). */
export interface DashboardEventLog {
  list(): readonly DeviceEvent[];
  readonly total: number;
  add(timeMs: number, type: string, text: string, priority?: EventPriority): void;
}

/** Size limits of requests. */
export interface DashboardLimits {
  /** JSON bodies (login, settings, events, debug). */
  maxJsonBytes: number;
  /** One firmware upload chunk. */
  maxChunkBytes: number;
  /** A whole firmware image. */
  maxFirmwareBytes: number;
}

/** Defaults of {@linkcode DashboardLimits}. */
export const DEFAULT_LIMITS: DashboardLimits = {
  maxJsonBytes: 4096,
  maxChunkBytes: 1 << 20,
  maxFirmwareBytes: 64 << 20,
};

/** Everything the dashboard gets from its host (main.ts, or a test). */
export interface DashboardDeps {
  /** A snapshot of the stack now (counters, ARP, TCP, DHCP, link). */
  stats(): StatsSnapshot;
  /** The device event log (`Stack.events`). */
  events: DashboardEventLog;
  /** Maps an event's monotonic `timeMs` to wall-clock Unix ms; default `timeOrigin + t`. */
  wallTimeMs?: (eventTimeMs: number) => number;
  /** The event log's clock now, on the scale of `DeviceEvent.timeMs`; default `performance.now()`. */
  eventNowMs?: () => number;
  /** Directory for the password hash, settings and firmware slots (created if missing). */
  stateDir: string;
  /** From --admin-password / MIP_ADMIN_PASSWORD; null: use the stored hash or generate one. */
  adminPassword: string | null;
  /** Applies a log level (0 off, 1 error, 2 info, 3 debug, 4 verbose). */
  setLogLevel(level: number): void;
  /** Restarts the network stack (links down, DHCP again, sockets reopened); the process stays. */
  resetDevice(): Promise<void>;
  /** `Deno.upgradeWebSocket`, or our server's equivalent. */
  upgradeWebSocket(request: Request): { socket: LiveSocket; response: Response };
  /** Wall-clock Unix ms; default `Date.now`. */
  now?: () => number;
  /** Whether the dashboard is served over HTTPS; default: the request URL's scheme says. */
  secure?: boolean;
  /** Throughput sampling and push period; 0 starts no timer (tests call `sample()`). */
  sampleIntervalMs?: number;
  /** Samples kept for the chart. */
  historyLength?: number;
  /** Delay between answering /api/device/reset and resetting (so the answer gets out). */
  resetDelayMs?: number;
  /** PBKDF2 cost of a newly hashed password. */
  pbkdf2Iterations?: number;
  auth?: Partial<AuthOptions>;
  limits?: Partial<DashboardLimits>;
}

/** The connection info of a request (Deno.ServeHandlerInfo fits). */
export interface DashboardConnInfo {
  remoteAddr?: { hostname?: string };
}

/** A running dashboard. */
export interface Dashboard {
  /** The handler: `Deno.serve((req, info) => dashboard.fetch(req, info))`. */
  fetch(request: Request, info?: DashboardConnInfo): Promise<Response>;
  /** Stops the timer, closes live sockets and any upload in progress. */
  close(): Promise<void>;
  /** A password generated at this start (print it once), else null. */
  readonly generatedPassword: string | null;
  /** The current settings. */
  settings(): Settings;
  /** Takes a throughput sample and pushes stats to live sockets (what the timer does). */
  sample(): void;
}

/** What the route handlers share. */
export interface DashboardContext {
  readonly deps: DashboardDeps;
  readonly auth: Authenticator;
  readonly settings: SettingsStore;
  readonly firmware: FirmwareStore;
  readonly hub: LiveHub;
  readonly limits: DashboardLimits;
  /** Wall-clock Unix ms. */
  now(): number;
  wallTimeMs(eventTimeMs: number): number;
  /** Adds a device event stamped with the event clock. */
  event(type: string, text: string, priority?: EventPriority): void;
  /** The /api/stats/get body, from `snapshot` or a fresh `stats()`. */
  statsBody(snapshot?: StatsSnapshot): StatsBody;
  /** Whether cookies get `Secure`. */
  secure(request: Request): boolean;
  /** Runs `resetDevice` after `resetDelayMs`. */
  scheduleReset(): void;
}

/** Hono environment of the dashboard app. */
export type DashboardEnv = { Bindings: { info?: DashboardConnInfo } };

/**
 * Creates the dashboard: opens the stores in `deps.stateDir`, sets up the admin password and
 * starts the sampling timer.
 *
 * @example
 * ```ts ignore
 * const dashboard = await createDashboard({ ...deps, upgradeWebSocket: Deno.upgradeWebSocket });
 * if (dashboard.generatedPassword) console.log(`admin password: ${dashboard.generatedPassword}`);
 * Deno.serve((req, info) => dashboard.fetch(req, info));
 * ```
 */
export async function createDashboard(deps: DashboardDeps): Promise<Dashboard> {
  await Deno.mkdir(deps.stateDir, { recursive: true });
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const iterations = deps.pbkdf2Iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  const password = await loadAdminPassword(deps.stateDir, deps.adminPassword, iterations);
  const settings = await SettingsStore.open(deps.stateDir);
  const firmware = await FirmwareStore.open(deps.stateDir, limits.maxFirmwareBytes);
  const history = new ThroughputHistory(deps.historyLength ?? 120);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const ctx = makeContext(deps, { password, settings, firmware, history, limits, timers });
  const app = buildApp(ctx);

  const sample = () => {
    try {
      const snapshot = deps.stats();
      history.sample(snapshot, ctx.now());
      ctx.hub.push("stats", ctx.statsBody(snapshot));
    } catch (error) {
      log.warn("Cannot sample stats: {error}", { error });
    }
  };
  const intervalMs = deps.sampleIntervalMs ?? 1000;
  const interval = intervalMs > 0 ? setInterval(sample, intervalMs) : null;
  if (intervalMs > 0) sample();

  return {
    generatedPassword: password.generated,
    settings: () => settings.get(),
    sample,
    async fetch(request, info) {
      const response = await app.fetch(request, { info });
      return response.status === 101 ? response : securityHeaders(response);
    },
    async close() {
      if (interval !== null) clearInterval(interval);
      for (const id of timers) clearTimeout(id);
      timers.clear();
      ctx.hub.closeAll();
      await firmware.close();
    },
  };
}

interface ContextParts {
  password: AdminPassword;
  settings: SettingsStore;
  firmware: FirmwareStore;
  history: ThroughputHistory;
  limits: DashboardLimits;
  /** Pending reset timers, cleared by close(). */
  timers: Set<ReturnType<typeof setTimeout>>;
}

function makeContext(deps: DashboardDeps, parts: ContextParts): DashboardContext {
  const eventNowMs = deps.eventNowMs ?? (() => performance.now());
  const { history, timers } = parts;
  const ctx: DashboardContext = {
    deps,
    auth: new Authenticator(parts.password.hash, deps.auth),
    settings: parts.settings,
    firmware: parts.firmware,
    hub: new LiveHub(),
    limits: parts.limits,
    now: deps.now ?? Date.now,
    wallTimeMs: deps.wallTimeMs ?? ((t) => performance.timeOrigin + t),
    event: (type, text, priority) => deps.events.add(eventNowMs(), type, text, priority),
    statsBody: (snapshot = deps.stats()) => statsBody(snapshot, history.list(), deps.events.total),
    secure: (request) => deps.secure ?? new URL(request.url).protocol === "https:",
    scheduleReset: () => {
      const id = setTimeout(() => {
        timers.delete(id);
        runReset(ctx);
      }, deps.resetDelayMs ?? 500);
      timers.add(id);
    },
  };
  return ctx;
}

function buildApp(ctx: DashboardContext): Hono<DashboardEnv> {
  const app = new Hono<DashboardEnv>();
  registerApi(app, ctx);
  registerUi(app);
  app.onError((error) => {
    if (error instanceof HttpError) return error.toResponse();
    log.error("Dashboard request failed: {error}", { error });
    return new HttpError(500, "Internal error").toResponse();
  });
  return app;
}

async function runReset(ctx: DashboardContext): Promise<void> {
  try {
    await ctx.deps.resetDevice();
    ctx.event("reset", "Network stack restarted");
  } catch (error) {
    log.error("Device reset failed: {error}", { error });
    ctx.event("reset", `Network stack restart failed: ${String(error)}`, "error");
  }
}
