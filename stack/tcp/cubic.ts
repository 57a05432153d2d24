/**
 * CUBIC congestion control (RFC 9438), a drop-in {@linkcode CongestionControl}.
 *
 * Below ssthresh the window grows by slow start exactly as NewReno's (RFC 5681 3.1, RFC 3465
 * L = 2*SMSS). Above it, each congestion-avoidance stage (an "epoch") follows the cubic curve
 * W_cubic(t) = C*(t-K)^3 + W_max (RFC 9438 4.2) from the window it started with towards the
 * window of the last congestion event, but never slower than the Reno estimate W_est (4.3).
 *
 * Units: `cwndBytes`/`ssthreshBytes` are bytes (whole, `cwndBytes >= mss`); the CUBIC state
 * (W_max, W_est, cwnd_prior) is kept in segments, as the RFC writes its formulas, so an MSS
 * change leaves it meaningful; t and K are seconds. The internal window keeps its fraction of
 * a byte so that many small increments add up; the getter rounds it down.
 *
 * Invariants: the window only grows while the sender is cwnd-limited (RFC 9438 5.8); an epoch
 * starts on the first ACK in congestion avoidance after a reduction, an RTO or an idle period,
 * so t never counts time spent in recovery, slow start or idle (4.2, 5.8).
 * @module
 */

import {
  type AckEvent,
  type CongestionControl,
  type CongestionControlFactory,
  INITIAL_SSTHRESH,
  initialWindowBytes,
} from "./congestion.ts";

/** RFC 9438 4.2 / 5.1: C, in segments per second cubed. */
export const CUBIC_C = 0.4;
/** RFC 9438 4.6: multiplicative decrease factor. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 4.3: Reno-friendly additive increase, 3*(1-beta)/(1+beta) = 9/17 segments/RTT. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
/** RFC 9438 4.4: the target is at most 1.5 times cwnd (one RTT of growth). */
const TARGET_LIMIT = 1.5;

/** Options of {@linkcode Cubic}. */
export interface CubicOptions {
  /**
   * Fast convergence (RFC 9438 4.7). Default true, as Linux; the RFC says a single flow with
   * no competing traffic SHOULD disable it.
   */
  fastConvergence?: boolean;
}

/** The CUBIC state beside the window, for tests and statistics. */
export interface CubicState {
  /** W_max in segments (0 before the first congestion event). */
  wMaxSegments: number;
  /** K in seconds for the current epoch (NaN outside congestion avoidance). */
  kSeconds: number;
  /** When the current epoch started, ms (NaN: none running). */
  epochStartMs: number;
  /** W_est in segments (RFC 9438 4.3). */
  wEstSegments: number;
  /** cwnd_prior in segments: the window when ssthresh was last set. */
  cwndPriorSegments: number;
}

/** What a reduction saves for undo (RFC 9438 4.9). */
interface Snapshot {
  wMax: number;
  k: number;
  epochStartMs: number;
  wEst: number;
  cwndPrior: number;
  afterTimeout: boolean;
}

/** CUBIC: a cubic window curve around the last congestion point, Reno-friendly below it. */
export class Cubic implements CongestionControl {
  readonly name = "cubic";
  readonly #fastConvergence: boolean;
  #mss: number;
  /** Bytes, with a fraction. */
  #cwnd: number;
  #ssthresh = INITIAL_SSTHRESH;
  // RFC 9438 4.1.2 variables, in segments and seconds.
  #wMax = 0;
  #k = NaN;
  #epochStartMs = NaN;
  #wEst = 0;
  #cwndPrior = 0;
  /** RFC 9438 4.8: the next epoch is the first after an RTO (K = 0, W_max = cwnd_epoch). */
  #afterTimeout = false;
  #snapshot: Snapshot | undefined;

  constructor(mss: number, options: CubicOptions = {}) {
    this.#mss = mss;
    this.#cwnd = initialWindowBytes(mss);
    this.#fastConvergence = options.fastConvergence ?? true;
  }

  get cwndBytes(): number {
    return Math.max(this.#mss, Math.floor(this.#cwnd));
  }

  get ssthreshBytes(): number {
    return this.#ssthresh;
  }

  /** The CUBIC variables (a copy). */
  get state(): CubicState {
    return {
      wMaxSegments: this.#wMax,
      kSeconds: this.#k,
      epochStartMs: this.#epochStartMs,
      wEstSegments: this.#wEst,
      cwndPriorSegments: this.#cwndPrior,
    };
  }

  setMss(mss: number): void {
    // Keep the window in segments, as NewReno; the CUBIC state already is in segments.
    this.#cwnd = Math.max(mss, Math.round((this.#cwnd / this.#mss) * mss));
    this.#mss = mss;
  }

  onAck(e: AckEvent): void {
    if (!e.cwndLimited || !(e.ackedBytes > 0)) return; // RFC 9438 5.8
    let acked = e.ackedBytes;
    if (this.#cwnd < this.#ssthresh) {
      // RFC 5681 3.1 eq. 2 with RFC 3465's L = 2*SMSS, as NewReno (RFC 9438 4.10).
      const grow = Math.min(acked, 2 * this.#mss) / (e.slowStartDivisor ?? 1);
      const room = this.#ssthresh - this.#cwnd;
      if (grow <= room) {
        this.#cwnd += grow;
        return;
      }
      // Crossing ssthresh: the rest of this ACK counts in congestion avoidance.
      this.#cwnd = this.#ssthresh;
      acked -= room;
    }
    this.#avoidance(acked, e.rttMs, e.nowMs);
  }

  /** RFC 9438 4.2-4.5: one ACK of `ackedBytes` in congestion avoidance. */
  #avoidance(ackedBytes: number, rttMs: number, nowMs: number): void {
    const cwnd = this.#cwnd / this.#mss;
    if (Number.isNaN(this.#epochStartMs)) this.#startEpoch(cwnd, nowMs);
    const acked = ackedBytes / this.#mss;
    const t = Math.max(0, nowMs - this.#epochStartMs) / 1000;
    const rtt = Number.isFinite(rttMs) && rttMs > 0 ? rttMs / 1000 : 0;
    // RFC 9438 4.3: W_est grows by alpha per window acknowledged; alpha becomes 1 once W_est
    // reaches the window of the last congestion event.
    const alpha = this.#wEst >= this.#cwndPrior ? 1 : CUBIC_ALPHA;
    this.#wEst += (alpha * acked) / cwnd;
    let next: number;
    if (this.#wCubic(t) < this.#wEst) {
      next = this.#wEst; // Reno-friendly region (4.3)
    } else {
      // 4.4/4.5: target = W_cubic(t + RTT) within [cwnd, 1.5*cwnd]; cwnd grows by
      // (target - cwnd)/cwnd per acknowledged segment, never past the target.
      const target = Math.min(Math.max(this.#wCubic(t + rtt), cwnd), TARGET_LIMIT * cwnd);
      next = Math.min(target, cwnd + ((target - cwnd) / cwnd) * acked);
    }
    this.#cwnd = Math.max(this.#cwnd, next * this.#mss);
  }

  /** W_cubic(t) = C*(t-K)^3 + W_max, segments (RFC 9438 4.2 Figure 1). */
  #wCubic(tSeconds: number): number {
    return CUBIC_C * (tSeconds - this.#k) ** 3 + this.#wMax;
  }

  /** The start of a congestion-avoidance stage with `cwnd` = cwnd_epoch (RFC 9438 4.2). */
  #startEpoch(cwnd: number, nowMs: number): void {
    this.#epochStartMs = nowMs;
    this.#wEst = cwnd; // 4.3: W_est = cwnd_epoch
    if (this.#afterTimeout || this.#wMax <= cwnd) {
      // 4.8 (first epoch after an RTO) and 4.10 (slow start ended without a loss): K = 0
      // and W_max = cwnd_epoch. Also used when cwnd_epoch is above W_max (as Linux).
      if (this.#wMax === 0) this.#cwndPrior = cwnd; // 4.10
      this.#wMax = cwnd;
      this.#k = 0;
    } else {
      this.#k = Math.cbrt((this.#wMax - cwnd) / CUBIC_C); // 4.2 Figure 2
    }
    this.#afterTimeout = false;
  }

  /**
   * A congestion event (RFC 9438 4.6, 4.7): save the state for undo (4.9), update W_max,
   * set ssthresh and end the epoch.
   *
   * ssthresh: RFC 9438 4.6 Figure 5 says flight_size * beta_cubic and allows cwnd * beta
   * when growth is held while the flight is below cwnd (we do: `cwndLimited`). We take
   * min(flight_size, cwnd) * beta, at least 2 segments: the sender's flight counts SACKed
   * bytes and what the pipe rule sent in recovery, so it can exceed cwnd, and a loss must
   * never raise the window. W_max and cwnd_prior come from cwnd, as the RFC defines them.
   */
  #reduce(flightBytes: number): void {
    this.#snapshot = {
      wMax: this.#wMax,
      k: this.#k,
      epochStartMs: this.#epochStartMs,
      wEst: this.#wEst,
      cwndPrior: this.#cwndPrior,
      afterTimeout: this.#afterTimeout,
    };
    const cwnd = this.#cwnd / this.#mss;
    const lower = this.#fastConvergence && cwnd < this.#wMax;
    this.#wMax = lower ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd; // 4.7
    this.#cwndPrior = cwnd;
    const base = Math.min(flightBytes, this.#cwnd);
    this.#ssthresh = Math.max(Math.floor(base * CUBIC_BETA), 2 * this.#mss);
    this.#endEpoch();
  }

  #endEpoch(): void {
    this.#epochStartMs = NaN;
    this.#k = NaN;
  }

  onEnterRecovery(flightBytes: number, _nowMs: number): void {
    this.#reduce(flightBytes);
    this.#cwnd = this.#ssthresh; // 4.6: cwnd = max(ssthresh, 2)
  }

  onExitRecovery(_nowMs: number): void {
    // RFC 6582 3.2 step 3: deflate to ssthresh (already there: the pipe did the inflation).
    this.#cwnd = Math.max(this.#ssthresh, this.#mss);
  }

  onRetransmitTimeout(flightBytes: number, _nowMs: number, repeated: boolean): void {
    // RFC 9438 4.8: cwnd as Reno (RFC 5681 3.1 loss window LW = 1 SMSS), ssthresh with
    // beta_cubic; a repeated timeout holds ssthresh (RFC 5681 3.1).
    if (!repeated) this.#reduce(flightBytes);
    else this.#endEpoch();
    this.#cwnd = this.#mss;
    this.#afterTimeout = true;
  }

  onSynTimeout(): void {
    this.#cwnd = this.#mss; // RFC 5681 3.1; no congestion event: W_max and ssthresh stay
  }

  onUndo(priorCwndBytes: number, priorSsthreshBytes: number): void {
    // RFC 9438 4.9: restore the state from before the reduction, unless cwnd has already
    // grown past the prior window (then the current values stand).
    const saved = this.#snapshot;
    this.#snapshot = undefined;
    if (this.#cwnd >= priorCwndBytes) return;
    this.#cwnd = priorCwndBytes;
    this.#ssthresh = Math.max(priorSsthreshBytes, 2 * this.#mss);
    if (saved === undefined) return;
    this.#wMax = saved.wMax;
    this.#k = saved.k;
    this.#epochStartMs = saved.epochStartMs;
    this.#wEst = saved.wEst;
    this.#cwndPrior = saved.cwndPrior;
    this.#afterTimeout = saved.afterTimeout;
  }

  onIdle(_nowMs: number): void {
    // RFC 5681 4.1: restart window = min(IW, cwnd). RFC 9438 5.8: t must not include the
    // idle period, so the next ACK in congestion avoidance starts a new epoch (W_max kept).
    this.#cwnd = Math.min(this.#cwnd, initialWindowBytes(this.#mss));
    this.#endEpoch();
  }

  endSlowStart(): void {
    // RFC 9406 4.2; the first congestion-avoidance ACK then starts an epoch with K = 0 and
    // W_max = cwnd (RFC 9438 4.10).
    this.#ssthresh = Math.max(2 * this.#mss, Math.floor(this.#cwnd));
  }
}

/** Builds a {@linkcode Cubic} controller (for `TcpConfig.congestionControl`). */
export const cubic: CongestionControlFactory = (mss) => new Cubic(mss);
