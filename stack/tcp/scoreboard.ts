/**
 * The sender's SACK scoreboard (RFC 6675 3): which bytes above SND.UNA the receiver reported
 * holding, as sorted, disjoint, non-touching sequence ranges [start, end).
 *
 * Invariants: every range lies within [SND.UNA, SND.NXT] as last given to `add`/`advance`;
 * `sackedBytes` is the sum of the range lengths; at most `maxRanges` ranges are kept (a block
 * that would need more is ignored: SACK is advisory, RFC 2018 8, so losing one only delays
 * recovery). Blocks outside the window (stale, D-SACK, or forged) are ignored.
 * @module
 */

import { seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from "./seq.ts";

interface SeqRange {
  start: number;
  end: number;
}

/** SACKed ranges above SND.UNA. */
export class SackScoreboard {
  readonly #ranges: SeqRange[] = [];
  #sacked = 0;
  readonly #maxRanges: number;

  constructor(maxRanges = 64) {
    this.#maxRanges = maxRanges;
  }

  /** The lowest byte that the last `add` newly SACKed (meaningful when it added some). */
  lowestAdded = 0;

  /** Bytes reported received above SND.UNA. */
  get sackedBytes(): number {
    return this.#sacked;
  }

  /** Number of ranges. */
  get size(): number {
    return this.#ranges.length;
  }

  /** End of the highest SACKed range, or undefined. */
  get highestSacked(): number | undefined {
    return this.#ranges.at(-1)?.end;
  }

  /** Forgets everything (after an RTO the receiver may have reneged, RFC 2018 8). */
  clear(): void {
    this.#ranges.length = 0;
    this.#sacked = 0;
  }

  /**
   * Records block [left, right) given SND.UNA and SND.NXT; returns the bytes newly SACKed
   * (0 for a block that was invalid or already known).
   */
  add(left: number, right: number, una: number, nxt: number): number {
    if (!seqLt(left, right) || seqLe(right, una) || seqGt(right, nxt)) return 0;
    const start = seqMax(left, una);
    const ranges = this.#ranges;
    let i = 0;
    while (i < ranges.length && seqLt(ranges[i]!.end, start)) i++;
    let j = i;
    let s = start;
    let e = right;
    let covered = 0;
    while (j < ranges.length && seqLe(ranges[j]!.start, e)) {
      const r = ranges[j]!;
      covered += seqDiff(r.end, r.start);
      s = seqMin(s, r.start);
      e = seqMax(e, r.end);
      j++;
    }
    if (j === i && ranges.length >= this.#maxRanges) return 0;
    const added = seqDiff(e, s) - covered;
    let low = start;
    for (let k = i; k < j && seqLe(ranges[k]!.start, low); k++) low = seqMax(low, ranges[k]!.end);
    this.lowestAdded = low;
    ranges.splice(i, j - i, { start: s, end: e });
    this.#sacked += added;
    return added;
  }

  /** SND.UNA moved to `una`: drops what is now cumulatively acknowledged. */
  advance(una: number): void {
    const ranges = this.#ranges;
    while (ranges.length > 0 && seqLe(ranges[0]!.end, una)) {
      const r = ranges.shift()!;
      this.#sacked -= seqDiff(r.end, r.start);
    }
    const first = ranges[0];
    if (first && seqLt(first.start, una)) {
      this.#sacked -= seqDiff(una, first.start);
      first.start = una;
    }
  }

  /** `seq` if it is not SACKed, else the end of the range holding it. */
  nextUnsacked(seq: number): number {
    for (const r of this.#ranges) {
      if (seqLt(seq, r.start)) return seq;
      if (seqLt(seq, r.end)) return r.end;
    }
    return seq;
  }

  /** Start of the first range above `seq`, or undefined. */
  nextSackedAfter(seq: number): number | undefined {
    for (const r of this.#ranges) if (seqGt(r.start, seq)) return r.start;
    return undefined;
  }

  /** True when `seq` is inside a SACKed range. */
  isSacked(seq: number): boolean {
    for (const r of this.#ranges) {
      if (seqLt(seq, r.start)) return false;
      if (seqLt(seq, r.end)) return true;
    }
    return false;
  }

  /** Bytes SACKed within [start, end). */
  sackedWithin(start: number, end: number): number {
    let n = 0;
    for (const r of this.#ranges) {
      const s = seqMax(r.start, start);
      const e = seqMin(r.end, end);
      if (seqLt(s, e)) n += seqDiff(e, s);
    }
    return n;
  }

  /**
   * The boundary below which un-SACKed bytes count as lost (RFC 6675 4, IsLost): the start of
   * the range at which, counting from the top, `dupThresh` ranges or more than
   * (dupThresh - 1) * mss SACKed bytes lie above. Returns `una` when nothing is lost yet.
   */
  lostBoundary(una: number, mss: number, dupThresh = 3): number {
    const ranges = this.#ranges;
    let bytes = 0;
    for (let i = ranges.length - 1, count = 1; i >= 0; i--, count++) {
      const r = ranges[i]!;
      bytes += seqDiff(r.end, r.start);
      if (count >= dupThresh || bytes > (dupThresh - 1) * mss) {
        return seqGe(r.start, una) ? r.start : una;
      }
    }
    return una;
  }
}
