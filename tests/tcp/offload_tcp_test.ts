/**
 * TCP with segmentation and checksum offload, in memory: super-segment sizing in the sender
 * (whole segments, bounded by cwnd, the peer's window and the link), bulk transfers through a
 * link that cuts TSO frames ("segment") and one that hands super-frames over whole with partial
 * checksums ("gso", as a TAP with a vnet header), with and without loss, the ACK per
 * coalesced batch, and IPv4's software fallback while ARP resolves.
 */

import { assert, assertEquals } from "@std/assert";
import type { CongestionControl } from "../../stack/tcp/congestion.ts";
import { NewReno } from "../../stack/tcp/congestion.ts";
import { newSegmentPlan, TcpSender } from "../../stack/tcp/sender.ts";
import { partialTcpChecksum } from "../../stack/tcp/tso.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";
import { emitTcpHeader, TcpFlag } from "../../stack/wire/tcp.ts";
import { pattern } from "../stack/frames.ts";
import { B_IP, exchange, makePair } from "../stack/pair.ts";

const MSS = 1448;
const ISS = 1000;
const TSO_MAX = 65455; // a 65535-byte packet less the IP header and the longest TCP header

/** A congestion window that never limits (the test sets it). */
class FixedWindow implements CongestionControl {
  readonly name = "fixed";
  readonly ssthreshBytes = Infinity;
  constructor(public cwndBytes: number) {}
  setMss(): void {}
  onAck(): void {}
  onEnterRecovery(): void {}
  onExitRecovery(): void {}
  onRetransmitTimeout(): void {}
  onSynTimeout(): void {}
  onIdle(): void {}
}

/** A synchronized sender with `queued` bytes waiting, the peer's window `windowBytes`. */
function sender(queued: number, windowBytes: number, cc: CongestionControl): TcpSender {
  const s = new TcpSender(ISS, MSS, cc, { sendBufferBytes: 1 << 20 });
  s.tsoMaxBytes = TSO_MAX;
  s.synAcked = true;
  s.canSendData = true;
  s.sndUna = ISS + 1;
  s.sndNxt = ISS + 1;
  s.sndWnd = windowBytes;
  s.maxSndWnd = windowBytes;
  s.queue(new Uint8Array(queued));
  return s;
}

/** The data lengths of every segment the sender plans now (marking each as sent). */
function drain(s: TcpSender): number[] {
  const out: number[] = [];
  const p = newSegmentPlan();
  while (s.nextSegment(0, p) && out.length < 100) {
    out.push(p.dataLen);
    s.onSent(p, 0);
  }
  return out;
}

Deno.test("TSO sizing: super-segments of whole segments, up to the link's limit", () => {
  const s = sender(300_000, 1 << 20, new FixedWindow(1 << 30));
  const sizes = drain(s);
  const perFrame = Math.floor(TSO_MAX / MSS) * MSS;
  assertEquals(sizes.slice(0, 4), [perFrame, perFrame, perFrame, perFrame]);
  assert(sizes.every((n) => n % MSS === 0), "whole segments");
  // Everything but the sub-MSS tail, which Nagle holds while data is outstanding.
  assertEquals(sizes.reduce((a, b) => a + b, 0), 300_000 - (300_000 % MSS));
});

Deno.test("TSO sizing: bounded by cwnd (the initial window) and by the peer's window", () => {
  const slowStart = sender(300_000, 1 << 20, new NewReno(MSS));
  assertEquals(drain(slowStart), [10 * MSS], "RFC 6928 initial window, as one super-segment");
  const peer = sender(300_000, 5_000, new FixedWindow(1 << 30));
  // 5000 bytes of window: three whole segments now; the rest waits for the window to open.
  assertEquals(drain(peer), [3 * MSS]);
});

Deno.test("TSO sizing: the tail of the queued data rides along only when Nagle allows", () => {
  const idle = sender(10_000, 1 << 20, new FixedWindow(1 << 30));
  assertEquals(drain(idle), [10_000], "nothing outstanding: the tail goes with the rest");
  const busy = sender(2 * MSS, 1 << 20, new FixedWindow(1 << 30));
  assertEquals(drain(busy), [2 * MSS]);
  busy.queue(new Uint8Array(3 * MSS + 100));
  assertEquals(drain(busy), [3 * MSS], "data outstanding: the 100-byte tail waits (Nagle)");
  busy.noDelay = true;
  assertEquals(drain(busy), [100]);
});

Deno.test("TSO sizing: without tsoMaxBytes every segment is one MSS", () => {
  const s = sender(10_000, 1 << 20, new FixedWindow(1 << 30));
  s.tsoMaxBytes = 0;
  assertEquals(drain(s), Array(Math.floor(10_000 / MSS)).fill(MSS), "the tail waits (Nagle)");
});

for (const offload of ["segment", "gso"] as const) {
  for (const lossPercent of [0, 3]) {
    Deno.test(`bulk TCP both ways over a '${offload}' link at ${lossPercent}% loss`, async () => {
      const pair = makePair({
        offload,
        aToB: { lossPercent, reorderPercent: lossPercent, delayMs: 1, seed: 21 },
        bToA: { lossPercent, delayMs: 1, seed: 22 },
      });
      const upload = pattern(3_000_000, 31);
      const download = pattern(1_000_000, 32);
      const { atB, atA } = await exchange(pair, upload, download);
      assertEquals(atB.length, upload.length);
      assert(atB.every((v, i) => v === upload[i]), "upload intact");
      assert(atA.every((v, i) => v === download[i]) && atA.length === download.length);
      const plain = upload.length / MSS;
      if (lossPercent === 0) {
        // A handed the link far fewer frames than MSS-sized segments (with loss, cwnd stays
        // small and retransmissions go one segment at a time, so there is no such bound).
        const committed = pair.a.counters.ethernet.txPackets;
        assert(committed < plain / 2, `${committed} frames committed for 3 MB`);
      }
      if (offload === "segment") assert(pair.linkA.stats.txFrames > plain, "cut on the wire");
      for (const stack of [pair.a, pair.b]) {
        assertEquals(stack.counters.tcp.drops["bad-checksum"], undefined);
        assertEquals(stack.counters.ipv4.drops["bad-offload"], undefined);
      }
    });
  }
}

Deno.test("coalesced super-frames are trusted and acknowledged once per batch", async () => {
  const pair = makePair({ offload: "gso" });
  const upload = pattern(4_000_000, 41);
  const { atB } = await exchange(pair, upload, new Uint8Array(0));
  assertEquals(atB.length, upload.length);
  const superFrames = pair.a.counters.ethernet.txPackets;
  const acks = pair.b.counters.tcp.txPackets;
  // One ACK per two full segments would be ~1400; per coalesced frame it is about one each.
  assert(acks <= superFrames + 10, `${acks} ACKs for ${superFrames} frames from A`);
  assert(acks < upload.length / (2 * MSS) / 8, `${acks} ACKs`);
});

/** A TCP segment (header + data) with a partial checksum, from A to B port 9999. */
function partialSegment(src: number, dst: number, data: Uint8Array, seq: number): Uint8Array {
  const segment = new Uint8Array(20 + data.length);
  emitTcpHeader(segment, {
    srcPort: 40000,
    dstPort: 9999,
    seq,
    ack: 1,
    flags: TcpFlag.ACK,
    window: 100,
  });
  segment.set(data, 20);
  const sum = partialTcpChecksum(src, dst, segment.length);
  segment[16] = sum >>> 8;
  segment[17] = sum & 0xff;
  return segment;
}

Deno.test("IPv4 cuts a TSO packet in software when it has to wait for ARP", async () => {
  const pair = makePair({ offload: "gso" });
  const src = parseIpv4("10.0.0.1");
  const dst = parseIpv4(B_IP);
  const data = pattern(10_000, 51);
  const segment = partialSegment(src, dst, data, 5000);
  // B's MAC is not known yet: the packet waits for ARP, so no link offload can apply to it.
  const queued = pair.a.ipv4.send(
    dst,
    6,
    segment.length,
    (payload) => payload.set(segment),
    {
      offload: { csumOffset: 16, gsoSize: MSS, headerBytes: 20 },
    } as Parameters<typeof pair.a.ipv4.send>[4],
  );
  assert(queued);
  await pair.run(() => (pair.b.counters.tcp.drops["no-socket"] ?? 0) >= 7, 10_000);
  // Seven MSS-sized segments, each with a full checksum: B answers each with a RST.
  assertEquals(pair.b.counters.tcp.drops["no-socket"], Math.ceil(10_000 / MSS));
  assertEquals(pair.b.counters.tcp.drops["bad-checksum"], undefined);
});

Deno.test("a partial checksum where no TCP header is gets completed, not trusted", () => {
  const pair = makePair({ offload: "gso" });
  const src = parseIpv4("10.0.0.1");
  const dst = parseIpv4(B_IP);
  const segment = partialSegment(src, dst, pattern(100, 61), 1);
  const packet = new Uint8Array(20 + segment.length);
  packet[0] = 0x45;
  packet[2] = packet.length >>> 8;
  packet[3] = packet.length & 0xff;
  packet[8] = 64;
  packet[9] = 6;
  packet.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  packet.set(segment, 20);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  packet[10] = (~sum >>> 8) & 0xff;
  packet[11] = ~sum & 0xff;
  const input = (checksum: "partial" | "verified", csumStart: number) =>
    pair.b.ipv4.input(packet.slice(), 0, { checksum, csumStart, csumOffset: 16, gsoSize: 0 });
  input("partial", 20); // exactly the TCP header: trusted
  assertEquals(pair.b.counters.tcp.drops["no-socket"], 1);
  input("partial", 24); // somewhere else: completed there, so TCP's own check fails
  assertEquals(pair.b.counters.tcp.drops["bad-checksum"], 1);
  input("partial", 5000); // outside the packet
  assertEquals(pair.b.counters.ipv4.drops["bad-offload"], 1);
});
