/**
 * Types shared by the connection, the layer and the socket API.
 * @module
 */

import type { LayerCounters } from "../counters.ts";
import type { IpSender } from "../transport.ts";
import type { TcpOptions } from "../wire/tcp.ts";
import type { ResolvedTcpConfig } from "./config.ts";
import type { TcpConnection } from "./connection.ts";

/** Connection states (RFC 9293 3.3.2). */
export type TcpState =
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT"
  | "CLOSED";

/** A received segment, valid only during the call. */
export interface InSegment {
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit window field. */
  window: number;
  payload: Uint8Array;
  options: TcpOptions;
  /**
   * Payload bytes per original segment when the link coalesced several into this one (GRO/GSO
   * from an offloading TAP); 0 or absent for an ordinary segment.
   */
  gsoSize?: number;
}

/** What the link under TCP offloads (from the stack's link capabilities). */
export interface TcpOffload {
  /** Super-segments (TSO) are cut by the link. Partial checksums are always taken. */
  tso: boolean;
  /** The largest IP packet the link takes as a super-segment. */
  maxPacketBytes: number;
}

/** How the application side hears about a connection (called from input/poll only). */
export interface ConnectionObserver {
  onEstablished(): void;
  /** Data, EOF or an error can be read. */
  onReadable(): void;
  /** Send buffer space was freed. */
  onWritable(): void;
  /** The connection reached CLOSED; `error` when it failed (reset, refused, timed out). */
  onClosed(error: Error | undefined): void;
}

/** What a connection needs from its layer. */
export interface ConnectionHost {
  readonly ip: IpSender;
  readonly counters: LayerCounters;
  readonly config: ResolvedTcpConfig;
  /** Set when segments may leave with partial checksums (and, with `tso`, as super-segments). */
  readonly offload?: TcpOffload;
  /** The connection's next deadline may have changed. */
  schedule(conn: TcpConnection): void;
  /** The connection has output to send at the next poll. */
  markDirty(conn: TcpConnection): void;
  /** A passive connection reached ESTABLISHED. */
  established(conn: TcpConnection): void;
  /** The connection entered TIME-WAIT; false when the TIME-WAIT table is full. */
  enteredTimeWait(conn: TcpConnection): boolean;
  /** The connection reached CLOSED: forget it. */
  released(conn: TcpConnection): void;
}

/** Addresses and initial numbers of a new connection. */
export interface ConnectionInit {
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  iss: number;
  /** Offset added to our timestamp clock (RFC 7323 5.4). */
  tsOffset: number;
}
