/**
 * TCP (RFC 9293 with RFC 5961, 6298, 5681, 6582, 6675, 7323, 2018, 6528): the transport, the
 * Deno-shaped socket API and the pieces tests reach for.
 * @module
 */

export { TcpLayer } from "./layer.ts";
export type { ConnectionInfo, ConnectOptions, ListenOptions, TcpLayerInit } from "./layer.ts";
export { TcpConn, TcpListener } from "./conn.ts";
export type { TcpAddr } from "./conn.ts";
export type { TcpConfig } from "./config.ts";
export type { TcpState } from "./connection.ts";
export { NewReno } from "./congestion.ts";
export type { AckEvent, CongestionControl, CongestionControlFactory } from "./congestion.ts";
