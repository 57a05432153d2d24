/**
 * RACK-TLP (RFC 8985) and D-SACK (RFC 2883): the send-time logs, loss detection by time,
 * reo_wnd adaptation, tail loss probes, and the receiver reporting duplicates; then whole
 * transfers where a lost retransmission or a lost tail is repaired without an RTO.
 */

import { assert, assertEquals } from "@std/assert";
import {
  OriginalTimes,
  rackDetectLoss,
  type RackDetectResult,
  rackOnDelivered,
  RackState,
  RetransmitLog,
} from "../../stack/tcp/rack.ts";
import { TcpReceiver } from "../../stack/tcp/receiver.ts";
import { seqAdd } from "../../stack/tcp/seq.ts";
import { writeIpv4 } from "../../stack/wire/address.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";
import { parseSegment } from "./segments.ts";

Deno.test("rack: original send times coalesce per millisecond and split at a retransmission", () => {
  const t = new OriginalTimes();
  t.record(1000, 10);
  t.record(2000, 10.5); // same millisecond: one entry
  t.record(3000, 12);
  t.breakCoalescing();
  t.record(4000, 12.2); // after a retransmission: its own entry
  assertEquals(t.size, 3);
  assertEquals(t.timeOf(0), 10);
  assertEquals(t.timeOf(1999), 10);
  assertEquals(t.timeOf(2000), 12);
  assertEquals(t.timeOf(3500), 12.2);
  assert(Number.isNaN(t.timeOf(4000)));
  assertEquals(t.endSentBy(11), 2000);
  assertEquals(t.endSentBy(12), 3000);
  assertEquals(t.endSentBy(12, true), 2000);
  assertEquals(t.endSentBy(9), undefined);
  t.advance(2000);
  assertEquals(t.size, 2);
  assert(Number.isNaN(t.timeOf(1500)) || t.timeOf(1500) === 12);
});

Deno.test("rack: original times work across the 2^32 wrap", () => {
  const t = new OriginalTimes();
  const base = 0xffff_f000;
  t.record(seqAdd(base, 0x800), 1);
  t.record(seqAdd(base, 0x2000), 5); // past the wrap
  assertEquals(t.timeOf(seqAdd(base, 0x10)), 1);
  assertEquals(t.timeOf(seqAdd(base, 0x1800)), 5);
  assertEquals(t.endSentBy(5), seqAdd(base, 0x2000));
});

Deno.test("rack: the retransmit log keeps sorted disjoint ranges and counts lost bytes", () => {
  const log = new RetransmitLog();
  log.record(3000, 4000, 1);
  log.record(1000, 2000, 2);
  log.record(5000, 6000, 3);
  assertEquals(log.entries.map((e) => e.start), [1000, 3000, 5000]);
  log.markLost(log.entries[1]!);
  log.markLost(log.entries[1]!); // twice counts once
  assertEquals(log.lostBytes, 1000);
  assertEquals(log.firstLost()?.start, 3000);
  log.remove(3200, 3500); // a SACK inside a lost entry splits it
  assertEquals(log.entries.map((e) => [e.start, e.end]), [[1000, 2000], [3000, 3200], [
    3500,
    4000,
  ], [5000, 6000]]);
  assertEquals(log.lostBytes, 700);
  assertEquals(log.within(0, 10_000), 2700);
  log.record(3000, 3200, 9); // resent: in flight again
  assertEquals(log.lostBytes, 500);
  log.advance(3600);
  assertEquals(log.entries.map((e) => [e.start, e.end]), [[3600, 4000], [5000, 6000]]);
  assertEquals(log.lostBytes, 400);
  assertEquals(log.nextStartAfter(3600), 5000);
  log.clearLost();
  assertEquals(log.lostBytes, 0);
});

function detect(
  rack: RackState,
  originals: OriginalTimes,
  log: RetransmitLog,
  nowMs: number,
  lostEnd: number,
  sacked: [number, number][] = [],
): RackDetectResult {
  const out: RackDetectResult = { lostEnd: 0, marked: false, timerAtMs: Infinity };
  return rackDetectLoss(rack, originals, log, {
    nowMs,
    reoWndMs: 5,
    una: 0,
    nxt: 100_000,
    lostEnd,
    sackedWithin: (s, e) =>
      sacked.reduce((n, [a, b]) => n + Math.max(0, Math.min(b, e) - Math.max(a, s)), 0),
  }, out);
}

Deno.test("rack: what was sent before a delivered segment is lost once RTT + reo_wnd pass", () => {
  const originals = new OriginalTimes();
  for (let i = 1; i <= 10; i++) originals.record(i * 1000, i * 2); // 1000 bytes every 2 ms
  const log = new RetransmitLog();
  const rack = new RackState();
  // Bytes 5000-6000 (sent at 12 ms) were SACKed at 32 ms: RACK.rtt = 20 ms.
  rackOnDelivered(rack, originals, log, 5000, 6000, 20, NaN, 32);
  assertEquals([rack.xmitMs, rack.rttMs, rack.originalEnd], [12, 20, 6000]);
  // At 32 ms what was sent at or before 32 - 20 - 5 = 7 ms is lost (2, 4 and 6 ms); the
  // segment sent at 8 ms expires at 33 ms.
  let r = detect(rack, originals, log, 32, 0, [[5000, 6000]]);
  assertEquals([r.marked, r.lostEnd, r.timerAtMs], [true, 3000, 33]);
  r = detect(rack, originals, log, 33, 3000, [[5000, 6000]]);
  assertEquals([r.marked, r.lostEnd, r.timerAtMs], [true, 4000, 35]);
  // Already counted: nothing new, same timer.
  r = detect(rack, originals, log, 34, 4000, [[5000, 6000]]);
  assertEquals([r.marked, r.lostEnd, r.timerAtMs], [false, 4000, 35]);
  // Much later: everything below the delivered segment, never what was sent after it.
  r = detect(rack, originals, log, 100, 4000, [[5000, 6000]]);
  assertEquals([r.marked, r.lostEnd, r.timerAtMs], [true, 6000, Infinity]);
});

Deno.test("rack: a retransmission is lost when something sent after it was delivered", () => {
  const originals = new OriginalTimes();
  originals.record(10_000, 0);
  const log = new RetransmitLog();
  log.record(0, 1000, 40); // resent at 40 ms
  originals.breakCoalescing();
  originals.record(11_000, 41); // new data right after
  const rack = new RackState();
  rackOnDelivered(rack, originals, log, 10_000, 11_000, 20, NaN, 61);
  assertEquals(rack.xmitMs, 41);
  let r = detect(rack, originals, log, 61, 10_000, [[1000, 11_000]]);
  assertEquals([r.marked, log.lostBytes, r.timerAtMs], [false, 0, 40 + 20 + 5]);
  r = detect(rack, originals, log, 65, 10_000, [[1000, 11_000]]);
  assertEquals([r.marked, log.lostBytes, log.firstLost()?.start], [true, 1000, 0]);
});

Deno.test("rack: a delivered retransmission counts only when it could have arrived", () => {
  const originals = new OriginalTimes();
  originals.record(2000, 0);
  const log = new RetransmitLog();
  log.record(0, 1000, 30);
  const rack = new RackState();
  // 5 ms after the retransmission (min RTT 20): that ACK was for the original.
  rackOnDelivered(rack, originals, log, 0, 1000, 20, NaN, 35);
  assert(Number.isNaN(rack.xmitMs));
  // The echo predates the retransmission: also the original's ACK.
  rackOnDelivered(rack, originals, log, 0, 1000, 20, 10, 60);
  assert(Number.isNaN(rack.xmitMs));
  rackOnDelivered(rack, originals, log, 0, 1000, 20, 30, 60);
  assertEquals([rack.xmitMs, rack.rttMs], [30, 30]);
});

Deno.test("rack: reo_wnd is 0 until reordering is seen, then grows per D-SACK round", () => {
  const rack = new RackState();
  assertEquals(rack.reoWndMs(20, 30, true, false), 0); // recovering, no reordering seen
  assertEquals(rack.reoWndMs(20, 30, false, true), 0); // three segments SACKed above
  assertEquals(rack.reoWndMs(20, 30, false, false), 5); // min RTT / 4
  rack.onDsack(100, 200);
  assertEquals(rack.reoWndMs(20, 30, true, false), 10);
  rack.onDsack(150, 300); // same round (SND.UNA below 200): no second step
  assertEquals(rack.reoWndMult, 2);
  rack.onDsack(200, 400);
  rack.onDsack(400, 500);
  rack.onDsack(500, 600);
  rack.onDsack(600, 700);
  assertEquals(rack.reoWndMs(20, 22, true, false), 22); // capped at SRTT
  for (let i = 0; i < 16; i++) rack.onRecoveryEnd();
  assertEquals(rack.reoWndMult, 1);
});

Deno.test("d-sack: the receiver reports a duplicate first, then its held ranges", () => {
  const r = new TcpReceiver(65535, 0);
  r.sackEnabled = true;
  r.init(999); // RCV.NXT = 1000
  r.onData(1000, new Uint8Array(500), false, 0);
  r.onData(2000, new Uint8Array(500), false, 0); // held out of order
  r.onAckSent();
  const c = r.clip(1200, new Uint8Array(500), false); // 300 bytes already had
  assertEquals([c.seq, c.data.length], [1500, 200]);
  const out: number[] = [];
  r.sackBlocks(out, 3);
  assertEquals(out, [1200, 1500, 2000, 2500]);
  assertEquals(r.sackBlockCount, 2);
  r.onAckSent();
  assertEquals(r.sackBlockCount, 1);
  r.onData(2100, new Uint8Array(100), false, 0); // inside the held range
  r.sackBlocks(out, 3);
  assertEquals(out, [2100, 2200, 2000, 2500]);
  r.onAckSent();
  r.noteRejected(500, 300); // wholly old
  r.sackBlocks(out, 3);
  assertEquals(out.slice(0, 2), [500, 800]);
  r.onAckSent();
  r.noteRejected(1700, 100); // at or above RCV.NXT: not a duplicate
  assertEquals(r.sackBlockCount, 1);
});

Deno.test("d-sack: not reported when SACK was not negotiated", () => {
  const r = new TcpReceiver(65535, 0);
  r.init(0);
  r.onData(1, new Uint8Array(100), false, 0);
  r.clip(1, new Uint8Array(100), false);
  assertEquals(r.sackBlockCount, 0);
});

/** Drops the data segments from a whose index (counting every data segment sent) matches. */
function dropData(net: TestNet, drop: (index: number, seq: number) => boolean): number[] {
  let index = 0;
  const dropped: number[] = [];
  net.tap = (from, seg) => {
    const s = parseSegment(seg);
    if (from !== net.a || s.payload.length === 0) return true;
    if (!drop(index++, s.seq)) return true;
    dropped.push(s.seq);
    return false;
  };
  return dropped;
}

async function transferWith(rack: boolean, drop: (index: number, seq: number) => boolean) {
  const tcp = { reorderTolerance: rack };
  const net = new TestNet({ aToB: { delayMs: 20 }, bToA: { delayMs: 20 }, a: { tcp }, b: { tcp } });
  const { client, server } = await net.connectPair(80);
  const dropped = dropData(net, drop);
  const data = pattern(300_000, 3);
  const start = net.clock.now();
  const writing = writeAll(client, data).then(() => client.closeWrite());
  const got = await net.settle(readAll(server));
  await net.settle(writing);
  assert(sameBytes(got, data));
  return { stats: client.connection.sender.stats, ms: net.clock.now() - start, dropped };
}

Deno.test("rack: a lost retransmission is found by time, with no RTO", async () => {
  // Segment 30 and then its first retransmission are lost.
  let target = -1;
  const drop = (i: number, seq: number) => {
    if (i === 30) target = seq;
    return i === 30 || (seq === target && i > 30 && i < 200 && (target = -2) === -2);
  };
  const on = await transferWith(true, drop);
  assertEquals(on.dropped.length, 2);
  assertEquals(on.stats.timeouts, 0);
  assert(on.stats.rackLosses >= 2);
  target = -1;
  const off = await transferWith(false, drop);
  assertEquals(off.dropped.length, 2);
  assertEquals(off.stats.timeouts, 1); // duplicate ACKs never reveal a lost retransmission
  assert(on.ms < off.ms, `${on.ms} ms with RACK, ${off.ms} ms without`);
});

Deno.test("tlp: a lost tail is probed after 2*SRTT instead of waiting for the RTO", async () => {
  // The data in the last two segments' worth of bytes is lost once: no SACK can come back.
  let first: number | undefined;
  const seen = new Set<number>();
  let drops = 0;
  const drop = (_i: number, seq: number) => {
    first ??= seq;
    const fresh = !seen.has(seq);
    seen.add(seq);
    return fresh && ((seq - first) >>> 0) >= 300_000 - 2 * 1448 && ++drops <= 2;
  };
  const on = await transferWith(true, drop);
  assertEquals(on.dropped.length, 2);
  assertEquals(on.stats.timeouts, 0);
  assert(on.stats.tailProbes >= 1);
  seen.clear();
  first = undefined;
  drops = 0;
  const off = await transferWith(false, drop);
  assert(off.stats.timeouts >= 1);
  assertEquals(off.stats.tailProbes, 0);
  assert(on.ms < off.ms, `${on.ms} ms with TLP, ${off.ms} ms without`);
});

Deno.test("tlp: a probe that alone repairs a lost tail gets one congestion response", async () => {
  const net = new TestNet({ aToB: { delayMs: 20 }, bToA: { delayMs: 20 } });
  const { client, server } = await net.connectPair(80);
  const sender = client.connection.sender;
  const reading = readAll(server);
  let first: number | undefined;
  let dropped = 0;
  net.tap = (from, seg) => {
    const s = parseSegment(seg);
    if (from !== net.a || s.payload.length === 0) return true;
    first ??= s.seq;
    const end = ((s.seq - first) >>> 0) + s.payload.length;
    if (end !== 100_000 || dropped > 0) return true;
    dropped++; // the last segment of the first burst, once
    return false;
  };
  await net.settle(writeAll(client, pattern(100_000, 1)));
  await net.advance(1000);
  assertEquals(dropped, 1);
  assertEquals([sender.stats.tailProbes, sender.stats.timeouts], [1, 0]);
  assertEquals(sender.outstanding, 0);
  const cwnd = sender.cc.cwndBytes;
  // The next burst's first ACK brings no D-SACK for the probe: the response happens then.
  await net.settle(writeAll(client, pattern(100_000, 2)).then(() => client.closeWrite()));
  assertEquals((await net.settle(reading)).length, 200_000);
  assertEquals(sender.stats.tailLossRepairs, 1);
  assertEquals(sender.stats.fastRecoveries, 0);
  assert(sender.cc.ssthreshBytes <= Math.ceil(cwnd / 2), `${sender.cc.ssthreshBytes} vs ${cwnd}`);
});

Deno.test("rack: an original delivered below a SACKed one means reordering (RFC 8985 6.2 step 3)", async () => {
  const net = new TestNet({ aToB: { delayMs: 20 }, bToA: { delayMs: 20 } });
  const { client, server } = await net.connectPair(80);
  const sender = client.connection.sender;
  // Data segments 20 and 21 swap places on the path; nothing is lost.
  let index = 0;
  let held: Uint8Array | undefined;
  net.tap = (from, seg) => {
    if (from !== net.a || parseSegment(seg).payload.length === 0) return true;
    const i = index++;
    if (i === 20) {
      held = seg.slice();
      return false;
    }
    if (i !== 21 || held === undefined) return true;
    for (const s of [seg.slice(), held]) {
      const frame = new Uint8Array(8 + s.length);
      writeIpv4(frame, 0, net.a.address);
      writeIpv4(frame, 4, net.b.address);
      frame.set(s, 8);
      net.transmit(net.a.ip, frame);
    }
    held = undefined;
    return false;
  };
  assertEquals(sender.rack.reorderingSeen, false);
  const data = pattern(200_000, 6);
  const writing = writeAll(client, data).then(() => client.closeWrite());
  assert(sameBytes(await net.settle(readAll(server)), data));
  await net.settle(writing);
  assert(index > 21);
  assertEquals([sender.stats.retransmittedSegments, sender.stats.dsacks], [0, 0]);
  assertEquals(sender.rack.reorderingSeen, true);
  // Having seen reordering, RACK keeps a reordering window even in recovery.
  assertEquals(sender.rack.reoWndMs(40, 40, true, true), 10);
});

Deno.test("d-sack: spurious retransmissions on a reordering path come back as D-SACKs", async () => {
  const path = { delayMs: 10, reorderPercent: 25 };
  const net = new TestNet({ seed: 4, aToB: path, bToA: path });
  const { client, server } = await net.connectPair(80);
  const data = pattern(1_000_000, 4);
  const writing = writeAll(client, data).then(() => client.closeWrite());
  assert(sameBytes(await net.settle(readAll(server)), data));
  await net.settle(writing);
  const s = client.connection.sender;
  // Nothing is lost, so every retransmission arrives twice and is reported.
  assert(s.stats.retransmittedSegments > 0, "reordering caused some retransmissions");
  assert(s.stats.dsacks > 0, JSON.stringify(s.stats));
  assert(s.rack.reoWndMult > 1, `reo_wnd multiplier ${s.rack.reoWndMult}`);
});
