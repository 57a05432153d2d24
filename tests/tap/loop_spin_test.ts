/**
 * The pump's spin after a turn with work: a frame that comes within `spinMs` is taken without
 * sleeping on the worker thread, the event loop keeps running during the spin (timers and async
 * work complete) and what the application writes meanwhile is flushed at once from a
 * microtask, and an idle pump never spins. Real time, a fake device whose fd is
 * an eventfd; every wait is capped.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { SystemClock } from "../../stack/clock.ts";
import { Pump } from "../../tap/loop.ts";
import { FakeDevice, until, withPump } from "./fake_device.ts";

/** Counts inputs and polls; `onInput` runs inside input (as a socket's wake-up would). */
class Stack {
  inputs = 0;
  polls = 0;
  onInput: (count: number) => void = () => {};
  input(): void {
    this.onInput(++this.inputs);
  }
  poll(): number {
    this.polls++;
    return Infinity;
  }
}

const clock = new SystemClock();

/** Runs `fn` with a pump spinning up to 10 ms (long enough to be reliable on a loaded machine). */
function withSpinningPump(
  fn: (pump: Pump, device: FakeDevice, stack: Stack) => Promise<void>,
  spinMs = 10,
): Promise<void> {
  return withPump(new Stack(), { clock, spinMs }, fn);
}

Deno.test("spin: a frame soon after a turn with work is taken without a worker-thread sleep", async () => {
  await withSpinningPump(async (pump, device, stack) => {
    await until(() => pump.stats.sleeps === 1, "the first sleep", 2000);
    // The second frame comes from a timer: it can only fire if the spin lets the loop run.
    stack.onInput = (count) => {
      if (count === 1) setTimeout(() => device.arrive(new Uint8Array([2])), 1);
    };
    device.arrive(new Uint8Array([1]));
    await until(() => stack.inputs === 2, "the second frame", 2000);
    assertEquals(pump.stats.sleeps, 1, "no sleep between the two frames");
    assert(pump.stats.spinHits >= 1, `spin hits ${pump.stats.spinHits}`);
  });
});

Deno.test("spin: what async work writes during the spin is flushed at once, without the eventfd", async () => {
  await withSpinningPump(async (pump, device, stack) => {
    await until(() => pump.stats.sleeps === 1, "the first sleep", 2000);
    // As an application answering after an async step: the wake comes from a timer.
    stack.onInput = () => setTimeout(() => pump.wake(), 1);
    device.arrive(new Uint8Array([1]));
    await until(() => pump.stats.eagerFlushes === 1, "the write-side turn", 2000);
    assertEquals(pump.stats.sleeps, 1, "the wake came during the spin");
    assertEquals(pump.stats.wakeups, 0, "no round trip through the eventfd");
    const polls = stack.polls;
    // The spin runs out, then a turn takes the new deadline (without polling again) and sleeps.
    await until(() => pump.stats.sleeps === 2, "the sleep after the spin", 2000);
    assertEquals(stack.polls, polls, "the write-side turn's deadline was reused");
  });
});

Deno.test("spin: an idle pump never spins; spinMs 0 always sleeps on the worker thread", async () => {
  await withSpinningPump(async (pump) => {
    await until(() => pump.stats.sleeps === 1, "the first sleep", 2000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assertEquals(pump.stats.spins, 0);
  });
  await withSpinningPump(async (pump, device, stack) => {
    await until(() => pump.stats.sleeps === 1, "the first sleep", 2000);
    device.arrive(new Uint8Array([1]));
    await until(
      () => stack.inputs === 1 && pump.stats.sleeps === 2,
      "the frame, then a sleep",
      2000,
    );
    assertEquals(pump.stats.spins, 0);
  }, 0);
});

Deno.test("spin: spinMs outside 0-10 is refused", () => {
  const device = new FakeDevice();
  try {
    for (const spinMs of [-1, 11, NaN]) {
      assertThrows(
        () => new Pump({ device, link: device, stack: new Stack(), clock, spinMs }),
        RangeError,
        "spinMs",
      );
    }
  } finally {
    device.close();
  }
});
