/**
 * The /api/* routes, with the paths and JSON shapes of Mongoose's device-dashboard example
 * (examples/device-dashboard/net.c) backed by real data, plus /api/ws for live stats.
 *
 * Invariants: the auth middleware runs before every /api/* route, including unknown ones
 * (Mongoose answers 403 before 404); state-changing routes accept POST only, so a cross-site
 * link cannot trigger them (SameSite=Lax cookies ride along on top-level GETs); a cookie-authed
 * request whose Origin names another host is refused.
 * @module
 */

import type { Context, Hono } from "hono";
import {
  ADMIN_USER,
  type AuthResult,
  clearedCookie,
  DEFAULT_AUTH_OPTIONS,
  parseCookie,
  sessionCookie,
  TOKEN_COOKIE,
} from "./auth.ts";
import type { DashboardContext, DashboardEnv } from "./dashboard.ts";
import { FirmwareError, type UploadChunk } from "./firmware_store.ts";
import { HttpError, jsonResponse, readBody, readJsonObject } from "./_http.ts";
import { SettingsError } from "./settings_store.ts";

/** Mongoose's EVENTS_PER_PAGE. */
export const EVENTS_PER_PAGE = 20;
/** Mongoose's debug default when no level is given (MG_LL_DEBUG). */
const DEFAULT_DEBUG_LEVEL = 3;
const MAX_DEBUG_LEVEL = 4; // MG_LL_VERBOSE
/** Mongoose's prio: 0 high, 1 medium, 2 low. */
const PRIO = { error: 0, warning: 1, info: 2 } as const;

type Ctx = Context<DashboardEnv & { Variables: { auth: AuthResult & { ok: true } } }>;
type Handler = (c: Ctx) => Response | Promise<Response>;

/** Adds the API routes to `app`. */
export function registerApi(app: Hono<DashboardEnv>, ctx: DashboardContext): void {
  const api = app as unknown as Hono<DashboardEnv & { Variables: { auth: AuthResult } }>;
  api.use("/api/*", async (c, next) => {
    const client = clientAddress(c.env?.info);
    const result = await ctx.auth.authenticate(c.req.raw, client, ctx.now());
    if (!result.ok) return refuse(ctx, result, client);
    if (result.via === "cookie" && !sameOrigin(c.req.raw)) {
      throw new HttpError(403, "Cross-origin request refused");
    }
    c.set("auth", result);
    await next();
  });
  const route = (methods: string[], path: string, handler: Handler) =>
    api.all(path, (c) => {
      if (!methods.includes(c.req.method)) {
        throw new HttpError(405, `Use ${methods.join(" or ")}`, { allow: methods.join(", ") });
      }
      return handler(c as unknown as Ctx);
    });
  const READ = ["GET", "POST"];
  const WRITE = ["POST"];
  route(READ, "/api/login", (c) => login(ctx, c));
  route(READ, "/api/logout", (c) => logout(ctx, c));
  route(WRITE, "/api/debug", (c) => debug(ctx, c));
  route(READ, "/api/stats/get", () => jsonResponse(ctx.statsBody()));
  route(READ, "/api/events/get", (c) => events(ctx, c));
  route(READ, "/api/settings/get", () => jsonResponse(ctx.settings.get()));
  route(WRITE, "/api/settings/set", (c) => settingsSet(ctx, c));
  route(WRITE, "/api/firmware/upload", (c) => firmwareUpload(ctx, c));
  route(READ, "/api/firmware/status", () => jsonResponse(ctx.firmware.status()));
  route(WRITE, "/api/firmware/commit", () => firmwareSwitch(ctx, "commit"));
  route(WRITE, "/api/firmware/rollback", () => firmwareSwitch(ctx, "rollback"));
  route(WRITE, "/api/device/reset", () => deviceReset(ctx));
  route(["GET"], "/api/ws", (c) => liveSocket(ctx, c));
  api.all("/api/*", () => {
    throw new HttpError(404, "No such API");
  });
}

function refuse(ctx: DashboardContext, result: AuthResult & { ok: false }, client: string) {
  if (result.status === 429) {
    return jsonResponse({ error: "Too many failed logins; try again later" }, 429, {
      "retry-after": String(result.retryAfterSeconds),
    });
  }
  if (result.failedPassword) {
    ctx.event("login", `Failed login from ${client}`, "warning");
    const waitMs = ctx.auth.limiter.blockedForMs(client, ctx.now());
    if (waitMs > 0) {
      ctx.event(
        "login",
        `Logins from ${client} blocked for ${Math.ceil(waitMs / 1000)} s`,
        "error",
      );
    }
  }
  return jsonResponse({ error: "Not Authorised" }, 403);
}

function login(ctx: DashboardContext, c: Ctx): Response {
  const auth = c.get("auth");
  if (auth.via === "cookie") return jsonResponse({ user: auth.user });
  const token = ctx.auth.sessions.create(ctx.now());
  const maxAgeSeconds = Math.floor((ctx.deps.auth?.ttlMs ?? DEFAULT_AUTH_OPTIONS.ttlMs) / 1000);
  ctx.event("login", `${ADMIN_USER} logged in from ${clientAddress(c.env?.info)}`);
  return jsonResponse({ user: auth.user }, 200, {
    "set-cookie": sessionCookie(token, maxAgeSeconds, ctx.secure(c.req.raw)),
  });
}

function logout(ctx: DashboardContext, c: Ctx): Response {
  const token = parseCookie(c.req.header("cookie") ?? null, TOKEN_COOKIE);
  if (token !== null) ctx.auth.sessions.revoke(token);
  return jsonResponse(true, 200, { "set-cookie": clearedCookie(ctx.secure(c.req.raw)) });
}

async function debug(ctx: DashboardContext, c: Ctx): Promise<Response> {
  const body = await readJsonObject(c.req.raw, ctx.limits.maxJsonBytes);
  const level = body.level ?? DEFAULT_DEBUG_LEVEL;
  if (typeof level !== "number" || !Number.isInteger(level) || level < 0) {
    throw new HttpError(400, `level: expected an integer from 0 to ${MAX_DEBUG_LEVEL}`);
  }
  if (level > MAX_DEBUG_LEVEL) {
    throw new HttpError(400, `level: expected an integer from 0 to ${MAX_DEBUG_LEVEL}`);
  }
  ctx.deps.setLogLevel(level);
  ctx.event("settings", `Log level set to ${level}`);
  return new Response(`Debug level set to ${level}\n`, {
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

async function events(ctx: DashboardContext, c: Ctx): Promise<Response> {
  const page = c.req.method === "POST"
    ? (await readJsonObject(c.req.raw, ctx.limits.maxJsonBytes)).page ?? 1
    : Number(c.req.query("page") ?? 1);
  if (typeof page !== "number" || !Number.isSafeInteger(page) || page < 1) {
    throw new HttpError(400, "page: expected an integer from 1");
  }
  const all = ctx.deps.events.list();
  const end = all.length - (page - 1) * EVENTS_PER_PAGE; // newest first
  const arr = [];
  for (let i = end - 1; i >= Math.max(0, end - EVENTS_PER_PAGE); i--) {
    const e = all[i]!;
    arr.push({
      time: Math.floor(ctx.wallTimeMs(e.timeMs) / 1000),
      type: e.type,
      prio: PRIO[e.priority] ?? PRIO.info,
      text: e.text,
    });
  }
  return jsonResponse({ arr, totalCount: all.length });
}

async function settingsSet(ctx: DashboardContext, c: Ctx): Promise<Response> {
  const patch = await readJsonObject(c.req.raw, ctx.limits.maxJsonBytes);
  const before = ctx.settings.get();
  let after;
  try {
    after = await ctx.settings.update(patch);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return jsonResponse({ status: false, message: error.message }, 400);
  }
  const changed = (Object.keys(after) as (keyof typeof after)[])
    .filter((k) => after[k] !== before[k]);
  if (changed.length > 0) ctx.event("settings", `Settings changed: ${changed.join(", ")}`);
  if (after.log_enabled !== before.log_enabled || after.log_level !== before.log_level) {
    ctx.deps.setLogLevel(after.log_enabled ? after.log_level : 0);
  }
  return jsonResponse({ status: true, message: "Success" });
}

async function firmwareUpload(ctx: DashboardContext, c: Ctx): Promise<Response> {
  const offset = c.req.query("offset") ?? "";
  const total = c.req.query("total") ?? "";
  if (!/^\d{1,15}$/.test(offset) || !/^\d{1,15}$/.test(total)) {
    throw new HttpError(400, "offset and total not set");
  }
  const chunk: UploadChunk = {
    name: c.req.query("name") ?? "",
    offset: Number(offset),
    total: Number(total),
  };
  if (chunk.total > ctx.limits.maxFirmwareBytes) {
    throw new HttpError(
      413,
      `Image of ${chunk.total} bytes exceeds ${ctx.limits.maxFirmwareBytes}`,
    );
  }
  const data = await readBody(c.req.raw, ctx.limits.maxChunkBytes);
  let progress;
  try {
    progress = await ctx.firmware.write(chunk, data, ctx.now());
  } catch (error) {
    if (!(error instanceof FirmwareError)) throw error;
    return jsonResponse(
      { error: error.message, received: ctx.firmware.uploadReceived },
      error.tooLarge ? 413 : 400,
    );
  }
  if (progress.done) {
    const crc = progress.crc32!.toString(16).padStart(8, "0");
    ctx.event(
      "firmware",
      `Uploaded ${chunk.name || "image"} (${progress.total} bytes, CRC-32 ${crc}) ` +
        `to slot ${progress.slot.toUpperCase()}`,
    );
  }
  return jsonResponse(true);
}

async function firmwareSwitch(ctx: DashboardContext, op: "commit" | "rollback") {
  const ok = await ctx.firmware[op]();
  if (ok) {
    const slot = ctx.firmware.active.toUpperCase();
    ctx.event(
      "firmware",
      op === "commit" ? `Committed slot ${slot}` : `Rolled back to slot ${slot}`,
    );
  }
  return jsonResponse(ok);
}

function deviceReset(ctx: DashboardContext): Response {
  ctx.event("reset", "Network stack restart requested", "warning");
  ctx.scheduleReset();
  return jsonResponse(true);
}

function liveSocket(ctx: DashboardContext, c: Ctx): Response {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(426, "Expected a WebSocket upgrade", { upgrade: "websocket" });
  }
  if (!sameOrigin(c.req.raw)) throw new HttpError(403, "Cross-origin WebSocket refused");
  if (ctx.hub.full) throw new HttpError(503, "Too many live connections", { "retry-after": "10" });
  const { socket, response } = ctx.deps.upgradeWebSocket(c.req.raw);
  ctx.hub.add(socket, () => JSON.stringify({ name: "stats", data: ctx.statsBody() }));
  return response;
}

/** False when an Origin header names another host than the request's (RFC 6454 7). */
function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  try {
    return new URL(origin).host === new URL(request.url).host;
  } catch {
    return false;
  }
}

function clientAddress(info: { remoteAddr?: { hostname?: string } } | undefined): string {
  return info?.remoteAddr?.hostname ?? "unknown";
}
