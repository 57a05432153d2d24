/**
 * One HTTP/1.1 connection (RFC 9112): reads request heads from the connection's single buffer,
 * calls the handler, writes responses in request order, and decides after each exchange
 * whether the connection persists (section 9.3). Pipelined requests are answered one after
 * the other from the same buffer, so responses can never be reordered.
 *
 * Invariants: one request is in flight at a time; every path out of `run` closes the
 * connection, except a successful upgrade which hands it over; a request-level protocol error
 * is answered with its status, then the write side is shut and the input drained for a short
 * while (a lingering close) so that the client sees the response instead of a reset; all
 * timers are cleared before `run` settles.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ConnReader } from "./_conn_reader.ts";
import { RequestBody } from "./_body.ts";
import { HttpError } from "./_http_error.ts";
import { parseRequestHead, type RequestHead } from "./_request_head.ts";
import { type DateCache, writeResponse } from "./_response_writer.ts";
import { markServed, takeUpgrade, type UpgradeTarget } from "./_upgrade.ts";
import { closeQuietly, type Conn, type NetAddr, writeAll } from "./conn.ts";
import { HeadDeadline, IoWatchdog, SessionTimer, TIMEOUT } from "./_session_deadlines.ts";
import type { LayerCounters } from "../stack/counters.ts";

const log = getLogger(["mip", "http"]);

/** How long a refused connection is drained after the error response (lingering close). */
export const LINGER_MS = 1000;
/** At most this much input is drained during a lingering close. */
const LINGER_BYTES = 256 * 1024;
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Limits applied to every connection; see `ServeLimits` in server.ts. */
export interface SessionLimits {
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxDrainBytes: number;
  readonly maxConnections: number;
  readonly ioTimeoutMs: number;
}

/** Handler information, as Deno.ServeHandlerInfo. */
export interface ServeHandlerInfo {
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Settles when the response has been written (rejects if writing it failed). */
  readonly completed: Promise<void>;
}

/** A request handler in the Deno.serve shape. */
export type ServeHandler = (
  request: Request,
  info: ServeHandlerInfo,
) => Response | Promise<Response>;

/** What a session shares with its server. */
export interface SessionContext {
  readonly limits: SessionLimits;
  readonly handler: ServeHandler;
  readonly onError: (error: unknown) => Response | Promise<Response>;
  readonly scheme: "http" | "https";
  readonly dates: DateCache;
  readonly counters: LayerCounters;
  /** True once the server is shutting down. */
  readonly closing: () => boolean;
  /** Takes ownership of an upgraded connection's protocol. */
  readonly adoptUpgrade: (target: UpgradeTarget) => void;
}

/** After an exchange: keep the connection, close it, already closed, or handed over. */
type Outcome = "keep" | "close" | "closed" | "upgraded";

/** The state of one exchange, between the handler and the response writer. */
interface Exchange {
  readonly head: RequestHead;
  readonly request: Request;
  readonly body: RequestBody | null;
  readonly gate: ContinueGate;
  readonly completed: PromiseWithResolvers<void>;
  readonly abort: AbortController;
}

/** Sends `100 Continue` (RFC 9110 15.2.1) at most once, and never after the final head. */
class ContinueGate {
  readonly #conn: Pick<Conn, "write">;
  readonly #expected: boolean;
  #sent = false;
  #closed = false;

  constructor(conn: Pick<Conn, "write">, expected: boolean) {
    this.#conn = conn;
    this.#expected = expected;
  }

  /** True when the client expected a 100 that was never sent. */
  get withheld(): boolean {
    return this.#expected && !this.#sent;
  }

  async send(): Promise<void> {
    if (!this.#expected || this.#sent || this.#closed) return;
    this.#sent = true;
    await writeAll(this.#conn, CONTINUE);
  }

  /** The final response head is being written: no 100 from now on. */
  close(): void {
    this.#closed = true;
  }
}

/** Serves the requests of one connection. */
export class Http1Session {
  readonly #conn: Conn;
  readonly #ctx: SessionContext;
  readonly #reader: ConnReader;
  readonly #io: IoWatchdog;
  readonly #timer: SessionTimer;
  readonly #head: HeadDeadline;
  #idle = true;
  #unreadBody = false;

  constructor(conn: Conn, ctx: SessionContext) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#timer = new SessionTimer((nowMs) =>
      Math.min(this.#head.check(nowMs), this.#io.check(nowMs))
    );
    this.#head = new HeadDeadline(this.#timer);
    this.#io = new IoWatchdog(
      conn,
      ctx.limits.ioTimeoutMs,
      this.#timer,
      () => ctx.counters.drop("io-timeout"),
    );
    this.#reader = new ConnReader(this.#io, Math.max(ctx.limits.maxHeaderBytes, 4096));
  }

  /** True while waiting for a request of which nothing has arrived yet. */
  get idle(): boolean {
    return this.#idle;
  }

  /** Closes the connection if no request is in progress (graceful shutdown). */
  closeIfIdle(): void {
    if (this.#idle) closeQuietly(this.#conn);
  }

  /** Serves requests until the connection closes, fails or is upgraded. */
  async run(): Promise<void> {
    let outcome: Outcome = "close";
    try {
      for (let first = true;; first = false) {
        const head = await this.#readHead(first);
        if (head === null) return;
        outcome = await this.#exchange(head);
        if (outcome !== "keep") break;
        if (this.#ctx.closing()) return;
      }
      // Unread input (pipelined requests, an unread body) would turn our close into a reset that
      // can destroy the response in flight: drain it for a moment first.
      if (outcome === "close" && (this.#reader.buffered > 0 || this.#unreadBody)) {
        await this.#lingeringClose(undefined);
      }
    } catch (error) {
      log.debug("Connection from {remote} failed: {error}", {
        remote: this.#conn.remoteAddr.hostname,
        error,
      });
    } finally {
      this.#timer.dispose();
      if (outcome !== "upgraded") closeQuietly(this.#conn);
    }
  }

  #skipBlankLines(): void {
    // RFC 9112 section 2.2: ignore empty lines received before the request-line.
    for (let view = this.#reader.peek(); view[0] === 0x0d && view[1] === 0x0a;) {
      this.#reader.consume(2);
      view = this.#reader.peek();
    }
  }

  /** Reads the next request head; null when the connection should just close. */
  async #readHead(first: boolean): Promise<RequestHead | null> {
    const { maxHeaderBytes, headersTimeoutMs, keepAliveTimeoutMs } = this.#ctx.limits;
    const reader = this.#reader;
    this.#io.timeReads = false;
    this.#skipBlankLines();
    this.#idle = reader.buffered === 0;
    let waitingIdle = !first && this.#idle;
    const deadline = this.#head;
    deadline.start(waitingIdle ? keepAliveTimeoutMs : headersTimeoutMs);
    try {
      for (let scanned = 0;;) {
        const end = reader.findHeadEnd(scanned);
        if (end > maxHeaderBytes) throw new HttpError(431, "head-too-large");
        if (end >= 0) {
          this.#idle = false;
          const head = parseRequestHead(reader.peek().subarray(0, end));
          reader.consume(end);
          return head;
        }
        if (reader.buffered >= maxHeaderBytes) throw new HttpError(431, "head-too-large");
        scanned = Math.max(0, reader.buffered - 3);
        if (this.#idle && this.#ctx.closing()) return null;
        const n = await deadline.race(reader.fill());
        if (n === TIMEOUT) {
          if (waitingIdle) return null; // RFC 9112 9.5: an idle connection may be closed
          throw new HttpError(408, "headers-timeout");
        }
        if (n === null) return null;
        this.#skipBlankLines();
        if (reader.buffered > 0) this.#idle = false;
        if (waitingIdle && !this.#idle) {
          waitingIdle = false;
          deadline.start(headersTimeoutMs);
        }
      }
    } catch (error) {
      if (!(error instanceof HttpError)) return null; // the read failed: reset or closed
      await this.#reject(error, deadline.pending);
      return null;
    } finally {
      deadline.cancel();
    }
  }

  /** Answers a request-level error and closes the connection. */
  async #reject(error: HttpError, pendingRead: Promise<unknown> | undefined): Promise<void> {
    this.#ctx.counters.drop(error.reason);
    log.debug("Refused a request from {remote}: {reason}", {
      remote: this.#conn.remoteAddr.hostname,
      reason: error.reason,
    });
    try {
      await writeResponse(this.#io, error.toResponse(), {
        method: "GET",
        minorVersion: 1,
        keepAlive: false,
        date: this.#ctx.dates.format(Date.now()),
      });
    } catch {
      // The peer is gone; the close below is all that is left to do.
    }
    await this.#lingeringClose(pendingRead);
  }

  /** Shuts the write side, drains input until EOF or a short timeout, then closes. */
  async #lingeringClose(pendingRead: Promise<unknown> | undefined): Promise<void> {
    const conn = this.#conn;
    const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
    try {
      await conn.closeWrite();
      if (pendingRead) await pendingRead;
      for (let total = 0; total < LINGER_BYTES;) {
        this.#reader.consume(this.#reader.buffered);
        const n = await this.#reader.fill();
        if (n === null) break;
        total += n;
      }
    } catch {
      // Reset or closed by the timer: done either way.
    } finally {
      clearTimeout(timer);
      closeQuietly(conn);
    }
  }

  /** Runs one request/response exchange. */
  async #exchange(head: RequestHead): Promise<Outcome> {
    const { limits, counters } = this.#ctx;
    counters.received(head.byteLength);
    this.#io.timeReads = true;
    const framing = head.framing;
    if (framing.kind === "length" && framing.length > limits.maxBodyBytes) {
      await this.#reject(new HttpError(413, "body-too-large"), undefined);
      return "closed";
    }
    const gate = new ContinueGate(this.#io, head.expectContinue);
    const body = framing.kind === "none" ? null : new RequestBody(this.#reader, framing, {
      maxBodyBytes: limits.maxBodyBytes,
      beforeFirstRead: () => gate.send(),
    });
    const abort = new AbortController();
    let request: Request;
    try {
      request = this.#buildRequest(head, body, abort.signal);
    } catch (error) {
      const httpError = error instanceof HttpError ? error : new HttpError(400, "bad-request");
      await this.#reject(httpError, undefined);
      return "closed";
    }
    const completed = Promise.withResolvers<void>();
    completed.promise.catch(() => {});
    let response = await this.#callHandler(request, completed.promise);
    if (body?.error) {
      counters.drop(body.error.reason);
      response = body.error.toResponse();
    }
    const upgrade = takeUpgrade(request, response);
    if (upgrade) return await this.#upgrade(response, upgrade, completed);
    return await this.#respond(response, { head, request, body, gate, completed, abort });
  }

  /** Writes the response, then decides whether the connection carries another request. */
  async #respond(response: Response, exchange: Exchange): Promise<Outcome> {
    const { head, request, body, gate, completed } = exchange;
    // RFC 9110 10.1.1: a success answer to a request still expecting 100 lets the body come.
    if (body && !body.started && response.ok) await gate.send();
    gate.close();
    // Without the 100 the client may or may not send the body: close after the response.
    const bodyPending = body !== null && !body.done && gate.withheld;
    let keepAlive = head.keepAlive && !this.#ctx.closing() && !body?.error && !bodyPending;
    try {
      const result = await writeResponse(this.#io, response, {
        method: request.method,
        minorVersion: head.minorVersion,
        keepAlive,
        date: this.#ctx.dates.format(Date.now()),
      });
      this.#ctx.counters.sent(result.bodyBytes);
      keepAlive = result.keepAlive;
      completed.resolve();
    } catch (error) {
      completed.reject(error);
      exchange.abort.abort(error);
      return "close";
    }
    if (keepAlive && body && !body.done) {
      keepAlive = await body.drain(this.#ctx.limits.maxDrainBytes);
    }
    this.#unreadBody = body !== null && !body.done;
    return keepAlive && !body?.error ? "keep" : "close";
  }

  #buildRequest(head: RequestHead, body: RequestBody | null, signal: AbortSignal): Request {
    const authority = head.authority ?? formatAuthority(this.#conn.localAddr);
    const path = head.pathAndQuery === "*" ? "/*" : head.pathAndQuery;
    // The field list goes in as it is: the Request validates and copies it once (a Headers
    // built here first would be validated and copied twice).
    const headers = head.fields as [string, string][];
    const method = head.method.toUpperCase();
    // fetch's Request cannot carry a GET or HEAD body: it is read and dropped after the exchange.
    const hasBody = body !== null && method !== "GET" && method !== "HEAD";
    const init: RequestInit & { duplex?: "half" } = { method: head.method, headers, signal };
    if (hasBody) {
      init.body = body.stream;
      init.duplex = "half";
    }
    const request = new Request(`${this.#ctx.scheme}://${authority}${path}`, init);
    markServed(request);
    return request;
  }

  async #callHandler(request: Request, completed: Promise<void>): Promise<Response> {
    const info: ServeHandlerInfo = { remoteAddr: this.#conn.remoteAddr, completed };
    try {
      const response = await this.#ctx.handler(request, info);
      if (!(response instanceof Response)) {
        throw new TypeError("The handler must return a Response");
      }
      if (response.bodyUsed) throw new TypeError("The handler returned a Response already used");
      return response;
    } catch (error) {
      this.#ctx.counters.drop("handler-error");
      try {
        const response = await this.#ctx.onError(error);
        if (response instanceof Response) return response;
      } catch (onErrorFailure) {
        log.error("onError failed: {error}", { error: onErrorFailure });
      }
      return new Response("Internal Server Error\n", { status: 500 });
    }
  }

  async #upgrade(
    response: Response,
    target: UpgradeTarget,
    completed: PromiseWithResolvers<void>,
  ): Promise<Outcome> {
    let head = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const [name, value] of response.headers) {
      if (name !== "content-length" && name !== "transfer-encoding") {
        head += `${name}: ${value}\r\n`;
      }
    }
    head += `date: ${this.#ctx.dates.format(Date.now())}\r\n\r\n`;
    try {
      await writeAll(this.#io, new TextEncoder().encode(head));
    } catch (error) {
      target.abort(error);
      completed.reject(error);
      return "close";
    }
    completed.resolve();
    this.#io.timeReads = false;
    this.#ctx.adoptUpgrade(target);
    target.attach(this.#conn, this.#reader);
    return "upgraded";
  }
}

/** Formats a NetAddr as a URL authority (IPv6 in brackets). */
export function formatAuthority(addr: NetAddr): string {
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${host}:${addr.port}`;
}
