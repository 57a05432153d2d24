/**
 * wake() while the pump sleeps on the worker thread: the stack is polled and the device flushed
 * from a microtask (before any macrotask, so without the worker thread's round trip), and the
 * eventfd turn that follows reuses that poll's deadline instead of polling again; a frame or a
 * wake outside the sleep makes the next turn poll as usual.
 */

import { assert, assertEquals } from "@std/assert";
import { SystemClock } from "../../stack/clock.ts";
import { Pump } from "../../tap/loop.ts";
import { FakeDevice, until } from "./fake_device.ts";

class Stack {
  polls = 0;
  inputs = 0;
  input(): void {
    this.inputs++;
  }
  poll(): number {
    this.polls++;
    return Infinity;
  }
}

const clock = new SystemClock();

Deno.test("wake() during a sleep polls and flushes at once; the woken turn reuses the poll", async () => {
  const device = new FakeDevice();
  const stack = new Stack();
  const pump = new Pump({ device, link: device, stack, clock, maxWaitMs: 1000 });
  const running = pump.run();
  try {
    await until(() => pump.stats.sleeps === 1, "the first sleep");
    const flushes = device.flushes;
    pump.wake();
    pump.wake(); // coalesced with the first
    assertEquals(stack.polls, 1, "nothing runs inside wake() itself");
    await Promise.resolve();
    assertEquals([stack.polls, device.flushes, pump.stats.eagerFlushes], [2, flushes + 1, 1]);
    await until(() => pump.stats.sleeps === 2, "the second sleep");
    assertEquals(pump.stats.wakeups, 1);
    assertEquals(stack.polls, 2, "the eventfd turn re-armed the wait without polling");
    device.arrive(new Uint8Array([1]));
    await until(() => stack.inputs === 1 && pump.stats.sleeps === 3, "the frame's turn");
    assertEquals(stack.polls, 3, "a turn with a frame polls");
  } finally {
    pump.stop();
    await running;
    device.close();
  }
});

Deno.test("stop() during a sleep is not turned into a flush", async () => {
  const device = new FakeDevice();
  const stack = new Stack();
  const pump = new Pump({ device, link: device, stack, clock, maxWaitMs: 1000 });
  const running = pump.run();
  await until(() => pump.stats.sleeps === 1, "the first sleep");
  const at = clock.now();
  pump.stop();
  await running;
  assert(clock.now() - at < 500, "stop ended the sleep");
  assertEquals(pump.stats.eagerFlushes, 0);
  device.close();
});

Deno.test("a device error in the write-side turn rejects run(), not the microtask queue", async () => {
  const device = new FakeDevice();
  const stack = new Stack();
  let armed = false;
  device.flush = () => {
    if (armed) throw new Error("device gone");
    return true;
  };
  const pump = new Pump({ device, link: device, stack, clock, maxWaitMs: 1000 });
  const running = pump.run();
  try {
    await until(() => pump.stats.sleeps === 1, "the first sleep");
    armed = true;
    pump.wake();
    const error = await running.then(() => null, (e: unknown) => e);
    assert(error instanceof Error && error.message === "device gone", String(error));
    assertEquals(pump.stats.eagerFlushes, 1);
  } finally {
    pump.stop();
    await running.catch(() => {});
    device.close();
  }
});
