/**
 * HyStart++ (RFC 9406): the round-by-round decisions on synthetic RTT samples, then whole
 * transfers through a bottleneck (a rate limit with a short queue) where plain slow start
 * overflows the queue and HyStart++ leaves slow start before it does.
 */

import { assert, assertEquals } from "@std/assert";
import {
  CSS_GROWTH_DIVISOR,
  CSS_ROUNDS,
  HyStartPlusPlus,
  N_RTT_SAMPLE,
} from "../../stack/tcp/hystart.ts";
import { cubic } from "../../stack/tcp/cubic.ts";
import { newReno } from "../../stack/tcp/congestion.ts";
import type { CongestionControlFactory } from "../../stack/tcp/congestion.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";

/**
 * Feeds one round of `samples` ACKs with RTT `rttMs`: the round starts with an ACK at `seq`
 * and SND.NXT = seq + 100; returns the divisors.
 */
function round(h: HyStartPlusPlus, seq: number, rttMs: number, samples = N_RTT_SAMPLE): number[] {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) out.push(h.onAck(seq + i, seq + 100, rttMs));
  return out;
}

Deno.test("hystart: a round whose minimum RTT rose by the threshold enters CSS", () => {
  const h = new HyStartPlusPlus();
  assertEquals(round(h, 0, 40), Array(N_RTT_SAMPLE).fill(1));
  // The threshold is lastRoundMinRTT/8 = 5 ms: 44.9 stays in slow start.
  assertEquals(round(h, 100, 44.9), Array(N_RTT_SAMPLE).fill(1));
  assertEquals(h.phase, "slow-start");
  const r = round(h, 200, 51); // the last round's minimum is now 44.9: threshold 5.6 ms
  // The decision needs N_RTT_SAMPLE samples; from the eighth ACK on, growth is a quarter.
  assertEquals(r.slice(0, N_RTT_SAMPLE - 1), Array(N_RTT_SAMPLE - 1).fill(1));
  assertEquals(r.at(-1), CSS_GROWTH_DIVISOR);
  assertEquals([h.phase, h.cssEntries], ["css", 1]);
});

Deno.test("hystart: the threshold is clamped to 4-16 ms", () => {
  const small = new HyStartPlusPlus(); // 8 ms RTT: 1 ms would be the eighth, 4 ms applies
  round(small, 0, 8);
  round(small, 100, 11.9);
  assertEquals(small.phase, "slow-start");
  round(small, 200, 15.9 + 0.1); // >= 11.9 + 4
  assertEquals(small.phase, "css");
  const large = new HyStartPlusPlus(); // 400 ms RTT: 50 ms would be the eighth, 16 ms applies
  round(large, 0, 400);
  round(large, 100, 416);
  assertEquals(large.phase, "css");
});

Deno.test("hystart: an RTT back below the CSS baseline resumes slow start", () => {
  const h = new HyStartPlusPlus();
  round(h, 0, 40);
  round(h, 100, 50);
  assertEquals(h.phase, "css");
  // Not within the round where CSS began (its queue can drain between slow-start trains).
  round(h, 108, 40);
  assertEquals(h.phase, "css");
  const r = round(h, 200, 45); // below the baseline of 50
  assertEquals(r.at(-1), 1);
  assertEquals(h.phase, "slow-start");
});

Deno.test("hystart: after CSS_ROUNDS rounds of CSS, slow start ends (divisor 0)", () => {
  const h = new HyStartPlusPlus();
  round(h, 0, 40);
  round(h, 100, 50);
  for (let i = 1; i < CSS_ROUNDS; i++) {
    assertEquals(round(h, 100 + 100 * i, 60), Array(N_RTT_SAMPLE).fill(CSS_GROWTH_DIVISOR));
  }
  assertEquals(h.onAck(100 + 100 * CSS_ROUNDS, 1e6, 60), 0);
  assertEquals(h.phase, "done");
  assertEquals(h.onAck(1e6, 2e6, 60), 0);
});

Deno.test("hystart: too few samples, or no RTT samples at all, decide nothing", () => {
  const h = new HyStartPlusPlus();
  round(h, 0, 40);
  round(h, 100, 90, N_RTT_SAMPLE - 1);
  round(h, 200, NaN);
  assertEquals(h.phase, "slow-start");
});

/**
 * 4 MB from a to b through a 100 Mbit/s bottleneck with a 20 ms RTT (the BDP is about 172
 * frames), buffers large enough that only cwnd limits the sender.
 */
async function bottleneck(cc: CongestionControlFactory, hystart: boolean, timestamps = true) {
  const tcp = {
    congestionControl: cc,
    hystart,
    timestamps,
    receiveBufferBytes: 8 << 20,
    sendBufferBytes: 8 << 20,
  };
  const net = new TestNet({
    aToB: { delayMs: 10, rateMbit: 100 },
    bToA: { delayMs: 10 },
    // The frames on the 10 ms wire (86), plus a queue of one BDP (172) and 50 more.
    queueFrames: 86 + 172 + 50,
    a: { tcp },
    b: { tcp },
  });
  const { client, server } = await net.connectPair(80);
  const data = pattern(4_000_000, 5);
  const t0 = net.clock.now();
  const writing = writeAll(client, data).then(() => client.closeWrite());
  assert(sameBytes(await net.settle(readAll(server)), data));
  await net.settle(writing);
  const s = client.connection.sender;
  return {
    ms: net.clock.now() - t0,
    retransmits: s.stats.retransmittedSegments,
    timeouts: s.stats.timeouts,
    css: s.hystart?.cssEntries ?? 0,
    phase: s.hystart?.phase,
  };
}

for (const [name, cc] of [["newreno", newReno], ["cubic", cubic]] as const) {
  Deno.test(`hystart: ${name} leaves slow start before overflowing a bottleneck queue`, async () => {
    const on = await bottleneck(cc, true);
    const off = await bottleneck(cc, false);
    const text = JSON.stringify({ on, off });
    // Plain slow start doubles past BDP + queue and loses hundreds of segments at once;
    // CSS grows a quarter as fast from where the queue began to build.
    assert(off.retransmits >= 500, `plain slow start overflows the queue: ${text}`);
    assert(on.css >= 1, text);
    assertEquals(on.phase, "done", text);
    assert(on.retransmits * 3 <= off.retransmits, text);
    assert(on.ms < off.ms, text);
    assertEquals(on.timeouts, 0, text);
  });
}

Deno.test("hystart: without timestamps, the send times give an RTT sample on every ACK", async () => {
  const on = await bottleneck(newReno, true, false);
  const off = await bottleneck(newReno, false, false);
  const text = JSON.stringify({ on, off });
  assert(on.css >= 1, text);
  assertEquals(on.phase, "done", text);
  assert(on.retransmits * 1.5 <= off.retransmits, text);
});
