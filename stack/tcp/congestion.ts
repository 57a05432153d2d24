/**
 * Congestion control: the interface the sender drives, and NewReno (RFC 5681, RFC 6582).
 *
 * The sender owns loss detection and recovery (which segment to resend, when recovery ends);
 * the controller only owns `cwndBytes` and `ssthreshBytes` and reacts to events. That split
 * keeps controllers small and swappable (CUBIC, RFC 9438, fits the same five events).
 * Invariants: `cwndBytes >= mss` (one segment can always be sent after an RTO), and the window
 * grows only while the sender was limited by it (RFC 7661's concern, in its simplest form).
 * @module
 */

/** What the sender reports when new data is acknowledged outside recovery. */
export interface AckEvent {
  /** Bytes newly acknowledged (cumulatively or, during recovery, by SACK). */
  ackedBytes: number;
  /** Bytes in flight before this ACK. */
  flightBytes: number;
  /** The sender was limited by cwnd (not by the application or the peer's window). */
  cwndLimited: boolean;
  /** The smoothed RTT in ms (RFC 6298 SRTT), or NaN before the first sample. */
  rttMs: number;
  nowMs: number;
  /** Slow-start growth is divided by this (HyStart++'s Conservative Slow Start: 4). */
  slowStartDivisor?: number;
}

/** A pluggable congestion controller. */
export interface CongestionControl {
  readonly name: string;
  readonly cwndBytes: number;
  readonly ssthreshBytes: number;
  /** The sender's MSS changed (after the handshake or a path MTU change). */
  setMss(mss: number): void;
  /** New data was acknowledged while not in loss recovery. */
  onAck(event: AckEvent): void;
  /** Fast retransmit: loss detected by duplicate ACKs or SACK (RFC 5681 3.2 steps 2-3). */
  onEnterRecovery(flightBytes: number, nowMs: number): void;
  /** The recovery point was acknowledged (RFC 6582 3.2 step 3, full ACK). */
  onExitRecovery(nowMs: number): void;
  /**
   * The retransmission timer expired (RFC 5681 3.1 eq. 4 and the loss window). `repeated` when
   * the same data already timed out once: ssthresh is then held (RFC 5681 3.1).
   */
  onRetransmitTimeout(flightBytes: number, nowMs: number, repeated: boolean): void;
  /**
   * The SYN or SYN-ACK timed out: the window after the handshake is one segment (RFC 5681
   * 3.1); ssthresh is kept.
   */
  onSynTimeout(): void;
  /** The connection sent nothing for more than an RTO (RFC 5681 4.1 restart window). */
  onIdle(nowMs: number): void;
  /**
   * HyStart++ ended the initial slow start without a loss: ssthresh = cwnd (RFC 9406 4.2).
   * Optional: a controller without it keeps its slow start until the first loss.
   */
  endSlowStart?(): void;
  /**
   * The last reduction was spurious: restore the window from before it (RFC 4015 3.2, as
   * Linux's tcp_undo_cwnd_reduction). Optional: a controller without it keeps its window.
   */
  onUndo?(priorCwndBytes: number, priorSsthreshBytes: number): void;
}

/**
 * ssthresh before the first congestion event: "arbitrarily high" (RFC 5681 3.1). A controller
 * starts with it: the sender runs HyStart++ while ssthresh still has this value.
 */
export const INITIAL_SSTHRESH = Number.MAX_SAFE_INTEGER;

/** Initial window in segments (RFC 6928, as Linux). */
export const INITIAL_WINDOW_SEGMENTS = 10;

/**
 * The initial window of RFC 6928: min(10*MSS, max(2*MSS, 14600)).
 */
export function initialWindowBytes(mss: number): number {
  return Math.min(INITIAL_WINDOW_SEGMENTS * mss, Math.max(2 * mss, 14600));
}

/** NewReno: slow start, congestion avoidance by byte counting, halving on loss. */
export class NewReno implements CongestionControl {
  readonly name = "newreno";
  #mss: number;
  #cwnd: number;
  #ssthresh = INITIAL_SSTHRESH;
  #bytesAcked = 0;

  constructor(mss: number) {
    this.#mss = mss;
    this.#cwnd = initialWindowBytes(mss);
  }

  get cwndBytes(): number {
    return this.#cwnd;
  }

  get ssthreshBytes(): number {
    return this.#ssthresh;
  }

  setMss(mss: number): void {
    // Keep the window in segments (the initial window is counted in segments).
    this.#cwnd = Math.max(mss, Math.round((this.#cwnd / this.#mss) * mss));
    this.#mss = mss;
  }

  onAck(e: AckEvent): void {
    if (!e.cwndLimited) return;
    if (this.#cwnd < this.#ssthresh) {
      // RFC 5681 3.1 eq. 2 (with RFC 3465's limit L = 2*SMSS on a stretch ACK).
      this.#cwnd += Math.floor(Math.min(e.ackedBytes, 2 * this.#mss) / (e.slowStartDivisor ?? 1));
      return;
    }
    // RFC 5681 3.1: congestion avoidance, one MSS per window of acknowledged bytes (RFC 3465).
    this.#bytesAcked += e.ackedBytes;
    if (this.#bytesAcked >= this.#cwnd) {
      this.#bytesAcked -= this.#cwnd;
      this.#cwnd += this.#mss;
    }
  }

  onEnterRecovery(flightBytes: number, _nowMs: number): void {
    // RFC 5681 3.2 eq. 4; RFC 6675 5 step 4.2 sets cwnd = ssthresh and lets the pipe govern.
    // FlightSize counts SACKed data, so half of it can exceed cwnd: a loss never raises the
    // window, it then stays where it was.
    const half = Math.min(Math.floor(flightBytes / 2), this.#cwnd);
    this.#ssthresh = Math.max(half, 2 * this.#mss);
    this.#cwnd = this.#ssthresh;
    this.#bytesAcked = 0;
  }

  onExitRecovery(_nowMs: number): void {
    // RFC 6582 3.2 step 3: deflate to ssthresh (already there: the pipe did the inflation).
    this.#cwnd = Math.max(this.#ssthresh, this.#mss);
  }

  onRetransmitTimeout(flightBytes: number, _nowMs: number, repeated: boolean): void {
    // RFC 5681 3.1 eq. 4 and the loss window LW = 1 SMSS.
    if (!repeated) this.#ssthresh = Math.max(Math.floor(flightBytes / 2), 2 * this.#mss);
    this.#cwnd = this.#mss;
    this.#bytesAcked = 0;
  }

  onSynTimeout(): void {
    this.#cwnd = this.#mss;
  }

  onUndo(priorCwndBytes: number, priorSsthreshBytes: number): void {
    this.#cwnd = Math.max(this.#cwnd, priorCwndBytes);
    this.#ssthresh = Math.max(this.#ssthresh, priorSsthreshBytes);
    this.#bytesAcked = 0;
  }

  onIdle(_nowMs: number): void {
    // RFC 5681 4.1: restart window = min(IW, cwnd).
    this.#cwnd = Math.min(this.#cwnd, initialWindowBytes(this.#mss));
  }

  endSlowStart(): void {
    this.#ssthresh = this.#cwnd;
    this.#bytesAcked = 0;
  }
}

/** Builds a controller for a connection with the given MSS. */
export type CongestionControlFactory = (mss: number) => CongestionControl;

/** The default controller. */
export const newReno: CongestionControlFactory = (mss) => new NewReno(mss);
