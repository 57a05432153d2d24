/**
 * Retransmission timeout estimation (RFC 6298) with Karn's algorithm left to the caller (only
 * unambiguous samples are fed in: timestamps, RFC 7323 4, or segments never retransmitted).
 *
 * Invariants: `minMs <= rtoMs <= maxMs`; `timeoutMs` is `rtoMs` doubled once per `backoff()`
 * (RFC 6298 5.5), capped at `maxMs`; a new sample clears the backoff (RFC 6298 5.7 / Karn).
 * The floor is 200 ms as in Linux (TCP_RTO_MIN) rather than RFC 6298's 1 s (2.4 allows a
 * lower one); the cap is 120 s as in Linux (TCP_RTO_MAX), above RFC 6298's 60 s minimum cap.
 * @module
 */

/** Initial RTO before any sample (RFC 6298 2.1). */
export const INITIAL_RTO_MS = 1000;
/** Lower bound on the RTO (Linux TCP_RTO_MIN; RFC 6298 2.4 allows it). */
export const MIN_RTO_MS = 200;
/** Upper bound on the RTO (Linux TCP_RTO_MAX; RFC 6298 2.5 asks for at least 60 s). */
export const MAX_RTO_MS = 120_000;
/** RTO once data flows after the SYN had to be retransmitted (RFC 6298 5.7). */
export const RTO_AFTER_SYN_LOSS_MS = 3000;

const ALPHA = 1 / 8; // RFC 6298 2.3
const BETA = 1 / 4; // RFC 6298 2.3
const K = 4; // RFC 6298 2.2

/** Tunables for {@linkcode RtoEstimator}. */
export interface RtoOptions {
  initialMs?: number;
  minMs?: number;
  maxMs?: number;
  /** Clock granularity G (RFC 6298 2.2); our clock has 1 ms ticks. */
  granularityMs?: number;
  /**
   * Loss detection tolerates reordering: adaptive duplicate-ACK threshold and undo of
   * spurious fast retransmits (see reorder.ts). Default true. Set from
   * `TcpConfig.reorderTolerance`; it lives here because the sender receives these options.
   */
  reorderTolerance?: boolean;
}

/** Smoothed RTT, RTT variance and the resulting RTO for one connection. */
export class RtoEstimator {
  #srttMs = NaN;
  #rttvarMs = NaN;
  #rtoMs: number;
  #backoffs = 0;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #granularityMs: number;

  constructor(options: RtoOptions = {}) {
    this.#minMs = options.minMs ?? MIN_RTO_MS;
    this.#maxMs = options.maxMs ?? MAX_RTO_MS;
    this.#granularityMs = options.granularityMs ?? 1;
    this.#rtoMs = this.#clamp(options.initialMs ?? INITIAL_RTO_MS);
  }

  /** Smoothed round-trip time, NaN before the first sample. */
  get srttMs(): number {
    return this.#srttMs;
  }

  /** Round-trip time variation, NaN before the first sample. */
  get rttvarMs(): number {
    return this.#rttvarMs;
  }

  /** True once a sample was taken. */
  get hasSample(): boolean {
    return !Number.isNaN(this.#srttMs);
  }

  /** The RTO without backoff. */
  get rtoMs(): number {
    return this.#rtoMs;
  }

  /** Consecutive backoffs since the last sample. */
  get backoffs(): number {
    return this.#backoffs;
  }

  /** The timeout to arm now: the RTO doubled per backoff, capped (RFC 6298 5.5). */
  get timeoutMs(): number {
    return Math.min(this.#maxMs, this.#rtoMs * 2 ** Math.min(this.#backoffs, 30));
  }

  /** Feeds one round-trip measurement (RFC 6298 2.2 and 2.3); clears the backoff. */
  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (Number.isNaN(this.#srttMs)) {
      this.#srttMs = r;
      this.#rttvarMs = r / 2;
    } else {
      this.#rttvarMs = (1 - BETA) * this.#rttvarMs + BETA * Math.abs(this.#srttMs - r);
      this.#srttMs = (1 - ALPHA) * this.#srttMs + ALPHA * r;
    }
    this.#rtoMs = this.#clamp(this.#srttMs + Math.max(this.#granularityMs, K * this.#rttvarMs));
    this.#backoffs = 0;
  }

  /** The timer expired: double the next timeout (RFC 6298 5.5). */
  backoff(): void {
    this.#backoffs++;
  }

  /** Forgets the backoff without a sample (e.g. an ACK of new data, RFC 6298 5.7 note). */
  resetBackoff(): void {
    this.#backoffs = 0;
  }

  /** Sets the RTO when no sample exists yet (RFC 6298 5.7 after a lost SYN). */
  reinitialize(rtoMs: number): void {
    if (!this.hasSample) this.#rtoMs = this.#clamp(rtoMs);
    this.#backoffs = 0;
  }

  #clamp(ms: number): number {
    return Math.min(this.#maxMs, Math.max(this.#minMs, ms));
  }
}
