/**
 * The device dashboard: `createDashboard(deps)` gives a Deno.serve-shaped handler with the
 * Mongoose device-dashboard API, a live stats WebSocket and an embedded web UI.
 *
 * @example
 * ```ts ignore
 * import { createDashboard } from "./http/dashboard/mod.ts";
 * const dashboard = await createDashboard({
 *   stats: () => snapshot(),
 *   events: stack.events,
 *   stateDir: "/var/lib/mip-tap",
 *   adminPassword: Deno.env.get("MIP_ADMIN_PASSWORD") ?? null,
 *   setLogLevel: (level) => applyLogLevel(level),
 *   resetDevice: () => restartStack(),
 *   upgradeWebSocket: Deno.upgradeWebSocket,
 * });
 * if (dashboard.generatedPassword) console.log(`admin password: ${dashboard.generatedPassword}`);
 * Deno.serve((req, info) => dashboard.fetch(req, info));
 * ```
 * @module
 */

export {
  createDashboard,
  type Dashboard,
  type DashboardConnInfo,
  type DashboardDeps,
  type DashboardEventLog,
  type DashboardLimits,
  DEFAULT_LIMITS,
} from "./dashboard.ts";
export { EVENTS_PER_PAGE } from "./api.ts";
export { type AuthOptions, DEFAULT_AUTH_OPTIONS } from "./auth.ts";
export type { FirmwareStatus, SlotName, SlotState } from "./firmware_store.ts";
export type { LiveSocket } from "./live.ts";
export { DEFAULT_SETTINGS, type Settings } from "./settings_store.ts";
export type {
  DhcpLeaseInfo,
  Ipv4Info,
  LinkInfo,
  StatsBody,
  StatsSnapshot,
  ThroughputSample,
} from "./stats.ts";
