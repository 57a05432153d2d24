/**
 * Reordering tolerance for the sender's loss detection: an adaptive duplicate-ACK threshold
 * (as Linux's `tp->reordering`) and the detection and undo of spurious fast retransmits
 * (RFC 4015 response; detection by timing as RFC 8985 6.2 step 2, or by a timestamp echo as
 * RFC 3522 Eifel when the caller has one).
 *
 * Invariants: `DUP_THRESH <= dupThresh <= MAX_DUP_THRESH`; with `enabled` false `dupThresh`
 * stays `DUP_THRESH` and nothing is ever undone (plain RFC 5681 / RFC 6675 behaviour). One
 * recovery episode is tracked at a time; `episodeOpen` is true from `onEnterRecovery` until
 * the first ACK that covers the hole decides whether the episode was spurious.
 * @module
 */

import { seqDiff, seqGt } from "./seq.ts";

/** Duplicate ACKs that trigger fast retransmit (RFC 5681 3.2). */
export const DUP_THRESH = 3;
/** Highest reordering degree believed, in segments (Linux's tcp_max_reordering is 300). */
export const MAX_DUP_THRESH = 127;

/** What {@linkcode ReorderTracker.onHoleAcked} decided about a recovery episode. */
export type EpisodeVerdict = "spurious" | "genuine" | "pending";

/** Prior congestion state to restore on undo (RFC 4015 3.2). */
export interface PriorWindow {
  cwndBytes: number;
  ssthreshBytes: number;
}

/** Reordering degree, minimum RTT and the state of the current recovery episode. */
export class ReorderTracker {
  readonly enabled: boolean;
  #dupThresh = DUP_THRESH;
  #minRttMs = Infinity;
  /** Recovery episodes found spurious and undone. */
  undos = 0;
  /** Recovery episodes found genuine. */
  genuine = 0;
  episodeOpen = false;
  #holeSeq = 0;
  #extentSeq = 0;
  #firstRtxMs = NaN;
  #prior: PriorWindow = { cwndBytes: 0, ssthreshBytes: 0 };

  constructor(enabled: boolean) {
    this.enabled = enabled;
  }

  /** Duplicate ACKs (or SACKed segments above a hole) that mean loss. */
  get dupThresh(): number {
    return this.#dupThresh;
  }

  /** Smallest RTT seen, or Infinity. */
  get minRttMs(): number {
    return this.#minRttMs;
  }

  /** Congestion state before the current episode. */
  get prior(): Readonly<PriorWindow> {
    return this.#prior;
  }

  /** An unambiguous RTT sample (RFC 6298 / RFC 7323 4). */
  sampleRtt(rttMs: number): void {
    if (rttMs >= 0 && rttMs < this.#minRttMs) this.#minRttMs = rttMs;
  }

  /**
   * Reordering of `bytes` was seen: a hole this far below the highest SACKed byte was filled
   * by an original transmission (Linux tcp_check_sack_reordering). Raises the threshold to
   * the degree in segments plus one, so the same reordering no longer looks like loss.
   */
  observe(bytes: number, mss: number): void {
    if (!this.enabled || bytes <= 0) return;
    const degree = Math.ceil(bytes / mss) + 1;
    this.#dupThresh = Math.min(MAX_DUP_THRESH, Math.max(this.#dupThresh, degree));
  }

  /** Decays the threshold (after an RTO or a genuine loss): halve towards DUP_THRESH. */
  decay(): void {
    this.#dupThresh = Math.max(DUP_THRESH, Math.floor(this.#dupThresh / 2));
  }

  /**
   * Fast recovery starts with the hole at `holeSeq` and SACKed (or dup-ACKed) data up to
   * `extentSeq`; `prior` is the congestion state before the reduction (RFC 4015 3.2).
   */
  onEnterRecovery(holeSeq: number, extentSeq: number, prior: PriorWindow): void {
    if (!this.enabled) return;
    this.episodeOpen = true;
    this.#holeSeq = holeSeq;
    this.#extentSeq = extentSeq;
    this.#firstRtxMs = NaN;
    this.#prior = { ...prior };
  }

  /** A retransmission went out at `nowMs`. */
  onRetransmit(nowMs: number): void {
    if (!this.episodeOpen || !Number.isNaN(this.#firstRtxMs)) return;
    this.#firstRtxMs = nowMs;
  }

  /**
   * An ACK up to `ack` arrived during the episode. When it covers the hole, decides whether
   * the retransmission was needed: spurious when nothing was retransmitted yet, when the
   * timestamp echo `tsEchoMs` (when the echoed TSval was sent, on our clock) predates the
   * retransmission (RFC 3522 2, Eifel), or, without it, when the ACK came back sooner than
   * the minimum RTT after the retransmission (RFC 8985 6.2 step 2). A spurious episode
   * raises the threshold to the reordering degree seen; a genuine one lowers it by one.
   */
  onHoleAcked(ack: number, nowMs: number, mss: number, tsEchoMs = NaN): EpisodeVerdict {
    if (!this.episodeOpen || !seqGt(ack, this.#holeSeq)) return "pending";
    this.episodeOpen = false;
    let spurious: boolean;
    if (Number.isNaN(this.#firstRtxMs)) spurious = true;
    else if (!Number.isNaN(tsEchoMs)) spurious = tsEchoMs < this.#firstRtxMs;
    else spurious = nowMs - this.#firstRtxMs < this.#minRttMs;
    if (!spurious) {
      this.genuine++;
      this.#dupThresh = Math.max(DUP_THRESH, this.#dupThresh - 1); // decay slowly
      return "genuine";
    }
    this.undos++;
    this.observe(seqDiff(this.#extentSeq, this.#holeSeq), mss);
    return "spurious";
  }

  /** An RTO ends any episode without a verdict. */
  onTimeout(): void {
    this.episodeOpen = false;
    this.decay();
  }
}
