/**
 * The deadlines of one HTTP session, on one timer: how long the next request head may take
 * to arrive (idle keep-alive, then the head itself), and how long any read or write of an
 * exchange may make no progress. Operations only note their start time; the timer, when it
 * fires, checks what expired and re-arms for the next due time, so a busy keep-alive
 * connection pays one timer call per deadline period instead of one per request and write.
 * @module
 */

import { closeQuietly, type Conn } from "./conn.ts";

/** What {@linkcode HeadDeadline.race} returns when the limit won. */
export const TIMEOUT: unique symbol = Symbol("timeout");

/**
 * One timer for every deadline of a session, re-armed lazily: an operation only notes its
 * start time, and the timer, when it fires, runs `onDue` (which handles what expired and says
 * when to come back). A keep-alive connection so pays one timer call per deadline period, not
 * one per request and per write.
 */
export class SessionTimer {
  readonly #onDue: (nowMs: number) => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedMs = Infinity;
  #disposed = false;

  /** `onDue(nowMs)` handles expired deadlines and returns the next one (or Infinity). */
  constructor(onDue: (nowMs: number) => number) {
    this.#onDue = onDue;
  }

  /** Makes sure the timer fires at `dueMs` (performance.now() time) or earlier. */
  ensure(dueMs: number): void {
    if (dueMs >= this.#armedMs || this.#disposed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedMs = dueMs;
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(dueMs - performance.now())));
  }

  /** Clears the timer for good. */
  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedMs = Infinity;
    const next = this.#onDue(performance.now());
    if (next < Infinity) this.ensure(next);
  };
}

/**
 * Closes the connection when a read or write makes no progress for `ms`: bounds how long a
 * client that stalls its request body, or stops reading the response, holds a slot. Reads and
 * writes are watched separately; while several of a kind overlap, each one that settles counts
 * as progress.
 */
export class IoWatchdog implements Pick<Conn, "read" | "write"> {
  readonly #conn: Conn;
  readonly #ms: number;
  readonly #timer: SessionTimer;
  readonly #onTimeout: () => void;
  /** Whether reads are timed (while a request is being handled; not while idle). */
  timeReads = false;
  #reads = 0;
  #readSinceMs = 0;
  #writes = 0;
  #writeSinceMs = 0;

  constructor(conn: Conn, ms: number, timer: SessionTimer, onTimeout: () => void) {
    this.#conn = conn;
    this.#ms = ms;
    this.#timer = timer;
    this.#onTimeout = onTimeout;
  }

  read(p: Uint8Array): Promise<number | null> {
    return this.timeReads ? this.#timedRead(p) : this.#conn.read(p);
  }

  async write(p: Uint8Array): Promise<number> {
    if (this.#writes++ === 0) this.#writeSinceMs = this.#start();
    try {
      return await this.#conn.write(p);
    } finally {
      if (--this.#writes > 0) this.#writeSinceMs = performance.now();
    }
  }

  async #timedRead(p: Uint8Array): Promise<number | null> {
    if (this.#reads++ === 0) this.#readSinceMs = this.#start();
    try {
      return await this.#conn.read(p);
    } finally {
      if (--this.#reads > 0) this.#readSinceMs = performance.now();
    }
  }

  #start(): number {
    const nowMs = performance.now();
    this.#timer.ensure(nowMs + this.#ms);
    return nowMs;
  }

  /** For the session timer: closes the connection if an operation stalled; the next due time. */
  check(nowMs: number): number {
    const due = Math.min(
      this.#reads > 0 ? this.#readSinceMs + this.#ms : Infinity,
      this.#writes > 0 ? this.#writeSinceMs + this.#ms : Infinity,
    );
    if (due > nowMs) return due;
    this.#onTimeout();
    closeQuietly(this.#conn);
    return Infinity;
  }
}

/** The time limit of the head being awaited, raced against its reads. */
export class HeadDeadline {
  readonly #timer: SessionTimer;
  #dueMs = Infinity;
  #expire: ((value: typeof TIMEOUT) => void) | undefined;
  /** The read still in flight when the deadline won the race. */
  pending: Promise<unknown> | undefined;

  constructor(timer: SessionTimer) {
    this.#timer = timer;
  }

  /** Starts a new limit of `ms` from now (ends the previous one). */
  start(ms: number): void {
    this.#dueMs = performance.now() + ms;
    this.pending = undefined;
  }

  /** No limit until the next `start`. */
  cancel(): void {
    this.#dueMs = Infinity;
  }

  async race<T>(work: Promise<T>): Promise<T | typeof TIMEOUT> {
    this.#timer.ensure(this.#dueMs);
    const expired = new Promise<typeof TIMEOUT>((resolve) => this.#expire = resolve);
    try {
      const result = await Promise.race([work, expired]);
      if (result === TIMEOUT) {
        work.catch(() => {});
        this.pending = work;
      }
      return result;
    } finally {
      this.#expire = undefined;
    }
  }

  /** For the session timer: ends a race past the limit; the next due time. */
  check(nowMs: number): number {
    if (this.#expire === undefined) return Infinity;
    if (nowMs < this.#dueMs) return this.#dueMs;
    this.#expire(TIMEOUT);
    return Infinity;
  }
}
