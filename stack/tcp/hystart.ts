/**
 * HyStart++ (RFC 9406): leaves the initial slow start before it overflows the bottleneck's
 * queue. Per round trip it takes the minimum RTT of the ACKs; when a round's minimum has risen
 * by more than an eighth of the last one (clamped to 4-16 ms), a queue is building, and slow
 * start continues at a quarter of the growth (Conservative Slow Start, CSS). If the RTT falls
 * back below where CSS began, the rise was noise and slow start resumes; after five rounds of
 * CSS, slow start ends (ssthresh = cwnd) without having lost a packet.
 *
 * Only the initial slow start uses it (RFC 9406 4.2): once a loss has set ssthresh, the
 * sender stops asking. Invariants: a round ends at the first ACK at or above the SND.NXT of
 * its start; a decision needs 8 RTT samples in the round and a minimum from the round before.
 * @module
 */

import { seqGe } from "./seq.ts";

/** RFC 9406 4.3 constants. */
export const MIN_RTT_THRESH_MS = 4;
export const MAX_RTT_THRESH_MS = 16;
export const MIN_RTT_DIVISOR = 8;
export const N_RTT_SAMPLE = 8;
export const CSS_GROWTH_DIVISOR = 4;
export const CSS_ROUNDS = 5;

/** Where the initial slow start is. */
export type HyStartPhase = "slow-start" | "css" | "done";

/** The HyStart++ state of one connection. */
export class HyStartPlusPlus {
  phase: HyStartPhase = "slow-start";
  /** Times CSS was entered (for statistics and tests). */
  cssEntries = 0;
  #windowEnd: number | undefined;
  #lastRoundMinRttMs = Infinity;
  #currentRoundMinRttMs = Infinity;
  #samples = 0;
  #cssBaselineMs = Infinity;
  #cssRounds = 0;

  /**
   * An ACK of new data up to `ack` in the initial slow start, with `sndNxt` sent so far and
   * this ACK's RTT sample (NaN when it gave none). Returns the divisor of this ACK's slow-start
   * growth (1, or 4 in CSS), or 0 when slow start is over: the caller sets ssthresh = cwnd.
   */
  onAck(ack: number, sndNxt: number, rttMs: number): number {
    if (this.phase === "done") return 0;
    if (this.#windowEnd === undefined || seqGe(ack, this.#windowEnd)) {
      // A new round (RFC 9406 4.2): remember the last one's minimum.
      this.#windowEnd = sndNxt;
      this.#lastRoundMinRttMs = this.#currentRoundMinRttMs;
      this.#currentRoundMinRttMs = Infinity;
      this.#samples = 0;
      if (this.phase === "css" && ++this.#cssRounds >= CSS_ROUNDS) {
        this.phase = "done";
        return 0;
      }
    }
    if (!Number.isNaN(rttMs)) {
      this.#currentRoundMinRttMs = Math.min(this.#currentRoundMinRttMs, rttMs);
      this.#samples++;
    }
    const decide = this.#samples >= N_RTT_SAMPLE &&
      Number.isFinite(this.#currentRoundMinRttMs) && Number.isFinite(this.#lastRoundMinRttMs);
    if (decide && this.phase === "slow-start") {
      const threshMs = Math.max(
        MIN_RTT_THRESH_MS,
        Math.min(this.#lastRoundMinRttMs / MIN_RTT_DIVISOR, MAX_RTT_THRESH_MS),
      );
      if (this.#currentRoundMinRttMs >= this.#lastRoundMinRttMs + threshMs) {
        this.#cssBaselineMs = this.#currentRoundMinRttMs;
        this.#cssRounds = 0;
        this.cssEntries++;
        this.phase = "css";
      }
    } else if (decide && this.#cssRounds > 0 && this.#currentRoundMinRttMs < this.#cssBaselineMs) {
      // The RTT came back down: the increase was spurious; resume slow start. Judged from the
      // first round that began in CSS: the round where CSS began holds the samples that began
      // it, and an unpaced slow start leaves gaps in which the queue drains, so its later
      // samples would undo nearly every entry (the partial round still counts as a CSS round).
      this.#cssBaselineMs = Infinity;
      this.phase = "slow-start";
    }
    return this.phase === "css" ? CSS_GROWTH_DIVISOR : 1;
  }

  /** A loss ended the initial slow start. */
  end(): void {
    this.phase = "done";
  }
}
