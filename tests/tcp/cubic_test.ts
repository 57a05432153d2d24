/**
 * CUBIC (RFC 9438) driven directly with synthetic ACKs and times, checked against the RFC's
 * formulas written out here (W_cubic, K, W_est), plus whole transfers over the test network.
 */

import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { type AckEvent, newReno } from "../../stack/tcp/congestion.ts";
import type { CongestionControlFactory } from "../../stack/tcp/congestion.ts";
import { Cubic, cubic } from "../../stack/tcp/cubic.ts";
import { SeededRandom } from "../../stack/random.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";

const MSS = 1000;
// RFC 9438 constants, spelled out independently of the implementation.
const C = 0.4; // 4.2 / 5.1
const BETA = 0.7; // 4.6
const ALPHA = (3 * (1 - BETA)) / (1 + BETA); // 4.3: 9/17

/** W_cubic(t) = C*(t-K)^3 + W_max (RFC 9438 Figure 1), segments. */
const wCubic = (tSeconds: number, wMax: number, k: number) => C * (tSeconds - k) ** 3 + wMax;
/** K = cbrt((W_max - cwnd_epoch)/C) (RFC 9438 Figure 2), seconds. */
const kOf = (wMax: number, cwndEpoch: number) => Math.cbrt((wMax - cwndEpoch) / C);

function ack(ackedBytes: number, nowMs: number, rttMs = 100, cwndLimited = true): AckEvent {
  return { ackedBytes, flightBytes: 1e9, cwndLimited, rttMs, nowMs };
}

const segments = (cc: Cubic) => cc.cwndBytes / MSS;

/** Slow start from IW (10 segments) to `target` segments, one ACK per segment at time 0. */
function grownTo(target: number, options?: { fastConvergence?: boolean }): Cubic {
  const cc = new Cubic(MSS, options);
  for (let i = 10; i < target; i++) cc.onAck(ack(MSS, 0));
  assertEquals(cc.cwndBytes, target * MSS);
  return cc;
}

/**
 * Acknowledges one window per round trip, ACKs spread evenly over the round (exactly the
 * window's bytes: whole segments and the remainder). Returns cwnd in segments at the start of
 * each round, indexed by round.
 */
function rounds(cc: Cubic, startMs: number, count: number, rttMs: number): number[] {
  const at: number[] = [];
  for (let r = 0; r < count; r++) {
    const window = cc.cwndBytes;
    at.push(window / MSS);
    const acks = Math.ceil(window / MSS);
    for (let j = 0; j < acks; j++) {
      const bytes = Math.min(MSS, window - j * MSS);
      cc.onAck(ack(bytes, startMs + r * rttMs + (j * rttMs) / acks, rttMs));
    }
  }
  at.push(cc.cwndBytes / MSS);
  return at;
}

Deno.test("cubic: a loss at W_max = 100 leaves 70 segments and K = cbrt(75) s", () => {
  const cc = grownTo(100);
  cc.onEnterRecovery(100 * MSS, 0);
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [70 * MSS, 70 * MSS]);
  assertEquals(cc.state.wMaxSegments, 100);
  cc.onExitRecovery(50);
  assertEquals(cc.cwndBytes, 70 * MSS);
  cc.onAck(ack(MSS, 100)); // the congestion-avoidance stage (epoch) starts here
  const k = Math.cbrt((100 * (1 - BETA)) / C);
  assertAlmostEquals(k, 4.217, 1e-3);
  assertAlmostEquals(cc.state.kSeconds, k, 1e-9);
  assertEquals(cc.state.epochStartMs, 100);
});

Deno.test("cubic: concave up to W_max near t = K, convex beyond (RFC 9438 4.4, 4.5)", () => {
  const rtt = 250; // long enough that W_est (Reno-friendly) stays below the cubic curve
  const cc = grownTo(100);
  cc.onEnterRecovery(100 * MSS, 0);
  cc.onExitRecovery(rtt);
  const start = 1000;
  const perRound = rounds(cc, start, 40, rtt); // 10 s
  const k = kOf(100, 70);
  const at = (seconds: number) => perRound[Math.round((seconds * 1000) / rtt)]!;
  for (const t of [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
    const expected = wCubic(Math.round((t * 1000) / rtt) * rtt / 1000, 100, k);
    assertAlmostEquals(at(t), expected, 1, `t = ${t} s`);
  }
  assertAlmostEquals(at(4.25), 100, 0.5); // the plateau around W_max at t ~ K
  const growth = (a: number, b: number) => at(b) - at(a);
  // Concave: the growth per second shrinks towards K...
  assert(growth(0, 1) > growth(1, 2) && growth(1, 2) > growth(2, 3) && growth(2, 3) > 0);
  // ...and convex: it increases beyond K.
  assert(growth(5, 6) < growth(6, 7) && growth(6, 7) < growth(7, 8) && growth(7, 8) < growth(8, 9));
  // Never more than 1.5 times per round trip (4.2 target bound).
  for (let r = 1; r < perRound.length; r++) assert(perRound[r]! <= 1.5 * perRound[r - 1]! + 1e-9);
});

Deno.test("cubic: Reno-friendly region follows W_est, alpha = 9/17 then 1 per RTT (4.3)", () => {
  const rtt = 10;
  const cc = grownTo(20);
  cc.onEnterRecovery(20 * MSS, 0); // W_max = cwnd_prior = 20, cwnd = 14
  cc.onExitRecovery(rtt);
  assertAlmostEquals(ALPHA, 0.529, 1e-3);
  const perRound = rounds(cc, 100, 25, rtt);
  const k = kOf(20, 14);
  // W_est = 14 + alpha per RTT until it reaches cwnd_prior = 20, then 1 segment per RTT.
  const switchRound = (20 - 14) / ALPHA;
  const wEst = (n: number) => n <= switchRound ? 14 + ALPHA * n : 20 + (n - switchRound);
  for (const n of [2, 5, 8, 11, 15, 20, 25]) {
    assertAlmostEquals(perRound[n]!, wEst(n), 0.5, `round ${n}`);
    assert(wCubic((n * rtt) / 1000, 20, k) < wEst(n), "W_cubic is below W_est here");
  }
});

Deno.test("cubic: fast convergence lowers W_max to cwnd*(1+beta)/2 (4.7)", () => {
  const cc = grownTo(100);
  cc.onEnterRecovery(100 * MSS, 0); // W_max 100, cwnd 70
  cc.onExitRecovery(100);
  cc.onEnterRecovery(70 * MSS, 200); // cwnd 70 < W_max: fast convergence
  assertAlmostEquals(cc.state.wMaxSegments, (70 * (1 + BETA)) / 2, 1e-9); // 59.5
  assertEquals(cc.ssthreshBytes, 49 * MSS);
  cc.onExitRecovery(300);
  cc.onAck(ack(MSS, 400));
  assertAlmostEquals(cc.state.kSeconds, kOf(59.5, 49), 1e-9);

  const plain = grownTo(100, { fastConvergence: false });
  plain.onEnterRecovery(100 * MSS, 0);
  plain.onExitRecovery(100);
  plain.onEnterRecovery(70 * MSS, 200);
  assertEquals(plain.state.wMaxSegments, 70);

  const above = grownTo(100); // a loss above the previous W_max sets W_max = cwnd
  above.onEnterRecovery(100 * MSS, 0);
  above.onExitRecovery(100);
  rounds(above, 200, 60, 100); // past K: cwnd above 100
  const cwnd = segments(above);
  assert(cwnd > 100);
  above.onEnterRecovery(above.cwndBytes, 7000);
  assertAlmostEquals(above.state.wMaxSegments, cwnd, 1 / MSS);
});

Deno.test("cubic: ssthresh = beta * min(flight, cwnd), at least 2 segments (4.6)", () => {
  const a = grownTo(100);
  a.onEnterRecovery(40 * MSS, 0); // a small flight (application- or rwnd-limited)
  assertEquals([a.cwndBytes, a.ssthreshBytes], [28 * MSS, 28 * MSS]);
  const b = grownTo(100);
  b.onEnterRecovery(300 * MSS, 0); // flight counting SACKed data: never above cwnd * beta
  assertEquals(b.cwndBytes, 70 * MSS);
  const c = grownTo(10);
  c.onEnterRecovery(MSS, 0);
  assertEquals([c.cwndBytes, c.ssthreshBytes], [2 * MSS, 2 * MSS]);
});

Deno.test("cubic: RTO gives 1 MSS, slow start to ssthresh, then K = 0 from there (4.8)", () => {
  const cc = grownTo(40);
  cc.onRetransmitTimeout(40 * MSS, 0, false);
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [MSS, 28 * MSS]);
  cc.onRetransmitTimeout(5 * MSS, 1000, true); // repeated: ssthresh held
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [MSS, 28 * MSS]);
  cc.onAck(ack(5 * MSS, 2000)); // RFC 3465: at most 2 MSS per ACK
  assertEquals(cc.cwndBytes, 3 * MSS);
  for (let i = 0; i < 25; i++) cc.onAck(ack(MSS, 2000));
  assertEquals(cc.cwndBytes, 28 * MSS); // slow start ends at ssthresh
  assert(Number.isNaN(cc.state.epochStartMs));
  const start = 2100;
  const rtt = 500;
  const perRound = rounds(cc, start, 8, rtt);
  assertEquals(cc.state.epochStartMs, start);
  assertEquals([cc.state.kSeconds, cc.state.wMaxSegments], [0, 28]); // W_max = cwnd_epoch
  // Convex from the start: 28 + C*t^3.
  assertAlmostEquals(perRound[6]!, wCubic(3, 28, 0), 1);
  assertAlmostEquals(perRound[8]!, wCubic(4, 28, 0), 1);
});

Deno.test("cubic: undo restores cwnd, ssthresh, W_max, K and the epoch (4.9)", () => {
  const cc = grownTo(100);
  cc.onEnterRecovery(100 * MSS, 0);
  cc.onExitRecovery(50);
  rounds(cc, 100, 10, 100); // one second into the epoch
  const prior = { cwnd: cc.cwndBytes, ssthresh: cc.ssthreshBytes, state: cc.state };
  assertEquals(prior.ssthresh, 70 * MSS);
  cc.onEnterRecovery(prior.cwnd, 1100);
  assert(cc.cwndBytes < prior.cwnd && cc.state.wMaxSegments < 100);
  cc.onExitRecovery(1200);
  cc.onUndo(prior.cwnd, prior.ssthresh);
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [prior.cwnd, 70 * MSS]);
  assertEquals(cc.state.wMaxSegments, 100);
  assertAlmostEquals(cc.state.kSeconds, kOf(100, 70), 1e-9);
  assertEquals(cc.state.epochStartMs, 100);
  assertEquals(cc.state, prior.state);
  // The curve continues as if the loss had not happened.
  const next = rounds(cc, 1200, 10, 100);
  assertAlmostEquals(next[10]!, wCubic(2.1, 100, kOf(100, 70)), 1);

  // Undo that comes after cwnd already passed the prior window keeps the current state.
  const late = grownTo(30);
  late.onEnterRecovery(30 * MSS, 0);
  const before = { cwnd: late.cwndBytes, state: late.state };
  late.onUndo(10 * MSS, 5 * MSS);
  assertEquals([late.cwndBytes, late.state], [before.cwnd, before.state]);
});

Deno.test("cubic: no growth while not cwnd-limited, in slow start or avoidance", () => {
  const cc = new Cubic(MSS);
  cc.onAck(ack(MSS, 0, 100, false));
  assertEquals(cc.cwndBytes, 10 * MSS);
  const ca = grownTo(50);
  ca.onEnterRecovery(50 * MSS, 0);
  ca.onExitRecovery(100);
  for (let t = 200; t < 10_000; t += 10) ca.onAck(ack(MSS, t, 100, false));
  assertEquals(ca.cwndBytes, 35 * MSS);
  assert(Number.isNaN(ca.state.epochStartMs), "no epoch starts without cwnd-limited ACKs");
});

Deno.test("cubic: a stretch ACK counts every segment it covers, within the 1.5x target", () => {
  const make = () => {
    const cc = grownTo(100);
    cc.onEnterRecovery(100 * MSS, 0);
    cc.onExitRecovery(100);
    cc.onAck(ack(MSS, 200)); // epoch starts
    return cc;
  };
  const one = make();
  one.onAck(ack(10 * MSS, 500));
  const ten = make();
  for (let i = 0; i < 10; i++) ten.onAck(ack(MSS, 500));
  const base = make().cwndBytes;
  assert(one.cwndBytes > base + MSS, "ten segments' worth of growth");
  // Per-segment ACKs recompute (target - cwnd)/cwnd as cwnd grows: a second-order difference.
  assertAlmostEquals(one.cwndBytes, ten.cwndBytes, 0.1 * (ten.cwndBytes - base));
  const huge = make();
  const w = huge.cwndBytes;
  huge.onAck(ack(100 * w, 20_000)); // far along the convex curve: capped at 1.5 * cwnd
  assert(huge.cwndBytes <= 1.5 * w + 1 && huge.cwndBytes > 1.4 * w); // +1: the unrounded cwnd
});

Deno.test("cubic: idle restarts at min(cwnd, IW) and the next epoch excludes the idle time", () => {
  const cc = grownTo(100);
  cc.onEnterRecovery(100 * MSS, 0);
  cc.onExitRecovery(100);
  rounds(cc, 200, 20, 100);
  assert(cc.cwndBytes > 70 * MSS);
  cc.onIdle(60_000);
  assertEquals(cc.cwndBytes, 10 * MSS); // RFC 5681 4.1 restart window
  assert(Number.isNaN(cc.state.epochStartMs));
  for (let i = 0; i < 60; i++) cc.onAck(ack(MSS, 60_100)); // slow start back to ssthresh
  assertEquals(cc.cwndBytes, 70 * MSS);
  cc.onAck(ack(MSS, 60_200));
  assertEquals(cc.state.epochStartMs, 60_200); // t restarts here, not at 200 ms
  assertAlmostEquals(cc.state.kSeconds, kOf(100, 70), 1e-9);
  assertAlmostEquals(cc.state.wEstSegments, 70 + ALPHA / 70, 1e-9); // W_est = cwnd_epoch
  // Small windows keep their size on idle.
  const small = new Cubic(MSS);
  small.onEnterRecovery(6 * MSS, 0);
  small.onIdle(1000);
  assertEquals(small.cwndBytes, Math.round(6 * BETA * MSS)); // ssthresh: 4.2 MSS
});

Deno.test("cubic: setMss keeps cwnd in segments", () => {
  const cc = new Cubic(1000);
  assertEquals(cc.cwndBytes, 10_000);
  cc.setMss(1460);
  assertEquals(cc.cwndBytes, 14_600);
  cc.onEnterRecovery(14_600, 0);
  const wMax = cc.state.wMaxSegments;
  const segs = cc.cwndBytes / 1460;
  cc.setMss(500);
  assertAlmostEquals(cc.cwndBytes / 500, segs, 1 / 500);
  assertEquals(cc.state.wMaxSegments, wMax);
});

Deno.test("cubic: cwnd stays whole bytes and at least one MSS under any event sequence", () => {
  const random = new SeededRandom(42);
  const pick = (n: number) => random.u32() % n;
  let mss = 1460;
  const cc = new Cubic(mss);
  let now = 0;
  for (let i = 0; i < 20_000; i++) {
    now += pick(50);
    const flight = pick(4) * cc.cwndBytes / 2;
    switch (pick(12)) {
      case 0:
        cc.onEnterRecovery(flight, now);
        break;
      case 1:
        cc.onExitRecovery(now);
        break;
      case 2:
        cc.onRetransmitTimeout(flight, now, pick(2) === 0);
        break;
      case 3:
        cc.onIdle(now);
        break;
      case 4:
        cc.onUndo(pick(200) * mss, pick(200) * mss);
        break;
      case 5:
        mss = 536 + pick(8000);
        cc.setMss(mss);
        break;
      default:
        cc.onAck(ack(pick(5) * mss, now, pick(3) === 0 ? NaN : 1 + pick(300), pick(4) !== 0));
    }
    assert(Number.isInteger(cc.cwndBytes) && cc.cwndBytes >= mss, `step ${i}: ${cc.cwndBytes}`);
    assert(cc.ssthreshBytes >= 2 * Math.min(mss, 536) && Number.isFinite(cc.cwndBytes));
  }
});

interface TransferResult {
  ms: number;
  intact: boolean;
  controller: string;
}

async function transfer(
  congestionControl: CongestionControlFactory,
  seed: number,
  path: { delayMs: number; lossPercent: number; bytes: number; bufferBytes: number },
): Promise<TransferResult> {
  const tcp = {
    congestionControl,
    receiveBufferBytes: path.bufferBytes,
    sendBufferBytes: path.bufferBytes,
  };
  const net = new TestNet({
    seed,
    aToB: { delayMs: path.delayMs, lossPercent: path.lossPercent },
    bToA: { delayMs: path.delayMs },
    a: { tcp },
    b: { tcp },
  });
  const { client, server } = await net.connectPair(80);
  const data = pattern(path.bytes, seed);
  const t0 = net.clock.now();
  const writing = writeAll(client, data).then(() => client.closeWrite());
  const got = await net.settle(readAll(server), 1e9);
  await net.settle(writing, 1e9);
  return {
    ms: net.clock.now() - t0,
    intact: sameBytes(got, data),
    controller: client.connection.sender.cc.name,
  };
}

Deno.test("cubic: 2 MB intact over 1% loss and 20 ms each way", async () => {
  const path = { delayMs: 20, lossPercent: 1, bytes: 2_000_000, bufferBytes: 256 * 1024 };
  for (const seed of [1, 2]) {
    const r = await transfer(cubic, seed, path);
    assertEquals(r.controller, "cubic");
    assert(r.intact, `seed ${seed}: data differs`);
  }
});

Deno.test("cubic: not slower than NewReno on a long fat path (100 ms RTT, 0.1% loss)", async () => {
  // Over 20 seeds cubic/newreno ranged 0.69-1.13 (median ~0.83); assert the robust bound.
  const path = { delayMs: 50, lossPercent: 0.1, bytes: 10_000_000, bufferBytes: 8 << 20 };
  for (const seed of [1, 2, 3]) {
    const c = await transfer(cubic, seed, path);
    const r = await transfer(newReno, seed, path);
    assert(c.intact && r.intact, `seed ${seed}: data differs`);
    assertEquals([c.controller, r.controller], ["cubic", "newreno"]);
    assert(c.ms <= 1.2 * r.ms, `seed ${seed}: cubic ${c.ms} ms vs newreno ${r.ms} ms`);
  }
});
