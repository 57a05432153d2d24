/**
 * Tunables of the TCP layer, with defaults taken from the RFCs or, where they leave a choice,
 * from Linux. Every queue and table bound lives here.
 * @module
 */

import { type CongestionControlFactory, newReno } from "./congestion.ts";
import { cubic } from "./cubic.ts";

/** The controllers by name (`--congestion-control`); the first is the default. */
export const CONGESTION_CONTROLS: Readonly<Record<string, CongestionControlFactory>> = {
  newreno: newReno,
  cubic,
};
import type { RtoOptions } from "./rto.ts";

/** Options for {@linkcode TcpLayer}; every field has a default. */
export interface TcpConfig {
  /** Send buffer bound per connection (write backpressure beyond it). Default 256 KiB. */
  sendBufferBytes?: number;
  /** Receive buffer bound per connection (the largest window offered). Default 256 KiB. */
  receiveBufferBytes?: number;
  /** Connections in any state but TIME-WAIT, including half-open ones. Default 1024. */
  maxConnections?: number;
  /** Connections in TIME-WAIT; past it new ones close at once. Default 4096. */
  maxTimeWait?: number;
  /** Half-open (SYN-RECEIVED) connections per listener before SYN cookies. Default 128. */
  synBacklog?: number;
  /** Established connections waiting for accept() per listener. Default 128. */
  acceptBacklog?: number;
  /** Answer SYNs statelessly when the SYN backlog is full. Default true. */
  synCookies?: boolean;
  /** Offer window scaling (RFC 7323). Default true. */
  windowScaling?: boolean;
  /** Offer timestamps (RFC 7323). Default true. */
  timestamps?: boolean;
  /** Offer SACK (RFC 2018). Default true. */
  sack?: boolean;
  /** Delayed ACK timeout (RFC 1122 4.2.3.2, < 500 ms). Default 40 ms (Linux's minimum). */
  delayedAckMs?: number;
  /** TIME-WAIT duration, 2*MSL. Default 60 s (Linux TCP_TIMEWAIT_LEN). */
  timeWaitMs?: number;
  /** FIN-WAIT-2 lifetime once the application closed (Linux tcp_fin_timeout). Default 60 s. */
  finWait2TimeoutMs?: number;
  /** SYN retransmissions before connect() fails (Linux tcp_syn_retries). Default 6. */
  synRetries?: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped. Default 5. */
  synAckRetries?: number;
  /** Data retransmissions before the connection is aborted (RFC 9293 R2, Linux 15). */
  dataRetries?: number;
  /** Abort when data stays unacknowledged this long (RFC 5482). Default Infinity. */
  userTimeoutMs?: number;
  /** Keepalive idle time, probe interval and count (RFC 1122 4.2.3.6; Linux defaults). */
  keepAliveIdleMs?: number;
  keepAliveIntervalMs?: number;
  keepAliveProbes?: number;
  /** Least time between two rate-limited ACKs of one connection (RFC 5961 7). Default 500 ms. */
  invalidAckIntervalMs?: number;
  /** RST replies to unknown segments per second, layer-wide. Default 1000. */
  resetsPerSecond?: number;
  rto?: RtoOptions;
  /**
   * Tolerate reordering in loss detection: adaptive duplicate-ACK threshold (as Linux's
   * tp->reordering) and undo of spurious fast retransmits (RFC 4015). Default true.
   */
  reorderTolerance?: boolean;
  /** Proportional Rate Reduction (RFC 6937) in fast recovery. Default true. */
  proportionalRateReduction?: boolean;
  /** HyStart++ (RFC 9406): leave the initial slow start when the RTT rises. Default true. */
  hystart?: boolean;
  congestionControl?: CongestionControlFactory;
  /** Ephemeral port range (RFC 6335 8.1.2). Default 49152-65535. */
  ephemeralPortMin?: number;
  ephemeralPortMax?: number;
}

/** {@linkcode TcpConfig} with every default filled in. */
export type ResolvedTcpConfig = Required<TcpConfig>;

/** Fills in defaults and checks ranges. */
export function resolveTcpConfig(config: TcpConfig = {}): ResolvedTcpConfig {
  const c: ResolvedTcpConfig = {
    sendBufferBytes: 256 * 1024,
    receiveBufferBytes: 256 * 1024,
    maxConnections: 1024,
    maxTimeWait: 4096,
    synBacklog: 128,
    acceptBacklog: 128,
    synCookies: true,
    windowScaling: true,
    timestamps: true,
    sack: true,
    delayedAckMs: 40,
    timeWaitMs: 60_000,
    finWait2TimeoutMs: 60_000,
    synRetries: 6,
    synAckRetries: 5,
    dataRetries: 15,
    userTimeoutMs: Infinity,
    keepAliveIdleMs: 7_200_000,
    keepAliveIntervalMs: 75_000,
    keepAliveProbes: 9,
    invalidAckIntervalMs: 500,
    resetsPerSecond: 1000,
    rto: {},
    reorderTolerance: true,
    proportionalRateReduction: true,
    hystart: true,
    congestionControl: newReno,
    ephemeralPortMin: 49152,
    ephemeralPortMax: 65535,
    ...stripUndefined(config),
  };
  // The sender gets its loss-detection options through `rto` (connection.ts passes them on).
  c.rto = { reorderTolerance: c.reorderTolerance, ...c.rto };
  for (const key of ["sendBufferBytes", "receiveBufferBytes"] as const) {
    const v = c[key];
    if (!Number.isInteger(v) || v < 1024 || v > 1 << 30) {
      throw new RangeError(`Cannot use ${key} ${v}: expected an integer in 1024..2^30`);
    }
  }
  if (
    !(c.ephemeralPortMin >= 1 && c.ephemeralPortMin <= c.ephemeralPortMax &&
      c.ephemeralPortMax <= 65535)
  ) {
    throw new RangeError(
      `Cannot use ephemeral ports ${c.ephemeralPortMin}-${c.ephemeralPortMax}: expected 1-65535`,
    );
  }
  if (c.delayedAckMs < 0 || c.delayedAckMs >= 500) {
    throw new RangeError(`Cannot use delayedAckMs ${c.delayedAckMs}: RFC 1122 asks < 500 ms`);
  }
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Our window scale shift for a receive buffer (RFC 7323 2.3: the smallest that covers it). */
export function windowShiftFor(bufferBytes: number): number {
  let shift = 0;
  while (shift < 14 && bufferBytes >>> shift > 65535) shift++;
  return shift;
}
