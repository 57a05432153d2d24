/**
 * Fault injection for links: seeded loss, duplication, reordering, delay, corruption and a
 * bandwidth limit.
 *
 * `ImpairedPath` is one direction of a faulty wire: frames go in with `send`, come out of
 * `deliver` when due. It copies what it keeps (frames are views owned by the caller) and holds
 * at most `queueFrames`; past that it drops. With a rate, frames leave one after the other at
 * that rate before the delay, so a sender that outruns it builds a queue and sees its RTT
 * rise. `queueFrames` counts every frame the path holds, those still in the delay too: the
 * bottleneck's buffer is `queueFrames` less the frames the wire carries (rate x delay). The
 * same seed gives the same faults.
 * @module
 */

import { type Random, randomUnit } from "./random.ts";

/** What goes wrong on a path; percentages are 0-100. */
export interface ImpairSpec {
  lossPercent: number;
  duplicatePercent: number;
  /** Share of frames held back so that later frames overtake them. */
  reorderPercent: number;
  /** One-way delay added to every frame. */
  delayMs: number;
  /** Share of frames with one bit flipped. */
  corruptPercent: number;
  /** Bandwidth limit in Mbit/s (10^6 bits per second); 0 means none. */
  rateMbit: number;
  seed: number;
}

/** A perfect wire. */
export const NO_IMPAIRMENT: ImpairSpec = Object.freeze({
  lossPercent: 0,
  duplicatePercent: 0,
  reorderPercent: 0,
  delayMs: 0,
  corruptPercent: 0,
  rateMbit: 0,
  seed: 1,
});

const KEYS: Record<string, { field: keyof ImpairSpec; unit: "%" | "ms" | "mbit" | "" }> = {
  loss: { field: "lossPercent", unit: "%" },
  duplicate: { field: "duplicatePercent", unit: "%" },
  reorder: { field: "reorderPercent", unit: "%" },
  delay: { field: "delayMs", unit: "ms" },
  corrupt: { field: "corruptPercent", unit: "%" },
  rate: { field: "rateMbit", unit: "mbit" },
  seed: { field: "seed", unit: "" },
};

/**
 * Parses an `--impair` value such as `loss=5%,delay=10ms,reorder=25%,duplicate=5%,seed=7`
 * (`rate=100mbit` limits the bandwidth).
 *
 * @example
 * ```ts
 * parseImpairSpec("loss=5%,delay=10ms").lossPercent; // 5
 * ```
 */
export function parseImpairSpec(text: string): ImpairSpec {
  const spec: ImpairSpec = { ...NO_IMPAIRMENT };
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const match = /^([a-z]+)=([0-9]+(?:\.[0-9]+)?)(%|ms|mbit)?$/.exec(part);
    const key = match && Object.hasOwn(KEYS, match[1]!) ? KEYS[match[1]!] : undefined;
    if (!match || !key) {
      throw new TypeError(
        `Cannot parse impairment '${part}': expected key=value with key one of ${
          Object.keys(KEYS).join(", ")
        } (e.g. loss=5%,delay=10ms)`,
      );
    }
    const value = Number(match[2]);
    const unit = match[3] ?? "";
    if (unit !== "" && unit !== key.unit) {
      const takes = key.unit === "" ? "no unit" : `'${key.unit}'`;
      throw new TypeError(`Cannot parse impairment '${part}': ${match[1]} takes ${takes}`);
    }
    if (key.unit === "%" && value > 100) {
      throw new RangeError(`Cannot use impairment '${part}': a percentage is at most 100`);
    }
    if (key.field === "seed" && !Number.isInteger(value)) {
      throw new TypeError(`Cannot parse impairment '${part}': the seed is an integer`);
    }
    spec[key.field] = value;
  }
  return spec;
}

interface Pending {
  dueMs: number;
  order: number;
  bytes: Uint8Array;
}

/** One direction of a faulty wire. */
export class ImpairedPath {
  readonly #spec: ImpairSpec;
  readonly #random: Random;
  readonly #capacity: number;
  readonly #heap: Pending[] = [];
  #order = 0;
  readonly #perfect: boolean;
  /** Bytes per ms at the rate limit, or 0. */
  readonly #bytesPerMs: number;
  /** When the rate-limited wire finishes sending what it already took. */
  #busyUntilMs = -Infinity;

  constructor(spec: ImpairSpec, random: Random, queueFrames: number) {
    this.#spec = spec;
    this.#random = random;
    this.#capacity = queueFrames;
    this.#bytesPerMs = (spec.rateMbit ?? 0) * 125;
    this.#perfect = spec.lossPercent === 0 && spec.duplicatePercent === 0 &&
      spec.reorderPercent === 0 && spec.delayMs === 0 && spec.corruptPercent === 0 &&
      this.#bytesPerMs === 0;
  }

  /** Frames in flight. */
  get size(): number {
    return this.#heap.length;
  }

  /** Takes a copy of `frame` (or drops it); false only when the queue is full. */
  send(frame: Uint8Array, nowMs: number): boolean {
    if (this.#heap.length >= this.#capacity) return false;
    if (this.#perfect) {
      this.#push({ dueMs: nowMs, order: this.#order++, bytes: frame.slice() });
      return true;
    }
    const spec = this.#spec;
    if (this.#chance(spec.lossPercent)) return true;
    const copies = this.#chance(spec.duplicatePercent) ? 2 : 1;
    for (let i = 0; i < copies && this.#heap.length < this.#capacity; i++) {
      const bytes = frame.slice();
      if (this.#chance(spec.corruptPercent) && bytes.length > 0) {
        const at = Math.floor(randomUnit(this.#random) * bytes.length);
        bytes[at]! ^= 1 << (this.#random.u32() & 7);
      }
      let dueMs = nowMs + spec.delayMs;
      if (this.#bytesPerMs > 0) {
        this.#busyUntilMs = Math.max(this.#busyUntilMs, nowMs) + bytes.length / this.#bytesPerMs;
        dueMs = this.#busyUntilMs + spec.delayMs;
      }
      if (this.#chance(spec.reorderPercent)) {
        // Held back by up to twice the delay (at least a few ms) so later frames overtake it.
        dueMs += 1 + randomUnit(this.#random) * Math.max(2 * spec.delayMs, 4);
      }
      this.#push({ dueMs, order: this.#order++, bytes });
    }
    return true;
  }

  /** Calls `onFrame` for each frame due by `nowMs`, in due order; returns how many. */
  deliver(nowMs: number, onFrame: (frame: Uint8Array) => void): number {
    let n = 0;
    while (this.#heap.length > 0 && this.#heap[0]!.dueMs <= nowMs) {
      const next = this.#pop();
      onFrame(next.bytes);
      n++;
    }
    return n;
  }

  /** When the next frame is due, or Infinity. */
  nextDueMs(): number {
    return this.#heap.length > 0 ? this.#heap[0]!.dueMs : Infinity;
  }

  #chance(percent: number): boolean {
    return percent > 0 && randomUnit(this.#random) * 100 < percent;
  }

  #push(item: Pending): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Pending {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Pending, b: Pending): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.order < b.order);
}
