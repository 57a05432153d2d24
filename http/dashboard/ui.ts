/**
 * The web UI: three assets compiled into the program as string modules (no file reads, nothing
 * from a CDN), served with validators so a browser revalidates cheaply, plus the security headers
 * every dashboard response carries.
 *
 * Invariant: the Content-Security-Policy allows only same-origin scripts, styles and
 * connections, and no framing; the UI never needs more.
 * @module
 */

import type { Hono } from "hono";
import { APP_CSS } from "./assets/app_css.ts";
import { APP_JS } from "./assets/app_js.ts";
import { INDEX_HTML } from "./assets/index_html.ts";
import type { DashboardEnv } from "./dashboard.ts";

interface Asset {
  /** UTF-8, encoded once at startup (not per request); never mutated. */
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

const ASSETS: Record<string, Asset> = {
  "/": asset(INDEX_HTML, "text/html; charset=utf-8"),
  "/index.html": asset(INDEX_HTML, "text/html; charset=utf-8"),
  "/app.js": asset(APP_JS, "text/javascript; charset=utf-8"),
  "/app.css": asset(APP_CSS, "text/css; charset=utf-8"),
};

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Adds the UI routes (GET/HEAD of the assets) and a 404 for everything else. */
export function registerUi(app: Hono<DashboardEnv>): void {
  app.all("*", (c) => {
    const found = ASSETS[c.req.path];
    if (!found) return c.text("Not Found\n", 404);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      return c.text("Method Not Allowed\n", 405, { allow: "GET, HEAD" });
    }
    const headers = { etag: found.etag, "cache-control": "no-cache", "content-type": found.type };
    if (c.req.header("if-none-match") === found.etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(c.req.method === "HEAD" ? null : found.body, { headers });
  });
}

/** Adds the security headers to `response` (not to a 101, whose headers belong to the upgrade). */
export function securityHeaders(response: Response): Response {
  const headers = response.headers;
  try {
    headers.set("x-content-type-options", "nosniff");
    headers.set("x-frame-options", "DENY");
    headers.set("referrer-policy", "no-referrer");
    headers.set("content-security-policy", CSP);
    return response;
  } catch {
    // Immutable headers: copy the response.
    const copy = new Response(response.body, response);
    return securityHeaders(copy);
  }
}

function asset(body: string, type: string): Asset {
  // FNV-1a over the UTF-16 code units: enough to tell versions apart.
  let hash = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) hash = Math.imul(hash ^ body.charCodeAt(i), 0x01000193);
  const etag = `"${(hash >>> 0).toString(16)}-${body.length.toString(16)}"`;
  return { body: new TextEncoder().encode(body), type, etag };
}
