/**
 * Offloads at the link level: the reference segmenter and checksum completion of
 * stack/tcp/tso.ts (what the kernel does with our TSO super-frames), and how MemoryLink
 * ("segment" and "gso" modes) and ImpairedLink carry offloaded frames.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  finishOffload,
  ImpairedLink,
  MemoryLink,
  NO_IMPAIRMENT,
  type RxMeta,
  type TxOffload,
  VirtualClock,
} from "../../stack/mod.ts";
import {
  completeChecksum,
  completeFrameChecksum,
  partialTcpChecksum,
  segmentTcp,
} from "../../stack/tcp/tso.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { finish, fold, internetChecksum, sum16 } from "../../stack/wire/checksum.ts";
import { emitEthernet, EtherType } from "../../stack/wire/ethernet.ts";
import { emitIpv4 } from "../../stack/wire/ipv4.ts";
import {
  emitTcpHeader,
  newTcpOptions,
  setTcpChecksum,
  TcpFlag,
  TcpHeaderView,
  tcpOptionsLength,
  verifyTcpChecksum,
} from "../../stack/wire/tcp.ts";
import { pattern } from "./frames.ts";

const SRC = parseIpv4("10.0.0.1");
const DST = parseIpv4("10.0.0.2");
const SEQ = 0xfffff000; // wraps within the super-frame
const ID = 0xfffe; // wraps too
const MSS = 1448;

interface SuperFrame {
  frame: Uint8Array;
  payload: Uint8Array;
  tcpHeader: number;
  offload: TxOffload;
}

/** An Ethernet frame holding one TCP/IPv4 packet with `payloadBytes`, checksum left partial. */
function superFrame(payloadBytes: number, flags: number, seed = 3): SuperFrame {
  const options = newTcpOptions();
  options.hasTimestamps = true;
  options.tsVal = 123456;
  options.tsEcr = 654321;
  const tcpHeader = 20 + tcpOptionsLength(options);
  const payload = pattern(payloadBytes, seed);
  const total = 20 + tcpHeader + payloadBytes;
  const frame = new Uint8Array(14 + total);
  emitEthernet(frame, parseMac("02:00:00:00:00:0b"), parseMac("02:00:00:00:00:0a"), EtherType.IPV4);
  emitIpv4(frame, 14, {
    totalLength: total,
    identification: ID,
    dontFragment: true,
    protocol: 6,
    src: SRC,
    dst: DST,
  });
  const tcp = frame.subarray(34);
  emitTcpHeader(
    tcp,
    { srcPort: 4000, dstPort: 80, seq: SEQ, ack: 77, flags, window: 512 },
    options,
  );
  tcp.set(payload, tcpHeader);
  const partial = partialTcpChecksum(SRC, DST, tcpHeader + payloadBytes);
  tcp[16] = partial >>> 8;
  tcp[17] = partial & 0xff;
  const offload = { csumStart: 34, csumOffset: 16, gsoSize: MSS, headerBytes: 34 + tcpHeader };
  return { frame, payload, tcpHeader, offload };
}

/** Checks one wire frame: IPv4 header and TCP checksums, returns its TCP view. */
function checkWireFrame(frame: Uint8Array): TcpHeaderView {
  const ip = frame.subarray(14);
  const total = (ip[2]! << 8) | ip[3]!;
  assertEquals(total, ip.length, "IP total length matches the frame");
  assertEquals(internetChecksum(ip.subarray(0, 20)), 0, "IP header checksum");
  assert(verifyTcpChecksum(ip.subarray(20), SRC, DST), "TCP checksum");
  const view = TcpHeaderView.parse(ip.subarray(20));
  if (typeof view === "string") throw new Error(view);
  return view;
}

Deno.test("segmentTcp cuts a super-frame like the kernel's TSO: headers, seq, ids, flags, sums", () => {
  const flags = TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN | TcpFlag.CWR;
  const s = superFrame(65_000, flags);
  const out: Uint8Array[] = [];
  const n = segmentTcp(s.frame, 14, MSS, (f) => out.push(f.slice()));
  assertEquals(n, Math.ceil(65_000 / MSS));
  assertEquals(out.length, n);
  const joined: number[] = [];
  out.forEach((frame, i) => {
    const view = checkWireFrame(frame);
    const last = i === n - 1;
    assertEquals(frame.subarray(0, 14), s.frame.subarray(0, 14), "Ethernet header repeated");
    assertEquals((frame[18]! << 8) | frame[19]!, (ID + i) & 0xffff, "IP id counts up");
    assertEquals(view.seq, (SEQ + i * MSS) >>> 0);
    assertEquals(view.ack, 77);
    assertEquals(view.options, s.frame.subarray(34 + 20, 34 + s.tcpHeader), "options repeated");
    assertEquals(view.payload.length, last ? 65_000 - (n - 1) * MSS : MSS);
    assertEquals(view.flags & TcpFlag.ACK, TcpFlag.ACK);
    assertEquals((view.flags & (TcpFlag.FIN | TcpFlag.PSH)) !== 0, last, "FIN/PSH on the last");
    assertEquals((view.flags & TcpFlag.CWR) !== 0, i === 0, "CWR on the first only");
    joined.push(...view.payload);
  });
  assertEquals(new Uint8Array(joined), s.payload);
});

Deno.test("segmentTcp: a frame within one segment is passed whole; non-TCP is refused", () => {
  const s = superFrame(1000, TcpFlag.ACK);
  const out: Uint8Array[] = [];
  assertEquals(segmentTcp(s.frame, 14, MSS, (f) => out.push(f.slice())), 1);
  assertEquals(checkWireFrame(out[0]!).payload, s.payload);
  const udp = s.frame.slice();
  udp[14 + 9] = 17;
  assertEquals(segmentTcp(udp, 14, MSS, () => {}), 0);
  assertEquals(segmentTcp(s.frame.subarray(0, 40), 14, MSS, () => {}), 0, "truncated");
  assertEquals(segmentTcp(s.frame, 14, 0, () => {}), 0, "no segment size");
});

Deno.test("completeChecksum finishes a partial checksum exactly as a full computation", () => {
  for (const size of [0, 1, 2, 999, 1448]) {
    const s = superFrame(size, TcpFlag.ACK | TcpFlag.PSH, size + 1);
    const segment = s.frame.subarray(34);
    const full = segment.slice();
    setTcpChecksum(full, SRC, DST);
    assert(completeChecksum(segment, 0, 16));
    assertEquals(segment.subarray(16, 18), full.subarray(16, 18), `payload ${size}`);
  }
  const s = superFrame(10, TcpFlag.ACK);
  const before = s.frame.slice();
  assertEquals(completeChecksum(s.frame, s.frame.length - 1, 0), false, "field past the end");
  assertEquals(completeFrameChecksum(s.frame, 14, -1, 16), false);
  assertEquals(s.frame, before, "nothing written when the offsets do not fit");
});

Deno.test("completeChecksum writes a zero result as 0xffff (CSUM_MANGLED_0)", () => {
  const s = superFrame(2, TcpFlag.ACK);
  const segment = s.frame.subarray(34);
  segment[segment.length - 2] = 0;
  segment[segment.length - 1] = 0;
  // Pick the last data word so that the whole sum folds to 0xffff (its complement is 0).
  const word = 0xffff - fold(sum16(segment));
  segment[segment.length - 2] = word >>> 8;
  segment[segment.length - 1] = word & 0xff;
  assertEquals(finish(sum16(segment)), 0);
  assert(completeChecksum(segment, 0, 16));
  assertEquals([segment[16], segment[17]], [0xff, 0xff]);
  assert(verifyTcpChecksum(segment, SRC, DST));
});

Deno.test("completeFrameChecksum leaves Ethernet padding out of the sum", () => {
  const s = superFrame(4, TcpFlag.ACK);
  const padded = new Uint8Array(s.frame.length + 6);
  padded.set(s.frame);
  padded.fill(0x5a, s.frame.length);
  assert(completeFrameChecksum(padded, 14, 34, 16));
  assert(verifyTcpChecksum(padded.subarray(34, s.frame.length), SRC, DST));
});

/** Sends `frame` through `link` with `offload`. */
function send(link: MemoryLink | ImpairedLink, frame: Uint8Array, offload?: TxOffload): void {
  const buffer = link.acquire(frame.length);
  if (buffer === null) throw new Error("no buffer");
  buffer.set(frame);
  link.commit(frame.length, offload);
}

/** Everything `link` delivers at `nowMs`, copied, with copies of the metadata. */
function collect(link: MemoryLink | ImpairedLink, nowMs = 0) {
  const frames: { frame: Uint8Array; meta: RxMeta | undefined }[] = [];
  link.receive(
    nowMs,
    (frame, meta) => frames.push({ frame: frame.slice(), meta: meta && { ...meta } }),
  );
  return frames;
}

Deno.test("MemoryLink 'segment': a TSO super-frame crosses as MSS-sized wire frames", () => {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair({ clock, offload: "segment" });
  assertEquals(a.capabilities, {
    txChecksum: true,
    tso: true,
    maxFrameBytes: 65549,
    rxOffload: false,
  });
  const s = superFrame(20_000, TcpFlag.ACK | TcpFlag.PSH);
  send(a, s.frame, s.offload);
  const got = collect(b);
  assertEquals(got.length, Math.ceil(20_000 / MSS));
  assertEquals(a.stats.txFrames, got.length);
  for (const { frame, meta } of got) {
    assert(frame.length <= 1514);
    assertEquals(meta, undefined);
    checkWireFrame(frame);
  }
  // A partial checksum without TSO is completed; a plain frame passes as it is.
  const small = superFrame(100, TcpFlag.ACK);
  send(a, small.frame, { ...small.offload, gsoSize: 0 });
  send(a, small.frame);
  const [completed, plain] = collect(b);
  checkWireFrame(completed!.frame);
  assertEquals(plain!.frame, small.frame);
});

Deno.test("MemoryLink 'none' drops super-frames; 'gso' carries them whole with their metadata", () => {
  const clock = new VirtualClock();
  const s = superFrame(20_000, TcpFlag.ACK);
  const [a, b] = MemoryLink.pair({ clock });
  assertEquals(a.capabilities.tso, false);
  send(a, s.frame, s.offload);
  assertEquals(collect(b), []);
  assertEquals(a.stats.dropped, 1);

  const [c, d] = MemoryLink.pair({ clock, offload: "gso" });
  assertEquals(d.capabilities.rxOffload, true);
  send(c, s.frame, s.offload);
  send(c, s.frame.subarray(0, 60));
  const [whole, plain] = collect(d);
  assertEquals(whole!.frame, s.frame);
  assertEquals(whole!.meta, { checksum: "partial", csumStart: 34, csumOffset: 16, gsoSize: MSS });
  assertEquals(plain!.meta, undefined);
  assertThrows(
    () => MemoryLink.pair({ clock, offload: "gso", bToA: { corruptPercent: 1 } }),
    RangeError,
    "trusted checksums",
  );
});

Deno.test("ImpairedLink offers no offload: received super-frames are cut and checked in software", () => {
  const clock = new VirtualClock();
  const [inner, peer] = MemoryLink.pair({ clock, offload: "gso" });
  const link = new ImpairedLink(inner, { clock, outbound: NO_IMPAIRMENT, inbound: NO_IMPAIRMENT });
  assertEquals(link.capabilities, {
    txChecksum: false,
    tso: false,
    maxFrameBytes: 1514,
    rxOffload: false,
  });
  const s = superFrame(10_000, TcpFlag.ACK | TcpFlag.FIN);
  send(peer, s.frame, s.offload);
  const got = collect(link);
  assertEquals(got.length, Math.ceil(10_000 / MSS));
  for (const { frame, meta } of got) {
    assertEquals(meta, undefined, "no metadata: the stack verifies every checksum");
    checkWireFrame(frame);
  }
  // Outbound offloads (a stack that ignored the capabilities) are finished before the wire.
  send(link, s.frame, s.offload);
  const out = collect(peer);
  assertEquals(out.length, Math.ceil(10_000 / MSS));
  for (const { frame } of out) checkWireFrame(frame);
});

Deno.test("finishOffload: RxMeta 'verified' passes frames as they are; bad offsets drop them", () => {
  const s = superFrame(100, TcpFlag.ACK);
  const seen: Uint8Array[] = [];
  const verified: RxMeta = { checksum: "verified", csumStart: 0, csumOffset: 0, gsoSize: 0 };
  assertEquals(finishOffload(s.frame, verified, (f) => seen.push(f)), 1);
  assertEquals(seen[0], s.frame);
  const bad: RxMeta = { checksum: "partial", csumStart: 5000, csumOffset: 16, gsoSize: 0 };
  assertEquals(finishOffload(s.frame, bad, () => seen.push(new Uint8Array())), 0);
  assertEquals(seen.length, 1);
});
