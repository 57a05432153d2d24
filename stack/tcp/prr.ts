/**
 * Proportional Rate Reduction (RFC 6937): how much a sender in fast recovery may send on each
 * ACK. Instead of stopping until half the flight has drained and then bursting (RFC 6675 with
 * cwnd = ssthresh at once), it sends about ssthresh/FlightSize bytes per byte delivered, so the
 * flight comes down to ssthresh smoothly and stays ACK-clocked; when losses took the pipe below
 * ssthresh, the slow-start reduction bound (PRR-SSRB) lets it climb back, at most one MSS more
 * than was delivered per ACK.
 *
 * Invariants: `out` and `delivered` only grow within one recovery; `start` begins a new one.
 * The amounts are bytes.
 * @module
 */

/** The PRR state of one recovery episode (RFC 6937 3.1). */
export class ProportionalRateReduction {
  /** FlightSize when the recovery began (RecoverFS). */
  #recoverFs = 1;
  /** Bytes delivered to the receiver during the recovery (prr_delivered). */
  delivered = 0;
  /** Bytes sent during the recovery (prr_out). */
  out = 0;

  /** A recovery begins with `flightBytes` outstanding (snd.nxt - snd.una). */
  start(flightBytes: number): void {
    this.#recoverFs = Math.max(1, flightBytes);
    this.delivered = 0;
    this.out = 0;
  }

  /** Bytes (new data or retransmitted) went out during the recovery. */
  onSent(bytes: number): void {
    this.out += bytes;
  }

  /**
   * An ACK during the recovery delivered `deliveredBytes` (the change in SND.UNA plus the
   * change in SACKed bytes); returns sndcnt, the bytes that may be sent now (never negative).
   */
  onAck(deliveredBytes: number, pipeBytes: number, ssthreshBytes: number, mss: number): number {
    this.delivered += Math.max(0, deliveredBytes);
    let sndcnt: number;
    if (pipeBytes > ssthreshBytes) {
      sndcnt = Math.ceil((this.delivered * ssthreshBytes) / this.#recoverFs) - this.out;
    } else {
      const limit = Math.max(this.delivered - this.out, deliveredBytes) + mss;
      sndcnt = Math.min(ssthreshBytes - pipeBytes, limit);
    }
    return Math.max(0, sndcnt);
  }
}
