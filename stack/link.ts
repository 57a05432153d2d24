/**
 * The link layer boundary: what the stack needs from a device, and an in-memory pair of links.
 *
 * A {@linkcode Link} hands the stack a buffer to build each outgoing frame in (`acquire`), takes
 * it (`commit`), and delivers incoming frames through `receive`. Frames passed to `onFrame` are
 * views valid only during the call: whoever keeps bytes copies them. `TapDevice`, `MemoryLink`,
 * the pcap recorder and the fault-injecting `ImpairedLink` all fit this shape, so `--pcap` and
 * `--impair` are just decorators.
 * @module
 */

import type { Clock } from "./clock.ts";
import { ImpairedPath, type ImpairSpec, NO_IMPAIRMENT } from "./impair.ts";
import { SeededRandom } from "./random.ts";

/** Ethernet II header length (dst, src, type); frames carry no FCS. */
export const ETHERNET_OVERHEAD = 14;

/** Where the stack writes outgoing frames. */
export interface FrameSink {
  /** Largest IP packet the link carries (the L3 MTU, 1500 on Ethernet). */
  readonly mtu: number;
  /**
   * A buffer of at least `length` bytes to build one frame in, or null when the transmit queue
   * is full (the caller drops the frame and counts it). Valid until the next `acquire`.
   */
  acquire(length: number): Uint8Array | null;
  /** Queues the first `length` bytes of the buffer the last `acquire` returned. */
  commit(length: number): void;
}

/** A device the stack runs on. */
export interface Link extends FrameSink {
  /**
   * Calls `onFrame` for every frame that has arrived by `nowMs` and returns how many. Links with
   * time-based behaviour (delay, pacing) also move their queues here, so the pump calls it on
   * every turn.
   */
  receive(nowMs: number, onFrame: (frame: Uint8Array) => void): number;
  /** The earliest time this link has work due (a delayed frame), or Infinity. */
  nextDueMs(): number;
}

/** Frame counts a link keeps about itself. */
export interface LinkStats {
  txFrames: number;
  rxFrames: number;
  /** Frames the link refused: over the MTU, or a full queue. */
  dropped: number;
}

/** Options for {@linkcode MemoryLink.pair}. */
export interface MemoryLinkOptions {
  /** The shared clock both stacks run on. */
  clock: Clock;
  /** L3 MTU; frames over `mtu + 14` bytes are dropped. Default 1500. */
  mtu?: number;
  /** Faults applied to frames from end A to end B. */
  aToB?: Partial<ImpairSpec>;
  /** Faults applied to frames from end B to end A. */
  bToA?: Partial<ImpairSpec>;
  /** Frames either direction holds in flight before dropping. Default 4096. */
  queueFrames?: number;
}

/**
 * One end of an in-memory cable. Two ends made by {@linkcode MemoryLink.pair} carry frames to
 * each other, through seeded loss, duplication, reordering, delay and corruption.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock();
 * const [a, b] = MemoryLink.pair({ clock, aToB: { lossPercent: 5, seed: 1 } });
 * ```
 */
export class MemoryLink implements Link {
  readonly mtu: number;
  readonly stats: LinkStats = { txFrames: 0, rxFrames: 0, dropped: 0 };
  readonly #clock: Clock;
  readonly #out: ImpairedPath;
  #in: ImpairedPath | null = null;
  #scratch = new Uint8Array(2048);

  private constructor(clock: Clock, mtu: number, out: ImpairedPath) {
    this.#clock = clock;
    this.mtu = mtu;
    this.#out = out;
  }

  /** Two connected ends, A and B. */
  static pair(options: MemoryLinkOptions): [MemoryLink, MemoryLink] {
    const mtu = options.mtu ?? 1500;
    const queueFrames = options.queueFrames ?? 4096;
    const path = (spec: Partial<ImpairSpec> | undefined, defaultSeed: number) => {
      const full = { ...NO_IMPAIRMENT, seed: defaultSeed, ...spec };
      return new ImpairedPath(full, new SeededRandom(full.seed), queueFrames);
    };
    const ab = path(options.aToB, 1);
    const ba = path(options.bToA, 2);
    const a = new MemoryLink(options.clock, mtu, ab);
    const b = new MemoryLink(options.clock, mtu, ba);
    a.#in = ba;
    b.#in = ab;
    return [a, b];
  }

  acquire(length: number): Uint8Array | null {
    if (length > this.#scratch.length) this.#scratch = new Uint8Array(Math.max(length, 2048));
    return this.#scratch;
  }

  commit(length: number): void {
    if (length > this.mtu + ETHERNET_OVERHEAD) {
      this.stats.dropped++;
      return;
    }
    if (this.#out.send(this.#scratch.subarray(0, length), this.#clock.now())) {
      this.stats.txFrames++;
    } else {
      this.stats.dropped++;
    }
  }

  receive(nowMs: number, onFrame: (frame: Uint8Array) => void): number {
    const n = this.#in!.deliver(nowMs, onFrame);
    this.stats.rxFrames += n;
    return n;
  }

  nextDueMs(): number {
    return this.#in!.nextDueMs();
  }

  /** Frames in flight towards this end. */
  get inFlight(): number {
    return this.#in!.size;
  }
}

/** Options for {@linkcode ImpairedLink}. */
export interface ImpairedLinkOptions {
  clock: Clock;
  /** Faults on frames the stack sends (towards the wire). */
  outbound: ImpairSpec;
  /** Faults on frames the stack receives (from the wire). */
  inbound: ImpairSpec;
  queueFrames?: number;
}

/**
 * A decorator that injects faults into both directions of another link: how `--impair` makes a
 * real TAP lossy when the kernel has no netem qdisc.
 */
export class ImpairedLink implements Link {
  /** Frames the decorator itself lost: its queues full, or the inner link refusing a frame. */
  readonly stats = { dropped: 0 };
  readonly #inner: Link;
  readonly #clock: Clock;
  readonly #out: ImpairedPath;
  readonly #in: ImpairedPath;
  #scratch = new Uint8Array(2048);

  constructor(inner: Link, options: ImpairedLinkOptions) {
    this.#inner = inner;
    this.#clock = options.clock;
    const queueFrames = options.queueFrames ?? 4096;
    this.#out = new ImpairedPath(
      options.outbound,
      new SeededRandom(options.outbound.seed),
      queueFrames,
    );
    this.#in = new ImpairedPath(
      options.inbound,
      new SeededRandom(options.inbound.seed ^ 0x5bd1e995),
      queueFrames,
    );
  }

  get mtu(): number {
    return this.#inner.mtu;
  }

  acquire(length: number): Uint8Array | null {
    if (length > this.#scratch.length) this.#scratch = new Uint8Array(Math.max(length, 2048));
    return this.#scratch;
  }

  commit(length: number): void {
    const nowMs = this.#clock.now();
    if (!this.#out.send(this.#scratch.subarray(0, length), nowMs)) this.stats.dropped++;
    this.#flushOut(nowMs);
  }

  receive(nowMs: number, onFrame: (frame: Uint8Array) => void): number {
    this.#flushOut(nowMs);
    this.#inner.receive(nowMs, (frame) => {
      if (!this.#in.send(frame, nowMs)) this.stats.dropped++;
    });
    return this.#in.deliver(nowMs, onFrame);
  }

  nextDueMs(): number {
    return Math.min(this.#inner.nextDueMs(), this.#in.nextDueMs(), this.#out.nextDueMs());
  }

  #flushOut(nowMs: number): void {
    this.#out.deliver(nowMs, (frame) => {
      const buffer = this.#inner.acquire(frame.length);
      if (buffer === null) {
        this.stats.dropped++;
        return;
      }
      buffer.set(frame);
      this.#inner.commit(frame.length);
    });
  }
}
