/**
 * TCP (RFC 9293 with RFC 5961, 6298, 5681, 6582, 6675, 7323, 2018, 2883, 6528, 8985; CUBIC
 * per RFC 9438 as an option): the transport, the
 * Deno-shaped socket API and the pieces tests reach for.
 * @module
 */

export { TcpLayer } from "./layer.ts";
export type { ConnectionInfo, ConnectOptions, ListenOptions, TcpLayerInit } from "./layer.ts";
export { TcpConn, TcpListener } from "./conn.ts";
export type { TcpAddr } from "./conn.ts";
export type { TcpConfig } from "./config.ts";
export type { TcpState } from "./connection.ts";
export { NewReno, newReno } from "./congestion.ts";
export { CONGESTION_CONTROLS } from "./config.ts";
export { Cubic, cubic } from "./cubic.ts";
export type { AckEvent, CongestionControl, CongestionControlFactory } from "./congestion.ts";
