/**
 * Time for the stack. The protocol core never reads a clock itself: the pump (`tap/loop.ts`)
 * or a test reads one of these and passes `nowMs` into `Stack.input` and `Stack.poll`.
 *
 * Times are milliseconds on a monotonic scale with an arbitrary origin; only differences matter.
 * @module
 */

/** A source of monotonic time in milliseconds. */
export interface Clock {
  now(): number;
}

/** Monotonic wall time of the process (`performance.now()`); used by the real pump. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }
}

/**
 * A clock that only moves when told to. Tests jump it to the next deadline the stack returns,
 * so timeouts of minutes run in microseconds and every run is deterministic.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock();
 * clock.advance(1500);
 * clock.now(); // 1500
 * ```
 */
export class VirtualClock implements Clock {
  #nowMs: number;

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  /** Moves time forward by `ms` (never backwards). */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`Cannot advance a clock by ${ms} ms: expected >= 0`);
    this.#nowMs += ms;
    return this.#nowMs;
  }

  /** Moves time forward to `atMs`; a time in the past leaves the clock where it is. */
  advanceTo(atMs: number): number {
    if (atMs > this.#nowMs) this.#nowMs = atMs;
    return this.#nowMs;
  }
}
