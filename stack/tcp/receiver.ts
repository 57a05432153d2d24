/**
 * The receiving half of a connection: RCV.NXT, the advertised window, reassembly, the FIN,
 * acknowledgment policy and timestamps (RFC 9293 3.8.6, 3.10.7.4; RFC 1122 4.2.3.2;
 * RFC 5681 4.2; RFC 7323 4.3; RFC 2018 4).
 *
 * Window invariants: the right edge we advertised (`advRight`) never moves left (RFC 9293
 * 3.8.6.2.2); it moves right only by at least min(buffer/2, MSS) (receiver SWS avoidance); every
 * byte up to it fits in the buffer, which keeps `1 << shift` bytes of slack for rounding the
 * scaled window up instead of shrinking it. Segments are trimmed to [RCV.NXT, advRight).
 * ACK policy: out-of-order data, a filled hole, a FIN and a window opening are acknowledged at
 * once; in-order data at least every second full segment, otherwise within `delayedAckMs`.
 * @module
 */

import { ReceiveBuffer } from "./receive_buffer.ts";
import { seqAdd, seqDiff, seqGe, seqLe, seqLt, seqMax } from "./seq.ts";

/** Longest delay for an ACK (RFC 1122 4.2.3.2 says < 500 ms; Linux uses 40-200 ms). */
export const DEFAULT_DELAYED_ACK_MS = 40;
/** TS.Recent older than this is not used for PAWS (RFC 7323 5.5: 24 days). */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

/** A segment's text after {@linkcode TcpReceiver.clip}. */
export interface Clipped {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

/** The receiving state of one connection. */
export class TcpReceiver {
  readonly buffer: ReceiveBuffer;
  readonly bufferBytes: number;
  readonly #slack: number;
  /** Our window shift (0 unless both SYNs carried window scale). */
  shift: number;
  irs = 0;
  rcvNxt = 0;
  advRight = 0;
  /** Sequence number of the peer's FIN once seen (maybe ahead of RCV.NXT), else -1. */
  finSeq = -1;
  finReceived = false;
  /** Largest segment seen, for "full-sized" (Linux rcv_mss). */
  rcvMss = 536;
  ackNow = false;
  delayedAckAtMs = Infinity;
  #unackedBytes = 0;
  readonly delayedAckMs: number;

  tsEnabled = false;
  sackEnabled = false;
  tsRecent = 0;
  #tsRecentAtMs = 0;
  lastAckSent = 0;
  /** A duplicate to report in the next ACK's first SACK block (RFC 2883 4), when pending. */
  dsackPending = false;
  dsackStart = 0;
  dsackEnd = 0;
  readonly #clipped: Clipped = { seq: 0, data: new Uint8Array(0), fin: false };

  constructor(bufferBytes: number, shift: number, delayedAckMs = DEFAULT_DELAYED_ACK_MS) {
    this.bufferBytes = bufferBytes;
    this.shift = shift;
    this.#slack = (1 << shift) - 1;
    this.buffer = new ReceiveBuffer(bufferBytes + this.#slack);
    this.delayedAckMs = delayedAckMs;
  }

  /** Starts the receive sequence space at the peer's SYN. */
  init(irs: number): void {
    this.irs = irs;
    this.rcvNxt = seqAdd(irs, 1);
    this.lastAckSent = this.rcvNxt;
    this.advRight = seqAdd(this.rcvNxt, this.synWindow());
  }

  /** The window for a SYN or SYN-ACK, which is never scaled (RFC 7323 2.2). */
  synWindow(): number {
    return Math.min(65535, this.bufferBytes);
  }

  /** RCV.WND: what is left of the window we advertised. */
  get window(): number {
    return Math.max(0, seqDiff(this.advRight, this.rcvNxt));
  }

  /** The segment is acceptable (RFC 9293 3.10.7.4 table; one at RCV.NXT always is, as Linux). */
  acceptable(seq: number, segLen: number): boolean {
    const wnd = this.window;
    if (seq === this.rcvNxt) return true;
    const right = seqAdd(this.rcvNxt, wnd);
    if (segLen === 0) return wnd > 0 && seqLe(this.rcvNxt, seq) && seqLt(seq, right);
    if (wnd === 0) return false;
    const last = seqAdd(seq, segLen - 1);
    return (seqLe(this.rcvNxt, seq) && seqLt(seq, right)) ||
      (seqLe(this.rcvNxt, last) && seqLt(last, right));
  }

  /**
   * Trims an acceptable segment to [RCV.NXT, right edge) (RFC 9293 3.10.7.4: "segments with
   * higher beginning sequence numbers may be held", text beyond the window is dropped). The
   * result is a reused record, valid until the next call. Duplicates and overflow ask for an
   * ACK so the sender learns where we are.
   */
  clip(seq: number, payload: Uint8Array, fin: boolean): Clipped {
    const c = this.#clipped;
    let data = payload;
    const behind = seqDiff(this.rcvNxt, seq);
    if (behind > 0) {
      if (behind > data.length) fin = false; // that FIN was already taken
      this.noteDuplicate(seq, seqAdd(seq, Math.min(behind, data.length)));
      data = data.subarray(Math.min(behind, data.length));
      seq = this.rcvNxt;
      this.ackNow = true;
    }
    const room = this.window - seqDiff(seq, this.rcvNxt);
    if (data.length > room) {
      data = data.subarray(0, Math.max(0, room));
      fin = false;
      this.ackNow = true; // e.g. a window probe
    }
    c.seq = seq;
    c.data = data;
    c.fin = fin;
    return c;
  }

  /** Checks a timestamp against TS.Recent (RFC 7323 5.3 PAWS); true when it passes. */
  pawsOk(tsVal: number, nowMs: number): boolean {
    if (!this.tsEnabled) return true;
    if (nowMs - this.#tsRecentAtMs > PAWS_IDLE_MS) return true; // RFC 7323 5.5
    return ((tsVal - this.tsRecent) | 0) >= 0;
  }

  /** Remembers TSval when the segment covers the last ACK we sent (RFC 7323 4.3). */
  updateTsRecent(seq: number, tsVal: number, nowMs: number): void {
    if (!this.tsEnabled || !seqLe(seq, this.lastAckSent)) return;
    if (((tsVal - this.tsRecent) | 0) >= 0 || nowMs - this.#tsRecentAtMs > PAWS_IDLE_MS) {
      this.tsRecent = tsVal;
      this.#tsRecentAtMs = nowMs;
    }
  }

  /** Sets TS.Recent from the peer's SYN. */
  initTsRecent(tsVal: number, nowMs: number): void {
    this.tsRecent = tsVal;
    this.#tsRecentAtMs = nowMs;
  }

  /**
   * Takes the data (already trimmed to the window) and FIN of an acceptable segment. Returns
   * the number of bytes that became readable, or -1 when an out-of-order segment was refused.
   * `gsoSize` > 0 says the segment is several the link coalesced: the segment size learnt for
   * "full-sized" is then theirs (as Linux's tcp_measure_rcv_mss), so a coalesced batch is
   * acknowledged at once as the two or more segments it is.
   */
  onData(seq: number, data: Uint8Array, fin: boolean, nowMs: number, gsoSize = 0): number {
    let advanced = 0;
    if (data.length > 0) {
      const segment = gsoSize > 0 && gsoSize < data.length ? gsoSize : data.length;
      if (segment > this.rcvMss) this.rcvMss = segment;
      const hadHoles = this.buffer.rangeCount > 0;
      const at = this.buffer.inOrderEnd + seqDiff(seq, this.rcvNxt);
      if (hadHoles && at > this.buffer.inOrderEnd && this.buffer.holds(at, at + data.length)) {
        this.noteDuplicate(seq, seqAdd(seq, data.length)); // RFC 2883 4.1.2
      }
      advanced = this.buffer.insert(at, data);
      if (advanced < 0) {
        this.ackNow = true;
        return -1;
      }
      this.rcvNxt = seqAdd(this.rcvNxt, advanced);
      if (advanced === 0 || hadHoles) this.ackNow = true; // RFC 5681 4.2
      else this.#scheduleAck(advanced, nowMs);
    }
    if (fin && this.finSeq === -1) this.finSeq = seqAdd(seq, data.length);
    if (this.finSeq !== -1 && !this.finReceived && this.rcvNxt === this.finSeq) {
      this.finReceived = true;
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.ackNow = true;
    }
    return advanced;
  }

  #scheduleAck(bytes: number, nowMs: number): void {
    this.#unackedBytes += bytes;
    if (this.#unackedBytes >= 2 * this.rcvMss) this.ackNow = true; // RFC 1122 4.2.3.2
    else if (this.delayedAckAtMs === Infinity) this.delayedAckAtMs = nowMs + this.delayedAckMs;
  }

  /** An ACK is owed (now or by the delayed-ACK timer). */
  get ackPending(): boolean {
    return this.ackNow || this.delayedAckAtMs !== Infinity;
  }

  /**
   * The window field for an outgoing segment (scaled), moving `advRight` per the invariants.
   * Call once per segment sent, after which the ACK state is cleared.
   */
  windowField(): number {
    const free = Math.max(0, this.buffer.free - this.#slack);
    const candidate = seqAdd(this.rcvNxt, free);
    const threshold = Math.min(this.bufferBytes >> 1, this.rcvMss);
    let right = this.advRight;
    if (seqLt(right, this.rcvNxt)) right = this.rcvNxt;
    if (
      seqGe(candidate, seqAdd(right, threshold)) || (free > 0 && this.window === 0 &&
        free >= threshold)
    ) {
      right = seqMax(right, candidate);
    }
    const wnd = seqDiff(right, this.rcvNxt);
    let field = Math.min(65535, wnd >>> this.shift);
    if (seqLt(seqAdd(this.rcvNxt, field << this.shift), this.advRight)) {
      field = Math.min(65535, Math.ceil(wnd / (1 << this.shift))); // never shrink
    }
    const edge = seqAdd(this.rcvNxt, field << this.shift);
    this.advRight = seqMax(this.advRight, edge);
    return field;
  }

  /**
   * Data [start, end) arrived again (RFC 2883): report it in the next ACK. Only the bytes
   * below RCV.NXT or inside a held out-of-order range count as duplicates.
   */
  noteDuplicate(start: number, end: number): void {
    if (!this.sackEnabled || !seqLt(start, end)) return;
    this.dsackPending = true;
    this.dsackStart = start;
    this.dsackEnd = end;
    this.ackNow = true;
  }

  /**
   * A segment that was not acceptable (or failed PAWS) arrived with `len` bytes at `seq`:
   * the part below RCV.NXT is a duplicate (as Linux's tcp_send_dupack).
   */
  noteRejected(seq: number, len: number): void {
    if (len <= 0 || !seqLt(seq, this.rcvNxt)) return;
    const end = seqAdd(seq, len);
    this.noteDuplicate(seq, seqLt(end, this.rcvNxt) ? end : this.rcvNxt);
  }

  /** SACK blocks the next ACK carries: the held ranges, plus a pending D-SACK. */
  get sackBlockCount(): number {
    return this.buffer.rangeCount + (this.dsackPending ? 1 : 0);
  }

  /** Records that a segment carrying our ACK went out. */
  onAckSent(): void {
    this.dsackPending = false;
    this.ackNow = false;
    this.delayedAckAtMs = Infinity;
    this.#unackedBytes = 0;
    this.lastAckSent = this.rcvNxt;
  }

  /**
   * After the application read: true when the window we could offer grew enough that the
   * peer should hear about it now (it was closed or small, RFC 9293 3.8.6.2.2).
   */
  windowUpdateNeeded(): boolean {
    const free = Math.max(0, this.buffer.free - this.#slack);
    const candidate = seqAdd(this.rcvNxt, free);
    const gain = seqDiff(candidate, this.advRight);
    return gain >= Math.min(this.bufferBytes >> 1, 2 * this.rcvMss) ||
      (this.window < this.rcvMss && gain >= Math.min(this.bufferBytes >> 1, this.rcvMss));
  }

  /**
   * Writes the SACK blocks to report into `out` as sequence numbers (RFC 2018 4): a pending
   * D-SACK first (RFC 2883 4), then the held ranges, most recently grown first.
   */
  sackBlocks(out: number[], maxBlocks: number): void {
    const dsack = this.dsackPending && maxBlocks > 0;
    const n = this.buffer.sackRanges(out, dsack ? maxBlocks - 1 : maxBlocks);
    const base = this.buffer.inOrderEnd;
    for (let i = 0; i < 2 * n; i++) out[i] = seqAdd(this.rcvNxt, out[i]! - base);
    if (dsack) out.unshift(this.dsackStart, this.dsackEnd);
  }
}
