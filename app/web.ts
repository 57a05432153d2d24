/**
 * The web side of the appliance: the dashboard handler (API under /api, UI or `--web-root` files
 * at /), served over HTTP and HTTPS on the user-space stack's TCP listeners.
 *
 * The handler and the dashboard live as long as the process; `listen(net)` opens servers on one
 * stack and `closeServers()` shuts them down gracefully, so a device reset can move the web
 * servers onto a fresh stack without logging anyone out.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Config, LogLevel } from "./config.ts";
import { configureLogging } from "./logging.ts";
import { createDashboard, type Dashboard, type StatsSnapshot } from "../http/dashboard/mod.ts";
import {
  type CertificatePair,
  ensureSelfSignedCertificate,
  type HttpServer,
  loadCertificate,
  serve,
  type ServeHandler,
  serveStatic,
  tlsListener,
  upgradeWebSocket,
} from "../http/mod.ts";
import type { NetApi } from "../stack/api.ts";
import type { EventLog } from "../stack/events.ts";
import { formatIpv4 } from "../stack/wire/address.ts";

const log = getLogger(["mip", "web"]);

/** Dashboard levels (Mongoose's 0 none .. 4 verbose) to ours. */
const DASHBOARD_LEVELS: readonly LogLevel[] = ["error", "error", "info", "debug", "debug"];

/** What the web side needs from the rest of the appliance. */
export interface WebDeps {
  config: Config;
  stats(): StatsSnapshot;
  events: EventLog;
  /** Wall time of an event-log timestamp. */
  wallTimeMs(eventTimeMs: number): number;
  /** The event-log clock now. */
  eventNowMs(): number;
  resetDevice(): Promise<void>;
}

/** The running web side. */
export interface Web {
  readonly dashboard: Dashboard;
  /** Opens the HTTP (and HTTPS) servers on `net`. */
  listen(net: NetApi): void;
  /** Shuts the open servers down gracefully. */
  closeServers(): Promise<void>;
  /** Closes the servers and the dashboard. */
  close(): Promise<void>;
}

/** Creates the dashboard and the TLS certificate; prints a generated admin password once. */
export async function startWeb(deps: WebDeps): Promise<Web> {
  const { config } = deps;
  const dashboard = await createDashboard({
    stats: deps.stats,
    events: deps.events,
    wallTimeMs: deps.wallTimeMs,
    eventNowMs: deps.eventNowMs,
    stateDir: config.stateDir,
    adminPassword: config.adminPassword,
    setLogLevel: (level) => {
      configureLogging(DASHBOARD_LEVELS[level] ?? "info").catch(() => {});
    },
    resetDevice: deps.resetDevice,
    upgradeWebSocket,
  });
  if (dashboard.generatedPassword !== null) {
    console.error(
      `mip-tap: generated dashboard password for user admin: ${dashboard.generatedPassword} ` +
        `(shown only now; stored hashed in ${config.stateDir})`,
    );
  }
  const handler = makeHandler(config.webRoot, dashboard);
  const certificate = config.httpsPort === 0 ? null : await certificateFor(config);
  let servers: HttpServer[] = [];
  const web: Web = {
    dashboard,
    listen(net) {
      servers = [
        serve({ listener: net.listen({ port: config.httpPort }), onListen: () => {} }, handler),
      ];
      if (certificate !== null) {
        const listener = tlsListener(net.listen({ port: config.httpsPort }), certificate);
        servers.push(serve({ listener, onListen: () => {} }, handler));
      }
      log.info("HTTP on port {http}{https}", {
        http: config.httpPort,
        https: certificate === null ? "" : `, HTTPS on port ${config.httpsPort}`,
      });
    },
    async closeServers() {
      const closing = servers;
      servers = [];
      await Promise.allSettled(closing.map((s) => s.shutdown()));
    },
    async close() {
      await web.closeServers();
      await dashboard.close();
    },
  };
  return web;
}

/** /api goes to the dashboard; the rest to `--web-root` files when given, else the dashboard UI. */
function makeHandler(webRoot: string | null, dashboard: Dashboard): ServeHandler {
  return (request, info) => {
    if (webRoot !== null && !new URL(request.url).pathname.startsWith("/api")) {
      return serveStatic(webRoot, request);
    }
    return dashboard.fetch(request, info);
  };
}

/** `--tls-cert/--tls-key`, else a self-signed certificate kept in the state dir. */
async function certificateFor(config: Config): Promise<CertificatePair> {
  if (config.tlsCert !== null && config.tlsKey !== null) {
    return await loadCertificate(config.tlsCert, config.tlsKey);
  }
  const ip = config.ip === null ? undefined : formatIpv4(config.ip.address);
  const stored = await ensureSelfSignedCertificate(config.stateDir, config.hostname, { ip });
  if (stored.created) {
    log.info("Generated a self-signed certificate in {file}", { file: stored.certFile });
  }
  return stored;
}
