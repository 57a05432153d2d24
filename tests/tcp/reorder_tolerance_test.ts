import { assert, assertEquals } from "@std/assert";
import { NewReno } from "../../stack/tcp/congestion.ts";
import { DUP_THRESH, MAX_DUP_THRESH, ReorderTracker } from "../../stack/tcp/reorder.ts";
import type { ImpairSpec } from "../../stack/impair.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";
import { ack, establishedSender, seg, send } from "./sender_driver.ts";

const MSS = 1000;
const PRIOR = { cwndBytes: 40 * MSS, ssthreshBytes: 1e9 };

Deno.test("reorder: an ACK of the hole sooner than min RTT after the retransmit is spurious", () => {
  const t = new ReorderTracker(true);
  t.sampleRtt(20);
  t.onEnterRecovery(1000, 1000 + 10 * MSS, PRIOR);
  t.onRetransmit(100);
  assertEquals(t.onHoleAcked(1000, 105, MSS), "pending"); // does not cover the hole yet
  assertEquals(t.onHoleAcked(2000, 110, MSS), "spurious"); // 10 ms < 20 ms min RTT
  assertEquals(t.dupThresh, 11); // 10 segments of reordering, plus one
  assertEquals(t.prior, PRIOR);
  assert(!t.episodeOpen);
});

Deno.test("reorder: an ACK one RTT after the retransmit is genuine and lowers the threshold", () => {
  const t = new ReorderTracker(true);
  t.sampleRtt(20);
  t.observe(5 * MSS, MSS);
  assertEquals(t.dupThresh, 6);
  t.onEnterRecovery(1000, 4000, PRIOR);
  t.onRetransmit(100);
  t.onRetransmit(101); // only the first retransmission counts
  assertEquals(t.onHoleAcked(2000, 121, MSS), "genuine");
  assertEquals(t.dupThresh, 5);
});

Deno.test("reorder: Eifel (RFC 3522) decides by the timestamp echo when there is one", () => {
  const t = new ReorderTracker(true);
  t.sampleRtt(20);
  t.onEnterRecovery(1000, 4000, PRIOR);
  t.onRetransmit(100);
  // Late by the clock (50 ms), but the echo says the original transmission was acknowledged.
  assertEquals(t.onHoleAcked(2000, 150, MSS, 90), "spurious");
  t.onEnterRecovery(5000, 8000, PRIOR);
  t.onRetransmit(200);
  // Early by the clock, but the echo is of the retransmission itself.
  assertEquals(t.onHoleAcked(6000, 205, MSS, 200), "genuine");
});

Deno.test("reorder: nothing retransmitted yet means spurious; threshold capped, halved on RTO", () => {
  const t = new ReorderTracker(true);
  t.onEnterRecovery(0, 1000 * MSS, PRIOR);
  assertEquals(t.onHoleAcked(1, 1, MSS), "spurious");
  assertEquals(t.dupThresh, MAX_DUP_THRESH);
  t.onTimeout();
  assertEquals(t.dupThresh, Math.floor(MAX_DUP_THRESH / 2));
  for (let i = 0; i < 10; i++) t.onTimeout();
  assertEquals(t.dupThresh, DUP_THRESH);
});

Deno.test("reorder: disabled, the threshold stays at 3 and no episode is tracked", () => {
  const t = new ReorderTracker(false);
  t.observe(50 * MSS, MSS);
  t.onEnterRecovery(0, 50 * MSS, PRIOR);
  assertEquals(t.onHoleAcked(MSS, 1, MSS), "pending");
  assertEquals(t.dupThresh, DUP_THRESH);
});

Deno.test("reorder: NewReno undo restores cwnd and ssthresh (RFC 4015 3.2)", () => {
  const cc = new NewReno(MSS);
  const prior = { cwnd: cc.cwndBytes, ssthresh: cc.ssthreshBytes };
  cc.onEnterRecovery(10 * MSS, 0);
  assertEquals(cc.cwndBytes, 5 * MSS);
  cc.onExitRecovery(0);
  cc.onUndo(prior.cwnd, prior.ssthresh);
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [prior.cwnd, prior.ssthresh]);
});

interface Transfer {
  ms: number;
  retransmits: number;
  retransmitsSecondHalf: number;
  fastRecoveries: number;
  undone: number;
}

async function transfer(seed: number, reorderTolerance: boolean, lossPercent: number) {
  const path: Partial<ImpairSpec> = { delayMs: 10, reorderPercent: 25, lossPercent };
  const tcp = { reorderTolerance };
  const net = new TestNet({ seed, aToB: path, bToA: path, a: { tcp }, b: { tcp } });
  const { client, server } = await net.connectPair(80);
  const sender = client.connection.sender;
  const data = pattern(2_000_000, seed);
  const startMs = net.clock.now();
  const writing = writeAll(client, data).then(() => client.closeWrite());
  const reading = readAll(server);
  await net.run(() => ((sender.sndUna - sender.iss) >>> 0) > 1_000_000, 1e9);
  const half = sender.stats.retransmittedSegments;
  const got = await net.settle(reading, 1e9);
  await net.settle(writing);
  assert(sameBytes(got, data), "data differs");
  const s = sender.stats;
  const result: Transfer = {
    ms: net.clock.now() - startMs,
    retransmits: s.retransmittedSegments,
    retransmitsSecondHalf: s.retransmittedSegments - half,
    fastRecoveries: s.fastRecoveries,
    undone: s.undoneRecoveries,
  };
  return result;
}

Deno.test("reorder: 25% reordering without loss, few spurious retransmits, >= 4x faster", async () => {
  for (const seed of [1, 2, 3]) {
    const off = await transfer(seed, false, 0);
    const on = await transfer(seed, true, 0);
    // Without loss every retransmission is spurious.
    assert(on.retransmits <= 20, `seed ${seed}: ${on.retransmits} retransmissions`);
    assert(on.retransmitsSecondHalf <= 3, `seed ${seed}: ${on.retransmitsSecondHalf} late`);
    assert(on.undone >= on.fastRecoveries - 2, `seed ${seed}: ${JSON.stringify(on)}`);
    assert(off.retransmits >= 3 * on.retransmits, `seed ${seed}: ${JSON.stringify(off)}`);
    assert(off.ms >= 4 * on.ms, `seed ${seed}: ${off.ms} ms off vs ${on.ms} ms on`);
  }
});

Deno.test("reorder: 25% reordering with 5% loss, still faster and intact", async () => {
  let offMs = 0;
  let onMs = 0;
  for (const seed of [1, 2, 3]) {
    offMs += (await transfer(seed, false, 5)).ms;
    onMs += (await transfer(seed, true, 5)).ms;
  }
  assert(offMs >= 1.5 * onMs, `${offMs} ms off vs ${onMs} ms on`);
});

Deno.test("reorder: loss alone is never taken for reordering, however far SACK blocks grow", async () => {
  for (const seed of [1, 2, 3]) {
    const net = new TestNet({ seed, aToB: { delayMs: 20, lossPercent: 2 }, bToA: { delayMs: 20 } });
    const { client, server } = await net.connectPair(80);
    const data = pattern(2_000_000, seed);
    const writing = writeAll(client, data).then(() => client.closeWrite());
    assert(sameBytes(await net.settle(readAll(server)), data));
    await net.settle(writing);
    const s = client.connection.sender;
    assert(s.stats.fastRecoveries > 3, `seed ${seed}: ${JSON.stringify(s.stats)}`);
    assertEquals([s.reorder.dupThresh, s.rack.reorderingSeen], [3, false], `seed ${seed}`);
  }
});

Deno.test("reorder: a late SACK of a resend made before an RTO is not taken for reordering", () => {
  const s = establishedSender(true, 400);
  send(s, 0);
  s.onAck(ack(seg(10), [], { tsRttMs: 10 }), 10);
  send(s, 10); // segments 10-21; 12 and 16 are lost
  s.onAck(ack(seg(12), [seg(13), seg(16)]), 20);
  s.onAck(ack(seg(12), [seg(17), seg(22), seg(13), seg(16)]), 20);
  const resent = send(s, 20);
  assert(resent.includes("R12") && resent.includes("R16"), resent.join(" "));
  // The resent 12 is lost again: the RTO fires and forgets what was resent before it.
  const rtoMs = s.rtoAtMs;
  assert(s.onRetransmitTimeout(rtoMs, 15, 1e9));
  assertEquals([s.mode, send(s, rtoMs)], ["loss", ["R12"]]);
  // Then the SACK for the resend of 16 arrives, below the highest SACKed byte.
  s.onAck(ack(seg(12), [seg(16), seg(22), seg(13), seg(16)]), rtoMs + 1);
  assertEquals([s.reorder.dupThresh, s.rack.reorderingSeen], [3, false]);
});
