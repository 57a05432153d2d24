/**
 * A fake TAP device for the pump's tests: the test pushes "frames", and its fd is an eventfd
 * that becomes readable when one arrives (no network, no TAP).
 * @module
 */

import type { Link } from "../../stack/link.ts";
import * as libc from "../../tap/libc.ts";
import type { PumpDevice } from "../../tap/loop.ts";

/** A device whose "frames" are pushed by the test; its fd is an eventfd. */
export class FakeDevice implements PumpDevice, Link {
  readonly fd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
  readonly mtu = 1500;
  readonly queue: Uint8Array[] = [];
  /** How many of the next receives stop at their budget (leaving rxPending true). */
  rxPendingTurns = 0;
  txPending = 0;
  #rxPending = false;
  receives = 0;
  flushes = 0;
  readonly #counter = new Uint8Array(8);

  get rxPending(): boolean {
    return this.#rxPending;
  }

  /** Queues a frame and makes the fd readable. */
  arrive(frame: Uint8Array): void {
    this.queue.push(frame);
    libc.write(this.fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  }

  receive(_nowMs: number, onFrame: (frame: Uint8Array) => void): number {
    this.receives++;
    this.#rxPending = this.rxPendingTurns > 0;
    if (this.#rxPending) this.rxPendingTurns--;
    libc.read(this.fd, this.#counter);
    const frames = this.queue.splice(0);
    for (const frame of frames) onFrame(frame);
    return frames.length;
  }

  nextDueMs(): number {
    return Infinity;
  }

  acquire(_length: number): Uint8Array | null {
    return null;
  }

  commit(_length: number): void {}

  flush(): boolean {
    this.flushes++;
    if (this.txPending > 0) this.txPending--;
    return this.txPending === 0;
  }

  close(): void {
    libc.close(this.fd);
  }
}
