/**
 * The sending half of a connection: sequence space, send window, retransmission timer, loss
 * recovery and congestion control (RFC 9293 3.8-3.10, RFC 6298, RFC 5681, RFC 6582, RFC 6675).
 *
 * Sequence layout: ISS carries the SYN; data starts at ISS+1 and the byte at `bufSeq` is byte
 * 0 of the send buffer; once the application closes, the FIN takes `finSeq` (just past the
 * data). `sndNxt` is the highest sequence number sent so far plus one (SND.MAX in BSD terms):
 * retransmissions never move it back; instead a retransmission pointer `highRxt` walks the
 * bytes marked lost, `[highRxt, lostEnd)`, skipping what the scoreboard says was SACKed.
 *
 * Recovery modes: "open" (normal), "recovery" (fast recovery after 3 duplicate ACKs or SACK
 * evidence, until `recoveryPoint` is acknowledged) and "loss" (after an RTO: everything
 * outstanding is lost, the scoreboard is cleared, RFC 2018 8, and resent in slow start).
 * Sending is limited by `pipe` (RFC 6675 SetPipe, bytes believed in flight) against cwnd. A
 * peer without SACK gets the same machinery with each duplicate ACK counted as one segment
 * that left the network (as Linux does), which yields NewReno (RFC 6582): the first
 * retransmission at 3 duplicate ACKs, one more per partial ACK, exit at the recovery point.
 *
 * Segmentation offload: with `tsoMaxBytes` set (the link cuts super-segments), new data goes
 * out in segments of up to min(tsoMaxBytes, cwnd room, peer window, queued data), whole
 * multiples of the segment size except a tail that Nagle allows (as Linux's
 * tcp_mss_split_point); the link cuts them at `segmentBytes`. Retransmissions stay one segment.
 * @module
 */

import { type CongestionControl, INITIAL_SSTHRESH } from "./congestion.ts";
import { HyStartPlusPlus } from "./hystart.ts";
import { ProportionalRateReduction } from "./prr.ts";
import {
  OriginalTimes,
  type RackDetectInput,
  rackDetectLoss,
  type RackDetectResult,
  rackOnDelivered,
  RackState,
  RetransmitLog,
} from "./rack.ts";
import { DUP_THRESH, ReorderTracker } from "./reorder.ts";
import { RtoEstimator, type RtoOptions } from "./rto.ts";
import { SackScoreboard } from "./scoreboard.ts";
import { SendBuffer } from "./send_buffer.ts";
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from "./seq.ts";

export { DUP_THRESH };
/** RFC 8985 7.2 WCDelAckT: the longest a receiver may delay an ACK. */
const WORST_DELAYED_ACK_MS = 200;
/** Floor on the probe timeout (Linux TCP_TIMEOUT_MIN is 2 ms; a virtual clock can be finer). */
const MIN_PTO_MS = 2;
/** Longest persist interval (RFC 9293 3.8.6.1 leaves it open; Linux caps at TCP_RTO_MAX). */
export const MAX_PERSIST_MS = 60_000;

/** What the sender should put into the next segment. */
export interface SegmentPlan {
  seq: number;
  /** Offset of the data in the send buffer. */
  dataOffset: number;
  dataLen: number;
  syn: boolean;
  fin: boolean;
  retransmit: boolean;
}

/** A blank plan for {@linkcode TcpSender.nextSegment} to fill (one per caller, reused). */
export function newSegmentPlan(): SegmentPlan {
  return { seq: 0, dataOffset: 0, dataLen: 0, syn: false, fin: false, retransmit: false };
}

/** The parts of a received segment the sender needs. */
export interface AckInput {
  seq: number;
  ack: number;
  /** The window in bytes, already scaled. */
  windowBytes: number;
  /** The segment carries data, SYN or FIN (then it is not a duplicate ACK). */
  occupiesSequence: boolean;
  /** SACK blocks [left, right, ...] (empty when none). */
  sackBlocks: readonly number[];
  /** RTT from the timestamp echo in ms, or NaN (RFC 7323 4). */
  tsRttMs: number;
  /**
   * When the TSval this segment echoes was sent, on our `nowMs` clock, or NaN/absent
   * (Eifel detection, RFC 3522; without it a timing rule is used).
   */
  tsEchoMs?: number;
}

/** Counters of loss recovery (for statistics and tests). */
export interface SenderStats {
  /** Segments sent again. */
  retransmittedSegments: number;
  /** Fast recoveries entered (RFC 5681 3.2 / RFC 6675). */
  fastRecoveries: number;
  /** Retransmission timeouts (RFC 6298 5.5). */
  timeouts: number;
  /** Zero-window probes sent. */
  windowProbes: number;
  /** Fast recoveries found spurious and undone (RFC 4015). */
  undoneRecoveries: number;
  /** Times RACK (RFC 8985 6) marked segments lost. */
  rackLosses: number;
  /** Tail loss probes sent (RFC 8985 7). */
  tailProbes: number;
  /** D-SACK blocks received (RFC 2883). */
  dsacks: number;
  /** Tail loss probes that repaired a loss (RFC 8985 7.4.2), each a congestion response. */
  tailLossRepairs: number;
}

/** Result of {@linkcode TcpSender.onAck}. */
export type AckResult = "ok" | "unsent" | "old";

/** Tunables. */
export interface SenderOptions {
  sendBufferBytes: number;
  rto?: RtoOptions;
  /** RACK-TLP loss detection when SACK is on (default true). */
  rack?: boolean;
  /** Proportional Rate Reduction (RFC 6937) during fast recovery (default true). */
  prr?: boolean;
  /** HyStart++ (RFC 9406) in the initial slow start (default true). */
  hystart?: boolean;
}

/** Sequence space, retransmission and congestion state of one connection. */
export class TcpSender {
  readonly buffer: SendBuffer;
  readonly rto: RtoEstimator;
  readonly scoreboard = new SackScoreboard();
  readonly stats: SenderStats = {
    retransmittedSegments: 0,
    fastRecoveries: 0,
    timeouts: 0,
    windowProbes: 0,
    undoneRecoveries: 0,
    rackLosses: 0,
    tailProbes: 0,
    dsacks: 0,
    tailLossRepairs: 0,
  };
  /** Send times of original data, for RACK. */
  readonly originals = new OriginalTimes();
  /** Retransmitted ranges with their send times, for RACK. */
  readonly rtxLog = new RetransmitLog();
  readonly rack = new RackState();
  /** Adaptive duplicate-ACK threshold and spurious-retransmit undo. */
  readonly reorder: ReorderTracker;
  cc: CongestionControl;

  readonly iss: number;
  sndUna: number;
  sndNxt: number;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** Payload bytes per segment (MSS minus options that every segment carries). */
  mss: number;
  synAcked = false;
  finQueued = false;
  finSeq = 0;
  /** Sequence number of buffer byte 0. */
  bufSeq: number;
  sackEnabled = false;
  /** Option bytes the next segments carry beyond the fixed ones (SACK blocks). */
  optionReserveBytes = 0;
  /** Data may be sent (the connection is synchronized). */
  canSendData = false;
  noDelay = false;
  /** Largest super-segment of new data the link cuts for us (TSO); 0 without TSO. */
  tsoMaxBytes = 0;

  mode: "open" | "recovery" | "loss" = "open";
  recoveryPoint: number;
  /** RFC 6582 `recover`: no new fast recovery until SND.UNA reaches it. */
  #recover: number;
  highRxt: number;
  lostEnd: number;
  dupAcks = 0;
  #renoSacked = 0;
  #forceRtx = false;
  #forceSend = false;
  #cwndBlocked = false;
  /** PRR state (RFC 6937); undefined when disabled (cwnd = ssthresh at once, RFC 6675). */
  readonly #prr: ProportionalRateReduction | undefined;
  /** The window in fast recovery with PRR: the pipe plus the last sndcnt. */
  #prrCwndBytes = 0;
  /** Bytes known delivered above SND.UNA when the ACK being processed arrived. */
  #deliveredMark = 0;
  /** HyStart++ state (RFC 9406); undefined when disabled. */
  readonly hystart: HyStartPlusPlus | undefined;
  /** The RTT sample the ACK being processed gave, or NaN. */
  #ackRttMs = NaN;

  rtoAtMs = Infinity;
  persistAtMs = Infinity;
  /** RACK's reordering timer (RFC 8985 6.3). */
  rackAtMs = Infinity;
  /** The tail loss probe timer (RFC 8985 7.2). */
  tlpAtMs = Infinity;
  readonly #rackEnabled: boolean;
  #lastStampMs = -Infinity;
  #tlpProbe = false;
  #tlpPlanned = false;
  /** TLP.end_seq while a probe is outstanding (RFC 8985 7.3). */
  #tlpEnd: number | undefined;
  /** The outstanding probe resent old data (TLP.is_retrans). */
  #tlpRetrans = false;
  /** The probe was acknowledged; the next ACK tells whether a D-SACK says it was a copy. */
  #tlpAwaitingDsack = false;
  #persistBackoffs = 0;
  /** RTOs in a row without progress. */
  retransmits = 0;
  /** Unanswered zero-window probes. */
  probes = 0;
  /** When the oldest unacknowledged data was sent or last made progress. */
  lastProgressMs = 0;
  #lastSendMs = -Infinity;
  /** When we last retransmitted anything (for the timestamp RTT check). */
  lastRetransmitMs = -Infinity;
  #rttSeq = -1;
  #rttStartMs = 0;
  /** The SYN had to be retransmitted (RFC 6298 5.7). */
  synRetransmitted = false;

  constructor(iss: number, mss: number, cc: CongestionControl, options: SenderOptions) {
    this.buffer = new SendBuffer(options.sendBufferBytes);
    this.rto = new RtoEstimator(options.rto);
    this.reorder = new ReorderTracker(options.rto?.reorderTolerance ?? true);
    // Without reordering tolerance the sender is plain RFC 6675 (duplicate-ACK counting).
    this.#rackEnabled = (options.rack ?? true) && (options.rto?.reorderTolerance ?? true);
    this.#prr = (options.prr ?? true) ? new ProportionalRateReduction() : undefined;
    this.hystart = (options.hystart ?? true) ? new HyStartPlusPlus() : undefined;
    this.cc = cc;
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.bufSeq = seqAdd(iss, 1);
    this.mss = mss;
    this.recoveryPoint = iss;
    this.#recover = iss;
    this.highRxt = iss;
    this.lostEnd = iss;
  }

  /**
   * Loss is detected by time (RACK, RFC 8985) rather than by duplicate-ACK counting (RFC 6675
   * IsLost): with SACK, unless turned off.
   */
  get usesRack(): boolean {
    return this.sackEnabled && this.#rackEnabled;
  }

  /** Data per segment now: the MSS less room for SACK blocks (as Linux's tcp_current_mss). */
  get segmentBytes(): number {
    return Math.max(1, this.mss - this.optionReserveBytes);
  }

  /** Bytes sent and not acknowledged (SYN and FIN count one each). */
  get outstanding(): number {
    return seqDiff(this.sndNxt, this.sndUna);
  }

  /** Sequence number just past the queued data. */
  get dataEnd(): number {
    return seqAdd(this.bufSeq, this.buffer.length);
  }

  /** The FIN was sent at least once. */
  get finSent(): boolean {
    return this.finQueued && seqGt(this.sndNxt, this.finSeq);
  }

  /** The FIN was acknowledged. */
  get finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }

  /** Data queued but never sent. */
  get unsentBytes(): number {
    return Math.max(0, seqDiff(this.dataEnd, seqMax(this.sndNxt, this.bufSeq)));
  }

  /** Bytes believed in flight (RFC 6675 SetPipe). */
  get pipe(): number {
    const out = this.outstanding;
    if (this.mode === "open" && this.scoreboard.size === 0) return out;
    const from = seqMax(this.highRxt, this.sndUna);
    let lostPending = 0;
    if (seqLt(from, this.lostEnd)) {
      // Bytes the walker has yet to resend: not SACKed, not already resent (those are in the
      // retransmit log, in flight or counted in its lostBytes).
      lostPending = seqDiff(this.lostEnd, from) -
        this.scoreboard.sackedWithin(from, this.lostEnd) -
        this.rtxLog.within(from, this.lostEnd);
    }
    const lost = this.#renoSacked + Math.max(0, lostPending) + this.rtxLog.lostBytes;
    return Math.max(0, out - this.scoreboard.sackedBytes - lost);
  }

  /** Queues application data; returns how many bytes were taken. */
  queue(data: Uint8Array): number {
    if (this.finQueued) return 0;
    return this.buffer.write(data);
  }

  /** Queues the FIN after the data already queued. */
  queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.finSeq = this.dataEnd;
  }

  /**
   * Decides the next segment to send, if any (retransmissions first, RFC 6675 NextSeg). Sets
   * `persistAtMs` when data waits for the peer's window.
   */
  nextSegment(nowMs: number, out: SegmentPlan): boolean {
    if (this.#tlpProbe) {
      this.#tlpProbe = false;
      if (this.#planTailProbe(out)) return true;
    }
    if (this.mode !== "open" || this.#forceRtx || this.rtxLog.lostBytes > 0) {
      const r = this.#nextRetransmission(out);
      if (r !== "none") return r === "send";
    }
    return this.#nextNewData(nowMs, out);
  }

  #nextRetransmission(out: SegmentPlan): "send" | "blocked" | "none" {
    const relost = this.rtxLog.firstLost();
    if (relost !== undefined) return this.#planRetransmission(out, relost.start, relost.end);
    const from = this.#walkerStart();
    if (!seqLt(from, this.lostEnd) || !seqLt(from, this.sndNxt)) {
      this.#forceRtx = false;
      return "none";
    }
    let end = seqMin(this.lostEnd, this.sndNxt);
    const sacked = this.scoreboard.nextSackedAfter(from);
    if (sacked !== undefined) end = seqMin(end, sacked);
    const resent = this.rtxLog.nextStartAfter(from);
    if (resent !== undefined) end = seqMin(end, resent);
    return this.#planRetransmission(out, from, end);
  }

  /**
   * Where the walker resends next: from max(highRxt, SND.UNA), past what was SACKed or is
   * already resent and in flight.
   */
  #walkerStart(): number {
    let from = seqMax(this.highRxt, this.sndUna);
    for (let i = 0; i < 64; i++) {
      from = this.scoreboard.nextUnsacked(from);
      const e = this.rtxLog.find(from);
      if (e === undefined) break;
      from = e.end;
    }
    return from;
  }

  /** Plans resending from `from` to at most `end`, within cwnd unless forced. */
  #planRetransmission(out: SegmentPlan, from: number, end: number): "send" | "blocked" | "none" {
    // Linux: no retransmission beyond the peer's window, except the first unacked segment.
    if (from !== this.sndUna && seqGe(from, seqAdd(this.sndUna, this.sndWnd))) return "none";
    const fin = this.finQueued && seqLt(this.finSeq, end);
    this.#plan(out, from, Math.min(this.segmentBytes, seqDiff(end, from)), true, fin);
    const len = out.dataLen + (out.syn ? 1 : 0) + (out.fin ? 1 : 0);
    if (!this.#forceRtx && this.pipe + len > this.#sendWindow()) return "blocked";
    return "send";
  }

  /**
   * Fills `out` for a segment at `seq` with at most `maxLen` data bytes; the FIN rides along
   * when the data reaches it and `finAllowed`.
   */
  #plan(out: SegmentPlan, seq: number, maxLen: number, retransmit: boolean, finAllowed: boolean) {
    out.seq = seq;
    out.retransmit = retransmit;
    out.syn = !this.synAcked && seq === this.iss;
    out.fin = false;
    out.dataOffset = 0;
    out.dataLen = 0;
    if (out.syn) return;
    const offset = seqDiff(seq, this.bufSeq);
    out.dataOffset = offset;
    out.dataLen = Math.max(0, Math.min(this.buffer.length - offset, maxLen));
    out.fin = finAllowed && this.finQueued && seqAdd(seq, out.dataLen) === this.finSeq;
  }

  #nextNewData(nowMs: number, out: SegmentPlan): boolean {
    const seq = this.sndNxt;
    if (!this.synAcked && seq === this.iss) {
      this.#plan(out, seq, 0, false, false);
      return true;
    }
    if (!this.canSendData) return false;
    if (this.finSent) return false;
    const avail = seqDiff(this.dataEnd, seq);
    const finOnly = avail === 0 && this.finQueued;
    if (avail <= 0 && !finOnly) return false;
    if (this.outstanding === 0 && nowMs - this.#lastSendMs > this.rto.timeoutMs) {
      this.cc.onIdle(nowMs); // RFC 5681 4.1
    }
    const usable = seqDiff(seqAdd(this.sndUna, this.sndWnd), seq);
    const cwndRoom = this.#sendWindow() + this.#limitedTransmitBytes() - this.pipe;
    const want = Math.min(this.segmentBytes, avail);
    if (!finOnly && cwndRoom < want) {
      this.#cwndBlocked = true;
      return false;
    }
    let len = Math.max(0, Math.min(want, usable));
    if (!finOnly && !this.#sendable(len, avail)) {
      if (this.outstanding === 0) this.#armPersist(nowMs);
      return false;
    }
    if (this.tsoMaxBytes > len && len === this.segmentBytes) {
      len = this.#superSegmentBytes(avail, usable, cwndRoom);
    }
    this.#forceSend = false;
    this.#plan(out, seq, len, false, true);
    return true;
  }

  /**
   * The data of a TSO super-segment (at least one full segment is known to fit): bounded by
   * the queue, the peer's window, cwnd and the link; whole segments, plus the tail of the
   * queued data when Nagle would send it now (Linux tcp_mss_split_point).
   */
  #superSegmentBytes(avail: number, usable: number, cwndRoom: number): number {
    const seg = this.segmentBytes;
    let len = Math.min(avail, usable, cwndRoom, this.tsoMaxBytes);
    const partial = len % seg;
    if (partial !== 0 && (len < avail || !this.#sendable(partial, partial))) len -= partial;
    return Math.max(seg, len);
  }

  /** Nagle (RFC 1122 4.2.3.4) and sender SWS avoidance (RFC 9293 3.8.6.2.1). */
  #sendable(len: number, avail: number): boolean {
    if (len <= 0) return false;
    if (len >= this.segmentBytes) return true;
    if (this.#forceSend) return true;
    if (len === avail && (this.noDelay || this.finQueued || this.outstanding === 0)) return true;
    return this.maxSndWnd > 0 && len >= this.maxSndWnd / 2;
  }

  /**
   * Bytes known delivered above SND.UNA: SACKed, or without SACK one segment per duplicate
   * ACK in recovery (RFC 6937 3: DeliveredData counts an MSS per duplicate ACK then).
   */
  #deliveredAbove(): number {
    return this.scoreboard.sackedBytes + this.#renoSacked;
  }

  /** The congestion window that sending obeys: PRR's during fast recovery, else cwnd. */
  #sendWindow(): number {
    return this.mode === "recovery" && this.#prr !== undefined
      ? this.#prrCwndBytes
      : this.cc.cwndBytes;
  }

  /** PRR (RFC 6937 3.1): after an ACK that delivered `deliveredBytes` during recovery. */
  #prrUpdate(deliveredBytes: number): void {
    if (this.#prr === undefined || this.mode !== "recovery") return;
    const pipe = this.pipe;
    const sndcnt = this.#prr.onAck(deliveredBytes, pipe, this.cc.ssthreshBytes, this.mss);
    this.#prrCwndBytes = pipe + sndcnt;
  }

  /** RFC 3042: the first two duplicate ACKs each let one more segment out. */
  #limitedTransmitBytes(): number {
    return this.mode === "open" ? Math.min(this.dupAcks, 2) * this.mss : 0;
  }

  #armPersist(nowMs: number): void {
    if (this.persistAtMs !== Infinity || this.rtoAtMs !== Infinity) return;
    const interval = Math.min(MAX_PERSIST_MS, this.rto.rtoMs * 2 ** this.#persistBackoffs);
    this.persistAtMs = nowMs + interval;
  }

  /**
   * The tail loss probe (RFC 8985 7.3): one new segment when the peer's window allows, else
   * the last segment sent again.
   */
  #planTailProbe(out: SegmentPlan): boolean {
    if (!this.synAcked || this.outstanding === 0) return false;
    const usable = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt);
    if (this.canSendData && !this.finSent && this.unsentBytes > 0 && usable > 0) {
      this.#plan(
        out,
        this.sndNxt,
        Math.min(this.segmentBytes, this.unsentBytes, usable),
        false,
        true,
      );
    } else {
      const top = this.finSent ? this.finSeq : this.sndNxt;
      const start = seqMax(this.sndUna, seqAdd(top, -this.segmentBytes));
      if (this.scoreboard.isSacked(start)) return false;
      this.#plan(out, start, seqDiff(top, start), true, true);
    }
    this.#tlpPlanned = true;
    this.stats.tailProbes++;
    return true;
  }

  /** The SYN went out earlier without this sender (a SYN cookie): no RTT timing. */
  markSynSent(): void {
    this.sndNxt = seqAdd(this.iss, 1);
    this.highRxt = this.sndNxt;
  }

  /** Records that the planned segment went out. */
  onSent(plan: SegmentPlan, nowMs: number): void {
    const end = seqAdd(plan.seq, plan.dataLen + (plan.syn ? 1 : 0) + (plan.fin ? 1 : 0));
    if (this.outstanding === 0) this.lastProgressMs = nowMs;
    if (plan.retransmit || seqLt(plan.seq, this.sndNxt)) {
      if (!plan.syn) {
        this.rtxLog.record(plan.seq, end, this.#stamp(nowMs));
        this.originals.breakCoalescing();
      }
      this.stats.retransmittedSegments++;
      this.lastRetransmitMs = nowMs;
      this.reorder.onRetransmit(nowMs);
      this.highRxt = seqMax(this.highRxt, end);
      this.#forceRtx = false;
      if (plan.syn) this.synRetransmitted = true;
      // Karn: a sample covering retransmitted data is ambiguous.
      if (this.#rttSeq !== -1 && seqLt(plan.seq, this.#rttSeq)) this.#rttSeq = -1;
    } else {
      if (this.#rttSeq === -1) {
        this.#rttSeq = end;
        this.#rttStartMs = nowMs;
      }
      this.originals.record(end, this.#stamp(nowMs));
    }
    if (this.mode === "recovery") this.#prr?.onSent(seqDiff(end, plan.seq));
    if (seqGt(end, this.sndNxt)) this.sndNxt = end;
    if (this.#tlpPlanned) {
      this.#tlpPlanned = false;
      this.#tlpEnd = this.sndNxt;
      this.#tlpRetrans = plan.retransmit;
      this.#tlpAwaitingDsack = false;
      this.rtoAtMs = nowMs + this.rto.timeoutMs; // RFC 8985 7.3: the RTO restarts
    } else if (this.rtoAtMs === Infinity) {
      this.rtoAtMs = nowMs + this.rto.timeoutMs; // RFC 6298 5.1
    }
    if (!plan.retransmit) this.#armTailProbe(nowMs);
    this.persistAtMs = Infinity;
    this.#lastSendMs = nowMs;
  }

  /**
   * A send time for RACK: `nowMs`, made strictly increasing so that segments sent within one
   * clock tick keep their order (RFC 8985 compares send times; the 1 ns steps are far below
   * any timer).
   */
  #stamp(nowMs: number): number {
    const t = nowMs > this.#lastStampMs ? nowMs : this.#lastStampMs + 1e-6;
    this.#lastStampMs = t;
    return t;
  }

  /**
   * Arms the tail loss probe (RFC 8985 7.2): with SACK, outside recovery and with no probe
   * out, PTO = 2*SRTT (plus the worst delayed ACK when one segment is in flight), at the
   * latest when the RTO would expire.
   */
  #armTailProbe(nowMs: number): void {
    this.tlpAtMs = Infinity;
    if (!this.usesRack || this.mode !== "open" || this.#tlpEnd !== undefined) return;
    if (!this.synAcked || this.outstanding === 0 || !this.rto.hasSample) return;
    const srtt = this.rto.srttMs;
    let pto = 2 * srtt;
    if (this.outstanding <= this.segmentBytes) {
      pto = Math.max(pto, 1.5 * srtt + WORST_DELAYED_ACK_MS);
    }
    pto = Math.max(pto, MIN_PTO_MS);
    this.tlpAtMs = Math.min(nowMs + pto, this.rtoAtMs); // the probe goes first (RFC 8985 7.2)
  }

  /**
   * Processes the acknowledgment and window fields of a segment (RFC 9293 3.10.7.4 fifth
   * check, RFC 5961 5.2). Returns "unsent" for an ACK of data never sent and "old" for one
   * more than a window behind; the caller then answers with an ACK and drops the segment.
   */
  onAck(seg: AckInput, nowMs: number): AckResult {
    const ack = seg.ack;
    if (seqGt(ack, this.sndNxt)) return "unsent";
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) return "old";
    const windowChanged = this.#updateWindow(seg);
    const highestBefore = this.scoreboard.highestSacked;
    const unaBefore = this.sndUna;
    this.#deliveredMark = this.#deliveredAbove();
    let newlySacked = 0;
    let dsack = false;
    if (this.sackEnabled) {
      const b = seg.sackBlocks;
      if (b.length >= 2 && this.#isDsack(b)) {
        dsack = true;
        this.stats.dsacks++;
        this.rack.onDsack(this.sndUna, this.sndNxt);
      }
      for (let i = 0; i + 1 < b.length; i += 2) {
        const added = this.scoreboard.add(b[i]!, b[i + 1]!, this.sndUna, this.sndNxt);
        if (added > 0) {
          this.#checkReordering(this.scoreboard.lowestAdded, highestBefore);
          if (this.usesRack) this.#delivered(seqMax(b[i]!, this.sndUna), b[i + 1]!, NaN, nowMs);
          this.rtxLog.remove(b[i]!, b[i + 1]!);
        }
        newlySacked += added;
      }
    }
    this.probes = 0;
    const acked = seqDiff(ack, this.sndUna);
    if (acked > 0) {
      this.#checkReordering(this.sndUna, highestBefore);
      if (this.usesRack) this.#delivered(this.sndUna, ack, seg.tsEchoMs ?? NaN, nowMs);
      this.#onNewAck(ack, acked, seg, nowMs);
    } else if (acked === 0 && this.outstanding > 0 && !seg.occupiesSequence) {
      if (newlySacked > 0 || (!windowChanged && seg.sackBlocks.length === 0)) this.#onDupAck(nowMs);
    }
    if (this.sndWnd > 0 && this.outstanding === 0 && this.unsentBytes === 0) {
      this.persistAtMs = Infinity;
    }
    if (this.usesRack) {
      this.#tailProbeOnAck(dsack, nowMs);
      this.#detectLoss(nowMs);
      this.#armTailProbe(nowMs);
    }
    // DeliveredData (RFC 6937): the change in SND.UNA plus the change in SACKed bytes.
    const delivered = seqDiff(this.sndUna, unaBefore) + this.#deliveredAbove() -
      this.#deliveredMark;
    if (delivered > 0) this.#prrUpdate(delivered); // RFC 9937 6.2: nothing delivered, no change
    return "ok";
  }

  /**
   * TLP_process_ack (RFC 8985 7.4.2): once the probe is acknowledged, a probe of new data
   * needs nothing; a resent probe that no D-SACK calls a copy (on its ACK or the next one)
   * repaired a loss, which gets the congestion response of one recovery.
   */
  #tailProbeOnAck(dsack: boolean, nowMs: number): void {
    const end = this.#tlpEnd;
    if (end === undefined) return;
    if (this.#tlpAwaitingDsack) {
      this.#tlpEnd = undefined;
      this.#tlpAwaitingDsack = false;
      if (!dsack && this.mode === "open") {
        this.stats.tailLossRepairs++;
        // The flight is gone by now: reduce from cwnd, as Linux's tcp_process_tlp_ack.
        this.cc.onEnterRecovery(this.cc.cwndBytes, nowMs);
        this.cc.onExitRecovery(nowMs);
      }
      return;
    }
    if (seqLt(this.sndUna, end)) return;
    if (!this.#tlpRetrans || dsack) this.#tlpEnd = undefined;
    else this.#tlpAwaitingDsack = true;
  }

  /**
   * The first SACK block reports a duplicate (RFC 2883 4): it lies below SND.UNA, or within
   * the second block.
   */
  #isDsack(b: readonly number[]): boolean {
    if (seqLe(b[1]!, this.sndUna)) return seqLt(b[0]!, b[1]!);
    return b.length >= 4 && seqLe(b[2]!, b[0]!) && seqLe(b[1]!, b[3]!);
  }

  #delivered(start: number, end: number, echo: number, nowMs: number): void {
    const minRtt = this.reorder.minRttMs;
    rackOnDelivered(this.rack, this.originals, this.rtxLog, start, end, minRtt, echo, nowMs);
  }

  readonly #detect: RackDetectResult = { lostEnd: 0, marked: false, timerAtMs: Infinity };
  /** Reused per ACK (no allocation on the ACK path). */
  readonly #detectInput: RackDetectInput = {
    nowMs: 0,
    reoWndMs: 0,
    una: 0,
    nxt: 0,
    lostEnd: 0,
    sackedWithin: (start, end) => this.scoreboard.sackedWithin(start, end),
  };

  /**
   * RACK (RFC 8985 6.2 step 5): marks what is lost by time, arms the reordering timer, and
   * starts a recovery when the connection was not in one.
   */
  #detectLoss(nowMs: number): void {
    const sackedSegments = this.scoreboard.sackedBytes > (this.reorder.dupThresh - 1) * this.mss;
    const reoWnd = this.rack.reoWndMs(
      this.reorder.minRttMs,
      this.rto.srttMs,
      this.mode !== "open",
      sackedSegments,
    );
    const input = this.#detectInput;
    input.nowMs = nowMs;
    input.reoWndMs = reoWnd;
    input.una = this.sndUna;
    input.nxt = this.sndNxt;
    input.lostEnd = this.lostEnd;
    const r = rackDetectLoss(this.rack, this.originals, this.rtxLog, input, this.#detect);
    this.rackAtMs = r.timerAtMs;
    if (seqGt(r.lostEnd, this.lostEnd)) this.lostEnd = r.lostEnd;
    if (!r.marked) return;
    this.stats.rackLosses++;
    if (this.mode === "open") this.#enterRecovery(nowMs, true);
  }

  /** RACK's reordering timer or the tail loss probe timer expired. */
  onLossTimers(nowMs: number): void {
    if (nowMs >= this.rackAtMs) {
      this.rackAtMs = Infinity;
      this.#detectLoss(nowMs);
    }
    if (nowMs >= this.tlpAtMs) {
      this.tlpAtMs = Infinity;
      if (this.mode === "open" && this.outstanding > 0 && this.#tlpEnd === undefined) {
        this.#tlpProbe = true;
        this.rtoAtMs = nowMs + this.rto.timeoutMs; // RFC 8985 7.3: the RTO waits for the probe
      }
    }
  }

  /**
   * RFC 9293 3.10.7.4: update the window from the newest segment only. A segment that
   * acknowledges new data also counts as newer (as Linux's tcp_may_update_window): otherwise
   * an old retransmission advancing SND.UNA would keep SND.WND and so move the right edge
   * past what the receiver offered.
   */
  #updateWindow(seg: AckInput): boolean {
    if (!seqLe(this.sndUna, seg.ack)) return false;
    const newer = seqGt(seg.ack, this.sndUna) || seqLt(this.sndWl1, seg.seq) ||
      (this.sndWl1 === seg.seq && seqLe(this.sndWl2, seg.ack));
    if (!newer) return false;
    const changed = this.sndWnd !== seg.windowBytes;
    this.sndWnd = seg.windowBytes;
    this.sndWl1 = seqMax(this.sndWl1, seg.seq); // never back: a late old ACK must not count
    this.sndWl2 = seg.ack;
    if (seg.windowBytes > this.maxSndWnd) this.maxSndWnd = seg.windowBytes;
    if (seg.windowBytes > 0) {
      this.persistAtMs = Infinity;
      this.#persistBackoffs = 0;
    }
    return changed;
  }

  /**
   * Bytes from `start` were newly delivered below the highest SACKed byte without having been
   * retransmitted: the network reordered them (Linux tcp_check_sack_reordering).
   */
  #checkReordering(start: number, highestBefore: number | undefined): void {
    // After an RTO the log of what was resent before it is gone: a late SACK of such a resend
    // would look like reordering (Linux keeps TCPCB_EVER_RETRANS for this), so no verdicts
    // until the data outstanding at the RTO is acknowledged.
    if (highestBefore === undefined || this.mode === "loss") return;
    const from = seqMax(start, this.sndUna);
    if (seqLt(from, this.highRxt) || !seqLt(from, highestBefore)) return;
    if (this.rtxLog.find(from) !== undefined) return;
    this.reorder.observe(seqDiff(highestBefore, from), this.mss);
    // RFC 8985 6.2 step 3: an original delivered below the highest SACKed sequence.
    if (this.reorder.enabled) this.rack.reorderingSeen = true;
  }

  #onNewAck(ack: number, acked: number, seg: AckInput, nowMs: number): void {
    const tsRttMs = seg.tsRttMs;
    const flightBefore = this.pipe;
    if (!this.synAcked && seqGt(ack, this.iss)) this.synAcked = true;
    const dataAcked = seqDiff(seqMin(ack, this.dataEnd), this.bufSeq);
    if (dataAcked > 0) {
      this.buffer.consume(dataAcked);
      this.bufSeq = seqAdd(this.bufSeq, dataAcked);
    }
    const sentMs = Number.isNaN(tsRttMs) ? this.#originalSendTime(ack) : NaN;
    this.sndUna = ack;
    this.scoreboard.advance(ack);
    this.rtxLog.advance(ack);
    this.originals.advance(ack);
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    this.#sampleRtt(ack, tsRttMs, nowMs);
    // HyStart++ wants a sample on every ACK (RFC 9406 4.2); without timestamps, the send time
    // of the newest byte acknowledged, when it was never resent (Karn), as Linux does.
    if (Number.isNaN(this.#ackRttMs) && !Number.isNaN(sentMs)) this.#ackRttMs = nowMs - sentMs;
    this.rto.resetBackoff();
    this.retransmits = 0;
    this.lastProgressMs = nowMs;
    this.rtoAtMs = this.outstanding > 0 ? nowMs + this.rto.timeoutMs : Infinity; // 6298 5.2-3
    if (this.mode === "recovery") {
      const verdict = this.reorder.onHoleAcked(ack, nowMs, this.mss, seg.tsEchoMs ?? NaN);
      if (verdict === "spurious") {
        this.#undoRecovery(ack, nowMs);
        return;
      }
    }
    this.#afterNewAck(ack, acked, flightBefore, nowMs);
  }

  /** When the byte just below `ack` was sent, if it was sent once only; else NaN. */
  #originalSendTime(ack: number): number {
    const last = seqAdd(ack, -1);
    if (!seqLt(last, this.sndNxt) || this.rtxLog.find(last) !== undefined) return NaN;
    if (this.mode === "loss" || this.retransmits > 0) return NaN; // the resend log was cleared
    return this.originals.timeOf(last);
  }

  #sampleRtt(ack: number, tsRttMs: number, nowMs: number): void {
    let rtt = tsRttMs;
    this.#ackRttMs = NaN;
    if (this.#rttSeq !== -1 && seqGe(ack, this.#rttSeq)) {
      if (Number.isNaN(rtt)) rtt = nowMs - this.#rttStartMs;
      this.#rttSeq = -1;
    }
    if (!Number.isNaN(rtt)) {
      this.rto.sample(rtt);
      this.reorder.sampleRtt(rtt);
      this.#ackRttMs = rtt;
    }
  }

  /**
   * The fast retransmit was spurious (RFC 4015 3.2): restore cwnd and ssthresh, stop
   * retransmitting and leave recovery; new losses may start a new episode at once.
   */
  #undoRecovery(ack: number, nowMs: number): void {
    this.stats.undoneRecoveries++;
    const prior = this.reorder.prior;
    this.mode = "open";
    this.dupAcks = 0;
    this.#renoSacked = 0;
    this.#recover = ack;
    this.highRxt = seqMax(this.highRxt, ack);
    this.lostEnd = ack;
    this.#forceRtx = false;
    this.rtxLog.clearLost();
    this.rack.onDsack(ack, this.sndNxt); // as a D-SACK would: widen reo_wnd
    this.cc.onExitRecovery(nowMs);
    this.cc.onUndo?.(prior.cwndBytes, prior.ssthreshBytes);
  }

  #afterNewAck(ack: number, acked: number, flightBefore: number, nowMs: number): void {
    if (this.mode === "recovery") {
      if (seqGe(ack, this.recoveryPoint)) {
        this.#exitRecovery(nowMs);
        return;
      }
      // Partial ACK (RFC 6582 3.2 step 3 / RFC 6675): the next hole is lost too.
      if (this.usesRack) return;
      if (this.sackEnabled) {
        this.lostEnd = seqMax(this.lostEnd, this.#sackLostBoundary());
      } else {
        this.#renoSacked = Math.max(0, this.#renoSacked - Math.max(0, acked - this.mss));
        this.highRxt = ack;
        this.lostEnd = seqMax(this.lostEnd, seqMin(seqAdd(ack, this.mss), this.sndNxt));
      }
      return;
    }
    if (this.mode === "loss" && seqGe(ack, this.recoveryPoint)) this.mode = "open";
    this.dupAcks = 0;
    const cwndLimited = this.#cwndBlocked || flightBefore * 2 >= this.cc.cwndBytes;
    this.#cwndBlocked = false;
    const rttMs = this.rto.srttMs;
    const slowStartDivisor = this.#hyStartOnAck(ack);
    this.cc.onAck({
      ackedBytes: acked,
      flightBytes: flightBefore,
      cwndLimited,
      rttMs,
      nowMs,
      slowStartDivisor,
    });
  }

  /** HyStart++ (RFC 9406) in the initial slow start: the divisor of this ACK's growth. */
  #hyStartOnAck(ack: number): number {
    const h = this.hystart;
    if (h === undefined || h.phase === "done") return 1;
    if (this.cc.ssthreshBytes !== INITIAL_SSTHRESH) {
      h.end(); // a loss ended the initial slow start
      return 1;
    }
    const divisor = h.onAck(ack, this.sndNxt, this.#ackRttMs);
    if (divisor > 0) return divisor;
    this.cc.endSlowStart?.();
    return 1;
  }

  #exitRecovery(nowMs: number): void {
    this.mode = "open";
    this.dupAcks = 0;
    this.#renoSacked = 0;
    // Losses found among data sent during the recovery start a new episode (RFC 6675 5.1).
    this.lostEnd = this.sndUna;
    this.rack.onRecoveryEnd();
    this.cc.onExitRecovery(nowMs);
  }

  #onDupAck(nowMs: number): void {
    this.dupAcks++;
    if (this.usesRack) return; // RACK decides what is lost (RFC 8985 6.2)
    if (this.mode === "recovery") {
      if (this.sackEnabled) {
        this.lostEnd = seqMax(this.lostEnd, this.#sackLostBoundary());
      } else {
        this.#renoSacked = Math.min(this.#renoSacked + this.mss, Math.max(0, this.outstanding - 1));
      }
      return;
    }
    if (this.mode !== "open") return;
    const sackSaysLost = this.sackEnabled &&
      seqGt(this.#sackLostBoundary(), this.sndUna);
    if (this.dupAcks < this.reorder.dupThresh && !sackSaysLost) return;
    if (seqLt(this.sndUna, this.#recover)) return; // RFC 6582 3.2 step 2
    this.#enterRecovery(nowMs);
  }

  #enterRecovery(nowMs: number, byRack = false): void {
    this.stats.fastRecoveries++;
    const extent = this.scoreboard.highestSacked ??
      seqMin(seqAdd(this.sndUna, this.dupAcks * this.mss), this.sndNxt);
    this.reorder.onEnterRecovery(this.sndUna, extent, {
      cwndBytes: this.cc.cwndBytes,
      ssthreshBytes: this.cc.ssthreshBytes,
    });
    this.cc.onEnterRecovery(this.outstanding, nowMs);
    this.#prr?.start(this.outstanding);
    this.mode = "recovery";
    this.recoveryPoint = this.sndNxt;
    this.#recover = this.sndNxt;
    this.highRxt = this.sndUna;
    this.#tlpEnd = undefined;
    this.tlpAtMs = Infinity;
    const first = seqMin(seqAdd(this.sndUna, this.mss), this.sndNxt);
    if (byRack) {
      this.lostEnd = seqMax(this.lostEnd, this.#sackLostBoundary());
    } else if (this.sackEnabled) {
      this.lostEnd = seqMax(seqMax(first, this.lostEnd), this.#sackLostBoundary());
    } else {
      this.lostEnd = first;
      this.#renoSacked = Math.min(this.dupAcks * this.mss, Math.max(0, this.outstanding - 1));
      // The duplicate ACKs before this one delivered their segments already: only this ACK's
      // one MSS counts as delivered now (RFC 6937 3).
      this.#deliveredMark += Math.max(0, this.#renoSacked - this.mss);
    }
    this.#forceRtx = true; // RFC 6675 5 step 4.3: retransmit the first lost segment now
    this.#prrUpdate(0);
  }

  /** Below this, un-SACKed bytes are lost (RFC 6675 IsLost, with the adaptive threshold). */
  #sackLostBoundary(): number {
    return this.scoreboard.lostBoundary(this.sndUna, this.mss, this.reorder.dupThresh);
  }

  /**
   * The retransmission timer expired (RFC 6298 5.4-5.6). Returns false when the connection
   * has to give up (too many retransmissions, RFC 9293 3.8.3 R2, or the user timeout).
   */
  onRetransmitTimeout(nowMs: number, maxRetransmits: number, userTimeoutMs: number): boolean {
    this.rtoAtMs = Infinity;
    if (this.outstanding === 0) return true;
    this.retransmits++;
    if (this.retransmits > maxRetransmits || nowMs - this.lastProgressMs >= userTimeoutMs) {
      return false;
    }
    this.stats.timeouts++;
    this.reorder.onTimeout();
    // A lost SYN or SYN-ACK says nothing about the path's capacity: one segment to start with
    // (RFC 5681 3.1), and ssthresh stays where it is (as Linux).
    if (!this.synAcked) this.cc.onSynTimeout();
    else this.cc.onRetransmitTimeout(this.pipe, nowMs, this.retransmits > 1);
    this.mode = "loss";
    this.recoveryPoint = this.sndNxt;
    this.#recover = this.sndNxt;
    this.highRxt = this.sndUna;
    this.lostEnd = this.sndNxt;
    // RFC 2018 8: the receiver may have reneged. Like Linux, keep the SACK information on a
    // first timeout (resending what was SACKed costs a window); a repeated one clears it.
    if (this.retransmits > 1) this.scoreboard.clear();
    this.rtxLog.clear();
    this.rackAtMs = Infinity;
    this.tlpAtMs = Infinity;
    this.#tlpEnd = undefined;
    this.#tlpProbe = false;
    this.#renoSacked = 0;
    this.dupAcks = 0;
    this.#rttSeq = -1;
    this.#forceRtx = true;
    this.rto.backoff();
    // The next expiry, but no later than the user timeout (as Linux's
    // tcp_clamp_rto_to_user_timeout), so the abort comes on time.
    this.rtoAtMs = Math.min(nowMs + this.rto.timeoutMs, this.lastProgressMs + userTimeoutMs);
    return true;
  }

  /** Go back and resend everything outstanding without a congestion response (SYN-ACK). */
  resendOutstanding(): void {
    this.highRxt = this.sndUna;
    this.lostEnd = this.sndNxt;
    this.#forceRtx = true;
  }

  /**
   * The persist timer expired. Returns "probe" when a zero-window probe should go out, "send"
   * when the window has room and the SWS override should push a small segment, or "abort".
   */
  onPersistTimeout(nowMs: number, maxProbes: number): "probe" | "send" | "abort" {
    this.persistAtMs = Infinity;
    if (this.unsentBytes === 0 && !(this.finQueued && !this.finSent)) return "send";
    if (seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt) > 0) {
      this.#forceSend = true;
      return "send";
    }
    this.probes++;
    if (this.probes > maxProbes) return "abort";
    this.stats.windowProbes++;
    this.#persistBackoffs++;
    this.#armPersist(nowMs);
    return "probe";
  }

  /** The effective MSS changed (handshake options or path MTU). */
  setMss(mss: number): void {
    this.mss = mss;
    this.cc.setMss(mss);
  }
}
