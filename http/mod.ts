/**
 * The application layer over Deno-shaped sockets: an HTTP/1.1 server with the `Deno.serve`
 * handler signature, WebSocket upgrades, HTTPS through `node:tls`, and static files.
 *
 * @example
 * ```ts ignore
 * import { serve, staticHandler } from "./http/mod.ts";
 * const files = staticHandler("./public");
 * const server = serve({ listener: Deno.listen({ port: 8080 }) }, files);
 * ```
 * @module
 */

export { closeQuietly, type Conn, type Listener, type NetAddr, writeAll } from "./conn.ts";
export {
  DEFAULT_LIMITS,
  type HttpServer,
  serve,
  type ServeHandler,
  type ServeHandlerInfo,
  type ServeLimits,
  type ServeOptions,
} from "./server.ts";
export { HttpError, STATUS_TEXT } from "./_http_error.ts";
export {
  ServerWebSocket,
  upgradeWebSocket,
  type UpgradeWebSocketOptions,
  type WebSocketUpgrade,
} from "./websocket.ts";
export {
  type CertificatePair,
  ensureSelfSignedCertificate,
  loadCertificate,
  type SelfSignedOptions,
  serveTls,
  type StoredCertificate,
  TlsConn,
  type TlsHandshakeInfo,
  tlsListener,
  type TlsOptions,
} from "./tls.ts";
export {
  contentType,
  parseRange,
  serveStatic,
  staticHandler,
  type StaticOptions,
} from "./static.ts";
