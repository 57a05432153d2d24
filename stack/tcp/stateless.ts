/**
 * Segments sent without connection state: RST replies for segments that match no socket
 * (RFC 9293 3.10.7.1, rate-limited layer-wide) and SYN-cookie SYN-ACKs with the check of the
 * ACK that completes them (RFC 4987 3.6). Nothing here allocates per-connection memory.
 * @module
 */

import type { LayerCounters } from "../counters.ts";
import type { Random } from "../random.ts";
import type { IpSender, PacketInfo } from "../transport.ts";
import { newTcpOptions, TcpFlag } from "../wire/tcp.ts";
import { type ResolvedTcpConfig, windowShiftFor } from "./config.ts";
import type { IsnGenerator } from "./isn.ts";
import { MIN_SEND_MSS } from "./negotiate.ts";
import { sendSegment } from "./output.ts";
import { seqAdd } from "./seq.ts";
import { decodeCookieTimestamp, encodeCookieTimestamp, SynCookies } from "./syn_cookie.ts";
import type { InSegment } from "./types.ts";

/** What a valid cookie ACK tells about the connection to create. */
export interface CookieAck {
  irs: number;
  iss: number;
  mss: number;
  windowScale: number;
  sack: boolean;
}

/** Stateless replies of one layer. */
export class StatelessReplies {
  readonly #ip: IpSender;
  readonly #counters: LayerCounters;
  readonly #config: ResolvedTcpConfig;
  readonly #isn: IsnGenerator;
  readonly #cookies: SynCookies;
  #resetTokens: number;
  #resetRefillMs = -Infinity;

  constructor(
    deps: { ip: IpSender; counters: LayerCounters; config: ResolvedTcpConfig; isn: IsnGenerator },
    random: Random,
  ) {
    this.#ip = deps.ip;
    this.#counters = deps.counters;
    this.#config = deps.config;
    this.#isn = deps.isn;
    this.#cookies = new SynCookies(random);
    this.#resetTokens = this.#config.resetsPerSecond;
  }

  /** RFC 9293 3.10.7.1: a RST for a segment no socket wants (never for a RST). */
  reset(info: PacketInfo, srcPort: number, dstPort: number, seg: InSegment, nowMs: number): void {
    const f = seg.flags;
    if (f & TcpFlag.RST) return;
    if (!this.#takeResetToken(nowMs)) return this.#counters.drop("rst-rate-limited");
    const segLen = seg.payload.length + (f & TcpFlag.SYN ? 1 : 0) + (f & TcpFlag.FIN ? 1 : 0);
    const withAck = !(f & TcpFlag.ACK);
    sendSegment(this.#ip, this.#counters, { localAddr: info.dst, remoteAddr: info.src }, {
      srcPort: dstPort,
      dstPort: srcPort,
      seq: withAck ? 0 : seg.ack,
      ack: withAck ? seqAdd(seg.seq, segLen) : 0,
      flags: TcpFlag.RST | (withAck ? TcpFlag.ACK : 0),
      window: 0,
    }, undefined);
  }

  #takeResetToken(nowMs: number): boolean {
    const rate = this.#config.resetsPerSecond;
    const elapsed = nowMs - this.#resetRefillMs;
    if (elapsed > 0) {
      this.#resetTokens = Math.min(rate, this.#resetTokens + (elapsed * rate) / 1000);
      this.#resetRefillMs = nowMs;
    }
    if (this.#resetTokens < 1) return false;
    this.#resetTokens--;
    return true;
  }

  /** Answers a SYN to `localPort` with a cookie SYN-ACK. */
  cookieSynAck(
    localPort: number,
    info: PacketInfo,
    srcPort: number,
    seg: InSegment,
    nowMs: number,
  ) {
    const o = seg.options;
    const c = this.#config;
    const tuple = { localAddr: info.dst, localPort, remoteAddr: info.src, remotePort: srcPort };
    const iss = this.#cookies.make(tuple, seg.seq, o.mss, nowMs);
    const out = newTcpOptions();
    out.mss = Math.max(MIN_SEND_MSS, this.#ip.mtuTo(info.src) - 40);
    if (c.timestamps && o.hasTimestamps) {
      // Without timestamps there is nowhere to keep window scale and SACK: both stay off.
      const ws = c.windowScaling && o.windowScale >= 0;
      out.windowScale = ws ? windowShiftFor(c.receiveBufferBytes) : -1;
      out.sackPermitted = c.sack && o.sackPermitted;
      out.hasTimestamps = true;
      const tsNow = (Math.floor(nowMs) + this.#isn.tsOffset(info.dst, info.src)) >>> 0;
      out.tsVal = encodeCookieTimestamp(tsNow, {
        windowScale: ws ? o.windowScale : -1,
        sack: out.sackPermitted,
      });
      out.tsEcr = o.tsVal;
    }
    this.#counters.drop("syn-cookie-sent");
    sendSegment(this.#ip, this.#counters, { localAddr: info.dst, remoteAddr: info.src }, {
      srcPort: localPort,
      dstPort: srcPort,
      seq: iss,
      ack: seqAdd(seg.seq, 1),
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: Math.min(65535, c.receiveBufferBytes),
    }, out);
  }

  /** Checks an ACK to `localPort` as the end of a cookie handshake. */
  checkCookie(
    localPort: number,
    info: PacketInfo,
    srcPort: number,
    seg: InSegment,
    nowMs: number,
  ): CookieAck | undefined {
    if (seg.flags & (TcpFlag.SYN | TcpFlag.RST)) return undefined;
    const tuple = { localAddr: info.dst, localPort, remoteAddr: info.src, remotePort: srcPort };
    const irs = seqAdd(seg.seq, -1);
    const iss = seqAdd(seg.ack, -1);
    const cookie = this.#cookies.check(tuple, irs, iss, nowMs);
    if (!cookie) return undefined;
    const o = seg.options;
    const opts = o.hasTimestamps
      ? decodeCookieTimestamp(o.tsEcr)
      : { windowScale: -1, sack: false };
    return { irs, iss, mss: cookie.mss, windowScale: opts.windowScale, sack: opts.sack };
  }
}
