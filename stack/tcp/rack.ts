/**
 * Time-based loss detection: RACK (RFC 8985 6) for the sender. A segment is lost when a
 * segment sent after it was delivered and more than RACK.rtt + RACK.reo_wnd has passed since
 * it was sent. That also finds lost retransmissions, which duplicate ACKs never do.
 *
 * Send times are kept in two compact logs rather than per segment:
 * - {@linkcode OriginalTimes}: original transmissions go out in sequence order, so their send
 *   time is monotonic in the sequence number; one entry per millisecond of sending.
 * - {@linkcode RetransmitLog}: each retransmitted range with its latest send time and whether
 *   it is now believed lost again.
 *
 * Invariants: OriginalTimes entries have increasing ends and non-decreasing times, all above
 * SND.UNA; RetransmitLog ranges are sorted, disjoint and within [SND.UNA, SND.NXT); both are
 * bounded (`MAX_ENTRIES`): past that, original times are merged into the newest entry (a later
 * time only delays detection) and the oldest retransmission records are forgotten (the RTO
 * still covers them).
 * @module
 */

import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from "./seq.ts";

/** Entries kept per log. */
export const MAX_ENTRIES = 4096;
/** Sends closer together than this share one OriginalTimes entry. */
const COALESCE_MS = 1;
/** Recoveries without a D-SACK after which reo_wnd falls back (RFC 8985 6.2 step 4). */
const REO_WND_PERSIST = 16;
/** Highest reo_wnd multiplier (reo_wnd is also capped at SRTT). */
const MAX_REO_WND_MULT = 16;
/** Tolerance when comparing computed times (they are float milliseconds). */
const TIME_EPSILON_MS = 1e-3;

/** Send times of original transmissions, by sequence number. */
export class OriginalTimes {
  #ends: number[] = [];
  #times: number[] = [];
  #head = 0;
  #split = false;

  /** Entries held. */
  get size(): number {
    return this.#ends.length - this.#head;
  }

  /** Original data up to `end` left at `nowMs`. */
  record(end: number, nowMs: number): void {
    const last = this.#ends.length - 1;
    if (last >= this.#head) {
      if (!seqGt(end, this.#ends[last]!)) return;
      const near = nowMs - this.#times[last]! < COALESCE_MS && !this.#split;
      if (near || this.size >= MAX_ENTRIES) {
        this.#ends[last] = end;
        return;
      }
    }
    this.#split = false;
    this.#ends.push(end);
    this.#times.push(nowMs);
  }

  /**
   * A retransmission went out: the next original starts a new entry, so that no entry holds
   * originals sent on both sides of it.
   */
  breakCoalescing(): void {
    this.#split = true;
  }

  /** Forgets what SND.UNA has passed. */
  advance(una: number): void {
    const ends = this.#ends;
    while (this.#head < ends.length && seqLe(ends[this.#head]!, una)) this.#head++;
    if (this.#head > 256 && this.#head * 2 > ends.length) {
      this.#ends = ends.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }

  /** When the byte at `seq` was first sent, or NaN when it is not held. */
  timeOf(seq: number): number {
    const i = this.#firstEndAbove(seq);
    return i < this.#ends.length ? this.#times[i]! : NaN;
  }

  /**
   * The end of the original data sent at or before `ms` (`strict`: before), or undefined when
   * none was.
   */
  endSentBy(ms: number, strict = false): number | undefined {
    const times = this.#times;
    let lo = this.#head;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = times[mid]!;
      if (strict ? t < ms : t <= ms) lo = mid + 1;
      else hi = mid;
    }
    return lo > this.#head ? this.#ends[lo - 1] : undefined;
  }

  /** Forgets everything. */
  clear(): void {
    this.#ends.length = 0;
    this.#times.length = 0;
    this.#head = 0;
  }

  #firstEndAbove(seq: number): number {
    const ends = this.#ends;
    let lo = this.#head;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqGt(ends[mid]!, seq)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** One retransmitted range. */
export interface RetransmitEntry {
  start: number;
  end: number;
  /** When it was last sent. */
  xmitMs: number;
  /** RACK found this retransmission lost too; it waits to be sent again. */
  lost: boolean;
}

/** Retransmitted ranges above SND.UNA, sorted by sequence number. */
export class RetransmitLog {
  readonly entries: RetransmitEntry[] = [];
  /** Bytes in entries marked lost. */
  lostBytes = 0;

  /** [start, end) was (re)sent at `nowMs`. */
  record(start: number, end: number, nowMs: number): void {
    if (!seqLt(start, end)) return;
    this.remove(start, end);
    const entries = this.entries;
    let i = entries.length;
    while (i > 0 && seqGt(entries[i - 1]!.start, start)) i--;
    entries.splice(i, 0, { start, end, xmitMs: nowMs, lost: false });
    if (entries.length > MAX_ENTRIES) this.#drop(0);
  }

  /** Forgets [start, end) (delivered, or about to be recorded again). */
  remove(start: number, end: number): void {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (seqGe(e.start, end)) break;
      if (seqLe(e.end, start)) continue;
      const keepLow = seqLt(e.start, start);
      const keepHigh = seqGt(e.end, end);
      const cut = seqDiff(seqMin(e.end, end), seqMax(e.start, start));
      if (e.lost) this.lostBytes -= cut;
      if (keepLow && keepHigh) {
        entries.splice(i + 1, 0, { start: end, end: e.end, xmitMs: e.xmitMs, lost: e.lost });
        e.end = start;
        return;
      }
      if (keepLow) e.end = start;
      else if (keepHigh) e.start = end;
      else {
        entries.splice(i, 1);
        i--;
      }
    }
  }

  /** Forgets what SND.UNA has passed. */
  advance(una: number): void {
    const first = this.entries[0];
    if (first !== undefined && seqLt(first.start, una)) this.remove(first.start, una);
  }

  /** Marks every entry in flight again (its retransmission was found spurious). */
  clearLost(): void {
    for (const e of this.entries) e.lost = false;
    this.lostBytes = 0;
  }

  /** Marks an entry lost. */
  markLost(e: RetransmitEntry): void {
    if (e.lost) return;
    e.lost = true;
    this.lostBytes += seqDiff(e.end, e.start);
  }

  /** The lowest entry marked lost, or undefined. */
  firstLost(): RetransmitEntry | undefined {
    if (this.lostBytes === 0) return undefined;
    for (const e of this.entries) if (e.lost) return e;
    return undefined;
  }

  /** The entry holding `seq`, or undefined. */
  find(seq: number): RetransmitEntry | undefined {
    for (const e of this.entries) {
      if (seqLt(seq, e.start)) return undefined;
      if (seqLt(seq, e.end)) return e;
    }
    return undefined;
  }

  /** Start of the first entry above `seq`, or undefined. */
  nextStartAfter(seq: number): number | undefined {
    for (const e of this.entries) if (seqGt(e.start, seq)) return e.start;
    return undefined;
  }

  /** Bytes of entries (lost or not) within [start, end). */
  within(start: number, end: number): number {
    let n = 0;
    for (const e of this.entries) {
      if (seqGe(e.start, end)) break;
      const s = seqMax(e.start, start);
      const t = seqMin(e.end, end);
      if (seqLt(s, t)) n += seqDiff(t, s);
    }
    return n;
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.length = 0;
    this.lostBytes = 0;
  }

  #drop(i: number): void {
    const [e] = this.entries.splice(i, 1);
    if (e?.lost) this.lostBytes -= seqDiff(e.end, e.start);
  }
}

/** What RACK knows about the most recently sent segment that was delivered. */
export class RackState {
  /** Send time of the most recently sent delivered segment, or NaN. */
  xmitMs = NaN;
  /** Its end sequence number (ties are broken by sequence, RFC 8985 6.2 step 2). */
  endSeq = 0;
  /** RTT of that segment (RFC 8985 RACK.rtt). */
  rttMs = NaN;
  /** Highest end of a delivered original transmission (originals below it went out before). */
  originalEnd: number | undefined;
  /** Reordering was seen on this connection (RFC 8985 RACK.reordering_seen). */
  reorderingSeen = false;
  #reoWndMult = 1;
  #recoveriesWithoutDsack = 0;
  /** A D-SACK raised the multiplier in the round that ends at this sequence. */
  #dsackRoundEnd: number | undefined;

  /** Records a delivered segment sent at `xmitMs` ending at `endSeq` (RFC 8985 6.2 step 2). */
  update(xmitMs: number, endSeq: number, nowMs: number): void {
    if (
      Number.isNaN(this.xmitMs) || xmitMs > this.xmitMs ||
      (xmitMs === this.xmitMs && seqGt(endSeq, this.endSeq))
    ) {
      this.xmitMs = xmitMs;
      this.endSeq = endSeq;
      this.rttMs = nowMs - xmitMs;
    }
  }

  /** A delivered original transmission ended at `end`. */
  originalDelivered(end: number): void {
    if (this.originalEnd === undefined || seqGt(end, this.originalEnd)) this.originalEnd = end;
  }

  /**
   * A D-SACK arrived (RFC 8985 6.2 step 4): widen reo_wnd by one step, at most once per round
   * trip (`una` and `nxt` are SND.UNA and SND.NXT).
   */
  onDsack(una: number, nxt: number): void {
    this.reorderingSeen = true;
    this.#recoveriesWithoutDsack = 0;
    if (this.#dsackRoundEnd !== undefined && seqLt(una, this.#dsackRoundEnd)) return;
    this.#reoWndMult = Math.min(MAX_REO_WND_MULT, this.#reoWndMult + 1);
    this.#dsackRoundEnd = nxt;
  }

  /** A loss recovery ended; after 16 without a D-SACK reo_wnd falls back to one step. */
  onRecoveryEnd(): void {
    if (++this.#recoveriesWithoutDsack >= REO_WND_PERSIST) {
      this.#reoWndMult = 1;
      this.#recoveriesWithoutDsack = 0;
    }
  }

  /**
   * RACK.reo_wnd (RFC 8985 6.2 step 4): zero while no reordering was seen and the sender is
   * recovering or has enough SACKed segments for the duplicate-ACK rule, else a quarter of
   * the minimum RTT per step, capped at SRTT.
   */
  reoWndMs(minRttMs: number, srttMs: number, recovering: boolean, dupThreshMet: boolean): number {
    if (!this.reorderingSeen && (recovering || dupThreshMet)) return 0;
    const base = Number.isFinite(minRttMs) ? minRttMs / 4 : 0;
    const cap = Number.isNaN(srttMs) ? base * this.#reoWndMult : srttMs;
    return Math.min(base * this.#reoWndMult, cap);
  }

  /** Current multiplier (for statistics and tests). */
  get reoWndMult(): number {
    return this.#reoWndMult;
  }
}

/** Inputs of {@linkcode rackDetectLoss}. */
export interface RackDetectInput {
  nowMs: number;
  /** RACK.reo_wnd in ms. */
  reoWndMs: number;
  una: number;
  nxt: number;
  /** Originals below this are already counted lost (the sender's lostEnd). */
  lostEnd: number;
  /** Bytes SACKed within a range (the scoreboard). */
  sackedWithin(start: number, end: number): number;
}

/** What {@linkcode rackDetectLoss} found. */
export interface RackDetectResult {
  /** New lostEnd for original transmissions (>= the input's). */
  lostEnd: number;
  /** Some un-SACKed bytes were newly marked lost. */
  marked: boolean;
  /** When the next candidate would expire (RACK's reordering timer), or Infinity. */
  timerAtMs: number;
}

/**
 * RACK_detect_loss (RFC 8985 6.2 step 5): every segment sent before the most recently sent
 * delivered one, and sent more than RACK.rtt + reo_wnd ago, is lost. Originals are handled as
 * one sequence boundary (their send times rise with the sequence number); retransmissions one
 * entry at a time (lost ones are marked in the log).
 */
export function rackDetectLoss(
  rack: RackState,
  originals: OriginalTimes,
  log: RetransmitLog,
  input: RackDetectInput,
  out: RackDetectResult,
): RackDetectResult {
  out.lostEnd = input.lostEnd;
  out.marked = false;
  out.timerAtMs = Infinity;
  if (Number.isNaN(rack.xmitMs)) return out;
  const slack = rack.rttMs + input.reoWndMs;
  // Sent at or before `limit`: expired. The epsilon keeps float rounding from arming a timer
  // at `nowMs` that would find nothing expired.
  const limit = input.nowMs - slack + TIME_EPSILON_MS;
  // Originals: those below `before` left before the RACK segment.
  let before = originals.endSentBy(rack.xmitMs, true);
  if (rack.originalEnd !== undefined && (before === undefined || seqGt(rack.originalEnd, before))) {
    before = rack.originalEnd;
  }
  const from = seqMax(input.lostEnd, input.una);
  if (before !== undefined) {
    before = seqMin(before, input.nxt);
    if (seqGt(before, from)) {
      const expired = originals.endSentBy(limit);
      const lostTo = expired === undefined ? from : seqMin(before, seqMax(expired, from));
      if (seqGt(lostTo, from)) {
        if (input.sackedWithin(from, lostTo) < seqDiff(lostTo, from)) out.marked = true;
        out.lostEnd = lostTo;
      }
      if (seqLt(lostTo, before)) {
        const t = originals.timeOf(lostTo);
        if (!Number.isNaN(t)) out.timerAtMs = t + slack;
      }
    }
  }
  if (out.timerAtMs <= input.nowMs) out.timerAtMs = input.nowMs + TIME_EPSILON_MS;
  for (const e of log.entries) {
    if (e.lost) continue;
    const sentBefore = e.xmitMs < rack.xmitMs ||
      (e.xmitMs === rack.xmitMs && seqLt(e.end, rack.endSeq));
    if (!sentBefore) continue;
    if (e.xmitMs <= limit) {
      log.markLost(e);
      out.marked = true;
    } else {
      out.timerAtMs = Math.min(out.timerAtMs, e.xmitMs + slack);
    }
  }
  return out;
}

/**
 * RACK_update for the bytes [start, end) just delivered (RFC 8985 6.2 steps 1-2): the newest
 * send time among them becomes RACK.xmit_ts when it is newer. A retransmitted part counts only
 * when it could have been the copy delivered: sent at least `minRttMs` ago (as Linux's
 * tcp_rack_advance) and, for a cumulative ACK, not after the timestamp it echoes (`tsEchoMs`;
 * pass NaN for SACKed data or when there is none).
 */
export function rackOnDelivered(
  rack: RackState,
  originals: OriginalTimes,
  log: RetransmitLog,
  start: number,
  end: number,
  minRttMs: number,
  tsEchoMs: number,
  nowMs: number,
): void {
  if (!seqLt(start, end)) return;
  const floor = Number.isFinite(minRttMs) ? minRttMs : 0;
  for (const e of log.entries) {
    if (seqGe(e.start, end)) break;
    if (seqLe(e.end, start)) continue;
    // The echo decides only for a cumulative ACK: a SACKed segment's ACK echoes TS.Recent,
    // which out-of-order data never updates (RFC 7323 4.3), so it predates the retransmission.
    const echoSaysOriginal = !Number.isNaN(tsEchoMs) && tsEchoMs < e.xmitMs;
    if (nowMs - e.xmitMs >= floor && !echoSaysOriginal) {
      rack.update(e.xmitMs, seqMin(e.end, end), nowMs);
    }
  }
  // The highest byte delivered that was never resent, and when it was sent.
  let top = end;
  for (let i = 0; i < 64 && seqGt(top, start); i++) {
    const e = log.find(seqAdd(top, -1));
    if (e === undefined) break;
    top = e.start;
  }
  if (!seqGt(top, start)) return;
  const t = originals.timeOf(seqAdd(top, -1));
  if (Number.isNaN(t)) return;
  rack.update(t, top, nowMs);
  rack.originalDelivered(top);
}
