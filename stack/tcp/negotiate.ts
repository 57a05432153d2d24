/**
 * What a connection's two SYNs settled, and the path facts segment sizes depend on: MSS
 * (RFC 9293 3.7.1, RFC 6691), window scale (RFC 7323 2), timestamps (RFC 7323 3) and SACK
 * (RFC 2018 2). An option is in use only when both SYNs carried it and our config allows it.
 * @module
 */

import type { TcpOptions } from "../wire/tcp.ts";
import type { ResolvedTcpConfig } from "./config.ts";
import type { TcpReceiver } from "./receiver.ts";
import type { TcpSender } from "./sender.ts";

/** Bytes of the timestamp option on every segment once negotiated (RFC 7323 3.2). */
export const TS_OPTION_BYTES = 12;
/** Smallest payload we agree to send per segment (Linux tcp_min_snd_mss). */
export const MIN_SEND_MSS = 48;
/** MSS assumed when the peer's SYN has none (RFC 9293 3.7.1). */
export const DEFAULT_MSS = 536;

/** Negotiated options and path parameters of one connection. */
export class Negotiated {
  /** MTU toward the peer minus IP and TCP headers. */
  mtuMss: number;
  /** The window scale we offer (and use when agreed). */
  readonly ourShift: number;
  /** The peer's window scale (0 unless agreed). */
  sndShift = 0;
  wsAgreed = false;
  peerMss = DEFAULT_MSS;
  /** Offset of our timestamp clock (RFC 7323 5.4). */
  readonly tsOffset: number;

  constructor(mtu: number, ourShift: number, tsOffset: number) {
    this.mtuMss = Math.max(MIN_SEND_MSS, mtu - 40);
    this.ourShift = ourShift;
    this.tsOffset = tsOffset;
  }

  /** Our TSval now: 1 ms ticks plus the offset. */
  tsNow(nowMs: number): number {
    return (Math.floor(nowMs) + this.tsOffset) >>> 0;
  }

  /** Data per segment (the smaller MSS less the options every segment carries). */
  effectiveMss(timestamps: boolean): number {
    const base = Math.min(this.peerMss, this.mtuMss);
    return Math.max(MIN_SEND_MSS, base - (timestamps ? TS_OPTION_BYTES : 0));
  }

  /** Applies the options of the peer's SYN to both halves of the connection. */
  apply(
    o: TcpOptions,
    config: ResolvedTcpConfig,
    sender: TcpSender,
    receiver: TcpReceiver,
    nowMs: number,
  ): void {
    this.peerMss = o.mss > 0 ? o.mss : DEFAULT_MSS;
    const ws = config.windowScaling && o.windowScale >= 0;
    this.wsAgreed = ws;
    this.sndShift = ws ? o.windowScale : 0;
    receiver.shift = ws ? this.ourShift : 0;
    const sack = config.sack && o.sackPermitted;
    sender.sackEnabled = sack;
    receiver.sackEnabled = sack;
    const ts = config.timestamps && o.hasTimestamps;
    receiver.tsEnabled = ts;
    if (ts) receiver.initTsRecent(o.tsVal, nowMs);
    sender.setMss(this.effectiveMss(ts));
  }
}
