/**
 * The pump against a fake device whose fd is an eventfd (no network): readiness, deadlines,
 * wake(), stop/abort, fairness to the event loop. These run in real time because they test
 * waiting itself; the bounds are loose and every wait is capped.
 */

import { assert, assertEquals } from "@std/assert";
import { SystemClock } from "../../stack/clock.ts";
import { Pump, runLoop } from "../../tap/loop.ts";
import { FakeDevice, until, withPump } from "./fake_device.ts";

/** A stack that records what the pump does; `deadline` decides what poll returns. */
class RecordingStack {
  readonly inputs: { frame: Uint8Array; nowMs: number }[] = [];
  readonly polls: number[] = [];
  deadline: (nowMs: number, call: number) => number = () => Infinity;

  input(frame: Uint8Array, nowMs: number): void {
    this.inputs.push({ frame, nowMs });
  }

  poll(nowMs: number): number {
    this.polls.push(nowMs);
    return this.deadline(nowMs, this.polls.length);
  }
}

const clock = new SystemClock();

/** Runs a pump over a fresh fake device and a RecordingStack. */
function withRecordingPump(
  fn: (pump: Pump, device: FakeDevice, stack: RecordingStack) => Promise<void>,
  setup?: (device: FakeDevice, stack: RecordingStack) => void,
): Promise<void> {
  return withPump(new RecordingStack(), { clock }, fn, setup);
}

Deno.test("Pump delivers frames as soon as the device fd becomes readable", async () => {
  await withRecordingPump(async (pump, device, stack) => {
    await until(() => pump.stats.sleeps === 1, "the pump to go to sleep", 500);
    const frame = new Uint8Array([1, 2, 3]);
    device.arrive(frame);
    const latencyMs = await until(() => stack.inputs.length === 1, "the frame", 500);
    assert(latencyMs < 200, `woken by the fd, not the 1000 ms timeout (${latencyMs} ms)`);
    assertEquals(stack.inputs[0]!.frame, frame);
    // The frame and the poll of that turn share one nowMs.
    await until(() => stack.polls.length >= 2, "the poll after the frame", 500);
    assertEquals(stack.polls[1], stack.inputs[0]!.nowMs);
    assertEquals(pump.stats.frames, 1);
  });
});

Deno.test("Pump sleeps until the stack's next deadline, not before", async () => {
  await withRecordingPump(async (_pump, _device, stack) => {
    await until(() => stack.polls.length >= 2, "the deadline turn", 1000);
    const sleptMs = stack.polls[1]! - stack.polls[0]!;
    assert(sleptMs >= 39, `slept ${sleptMs} ms for a 40 ms deadline`);
    assert(sleptMs < 400, `slept ${sleptMs} ms for a 40 ms deadline`);
  }, (_device, stack) => {
    stack.deadline = (nowMs, call) => call === 1 ? nowMs + 40 : Infinity;
  });
});

Deno.test("wake() forces a turn at once; stop() ends a long sleep promptly", async () => {
  const device = new FakeDevice();
  const stack = new RecordingStack();
  const pump = new Pump({ device, link: device, stack, clock, maxWaitMs: 1000 });
  const running = pump.run();
  try {
    await until(() => pump.stats.sleeps === 1, "the pump to go to sleep", 500);
    pump.wake();
    const wokeMs = await until(() => stack.polls.length === 2, "the woken turn", 500);
    assert(wokeMs < 200, `wake took ${wokeMs} ms`);
    assertEquals(pump.stats.wakeups, 1);
    await until(() => pump.stats.sleeps === 2, "the pump to sleep again", 500);
    const stopAt = clock.now();
    pump.stop();
    await running;
    assert(clock.now() - stopAt < 200, `stop took ${clock.now() - stopAt} ms`);
  } finally {
    pump.stop();
    await running;
    device.close();
  }
});

Deno.test("runLoop stops on abort and closes its epoll fd and eventfd", async () => {
  // Other test modules run in this process at the same time (--parallel), so count only the
  // epoll and eventfd descriptors that appear while the pump starts, and check those close.
  const anonFds = () => {
    const found = new Map<number, string>();
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
        if (/^anon_inode:\[(eventpoll|eventfd)\]$/.test(target)) {
          found.set(Number(entry.name), target);
        }
      } catch {
        // closed meanwhile
      }
    }
    return found;
  };
  const device = new FakeDevice();
  const before = anonFds();
  const controller = new AbortController();
  const stack = new RecordingStack();
  const running = runLoop({ device, link: device, stack, clock, signal: controller.signal });
  await until(() => stack.polls.length === 1, "the first turn", 500);
  const ours = [...anonFds()].filter(([fd, target]) => before.get(fd) !== target);
  assertEquals(ours.map(([, target]) => target).sort(), [
    "anon_inode:[eventfd]",
    "anon_inode:[eventpoll]",
  ]);
  const abortAt = clock.now();
  controller.abort();
  await running;
  assert(clock.now() - abortAt < 200, `abort took ${clock.now() - abortAt} ms`);
  const after = anonFds();
  for (const [fd, target] of ours) {
    assert(after.get(fd) !== target, `fd ${fd} (${target}) still open`);
  }
  device.close();
});

Deno.test("an always-due stack does not starve the event loop", async () => {
  await withRecordingPump(async (pump, _device, stack) => {
    // This timer only fires if the pump yields to the event loop.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert(stack.polls.length > 100, `the pump kept turning (${stack.polls.length} polls)`);
    assert(pump.stats.sleeps >= 1, "some turns went through the event loop");
  }, (_device, stack) => {
    stack.deadline = (nowMs) => nowMs;
  });
});

Deno.test("rxPending and queued tx frames bring the next turn forward", async () => {
  await withRecordingPump(async (pump, device) => {
    await until(() => pump.stats.sleeps >= 1 && device.rxPendingTurns === 0, "rx drained", 500);
    assertEquals(device.receives, 4, "3 budget-limited turns back to back, then a sleep");
    device.txPending = 5;
    device.arrive(new Uint8Array([9]));
    const ms = await until(() => device.txPending === 0, "the tx queue to drain", 500);
    assert(ms < 200, `flush retried within ms, not after the 1000 ms sleep (${ms} ms)`);
  }, (device) => {
    device.rxPendingTurns = 3;
  });
});
