/**
 * Turning a connection's state into segments: header fields, the options each kind of
 * segment carries (SYN options per RFC 9293 3.7.1, RFC 7323, RFC 2018; timestamps on every
 * segment once agreed; SACK blocks while data is out of order), probes and resets.
 * Every segment that carries an ACK updates the receiver's ACK state; every planned segment
 * updates the sender.
 * @module
 */

import type { LayerCounters } from "../counters.ts";
import type { IpSender } from "../transport.ts";
import {
  clearTcpOptions,
  newTcpOptions,
  TcpFlag,
  type TcpHeader,
  type TcpOptions,
} from "../wire/tcp.ts";
import type { ResolvedTcpConfig } from "./config.ts";
import { type Negotiated, TS_OPTION_BYTES } from "./negotiate.ts";
import { sendSegment } from "./output.ts";
import type { TcpReceiver } from "./receiver.ts";
import type { SegmentPlan, TcpSender } from "./sender.ts";
import { seqAdd } from "./seq.ts";
import type { TcpOffload } from "./types.ts";

/** The parts of a connection the emitter reads. */
export interface EmitterSource {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly state: string;
  readonly sender: TcpSender;
  readonly receiver: TcpReceiver;
  readonly negotiated: Negotiated;
}

/** Builds and sends the segments of one connection. */
export class SegmentEmitter {
  readonly #conn: EmitterSource;
  readonly #ip: IpSender;
  readonly #counters: LayerCounters;
  readonly #config: ResolvedTcpConfig;
  readonly #offload: boolean;
  readonly #header: TcpHeader = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0 };
  readonly #options: TcpOptions = newTcpOptions();

  constructor(
    conn: EmitterSource,
    host: {
      ip: IpSender;
      counters: LayerCounters;
      config: ResolvedTcpConfig;
      offload?: TcpOffload;
    },
  ) {
    this.#conn = conn;
    this.#ip = host.ip;
    this.#counters = host.counters;
    this.#config = host.config;
    this.#offload = host.offload !== undefined;
  }

  /** Sends `plan` (or a bare ACK when undefined) with the current ACK, window and options. */
  send(plan: SegmentPlan | undefined, nowMs: number): void {
    const c = this.#conn;
    const s = c.sender;
    let flags = 0;
    const syn = plan?.syn ?? false;
    if (syn) flags |= TcpFlag.SYN;
    if (plan?.fin) flags |= TcpFlag.FIN;
    const dataLen = plan?.dataLen ?? 0;
    if (dataLen > 0 && seqAdd(plan!.seq, dataLen) === s.dataEnd) flags |= TcpFlag.PSH;
    const withAck = c.state !== "SYN-SENT";
    if (withAck) flags |= TcpFlag.ACK;
    const h = this.#fillHeader(plan?.seq ?? s.sndNxt, flags, syn);
    this.#fillOptions(nowMs, syn, dataLen);
    const data = dataLen > 0
      ? { buffer: s.buffer, offset: plan!.dataOffset, length: dataLen }
      : undefined;
    sendSegment(this.#ip, this.#counters, c, h, this.#options, data, this.#gsoSize);
    if (withAck) c.receiver.onAckSent();
    if (plan) s.onSent(plan, nowMs);
  }

  /** A segment the peer must answer: SEQ = SND.UNA - 1, no data (Linux's probe). */
  probe(nowMs: number): void {
    const h = this.#fillHeader(seqAdd(this.#conn.sender.sndUna, -1), TcpFlag.ACK, false);
    this.#fillOptions(nowMs, false, 0);
    sendSegment(this.#ip, this.#counters, this.#conn, h, this.#options, undefined, this.#gsoSize);
  }

  /**
   * How segments leave: -1 with checksums computed here; with an offloading link the segment
   * size the link cuts super-segments at (any value >= 0 leaves the checksum partial).
   */
  get #gsoSize(): number {
    return this.#offload ? this.#conn.sender.segmentBytes : -1;
  }

  /** A RST: <SEQ=seq><CTL=RST>, or with <ACK=ack> when `withAck`. */
  reset(seq: number, ack: number, withAck: boolean): void {
    const c = this.#conn;
    const h = this.#header;
    h.srcPort = c.localPort;
    h.dstPort = c.remotePort;
    h.seq = seq;
    h.ack = withAck ? ack : 0;
    h.flags = TcpFlag.RST | (withAck ? TcpFlag.ACK : 0);
    h.window = 0;
    sendSegment(this.#ip, this.#counters, c, h, undefined);
  }

  #fillHeader(seq: number, flags: number, syn: boolean): TcpHeader {
    const c = this.#conn;
    const h = this.#header;
    const r = c.receiver;
    h.srcPort = c.localPort;
    h.dstPort = c.remotePort;
    h.seq = seq;
    h.flags = flags;
    h.ack = flags & TcpFlag.ACK ? r.rcvNxt : 0;
    h.window = syn ? r.synWindow() : flags & TcpFlag.ACK ? r.windowField() : 0;
    return h;
  }

  #fillOptions(nowMs: number, syn: boolean, dataLen: number): void {
    const o = this.#options;
    const c = this.#conn;
    const r = c.receiver;
    const n = c.negotiated;
    const config = this.#config;
    clearTcpOptions(o);
    // Our own SYN offers what the config allows; a SYN-ACK repeats what both SYNs agreed.
    const offering = c.state === "SYN-SENT";
    if (syn) {
      o.mss = n.mtuMss;
      o.windowScale = (offering ? config.windowScaling : n.wsAgreed) ? n.ourShift : -1;
      o.sackPermitted = offering ? config.sack : r.sackEnabled;
    }
    if ((syn && offering) ? config.timestamps : r.tsEnabled) {
      o.hasTimestamps = true;
      o.tsVal = n.tsNow(nowMs);
      o.tsEcr = r.tsEnabled ? r.tsRecent : 0;
    }
    if (!syn && r.sackEnabled && r.sackBlockCount > 0) {
      const room = n.mtuMss - (r.tsEnabled ? TS_OPTION_BYTES : 0) - dataLen;
      const maxBlocks = Math.min(r.tsEnabled ? 3 : 4, Math.floor((room - 4) / 8));
      if (maxBlocks > 0) r.sackBlocks(o.sackBlocks, maxBlocks);
    }
  }
}
