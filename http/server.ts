/**
 * An HTTP/1.1 server over any listener of the Deno socket shape (`Deno.listen`, the user-space
 * stack's TCP listener, `tlsListener`), with the `Deno.serve` handler signature, so a Hono
 * `app.fetch` or any Deno.serve handler runs unchanged.
 *
 * Invariants: the number of open connections (HTTP and upgraded) never exceeds
 * `limits.maxConnections` (a connection beyond it gets a 503 and is closed); every limit in
 * {@link ServeLimits} bounds memory or time per connection; a throwing handler yields a 500 and
 * the server carries on; `finished` settles only after every connection is closed.
 *
 * @example
 * ```ts ignore
 * const server = serve({ listener: Deno.listen({ port: 8080 }) }, () => new Response("hi"));
 * await server.shutdown();
 * ```
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { LayerCounters } from "../stack/counters.ts";
import {
  formatAuthority,
  Http1Session,
  LINGER_MS,
  type ServeHandler,
  type SessionContext,
} from "./_http1_session.ts";
import { HttpError } from "./_http_error.ts";
import { DateCache, writeResponse } from "./_response_writer.ts";
import type { UpgradeTarget } from "./_upgrade.ts";
import { closeQuietly, type Conn, type Listener, type NetAddr, noDelay } from "./conn.ts";

export type { ServeHandler, ServeHandlerInfo } from "./_http1_session.ts";

const log = getLogger(["mip", "http"]);

/** Per-connection limits. */
export interface ServeLimits {
  /** Request line plus header fields, in bytes (431 beyond). Default 16 KiB. */
  readonly maxHeaderBytes: number;
  /** Request body, in bytes (413 beyond). Default 8 MiB. */
  readonly maxBodyBytes: number;
  /** Time for a request head to arrive completely (408 after). Default 10 s. */
  readonly headersTimeoutMs: number;
  /** Time an idle keep-alive connection is kept open. Default 5 s. */
  readonly keepAliveTimeoutMs: number;
  /** Open connections, HTTP and upgraded (503 beyond). Default 512. */
  readonly maxConnections: number;
  /** Unread request body discarded to keep a connection alive (closed beyond). Default 64 KiB. */
  readonly maxDrainBytes: number;
  /**
   * A request-body read or response write that makes no progress for this long closes the
   * connection (a stalled upload, a client that stopped reading). Default 30 s.
   */
  readonly ioTimeoutMs: number;
}

/** The default {@link ServeLimits}. */
export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 8 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 512,
  maxDrainBytes: 64 * 1024,
  ioTimeoutMs: 30_000,
});

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Where connections come from. */
  readonly listener: Listener;
  /** Aborting it shuts the server down gracefully. */
  readonly signal?: AbortSignal;
  /** Overrides of {@link DEFAULT_LIMITS}. */
  readonly limits?: Partial<ServeLimits>;
  /** Makes the response when the handler throws (default: log and 500). */
  readonly onError?: (error: unknown) => Response | Promise<Response>;
  /** Called once with the listening address (default: log it). */
  readonly onListen?: (addr: NetAddr) => void;
  /** Whether request URLs are `https:` (default: `listener.secure`). */
  readonly secure?: boolean;
}

/** A running server. */
export interface HttpServer extends AsyncDisposable {
  /** Settles once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** The listening address. */
  readonly addr: NetAddr;
  /** Open connections (HTTP and upgraded). */
  readonly connections: number;
  /** Requests received (rx), responses sent (tx), refusals by reason (drops). */
  readonly counters: LayerCounters;
  /** Stops accepting, finishes in-flight requests, closes idle connections; then settles. */
  shutdown(): Promise<void>;
}

/**
 * Serves HTTP/1.1 on `options.listener`, calling `handler` for each request.
 *
 * @example
 * ```ts ignore
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const server = serve({ listener }, (req) => new Response(`hello ${new URL(req.url).pathname}`));
 * ```
 */
export function serve(options: ServeOptions, handler: ServeHandler): HttpServer {
  return new Server(options, handler);
}

class Server implements HttpServer {
  readonly finished: Promise<void>;
  readonly counters = new LayerCounters();
  readonly #listener: Listener;
  readonly #ctx: SessionContext;
  readonly #sessions = new Set<Http1Session>();
  readonly #upgrades = new Set<UpgradeTarget>();
  readonly #tasks = new Set<Promise<void>>();
  #closing = false;

  constructor(options: ServeOptions, handler: ServeHandler) {
    this.#listener = options.listener;
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [key, value] of Object.entries(limits)) {
      if (!(value > 0)) throw new RangeError(`Cannot serve: limits.${key} must be positive`);
    }
    this.#ctx = {
      limits,
      handler,
      onError: options.onError ?? defaultOnError,
      scheme: (options.secure ?? options.listener.secure) ? "https" : "http",
      dates: new DateCache(),
      counters: this.counters,
      closing: () => this.#closing,
      adoptUpgrade: (target) => this.#adopt(target),
    };
    const onListen = options.onListen ??
      ((addr: NetAddr) =>
        log.info("Listening on {url}", { url: `${this.#ctx.scheme}://${formatAuthority(addr)}/` }));
    onListen(this.#listener.addr);
    const signal = options.signal;
    if (signal?.aborted) this.#beginShutdown();
    signal?.addEventListener("abort", () => this.#beginShutdown(), { once: true });
    this.finished = this.#run();
  }

  get addr(): NetAddr {
    return this.#listener.addr;
  }

  get connections(): number {
    return this.#sessions.size + this.#upgrades.size;
  }

  async shutdown(): Promise<void> {
    this.#beginShutdown();
    await this.finished;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  #beginShutdown(): void {
    if (this.#closing) return;
    this.#closing = true;
    closeQuietly(this.#listener);
    for (const session of this.#sessions) session.closeIfIdle();
    for (const target of this.#upgrades) target.shutdown();
  }

  async #run(): Promise<void> {
    await this.#acceptLoop();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  async #acceptLoop(): Promise<void> {
    for (let failures = 0; !this.#closing;) {
      let conn: Conn;
      try {
        conn = await this.#listener.accept();
        failures = 0;
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) break;
        if (++failures > 50) {
          log.error("Stopped accepting after repeated failures: {error}", { error });
          break;
        }
        log.warn("accept() failed: {error}", { error });
        await new Promise((resolve) => setTimeout(resolve, 20 * failures));
        continue;
      }
      if (this.#closing) {
        closeQuietly(conn);
        break;
      }
      noDelay(conn);
      if (this.connections >= this.#ctx.limits.maxConnections) this.#refuse(conn);
      else this.#startSession(conn);
    }
    this.#closing = true;
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #startSession(conn: Conn): void {
    const session = new Http1Session(conn, this.#ctx);
    this.#sessions.add(session);
    this.#track(session.run().finally(() => this.#sessions.delete(session)));
  }

  #adopt(target: UpgradeTarget): void {
    this.#upgrades.add(target);
    this.#track(target.closed.catch(() => {}).finally(() => this.#upgrades.delete(target)));
    if (this.#closing) target.shutdown();
  }

  /** Answers 503 to a connection over the limit and closes it (RFC 9110 15.6.4). */
  #refuse(conn: Conn): void {
    this.counters.drop("too-many-connections");
    const error = new HttpError(503, "too-many-connections");
    const timer = setTimeout(() => closeQuietly(conn), LINGER_MS);
    this.#track((async () => {
      try {
        await writeResponse(conn, error.toResponse(), {
          method: "GET",
          minorVersion: 1,
          keepAlive: false,
          date: this.#ctx.dates.format(Date.now()),
        });
        await conn.closeWrite();
        const scratch = new Uint8Array(4096);
        while ((await conn.read(scratch)) !== null);
      } catch {
        // Reset or closed by the timer.
      } finally {
        clearTimeout(timer);
        closeQuietly(conn);
      }
    })());
  }
}

function defaultOnError(error: unknown): Response {
  log.error("Request handler failed: {error}", { error });
  return new Response("Internal Server Error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
