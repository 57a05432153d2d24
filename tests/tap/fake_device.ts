/**
 * A fake TAP device for the pump's tests: the test pushes "frames", and its fd is an eventfd
 * that becomes readable when one arrives (no network, no TAP). With it, `withPump` (a pump
 * over a fresh device, always stopped) and `until` (a capped real-time wait).
 * @module
 */

import { SystemClock } from "../../stack/clock.ts";
import type { Link } from "../../stack/link.ts";
import * as libc from "../../tap/libc.ts";
import { Pump, type PumpDevice, type PumpOptions, type PumpStack } from "../../tap/loop.ts";

const clock = new SystemClock();

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

/** Resolves once `condition()` holds, checking every 2 ms, with the ms it took; fails after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 1000,
): Promise<number> {
  const start = clock.now();
  while (!condition()) {
    if (clock.now() - start > timeoutMs) throw new Error(`Not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return clock.now() - start;
}

/**
 * Runs `fn` with a pump over a fresh fake device and `stack` (`options` as the Pump's, on the
 * system clock unless given); `setup` runs before the pump starts. Always stops the pump and
 * closes the device.
 */
export async function withPump<S extends PumpStack>(
  stack: S,
  options: Partial<Omit<PumpOptions, "device" | "link" | "stack">>,
  fn: (pump: Pump, device: FakeDevice, stack: S) => Promise<void>,
  setup: (device: FakeDevice, stack: S) => void = () => {},
): Promise<void> {
  const device = new FakeDevice();
  setup(device, stack);
  const pump = new Pump({ clock, ...options, device, link: device, stack });
  const running = pump.run();
  try {
    await fn(pump, device, stack);
  } finally {
    pump.stop();
    await running;
    device.close();
  }
}
