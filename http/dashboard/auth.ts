/**
 * Authentication of the dashboard API, the Mongoose device-dashboard scheme made real: a request
 * carries either HTTP Basic `admin:<password>` (RFC 7617) or the `access_token` cookie that
 * /api/login sets (RFC 6265 4.1: HttpOnly, SameSite=Lax, Secure over HTTPS).
 *
 * Invariants: tokens are 256 random bits from `crypto.getRandomValues`, expire after `ttlMs`, and
 * at most `maxSessions` live at once (the oldest is evicted). Failed password checks are limited
 * per client address and in total; while a client is limited even a correct password is refused
 * (429), so guessing cannot continue. The rate-limit table is bounded too.
 * @module
 */

import { type PasswordHash, timingSafeEqual, verifyPassword } from "./password.ts";

/** The only account; Mongoose's example has a table, an appliance has its admin. */
export const ADMIN_USER = "admin";
/** The cookie /api/login sets (the name Mongoose uses). */
export const TOKEN_COOKIE = "access_token";

/** Tunables of {@linkcode Authenticator}. */
export interface AuthOptions {
  /** Session lifetime; Mongoose's cookie Max-Age is one day. */
  ttlMs: number;
  maxSessions: number;
  /** Failed password checks allowed per client within `failureWindowMs`. */
  maxFailuresPerClient: number;
  /** Failed password checks allowed from all clients together within `failureWindowMs`. */
  maxFailuresTotal: number;
  failureWindowMs: number;
  /** Clients remembered by the rate limiter. */
  maxTrackedClients: number;
}

/** Defaults of {@linkcode AuthOptions}. */
export const DEFAULT_AUTH_OPTIONS: AuthOptions = {
  ttlMs: 24 * 3600 * 1000,
  maxSessions: 64,
  maxFailuresPerClient: 5,
  maxFailuresTotal: 50,
  failureWindowMs: 60_000,
  maxTrackedClients: 1024,
};

/** The result of {@linkcode Authenticator.authenticate}. */
export type AuthResult =
  | { ok: true; user: string; via: "basic" | "cookie"; token: string | null }
  | { ok: false; status: 403 | 429; retryAfterSeconds: number; failedPassword: boolean };

/** Random, expiring session tokens held in memory (a restart logs everyone out). */
export class SessionStore {
  readonly #expiry = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #capacity: number;

  constructor(ttlMs: number, capacity: number) {
    this.#ttlMs = ttlMs;
    this.#capacity = capacity;
  }

  /** Creates a token valid until `nowMs + ttlMs`. */
  create(nowMs: number): string {
    this.#prune(nowMs);
    while (this.#expiry.size >= this.#capacity) {
      this.#expiry.delete(this.#expiry.keys().next().value!);
    }
    const token = base64Url(crypto.getRandomValues(new Uint8Array(32)));
    this.#expiry.set(token, nowMs + this.#ttlMs);
    return token;
  }

  /** Whether `token` is live at `nowMs`; an expired one is forgotten. */
  valid(token: string, nowMs: number): boolean {
    const expiresAtMs = this.#expiry.get(token);
    if (expiresAtMs === undefined) return false;
    if (nowMs >= expiresAtMs) {
      this.#expiry.delete(token);
      return false;
    }
    return true;
  }

  /** Ends a session. */
  revoke(token: string): void {
    this.#expiry.delete(token);
  }

  get size(): number {
    return this.#expiry.size;
  }

  #prune(nowMs: number): void {
    for (const [token, expiresAtMs] of this.#expiry) {
      if (nowMs >= expiresAtMs) this.#expiry.delete(token);
    }
  }
}

/** A fixed-window counter of failed logins per client and in total. */
export class LoginRateLimiter {
  readonly #clients = new Map<string, { startMs: number; count: number }>();
  #total = { startMs: 0, count: 0 };
  readonly #options: AuthOptions;

  constructor(options: AuthOptions) {
    this.#options = options;
  }

  /** Milliseconds until `client` may try a password again; 0 when it may now. */
  blockedForMs(client: string, nowMs: number): number {
    const { failureWindowMs: windowMs, maxFailuresPerClient, maxFailuresTotal } = this.#options;
    let wait = 0;
    const entry = this.#clients.get(client);
    if (entry && nowMs - entry.startMs < windowMs && entry.count >= maxFailuresPerClient) {
      wait = entry.startMs + windowMs - nowMs;
    }
    const total = this.#total;
    if (nowMs - total.startMs < windowMs && total.count >= maxFailuresTotal) {
      wait = Math.max(wait, total.startMs + windowMs - nowMs);
    }
    return wait;
  }

  /** Counts one failed password check of `client`. */
  fail(client: string, nowMs: number): void {
    const windowMs = this.#options.failureWindowMs;
    if (nowMs - this.#total.startMs >= windowMs) this.#total = { startMs: nowMs, count: 0 };
    this.#total.count++;
    let entry = this.#clients.get(client);
    if (!entry || nowMs - entry.startMs >= windowMs) {
      this.#clients.delete(client);
      this.#makeRoom(nowMs);
      entry = { startMs: nowMs, count: 0 };
      this.#clients.set(client, entry);
    }
    entry.count++;
  }

  /** Forgets the failures of `client` after it logged in (and the attempt counted in total). */
  succeed(client: string): void {
    this.#clients.delete(client);
    if (this.#total.count > 0) this.#total.count--;
  }

  #makeRoom(nowMs: number): void {
    if (this.#clients.size < this.#options.maxTrackedClients) return;
    for (const [key, entry] of this.#clients) {
      if (nowMs - entry.startMs >= this.#options.failureWindowMs) this.#clients.delete(key);
    }
    while (this.#clients.size >= this.#options.maxTrackedClients) {
      this.#clients.delete(this.#clients.keys().next().value!);
    }
  }
}

/** Checks credentials of requests against the admin password hash and the sessions. */
export class Authenticator {
  readonly sessions: SessionStore;
  readonly limiter: LoginRateLimiter;
  readonly #hash: PasswordHash;
  /** HMAC of the last password that passed PBKDF2, so Basic on every request stays cheap. */
  #verified: Uint8Array | null = null;
  readonly #hmacKey: Promise<CryptoKey>;
  /** PBKDF2 checks under way, by the candidate's HMAC (hex): the same guess is checked once. */
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(hash: PasswordHash, options: Partial<AuthOptions> = {}) {
    const all = { ...DEFAULT_AUTH_OPTIONS, ...options };
    this.#hash = hash;
    this.sessions = new SessionStore(all.ttlMs, all.maxSessions);
    this.limiter = new LoginRateLimiter(all);
    this.#hmacKey = crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
  }

  /**
   * Authenticates `request` from `client` (its address). Basic credentials win over the cookie,
   * as in Mongoose; a wrong password counts as a failed login.
   */
  async authenticate(request: Request, client: string, nowMs: number): Promise<AuthResult> {
    const basic = parseBasicAuth(request.headers.get("authorization"));
    if (basic !== null) {
      const wait = this.limiter.blockedForMs(client, nowMs);
      if (wait > 0) return denied(429, wait, false);
      const verdict = basic.user === ADMIN_USER
        ? await this.#checkPassword(basic.password, client, nowMs)
        : this.#failUnknownUser(client, nowMs);
      if (verdict === "ok") return { ok: true, user: ADMIN_USER, via: "basic", token: null };
      if (verdict === "limited") {
        return denied(429, this.limiter.blockedForMs(client, nowMs), false);
      }
      return denied(403, 0, true);
    }
    const token = parseCookie(request.headers.get("cookie"), TOKEN_COOKIE);
    if (token !== null && this.sessions.valid(token, nowMs)) {
      return { ok: true, user: ADMIN_USER, via: "cookie", token };
    }
    return denied(403, 0, false);
  }

  #failUnknownUser(client: string, nowMs: number): "bad" {
    this.limiter.fail(client, nowMs);
    return "bad";
  }

  /**
   * Checks a password. The known-good one is recognised by its HMAC without touching the rate
   * limiter; a candidate already being checked is awaited, not checked again; any other
   * candidate counts as a failure *before* the slow PBKDF2 check (and is forgiven on success),
   * so guesses sent together on many connections cannot all slip past the limiter.
   */
  async #checkPassword(password: string, client: string, nowMs: number): Promise<Verdict> {
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", await this.#hmacKey, new TextEncoder().encode(password)),
    );
    if (this.#verified !== null && timingSafeEqual(mac, this.#verified)) return "ok";
    const key = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return (await pending) ? "ok" : "bad";
    if (this.limiter.blockedForMs(client, nowMs) > 0) return "limited";
    this.limiter.fail(client, nowMs);
    const check = verifyPassword(password, this.#hash);
    this.#inFlight.set(key, check);
    try {
      if (!await check) return "bad";
      this.#verified = mac;
      this.limiter.succeed(client);
      return "ok";
    } finally {
      this.#inFlight.delete(key);
    }
  }
}

type Verdict = "ok" | "bad" | "limited";

function denied(status: 403 | 429, waitMs: number, failedPassword: boolean): AuthResult {
  return { ok: false, status, retryAfterSeconds: Math.ceil(waitMs / 1000), failedPassword };
}

/** `user` and `password` of an `Authorization: Basic` header (RFC 7617 2, UTF-8), else null. */
export function parseBasicAuth(header: string | null): { user: string; password: string } | null {
  const match = header?.match(/^basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match) return null;
  let decoded: string;
  try {
    const bytes = Uint8Array.from(atob(match[1]!), (c) => c.charCodeAt(0));
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The value of cookie `name` in a Cookie header (RFC 6265 5.4), else null. */
export function parseCookie(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** The Set-Cookie value of a new session (RFC 6265 4.1.2; SameSite per RFC 6265bis). */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${TOKEN_COOKIE}=${token}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax` +
    (secure ? "; Secure" : "");
}

/** The Set-Cookie value that deletes the session cookie. */
export function clearedCookie(secure: boolean): string {
  return `${TOKEN_COOKIE}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; ` +
    `SameSite=Lax` + (secure ? "; Secure" : "");
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
