/**
 * The pump: the one loop that owns waiting. Each turn it drains the link into the stack, runs
 * the stack's timers, retries queued writes, then sleeps in epoll until the device is readable,
 * someone calls `wake()`, or the next deadline.
 *
 * Invariants:
 * - One turn: `link.receive(now, (f, meta) => stack.input(f, now, meta))`, then
 *   `deadline = min(stack.poll(now), link.nextDueMs())`, then `device.flush()`.
 * - The wait is epoll on the device fd and an eventfd, both edge-triggered EPOLLIN. Timeout =
 *   ceil(deadline - now) clamped to [0, maxWaitMs]; 0 (deadline due, frames left over by the rx
 *   budget, a wake) polls synchronously without sleeping.
 * - Before it waits, a turn that had work (frames in, a wake, events from the last wait) or is
 *   due again at once yields one macrotask (`setImmediate`, ~2 us): every microtask the turn
 *   queued (an application reading a request and writing its answer) runs to its end and the
 *   event loop takes a tick (timers, async ops) before the pump looks again.
 * - After work, the pump then polls for up to `spinMs` (default 0.25 ms): a zero-timeout look,
 *   then another macrotask yield, and so on. The next request of a keep-alive client usually
 *   comes within that, and is seen within microseconds instead of after the worker thread's
 *   handoff (10-100 us each way). The event loop runs between the looks, so async work of the
 *   application (crypto, file reads, timers) completes during the spin, and what it writes is
 *   flushed at once (see `wake()` below). Only when the spin finds nothing does the pump sleep
 *   in the `nonblocking` epoll_wait on a worker thread. A quiet pump (no work in the last turn)
 *   goes straight to the worker thread: idle costs nothing more, and a burst of traffic costs
 *   at most `spinMs` of polling after it. Each spin that finds nothing halves the next one (down
 *   to `spinMs / 8`), each hit restores it: sparse traffic (a ping every few ms, a client that
 *   pauses between requests) does not pay a full spin per packet.
 * - Every `SYNC_TURNS_BEFORE_YIELD` consecutive zero-timeout turns (no wait with a timeout
 *   between them), one wait goes through the worker thread anyway, so timers and I/O of the
 *   rest of the program are never starved.
 * - `wake()` while the pump sleeps on the worker thread or yields to the event loop (the
 *   macrotasks above) runs a write-side turn from a microtask (coalesced per tick):
 *   `stack.poll(now)` and `device.flush()`, so what the application just wrote leaves at once,
 *   not after the eventfd's round trip through the worker thread nor after the application's
 *   remaining continuations. A sleeping wait is then woken by the eventfd as before; a yielding
 *   one goes on, and if it ends up sleeping it first lets a turn take the new deadline. The turn
 *   after a write-side turn reuses its deadline instead of polling again unless a frame
 *   arrived, a wake came outside a sleep or yield, or the deadline is due. `stop()` always goes
 *   through the eventfd.
 * - No spinning while idle: the only polling is the bounded spin after work; with nothing due
 *   the loop wakes once per `maxWaitMs` (default 1000 ms).
 * - The events buffer given to the worker thread is not touched until its promise settles; the
 *   epoll fd and the eventfd are closed only after the last wait has returned.
 * - `stop()` (or aborting `signal`) wakes the wait, so `run()` resolves within one turn.
 * @module
 */

import { setImmediate } from "node:timers";
import type { Clock } from "../stack/clock.ts";
import type { Link, RxMeta } from "../stack/link.ts";
import * as libc from "./libc.ts";
import { Errno, TapError } from "./libc.ts";

/** What the pump drives: the shape of `Stack` it needs. */
export interface PumpStack {
  /** One received frame; `meta` when the link offloads (see `RxMeta`), valid during the call. */
  input(frame: Uint8Array, nowMs: number, meta?: RxMeta): void;
  /** Runs due timers; returns the next deadline (ms on the same clock), or Infinity. */
  poll(nowMs: number): number;
}

/** What the pump needs from the OS device (a {@linkcode TapDevice} fits). */
export interface PumpDevice {
  /** A pollable fd; EPOLLIN means frames may be waiting. */
  readonly fd: number;
  /** True when frames may still be waiting although the fd reported nothing new. */
  readonly rxPending: boolean;
  /** Frames queued because the fd would block. */
  readonly txPending: number;
  /** Retries queued writes. */
  flush(): boolean;
}

/** Options for {@linkcode Pump}. */
export interface PumpOptions {
  device: PumpDevice;
  /** The link the stack talks to: the device itself or a decorator around it (pcap, impair). */
  link: Link;
  stack: PumpStack;
  clock: Clock;
  /** Aborting it stops the pump. */
  signal?: AbortSignal;
  /** Longest single sleep. Default 1000 ms. */
  maxWaitMs?: number;
  /**
   * How long to keep polling (between macrotask yields) after a turn with work before sleeping
   * on the worker thread. Default `SPIN_MS`; 0 always sleeps on the worker thread.
   */
  spinMs?: number;
}

/** Counters of a {@linkcode Pump}. */
export interface PumpStats {
  /** Loop iterations. */
  turns: number;
  /** Waits that slept on the worker thread. */
  sleeps: number;
  /** Spins after a turn with work (`spinMs`); `spinHits` found events or a wake. */
  spins: number;
  spinHits: number;
  /** Frames handed to the stack. */
  frames: number;
  /** Times the eventfd woke the loop. */
  wakeups: number;
  /** Write-side turns: `wake()` during a sleep or yield polled and flushed the stack at once. */
  eagerFlushes: number;
}

const TAG_DEVICE = 1;
const TAG_WAKE = 2;
const MAX_EVENTS = 8;
/** Queued tx frames: come back after this long to retry the write. */
const TX_RETRY_MS = 1;
/** Consecutive zero-timeout turns before one turn yields to the event loop. */
export const SYNC_TURNS_BEFORE_YIELD = 64;
/** Default `spinMs`: a keep-alive client's next request (wrk: ~20 us) comes well within it. */
export const SPIN_MS = 0.25;
/** Misses shorten the spin to no less than `spinMs / SPIN_MIN_DIVISOR`. */
const SPIN_MIN_DIVISOR = 8;

/** A macrotask: resolves after every queued microtask ran and the event loop took a tick. */
function yieldMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs a stack on a device until stopped.
 *
 * @example
 * ```ts
 * const pump = new Pump({ device: tap, link: tap, stack, clock: new SystemClock() });
 * const done = pump.run();
 * socketWriter.onData = () => pump.wake();
 * pump.stop();
 * await done;
 * ```
 */
export class Pump {
  readonly stats: PumpStats = {
    turns: 0,
    sleeps: 0,
    spins: 0,
    spinHits: 0,
    frames: 0,
    wakeups: 0,
    eagerFlushes: 0,
  };
  readonly #device: PumpDevice;
  readonly #link: Link;
  readonly #stack: PumpStack;
  readonly #clock: Clock;
  readonly #signal: AbortSignal | undefined;
  readonly #maxWaitMs: number;
  readonly #spinMs: number;
  /** This spin's length: `spinMs` after a hit, halved by each miss down to a floor. */
  #spinBudgetMs: number;
  #epfd = -1;
  #wakefd = -1;
  readonly #events = new Uint8Array(MAX_EVENTS * libc.EPOLL_EVENT_BYTES);
  readonly #eventsView = new DataView(this.#events.buffer);
  readonly #counter = new Uint8Array(8);
  readonly #one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
  #stopped = false;
  #running = false;
  #syncTurns = 0;
  /** Events the last wait returned. */
  #lastEvents = 0;
  /** The worker thread is in epoll_wait: a wake must go through the eventfd. */
  #sleeping = false;
  /** The wait yields to the event loop (a macrotask): a wake flushes from a microtask. */
  #yielding = false;
  /** A write-side turn ran during this wait's yields: the deadline may have moved. */
  #flushedInWait = false;
  /** wake() was called while the pump was not sleeping. */
  #woken = false;
  /** A microtask of `#flushNow` is queued. */
  #flushQueued = false;
  /** `#flushedDeadline` is what a poll would return now (set by `#flushNow`). */
  #flushedValid = false;
  #flushedDeadline = Infinity;
  /** What `#flushNow` threw, rethrown by the next turn. */
  #flushError: { error: unknown } | undefined;
  #turnNowMs = 0;
  readonly #deliver = (frame: Uint8Array, meta?: RxMeta): void => {
    this.stats.frames++;
    this.#stack.input(frame, this.#turnNowMs, meta);
  };

  constructor(options: PumpOptions) {
    const maxWaitMs = options.maxWaitMs ?? 1000;
    if (!(Number.isInteger(maxWaitMs) && maxWaitMs >= 1)) {
      throw new RangeError(`Cannot use maxWaitMs ${maxWaitMs}: expected an integer >= 1`);
    }
    const spinMs = options.spinMs ?? SPIN_MS;
    if (!(spinMs >= 0 && spinMs <= 10)) {
      throw new RangeError(`Cannot use spinMs ${spinMs}: expected 0-10`);
    }
    this.#spinMs = spinMs;
    this.#spinBudgetMs = spinMs;
    this.#device = options.device;
    this.#link = options.link;
    this.#stack = options.stack;
    this.#clock = options.clock;
    this.#signal = options.signal;
    this.#maxWaitMs = maxWaitMs;
    this.#open();
  }

  /** Runs turns until `stop()` or the signal aborts. Rejects if the device or stack throws. */
  async run(): Promise<void> {
    if (this.#running) throw new Error("Cannot run a Pump twice at the same time");
    this.#running = true;
    const onAbort = () => this.stop();
    this.#signal?.addEventListener("abort", onAbort);
    if (this.#signal?.aborted) this.stop();
    try {
      while (!this.#stopped) await this.#turn();
    } finally {
      this.#signal?.removeEventListener("abort", onAbort);
      this.#running = false;
      this.#close();
    }
  }

  /**
   * Asks for a turn now (e.g. an application queued data). Cheap; safe at any time: a syscall
   * (the eventfd) only when the pump sleeps on the worker thread; otherwise a flag that makes
   * the coming wait return at once.
   */
  wake(): void {
    if (this.#running && !this.#sleeping && !this.#yielding) {
      this.#woken = true;
      this.#flushedValid = false;
      return;
    }
    if (this.#running && !this.#stopped) {
      // Sleeping on the worker thread or yielding: emit what the caller queued from a microtask
      // (after the caller's synchronous work, coalescing every wake of this tick) instead of
      // waiting for the eventfd's round trip or the end of the yield.
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(this.#flushNow);
      }
      return;
    }
    this.#signalWake();
  }

  /**
   * Makes `run()` return after the current turn; wakes a sleeping wait. A pump that never ran
   * releases its epoll fd and eventfd here.
   */
  stop(): void {
    this.#stopped = true;
    if (this.#running && !this.#sleeping) this.#woken = true;
    else this.#signalWake();
    if (!this.#running) this.#close();
  }

  /** One receive / poll / flush / wait cycle. */
  async #turn(): Promise<void> {
    this.stats.turns++;
    const woken = this.#woken;
    this.#woken = false; // this turn's poll does what was asked for before it
    const failed = this.#flushError;
    if (failed) {
      this.#flushError = undefined;
      throw failed.error;
    }
    const nowMs = this.#clock.now();
    this.#turnNowMs = nowMs;
    const frames = this.#link.receive(nowMs, this.#deliver);
    // After a write-side flush that nothing has invalidated since (no frame, no wake outside
    // a sleep), its deadline still holds while it is not due: this turn only re-arms the wait.
    const reuse = this.#flushedValid && frames === 0 && this.#flushedDeadline > nowMs;
    this.#flushedValid = false;
    const deadline = reuse
      ? this.#flushedDeadline
      : Math.min(this.#stack.poll(nowMs), this.#link.nextDueMs());
    this.#device.flush();
    if (this.#stopped) return;
    let timeoutMs = deadline > nowMs ? Math.ceil(deadline - nowMs) : 0;
    if (!(timeoutMs <= this.#maxWaitMs)) timeoutMs = this.#maxWaitMs; // also NaN
    if (this.#device.txPending > 0) timeoutMs = Math.min(timeoutMs, TX_RETRY_MS);
    if (this.#device.rxPending || this.#woken) timeoutMs = 0;
    const busy = frames > 0 || woken || this.#lastEvents > 0;
    const n = await this.#wait(timeoutMs, busy);
    this.#lastEvents = n;
    for (let i = 0; i < n; i++) {
      if (libc.epollEventTag(this.#eventsView, i) === TAG_WAKE) this.#drainWake();
    }
  }

  /**
   * Waits up to `timeoutMs`; returns the number of ready events in the events buffer. `busy`:
   * the turn had work, so more is likely soon (see the module doc).
   */
  async #wait(timeoutMs: number, busy: boolean): Promise<number> {
    const due = timeoutMs === 0;
    this.#flushedInWait = false;
    if (due ? this.#syncTurns + 1 < SYNC_TURNS_BEFORE_YIELD : busy) {
      await this.#yield();
      if (this.#woken || this.#stopped) timeoutMs = 0; // a write-side turn failed, or stop()
    }
    if (timeoutMs === 0 && ++this.#syncTurns < SYNC_TURNS_BEFORE_YIELD) {
      return libc.epollWait(this.#epfd, this.#events, 0);
    }
    if (timeoutMs > 0 && busy && this.#spinMs > 0) {
      const n = await this.#spin(Math.min(timeoutMs, this.#spinBudgetMs));
      if (n !== 0) return Math.max(n, 0);
      if (this.#flushedInWait) return 0; // a turn takes the write-side turn's deadline first
    }
    this.#syncTurns = 0;
    this.stats.sleeps++;
    this.#sleeping = true;
    let n: number;
    try {
      n = await libc.epollWaitAsync(this.#epfd, this.#events, timeoutMs);
    } finally {
      this.#sleeping = false;
    }
    if (n >= 0) return n;
    // The worker thread's errno is lost: ask again on this thread (EINTR reads as 0 events).
    return libc.epollWait(this.#epfd, this.#events, 0);
  }

  /**
   * Looks for events every macrotask for up to `ms`: resolves their count, -1 when a wake or
   * stop came in between (the next turn polls), 0 when the time ran out.
   */
  async #spin(ms: number): Promise<number> {
    this.stats.spins++;
    this.#syncTurns = 0; // time passes here: the zero-timeout budget starts again
    const endMs = this.#clock.now() + ms;
    for (;;) {
      const n = libc.epollWait(this.#epfd, this.#events, 0);
      if (n > 0 || this.#woken || this.#stopped) {
        this.stats.spinHits++;
        this.#spinBudgetMs = this.#spinMs;
        return n > 0 ? n : -1;
      }
      if (this.#clock.now() >= endMs) {
        // A miss: sparse traffic (pings, a client that thinks) gets ever shorter spins.
        this.#spinBudgetMs = Math.max(this.#spinMs / SPIN_MIN_DIVISOR, this.#spinBudgetMs / 2);
        return 0;
      }
      await this.#yield();
    }
  }

  /** One macrotask, during which a wake runs a write-side turn at once. */
  async #yield(): Promise<void> {
    this.#yielding = true;
    try {
      await yieldMacrotask();
    } finally {
      this.#yielding = false;
    }
  }

  #signalWake(): void {
    if (this.#wakefd >= 0) libc.write(this.#wakefd, this.#one);
  }

  /**
   * A write-side turn while the wait sleeps on the worker thread or yields: runs the stack's
   * timers and output (it queued segments for what was written) and flushes them now, so a
   * response leaves without waiting for a pump turn; then wakes a sleeping wait so it
   * recomputes its deadline (a yielding one checks `#flushedInWait` before it sleeps).
   */
  readonly #flushNow = (): void => {
    this.#flushQueued = false;
    if (this.#stopped) return; // stop() woke the wait itself
    if (!this.#sleeping && !this.#yielding) {
      this.#woken = true; // the wait already returned: the coming turn polls
      this.#flushedValid = false;
      return;
    }
    this.stats.eagerFlushes++;
    this.#flushedInWait = true;
    const nowMs = this.#clock.now();
    this.#turnNowMs = nowMs;
    try {
      this.#flushedDeadline = Math.min(this.#stack.poll(nowMs), this.#link.nextDueMs());
      this.#flushedValid = true;
      this.#device.flush();
    } catch (error) {
      // Not thrown from a microtask (nobody would catch it): the coming turn rejects run().
      this.#flushError = { error };
      this.#flushedValid = false;
      this.#woken = true;
    }
    if (this.#sleeping) this.#signalWake();
  };

  #drainWake(): void {
    this.stats.wakeups++;
    const n = libc.read(this.#wakefd, this.#counter);
    if (n < 0 && n !== -Errno.EAGAIN) {
      throw new TapError("Cannot read the pump's eventfd", { errno: -n, syscall: "read" });
    }
  }

  #open(): void {
    const events = libc.EPOLLIN | libc.EPOLLET;
    this.#epfd = libc.epollCreate();
    try {
      this.#wakefd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
      libc.epollCtl(this.#epfd, libc.EPOLL_CTL_ADD, this.#wakefd, events, TAG_WAKE);
      libc.epollCtl(this.#epfd, libc.EPOLL_CTL_ADD, this.#device.fd, events, TAG_DEVICE);
    } catch (error) {
      this.#close();
      throw error;
    }
  }

  #close(): void {
    const wakefd = this.#wakefd;
    const epfd = this.#epfd;
    this.#wakefd = -1;
    this.#epfd = -1;
    libc.close(wakefd);
    libc.close(epfd);
  }
}

/** Options for {@linkcode runLoop}: a {@linkcode Pump} whose only control is the signal. */
export interface RunLoopOptions extends PumpOptions {
  signal: AbortSignal;
}

/** Runs the pump until `signal` aborts. Use {@linkcode Pump} directly to get `wake()`. */
export function runLoop(options: RunLoopOptions): Promise<void> {
  return new Pump(options).run();
}
