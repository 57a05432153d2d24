/**
 * One TCP connection: the state machine of RFC 9293 3.3.2 driven by segments (3.10.7), user
 * calls (3.10.1-3.10.6) and timers (3.10.8), on top of {@linkcode TcpSender} and
 * {@linkcode TcpReceiver}.
 *
 * Segment handling is split by state: SYN-SENT, TIME-WAIT, and the synchronized states, which
 * run RFC 9293's checks in order (PAWS, sequence, RST with RFC 5961 3.2, SYN with RFC 5961 4.2,
 * ACK with RFC 5961 5.2, text, FIN). A segment that fails a check changes no state beyond the
 * ACK the RFCs ask for, and those ACKs are rate-limited per connection (RFC 5961 7).
 * Output happens from `input`/`poll` (or `flush` after a user call, from the layer's poll);
 * the application hears about progress through its {@linkcode ConnectionObserver}, whose
 * callbacks are only invoked from `input` and `poll`.
 * @module
 */

import { newTcpOptions, TcpFlag, type TcpOptions } from "../wire/tcp.ts";
import { type ResolvedTcpConfig, windowShiftFor } from "./config.ts";
import { SegmentEmitter } from "./emitter.ts";
import { refusedError, resetError, timedOutError } from "./errors.ts";
import { KeepAlive } from "./keepalive.ts";
import { MIN_SEND_MSS, Negotiated } from "./negotiate.ts";
import { TcpReceiver } from "./receiver.ts";
import { type AckInput, newSegmentPlan, type SegmentPlan, TcpSender } from "./sender.ts";
import { seqAdd, seqGt, seqLe, seqLt } from "./seq.ts";
import type {
  ConnectionHost,
  ConnectionInit,
  ConnectionObserver,
  InSegment,
  TcpState,
} from "./types.ts";

export type { ConnectionHost, ConnectionInit, ConnectionObserver, InSegment, TcpState };

const MAX_SEGMENTS_PER_FLUSH = 4096;
const SYNCHRONIZED = new Set<TcpState>([
  "SYN-RECEIVED",
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
]);

/** One connection's state machine. */
export class TcpConnection {
  state: TcpState;
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly passive: boolean;
  readonly sender: TcpSender;
  readonly receiver: TcpReceiver;
  observer: ConnectionObserver | undefined;
  /** Why the connection closed, once CLOSED by a failure. */
  error: Error | undefined;
  /** The application called close(): it reads and writes no more. */
  appClosed = false;
  /** The application will not read (incoming data is discarded). */
  readShut = false;
  /** Earliest deadline this connection has in the layer's timer heap. */
  scheduledAtMs = Infinity;
  /** Opaque slot for the layer (e.g. the listener a passive connection belongs to). */
  owner: unknown;

  /** Options both SYNs agreed on, and path parameters. */
  readonly negotiated: Negotiated;

  readonly #host: ConnectionHost;
  readonly #config: ResolvedTcpConfig;
  readonly #emitter: SegmentEmitter;
  #stateTimerAtMs = Infinity;
  readonly #keepAlive: KeepAlive;
  #lastRecvMs = 0;
  #lastLimitedAckMs = -Infinity;
  readonly #plan: SegmentPlan = newSegmentPlan();
  #lastNowMs = 0;
  readonly #ack: AckInput = {
    seq: 0,
    ack: 0,
    windowBytes: 0,
    occupiesSequence: false,
    sackBlocks: [],
    tsRttMs: NaN,
  };

  private constructor(host: ConnectionHost, init: ConnectionInit, state: TcpState, nowMs: number) {
    const config = host.config;
    this.#host = host;
    this.#config = config;
    this.state = state;
    this.passive = state === "SYN-RECEIVED";
    this.localAddr = init.localAddr;
    this.localPort = init.localPort;
    this.remoteAddr = init.remoteAddr;
    this.remotePort = init.remotePort;
    const ourShift = config.windowScaling ? windowShiftFor(config.receiveBufferBytes) : 0;
    const n = new Negotiated(host.ip.mtuTo(init.remoteAddr), ourShift, init.tsOffset);
    this.negotiated = n;
    const mss = n.effectiveMss(config.timestamps);
    this.sender = new TcpSender(init.iss, mss, config.congestionControl(mss), {
      sendBufferBytes: config.sendBufferBytes,
      rto: config.rto,
      prr: config.proportionalRateReduction,
      hystart: config.hystart,
    });
    this.receiver = new TcpReceiver(config.receiveBufferBytes, ourShift, config.delayedAckMs);
    if (host.offload?.tso) {
      // Room for the IP header and the longest TCP header in every super-segment.
      this.sender.tsoMaxBytes = Math.max(0, host.offload.maxPacketBytes - 20 - 60);
    }
    this.#emitter = new SegmentEmitter(this, host);
    this.#keepAlive = new KeepAlive(config);
    this.#lastRecvMs = nowMs;
    this.#lastNowMs = nowMs;
  }

  /** An active open (RFC 9293 3.10.1): the SYN goes out at the next flush. */
  static connect(host: ConnectionHost, init: ConnectionInit, nowMs: number): TcpConnection {
    const conn = new TcpConnection(host, init, "SYN-SENT", nowMs);
    host.markDirty(conn);
    return conn;
  }

  /** A passive open from a listener's SYN (RFC 9293 3.10.7.2): answers with a SYN-ACK. */
  static accept(
    host: ConnectionHost,
    init: ConnectionInit,
    syn: InSegment,
    nowMs: number,
  ): TcpConnection {
    const conn = new TcpConnection(host, init, "SYN-RECEIVED", nowMs);
    conn.#acceptSyn(syn, nowMs);
    conn.#output(nowMs);
    host.schedule(conn);
    return conn;
  }

  /**
   * A connection completed by a valid SYN cookie (no SYN-RECEIVED state was kept): starts in
   * ESTABLISHED with the options the cookie carried, then processes the ACK segment.
   */
  static fromCookie(
    host: ConnectionHost,
    init: ConnectionInit,
    peer: { irs: number; mss: number; windowScale: number; sack: boolean },
    ack: InSegment,
    nowMs: number,
    register: (conn: TcpConnection) => void,
  ): TcpConnection {
    const conn = new TcpConnection(host, init, "SYN-RECEIVED", nowMs);
    register(conn);
    const o = newTcpOptions();
    o.mss = peer.mss;
    o.windowScale = peer.windowScale;
    o.sackPermitted = peer.sack;
    o.hasTimestamps = ack.options.hasTimestamps;
    o.tsVal = ack.options.tsVal;
    conn.receiver.init(peer.irs);
    conn.#negotiate(o, nowMs);
    conn.sender.markSynSent();
    conn.sender.sndWl1 = peer.irs;
    conn.sender.sndWl2 = init.iss;
    conn.input(ack, nowMs);
    return conn;
  }

  /** The connection reached CLOSED (a method, so type narrowing does not stick). */
  get closed(): boolean {
    return this.state === "CLOSED";
  }

  /** Earliest timer deadline, or Infinity. */
  nextDeadline(): number {
    if (this.state === "CLOSED") return Infinity;
    return Math.min(
      this.sender.rtoAtMs,
      this.sender.persistAtMs,
      this.sender.rackAtMs,
      this.sender.tlpAtMs,
      this.receiver.delayedAckAtMs,
      this.#keepAlive.atMs,
      this.#stateTimerAtMs,
    );
  }

  // ---------------------------------------------------------------- segment arrival

  /**
   * Processes one segment addressed to this connection. Returns "reopen" when a SYN may
   * start a new incarnation of a connection in TIME-WAIT (the layer then closes this one and
   * hands the SYN to the listener).
   */
  input(seg: InSegment, nowMs: number): "reopen" | undefined {
    this.#lastNowMs = nowMs;
    let result: "reopen" | undefined;
    switch (this.state) {
      case "SYN-SENT":
        this.#inputSynSent(seg, nowMs);
        break;
      case "TIME-WAIT":
        result = this.#inputTimeWait(seg, nowMs);
        break;
      case "CLOSED":
      case "LISTEN":
        break;
      default:
        this.#inputSynchronized(seg, nowMs);
    }
    if (result === undefined && this.state !== "CLOSED") this.#output(nowMs);
    this.#host.schedule(this);
    return result;
  }

  /** RFC 9293 3.10.7.3. */
  #inputSynSent(seg: InSegment, nowMs: number): void {
    const f = seg.flags;
    const s = this.sender;
    if (f & TcpFlag.ACK) {
      if (seqLe(seg.ack, s.iss) || seqGt(seg.ack, s.sndNxt)) {
        if (!(f & TcpFlag.RST)) this.#emitter.reset(seg.ack, 0, false);
        this.#host.counters.drop("bad-ack");
        return;
      }
    }
    if (f & TcpFlag.RST) {
      if (f & TcpFlag.ACK) this.#terminate(refusedError(this));
      else this.#host.counters.drop("rst-without-ack");
      return;
    }
    if (!(f & TcpFlag.SYN)) {
      this.#host.counters.drop("no-syn");
      return;
    }
    this.#lastRecvMs = nowMs;
    this.receiver.init(seg.seq);
    this.#negotiate(seg.options, nowMs);
    s.sndWl1 = seg.seq;
    s.sndWl2 = s.iss;
    if (f & TcpFlag.ACK) {
      s.onAck(this.#ackInput(seg, seg.window, NaN, nowMs), nowMs);
      this.#establish(nowMs);
      this.receiver.ackNow = true;
      this.#processText(seqAdd(seg.seq, 1), seg.payload, (f & TcpFlag.FIN) !== 0, nowMs);
    } else {
      this.state = "SYN-RECEIVED"; // simultaneous open: resend our SYN, now with an ACK
      s.resendOutstanding();
    }
  }

  #acceptSyn(syn: InSegment, nowMs: number): void {
    this.receiver.init(syn.seq);
    this.#negotiate(syn.options, nowMs);
    this.sender.sndWl1 = syn.seq;
    this.sender.sndWl2 = this.sender.iss;
    this.sender.sndWnd = syn.window; // never scaled in a SYN (RFC 7323 2.2)
    this.sender.maxSndWnd = syn.window;
  }

  /** Applies the options of the peer's SYN (RFC 9293 3.7.1, RFC 7323 2.2/3.2, RFC 2018 2). */
  #negotiate(o: TcpOptions, nowMs: number): void {
    this.negotiated.apply(o, this.#config, this.sender, this.receiver, nowMs);
  }

  #establish(nowMs: number): void {
    this.state = "ESTABLISHED";
    this.sender.canSendData = true;
    if (this.sender.synRetransmitted) this.sender.rto.reinitialize(3000); // RFC 6298 5.7
    this.#keepAlive.restart(nowMs);
    if (this.passive) this.#host.established(this);
    else this.observer?.onEstablished();
  }

  /** RFC 9293 3.10.7.4 for SYN-RECEIVED and every later state but TIME-WAIT. */
  #inputSynchronized(seg: InSegment, nowMs: number): void {
    const f = seg.flags;
    const r = this.receiver;
    const o = seg.options;
    const segLen = seg.payload.length + (f & TcpFlag.SYN ? 1 : 0) + (f & TcpFlag.FIN ? 1 : 0);
    if (
      o.hasTimestamps && !(f & TcpFlag.RST) && !r.pawsOk(o.tsVal, nowMs) &&
      !this.#disorderedAck(seg)
    ) {
      // RFC 7323 5.3 R1: ACK and drop. Data is acknowledged at once and a duplicate reported
      // (RFC 2883); only empty segments are rate-limited (Linux tcp_oow_rate_limited).
      if (seg.payload.length > 0 && !(f & TcpFlag.SYN)) {
        r.ackNow = true;
        r.noteRejected(seg.seq, seg.payload.length);
      } else {
        this.#sendLimitedAck(nowMs);
      }
      this.#host.counters.drop("paws");
      return;
    }
    if (this.state === "SYN-RECEIVED" && (f & TcpFlag.SYN) && seg.seq === r.irs) {
      if (!(f & TcpFlag.ACK)) {
        this.sender.resendOutstanding(); // their SYN again: send our SYN-ACK again
        return;
      }
      // Simultaneous open (RFC 9293 figure 8): their SYN-ACK; its SYN is already counted.
      seg.seq = seqAdd(seg.seq, 1);
      seg.flags = f & ~TcpFlag.SYN;
      return this.#inputSynchronized(seg, nowMs);
    }
    if (!r.acceptable(seg.seq, segLen)) {
      if (!(f & TcpFlag.RST)) {
        if (seg.payload.length > 0 && !(f & TcpFlag.SYN)) {
          r.ackNow = true;
          r.noteRejected(seg.seq, seg.payload.length);
        } else {
          this.#sendLimitedAck(nowMs);
        }
      }
      this.#host.counters.drop("out-of-window");
      return;
    }
    this.#lastRecvMs = nowMs; // an acceptable segment: the peer is alive (keepalive)
    if (f & TcpFlag.RST) return this.#inputReset(seg, nowMs);
    if (f & TcpFlag.SYN) {
      this.#sendLimitedAck(nowMs); // RFC 5961 4.2 challenge ACK
      this.#host.counters.drop("syn-in-window");
      return;
    }
    if (!(f & TcpFlag.ACK)) {
      this.#host.counters.drop("no-ack");
      return;
    }
    if (o.hasTimestamps) r.updateTsRecent(seg.seq, o.tsVal, nowMs);
    if (!this.#inputAck(seg, nowMs)) return;
    this.#processText(seg.seq, seg.payload, (f & TcpFlag.FIN) !== 0, nowMs, seg.gsoSize ?? 0);
  }

  /**
   * A pure duplicate ACK whose timestamp is a little older than TS.Recent only because ACKs
   * were reordered: PAWS would drop it, but it cannot be an old duplicate of anything (Linux
   * tcp_disordered_ack). Accepting it keeps duplicate-ACK counting right under reordering.
   */
  #disorderedAck(seg: InSegment): boolean {
    const s = this.sender;
    return seg.flags === TcpFlag.ACK && seg.payload.length === 0 &&
      seg.seq === this.receiver.rcvNxt && seg.ack === s.sndUna &&
      seg.window * 2 ** this.negotiated.sndShift === s.sndWnd &&
      ((this.receiver.tsRecent - seg.options.tsVal) | 0) <= s.rto.rtoMs;
  }

  /** RST in a synchronized state (RFC 5961 3.2): exact match resets, else challenge. */
  #inputReset(seg: InSegment, nowMs: number): void {
    if (seg.seq !== this.receiver.rcvNxt) {
      this.#sendLimitedAck(nowMs);
      this.#host.counters.drop("rst-challenged");
      return;
    }
    switch (this.state) {
      case "SYN-RECEIVED":
        this.#terminate(this.passive ? undefined : refusedError(this));
        break;
      case "CLOSING":
      case "LAST-ACK":
        this.#terminate(undefined);
        break;
      default:
        this.#terminate(resetError(this));
    }
  }

  /** The ACK field (RFC 9293 fifth check). Returns false when the segment is done with. */
  #inputAck(seg: InSegment, nowMs: number): boolean {
    const s = this.sender;
    if (this.state === "SYN-RECEIVED") {
      if (!(seqGt(seg.ack, s.sndUna) && seqLe(seg.ack, s.sndNxt))) {
        this.#emitter.reset(seg.ack, 0, false);
        this.#host.counters.drop("bad-ack");
        return false;
      }
      this.#establish(nowMs);
      if (this.closed) return false;
    }
    const shift = this.negotiated.sndShift;
    const tsRtt = this.#timestampRtt(seg, nowMs);
    const freeBefore = s.buffer.free;
    const result = s.onAck(this.#ackInput(seg, seg.window * 2 ** shift, tsRtt, nowMs), nowMs);
    if (result !== "ok") {
      this.#sendLimitedAck(nowMs); // RFC 5961 5.2 / RFC 9293: ACK and drop
      this.#host.counters.drop(result === "unsent" ? "ack-unsent" : "ack-too-old");
      return false;
    }
    if (s.buffer.free > freeBefore && !this.appClosed) this.observer?.onWritable();
    return this.#afterAck(nowMs);
  }

  /**
   * The RTT a timestamp echo gives (RFC 7323 4.1), or NaN. An echo of a TSval sent before
   * our last retransmission is ambiguous (the peer echoes TS.Recent for a duplicate, RFC
   * 7323 4.3, which can be a whole RTO old) and is not used: that is Karn's rule applied to
   * timestamps.
   */
  #timestampRtt(seg: InSegment, nowMs: number): number {
    const o = seg.options;
    if (!this.receiver.tsEnabled || !o.hasTimestamps || o.tsEcr === 0) return NaN;
    const rtt = (this.negotiated.tsNow(nowMs) - o.tsEcr) | 0;
    if (rtt < 0 || nowMs - rtt < this.sender.lastRetransmitMs) return NaN;
    return rtt;
  }

  #ackInput(seg: InSegment, windowBytes: number, tsRttMs: number, nowMs: number): AckInput {
    const a = this.#ack;
    a.seq = seg.seq;
    a.ack = seg.ack;
    a.windowBytes = windowBytes;
    a.occupiesSequence = seg.payload.length > 0 ||
      (seg.flags & (TcpFlag.SYN | TcpFlag.FIN)) !== 0;
    a.sackBlocks = seg.options.sackBlocks;
    a.tsRttMs = tsRttMs;
    // When the echoed TSval was sent, in our time: an ACK for a retransmitted hole that echoes
    // a TSval older than the retransmission was caused by the original (Eifel, RFC 3522).
    const o = seg.options;
    a.tsEchoMs = this.receiver.tsEnabled && o.hasTimestamps && o.tsEcr !== 0
      ? nowMs - ((this.negotiated.tsNow(nowMs) - o.tsEcr) | 0)
      : NaN;
    return a;
  }

  /** State changes when our FIN is acknowledged (RFC 9293 3.10.7.4 fifth check). */
  #afterAck(nowMs: number): boolean {
    if (!this.sender.finAcked) return true;
    switch (this.state) {
      case "FIN-WAIT-1":
        this.state = "FIN-WAIT-2";
        if (this.appClosed) this.#stateTimerAtMs = nowMs + this.#config.finWait2TimeoutMs;
        return true;
      case "CLOSING":
        this.#enterTimeWait(nowMs);
        return false;
      case "LAST-ACK":
        this.#terminate(undefined);
        return false;
      default:
        return true;
    }
  }

  /** Segment text and FIN (RFC 9293 3.10.7.4 seventh and eighth checks). */
  #processText(seq: number, payload: Uint8Array, fin: boolean, nowMs: number, gsoSize = 0): void {
    const r = this.receiver;
    const t = r.clip(seq, payload, fin);
    if (t.data.length === 0 && !t.fin) return;
    const receiving = this.state === "ESTABLISHED" || this.state === "FIN-WAIT-1" ||
      this.state === "FIN-WAIT-2";
    if (!receiving) {
      r.ackNow = true; // after their FIN: only retransmissions can come; acknowledge them
      return;
    }
    if (this.appClosed && t.data.length > 0) {
      // RFC 1122 4.2.2.13: data after close() is lost; say so with a RST.
      this.#host.counters.drop("data-after-close");
      this.abort();
      return;
    }
    this.#receive(t.seq, t.data, t.fin, nowMs, gsoSize);
  }

  #receive(seq: number, data: Uint8Array, fin: boolean, nowMs: number, gsoSize: number): void {
    const r = this.receiver;
    const hadFin = r.finReceived;
    const advanced = r.onData(seq, data, fin, nowMs, gsoSize);
    if (advanced < 0) this.#host.counters.drop("reassembly-full");
    if (advanced > 0 && this.readShut) {
      r.buffer.read(new Uint8Array(r.buffer.readable));
      r.ackNow ||= r.windowUpdateNeeded();
    }
    if (advanced > 0) this.observer?.onReadable();
    if (r.finReceived && !hadFin) this.#onFin(nowMs);
  }

  /** The peer's FIN became in-order (RFC 9293 3.10.7.4 eighth check). */
  #onFin(nowMs: number): void {
    this.observer?.onReadable();
    switch (this.state) {
      case "SYN-RECEIVED":
      case "ESTABLISHED":
        this.state = "CLOSE-WAIT";
        break;
      case "FIN-WAIT-1":
        if (this.sender.finAcked) this.#enterTimeWait(nowMs);
        else this.state = "CLOSING";
        break;
      case "FIN-WAIT-2":
        this.#enterTimeWait(nowMs);
        break;
      default:
        break;
    }
  }

  /** TIME-WAIT (RFC 9293 3.10.7.4, RFC 6191 for reuse by a new SYN). */
  #inputTimeWait(seg: InSegment, nowMs: number): "reopen" | undefined {
    const f = seg.flags;
    const r = this.receiver;
    const o = seg.options;
    if (f & TcpFlag.RST) {
      if (seg.seq === r.rcvNxt) {
        this.#terminate(undefined);
      } else {
        if (r.acceptable(seg.seq, 0)) this.#sendLimitedAck(nowMs); // RFC 5961 3.2
        this.#host.counters.drop("rst-challenged");
      }
      return undefined;
    }
    if ((f & TcpFlag.SYN) && !(f & TcpFlag.ACK)) {
      const newerTs = r.tsEnabled && o.hasTimestamps && ((o.tsVal - r.tsRecent) | 0) > 0;
      if (newerTs || (!(r.tsEnabled && o.hasTimestamps) && seqGt(seg.seq, r.rcvNxt))) {
        return "reopen";
      }
      this.#sendLimitedAck(nowMs);
      return undefined;
    }
    if (f & TcpFlag.FIN) {
      this.#stateTimerAtMs = nowMs + this.#config.timeWaitMs; // restart 2 MSL
      this.#sendAck(nowMs);
    } else if (seg.payload.length > 0 || !r.acceptable(seg.seq, 0)) {
      this.#sendLimitedAck(nowMs);
    }
    return undefined;
  }

  #enterTimeWait(nowMs: number): void {
    this.state = "TIME-WAIT";
    this.sender.rtoAtMs = Infinity;
    this.sender.persistAtMs = Infinity;
    this.sender.rackAtMs = Infinity;
    this.sender.tlpAtMs = Infinity;
    this.#keepAlive.stop();
    this.#stateTimerAtMs = nowMs + this.#config.timeWaitMs;
    this.receiver.ackNow = true;
    this.#output(nowMs);
    this.sender.buffer.clear();
    this.receiver.buffer.shrink();
    if (!this.#host.enteredTimeWait(this)) this.#terminate(undefined);
  }

  // ---------------------------------------------------------------- timers

  /** Runs the timers due at `nowMs`, then sends what they call for. */
  onTimers(nowMs: number): void {
    this.#lastNowMs = nowMs;
    const r = this.receiver;
    if (nowMs >= r.delayedAckAtMs) {
      r.delayedAckAtMs = Infinity;
      r.ackNow = true;
    }
    if (nowMs >= this.sender.rackAtMs || nowMs >= this.sender.tlpAtMs) {
      this.sender.onLossTimers(nowMs); // first: a due probe postpones the RTO
    }
    if (nowMs >= this.sender.rtoAtMs) this.#onRetransmitTimer(nowMs);
    if (this.state === "CLOSED") return;
    if (nowMs >= this.sender.persistAtMs) this.#onPersistTimer(nowMs);
    if (!this.closed && nowMs >= this.#keepAlive.atMs) this.#onKeepAliveTimer(nowMs);
    if (!this.closed && nowMs >= this.#stateTimerAtMs) {
      this.#stateTimerAtMs = Infinity;
      this.#terminate(undefined); // TIME-WAIT over, or FIN-WAIT-2 of a closed socket
    }
    if (!this.closed) this.#output(nowMs);
  }

  #onRetransmitTimer(nowMs: number): void {
    const c = this.#config;
    const limit = this.sender.synAcked
      ? c.dataRetries
      : this.passive
      ? c.synAckRetries
      : c.synRetries;
    const timeout = this.sender.synAcked ? c.userTimeoutMs : Infinity;
    if (!this.sender.onRetransmitTimeout(nowMs, limit, timeout)) {
      this.#host.counters.drop("retransmit-timeout");
      this.#terminate(timedOutError(this, "retransmissions were not acknowledged"));
    }
  }

  #onPersistTimer(nowMs: number): void {
    const outcome = this.sender.onPersistTimeout(nowMs, this.#config.dataRetries);
    if (outcome === "abort") {
      this.#terminate(timedOutError(this, "zero-window probes were not answered"));
    } else if (outcome === "probe") {
      this.#emitter.probe(nowMs); // RFC 9293 3.8.6.1
    }
  }

  /** RFC 1122 4.2.3.6: probe an idle connection; give up after `keepAliveProbes`. */
  #onKeepAliveTimer(nowMs: number): void {
    const idleSender = this.sender.outstanding === 0;
    const active = SYNCHRONIZED.has(this.state);
    switch (this.#keepAlive.onTimer(nowMs, this.#lastRecvMs, active, idleSender)) {
      case "probe":
        this.#emitter.probe(nowMs);
        break;
      case "abort":
        this.#terminate(timedOutError(this, "keepalive probes were not answered"));
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- output

  /** Sends whatever is due (layer calls this from poll after user calls). */
  flush(nowMs: number): void {
    this.#lastNowMs = nowMs;
    if (this.state !== "CLOSED") this.#output(nowMs);
    this.#host.schedule(this);
  }

  #output(nowMs: number): void {
    if (this.state === "TIME-WAIT") {
      if (this.receiver.ackNow) this.#sendAck(nowMs);
      return;
    }
    const plan = this.#plan;
    const r = this.receiver;
    const sackBlocks = r.sackEnabled ? Math.min(r.sackBlockCount, r.tsEnabled ? 3 : 4) : 0;
    this.sender.optionReserveBytes = sackBlocks > 0 ? 4 + 8 * sackBlocks : 0;
    let n = 0;
    while (n < MAX_SEGMENTS_PER_FLUSH && this.sender.nextSegment(nowMs, plan)) {
      this.#emitter.send(plan, nowMs);
      n++;
    }
    if (n === MAX_SEGMENTS_PER_FLUSH) this.#host.markDirty(this);
    if (this.receiver.ackNow && this.state !== "SYN-SENT") this.#sendAck(nowMs);
  }

  #sendAck(nowMs: number): void {
    this.#emitter.send(undefined, nowMs);
  }

  /** An ACK for an unacceptable segment, at most one per `invalidAckIntervalMs`. */
  #sendLimitedAck(nowMs: number): void {
    if (nowMs - this.#lastLimitedAckMs < this.#config.invalidAckIntervalMs) return;
    this.#lastLimitedAckMs = nowMs;
    this.#sendAck(nowMs);
  }

  // ---------------------------------------------------------------- user calls

  /** Copies readable bytes into `dst`; returns how many (0 when none are ready). */
  read(dst: Uint8Array): number {
    const r = this.receiver;
    const n = r.buffer.read(dst);
    if (n > 0 && SYNCHRONIZED.has(this.state) && r.windowUpdateNeeded()) {
      r.ackNow = true;
      this.#host.markDirty(this);
    }
    return n;
  }

  /** Bytes ready to read. */
  get readableBytes(): number {
    return this.receiver.buffer.readable;
  }

  /** The peer finished sending and everything was read. */
  get readEof(): boolean {
    return this.receiver.finReceived && this.receiver.buffer.readable === 0;
  }

  /** Data can be queued in this state (RFC 9293 3.10.2). */
  get canWrite(): boolean {
    return (this.state === "ESTABLISHED" || this.state === "CLOSE-WAIT") &&
      !this.sender.finQueued;
  }

  /** Queues bytes for sending; returns how many were taken (0 when the buffer is full). */
  write(src: Uint8Array): number {
    if (!this.canWrite) return 0;
    const n = this.sender.queue(src);
    if (n > 0) this.#host.markDirty(this);
    return n;
  }

  /** No more data from us: queue the FIN (RFC 9293 3.10.4). */
  closeWrite(): void {
    switch (this.state) {
      case "ESTABLISHED":
        this.state = "FIN-WAIT-1";
        break;
      case "CLOSE-WAIT":
        this.state = "LAST-ACK";
        break;
      case "SYN-SENT":
        this.#terminate(undefined);
        return;
      default:
        return;
    }
    this.sender.queueFin();
    this.#host.markDirty(this);
  }

  /**
   * The application is done with the connection. Unread data (or data that arrives later)
   * turns the close into a reset (RFC 1122 4.2.2.13); otherwise a FIN follows the data.
   */
  close(): void {
    if (this.appClosed) return;
    this.appClosed = true;
    if (this.state === "CLOSED" || this.state === "TIME-WAIT") return;
    if (this.receiver.buffer.readable > 0) {
      this.abort();
      return;
    }
    if (this.state === "FIN-WAIT-2") {
      this.#stateTimerAtMs = this.#lastNowMs + this.#config.finWait2TimeoutMs;
      this.#host.schedule(this);
    }
    this.closeWrite();
  }

  /** Resets the connection (RFC 9293 3.10.5 ABORT). */
  abort(): void {
    if (this.state === "CLOSED") return;
    if (SYNCHRONIZED.has(this.state)) {
      this.#emitter.reset(this.sender.sndNxt, this.receiver.rcvNxt, true);
    }
    this.#terminate(undefined);
  }

  /** Nagle off (true) or on (RFC 1122 4.2.3.4). */
  setNoDelay(noDelay: boolean): void {
    this.sender.noDelay = noDelay;
    if (noDelay) this.#host.markDirty(this);
  }

  /** Keepalive probes on an idle connection (RFC 1122 4.2.3.6). */
  setKeepAlive(keepAlive: boolean): void {
    this.#keepAlive.set(keepAlive, this.#lastRecvMs, SYNCHRONIZED.has(this.state));
    this.#host.schedule(this);
  }

  // ---------------------------------------------------------------- ICMP (from the layer)

  /** An ICMP error quoting `seq` can be about this connection (RFC 5927 4.1). */
  icmpSeqPlausible(seq: number): boolean {
    const s = this.sender;
    return (seqLe(s.sndUna, seq) && seqLt(seq, s.sndNxt)) || seq === s.sndUna;
  }

  /** ICMP "fragmentation needed" (RFC 1191): shrink segments and resend what is outstanding. */
  onPathMtu(mtu: number, nowMs: number): void {
    const n = this.negotiated;
    const mss = Math.max(MIN_SEND_MSS, mtu - 40);
    if (mss >= n.mtuMss) return;
    n.mtuMss = mss;
    this.sender.setMss(n.effectiveMss(this.receiver.tsEnabled));
    this.sender.resendOutstanding();
    this.#output(nowMs);
  }

  /** A hard error before the handshake completed (ICMP port unreachable in SYN-SENT). */
  refuse(): void {
    this.#terminate(refusedError(this));
  }

  /** Closes this connection at once (used by the layer, e.g. TIME-WAIT reuse). */
  terminate(error?: Error): void {
    this.#terminate(error);
  }

  #terminate(error: Error | undefined): void {
    if (this.state === "CLOSED") return;
    this.state = "CLOSED";
    this.error = error;
    this.sender.rtoAtMs = Infinity;
    this.sender.persistAtMs = Infinity;
    this.sender.rackAtMs = Infinity;
    this.sender.tlpAtMs = Infinity;
    this.receiver.delayedAckAtMs = Infinity;
    this.receiver.ackNow = false;
    this.#keepAlive.stop();
    this.#stateTimerAtMs = Infinity;
    this.sender.buffer.clear();
    this.receiver.buffer.clearOutOfOrder();
    this.receiver.buffer.shrink();
    this.#host.released(this);
    this.observer?.onClosed(error);
  }
}
