/**
 * The hand-over between the HTTP/1.1 server and protocols that take the connection after a
 * `101 Switching Protocols` (RFC 9110 section 7.8), i.e. WebSocket. A handler returns the
 * `Response` made by `upgradeWebSocket`; the server looks it up here, writes the 101 head and
 * gives the raw connection (with any bytes already buffered) to the registered target.
 *
 * Invariants: entries are keyed weakly by the Request/Response objects, so nothing is kept
 * alive by being registered; a Response is taken at most once.
 * @module
 */

import type { ConnReader } from "./_conn_reader.ts";
import type { Conn } from "./conn.ts";

/** A protocol endpoint waiting for its connection. */
export interface UpgradeTarget {
  /** Takes over `conn`; `reader` holds the bytes received after the request head. */
  attach(conn: Conn, reader: ConnReader): void;
  /** The 101 could not be sent: the target never gets a connection. */
  abort(error: unknown): void;
  /** Asks the protocol to close because the server shuts down. */
  shutdown(): void;
  /** Settles when the protocol is done with the connection. */
  readonly closed: Promise<void>;
}

const servedRequests = new WeakSet<Request>();
const byResponse = new WeakMap<Response, UpgradeTarget>();
const byRequest = new WeakMap<Request, { target: UpgradeTarget; accept: string }>();

/** Marks `request` as received by this package's server (so it can be upgraded by it). */
export function markServed(request: Request): void {
  servedRequests.add(request);
}

/** Whether `request` came from this package's server. */
export function isServed(request: Request): boolean {
  return servedRequests.has(request);
}

/**
 * Registers the target that takes the connection of `request` when `response` (or a copy of
 * it carrying the same `Sec-WebSocket-Accept`, as middleware that rebuilds responses makes) is
 * returned for it.
 */
export function registerUpgrade(
  request: Request,
  response: Response,
  target: UpgradeTarget,
  accept: string,
): void {
  byResponse.set(response, target);
  byRequest.set(request, { target, accept });
}

/**
 * The upgrade target for the exchange of `request` answered by `response`, if any. A target
 * registered for the request but not answered with its response is aborted.
 */
export function takeUpgrade(request: Request, response: Response): UpgradeTarget | undefined {
  const pending = byRequest.get(request);
  byRequest.delete(request);
  let target = byResponse.get(response);
  byResponse.delete(response);
  if (!target && pending && response.headers.get("sec-websocket-accept") === pending.accept) {
    target = pending.target;
  }
  if (pending && pending.target !== target) {
    pending.target.abort(new Error("The handler did not return the WebSocket upgrade response"));
  }
  return target;
}
