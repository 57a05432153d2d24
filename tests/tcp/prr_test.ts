/**
 * Proportional Rate Reduction (RFC 6937): the sndcnt arithmetic of both regimes, then a whole
 * transfer where one loss in a large window is repaired, with and without PRR, with SACK and
 * with duplicate ACKs alone (one MSS delivered per duplicate ACK). With PRR the
 * sender keeps sending about one segment per two ACKs through the recovery; without it
 * (RFC 6675, cwnd = ssthresh at once) it sends nothing for the first half of the ACKs and then
 * one segment per ACK.
 */

import { assert, assertEquals } from "@std/assert";
import { ProportionalRateReduction } from "../../stack/tcp/prr.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";
import { ack, establishedSender, seg, send } from "./sender_driver.ts";
import { parseSegment } from "./segments.ts";

const MSS = 1000;

Deno.test("prr: with the pipe above ssthresh, sndcnt follows ssthresh/RecoverFS of what was delivered", () => {
  // RFC 6937 5: 20 segments in flight, one lost (its retransmission went out on entry),
  // ssthresh 10: one segment per two ACKs while the pipe is above ssthresh.
  const prr = new ProportionalRateReduction();
  prr.start(20 * MSS);
  let pipe = 19 * MSS;
  const sent: number[] = [];
  for (let ack = 0; ack < 14; ack++) {
    pipe -= MSS; // each ACK (a SACK) delivers one segment
    const sndcnt = prr.onAck(MSS, pipe, 10 * MSS, MSS);
    const n = Math.floor(sndcnt / MSS);
    prr.onSent(n * MSS);
    pipe += n * MSS;
    sent.push(n);
  }
  assertEquals(sent, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  assertEquals([prr.delivered, prr.out, pipe], [14 * MSS, 7 * MSS, 12 * MSS]);
});

Deno.test("prr: with the pipe below ssthresh, the slow-start bound climbs back (PRR-SSRB)", () => {
  const prr = new ProportionalRateReduction();
  prr.start(20 * MSS);
  // A burst loss left 4 segments in flight; ssthresh is 10.
  assertEquals(prr.onAck(MSS, 4 * MSS, 10 * MSS, MSS), 2 * MSS); // DeliveredData + MSS
  prr.onSent(2 * MSS);
  assertEquals(prr.onAck(MSS, 5 * MSS, 10 * MSS, MSS), 2 * MSS);
  prr.onSent(2 * MSS);
  // Never beyond ssthresh, and never negative.
  assertEquals(prr.onAck(4 * MSS, 9 * MSS, 10 * MSS, MSS), 1 * MSS);
  assertEquals(prr.onAck(0, 12 * MSS, 10 * MSS, MSS), 0);
});

/**
 * One loss at data segment 120 of a 2 MB transfer, with buffers large enough that only cwnd
 * limits the sender; the segments a had received at each of its sends during the recovery.
 */
async function recovery(prr: boolean, sack = true) {
  const tcp = {
    sack,
    proportionalRateReduction: prr,
    receiveBufferBytes: 4 << 20,
    sendBufferBytes: 4 << 20,
  };
  const net = new TestNet({ aToB: { delayMs: 20 }, bToA: { delayMs: 20 }, a: { tcp }, b: { tcp } });
  const { client, server } = await net.connectPair(80);
  const sender = client.connection.sender;
  let index = 0;
  const sendsAt: number[] = []; // a's received-segment count at each send during recovery
  net.tap = (from, seg) => {
    if (from !== net.a || parseSegment(seg).payload.length === 0) return true;
    if (index++ === 120) return false;
    if (sender.mode === "recovery") sendsAt.push(net.a.counters.rxPackets);
    return true;
  };
  const data = pattern(2_000_000, 9);
  const writing = writeAll(client, data).then(() => client.closeWrite());
  assert(sameBytes(await net.settle(readAll(server)), data));
  await net.settle(writing);
  const gaps = sendsAt.slice(1).map((n, i) => n - sendsAt[i]!);
  return { stats: sender.stats, sends: sendsAt.length, longestSilence: Math.max(...gaps) };
}

for (const sack of [true, false]) {
  const how = sack ? "SACK" : "duplicate ACKs (no SACK)";
  Deno.test(`prr: one loss in a large window, ${how}: sending stays ACK-clocked`, async () => {
    const on = await recovery(true, sack);
    const off = await recovery(false, sack);
    for (const r of [on, off]) {
      assertEquals([r.stats.fastRecoveries, r.stats.timeouts], [1, 0], JSON.stringify(r.stats));
      assert(r.sends > 10, `${r.sends} segments sent in recovery`);
    }
    // RFC 6675 waits until the pipe falls below ssthresh: half the window's ACKs send nothing.
    assert(off.longestSilence >= 15, `without PRR: ${JSON.stringify(off)}`);
    assert(on.longestSilence <= 3, `with PRR: ${JSON.stringify(on)}`);
  });
}

Deno.test("prr: an ACK that delivers nothing lets nothing out (RFC 9937 6.2)", () => {
  const s = establishedSender(true, 400);
  send(s, 0);
  s.onAck(ack(seg(10), [], { tsRttMs: 10 }), 10);
  send(s, 10);
  s.onAck(ack(seg(12), [], { tsRttMs: 10 }), 20);
  send(s, 20); // segments 12-25 in flight
  // 12-21 are lost (a burst): the pipe falls below ssthresh, PRR-SSRB applies.
  s.onAck(ack(seg(12), [seg(22), seg(23)]), 30);
  assertEquals(s.mode, "recovery");
  assert(send(s, 30).length > 0);
  for (let k = 1; k <= 4; k++) {
    // Window updates: no new data acknowledged or SACKed.
    s.onAck(ack(seg(12), [seg(22), seg(23)], { windowBytes: (1 << 22) + k }), 30);
    assertEquals(send(s, 30), [], `window update ${k}`);
  }
  s.onAck(ack(seg(12), [seg(22), seg(24)]), 31); // one more segment delivered
  assert(send(s, 31).length > 0);
});

Deno.test("prr: without SACK, the ACK that starts the recovery counts one MSS delivered", () => {
  const s = establishedSender(false, 200);
  send(s, 0);
  s.onAck(ack(seg(10)), 10);
  send(s, 10); // segments 10-21; 10 is lost
  const sent: string[][] = [];
  for (let d = 1; d <= 6; d++) {
    s.onAck(ack(seg(10)), 20);
    sent.push(send(s, 20));
  }
  // Two limited transmits (RFC 3042), then recovery with RecoverFS = 14 segments and
  // ssthresh = 7: the third duplicate ACK delivered 1 MSS (sndcnt 500 bytes, the forced
  // retransmission goes out), the fourth 2 (sndcnt 0), the fifth 3 (500 bytes: less than a
  // segment), the sixth 4 (1000 bytes: one new segment).
  assertEquals(sent, [["N22"], ["N23"], ["R10"], [], [], ["N24"]]);
});
