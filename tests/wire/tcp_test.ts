/**
 * TCP codec tests. Vectors are segments captured from Linux 6.18 on loopback inside a private
 * network namespace (tcpdump -x), plus one SYN built by hand from the RFC 9293 / RFC 7323 /
 * RFC 2018 layouts. Loopback leaves checksums to offload, so the captured checksum fields are
 * replaced by the values tcpdump reported as correct.
 */

import { assert, assertEquals } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import {
  emitTcpHeader,
  newTcpOptions,
  parseTcpOptions,
  readU32,
  setTcpChecksum,
  TCP_MAX_OPTIONS_LENGTH,
  TcpFlag,
  TcpHeaderView,
  type TcpOptions,
  tcpOptionsLength,
  verifyTcpChecksum,
  writeU32,
} from "../../stack/wire/tcp.ts";
import { SeededRandom } from "../../stack/random.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/[^0-9a-f]/gi, "");
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

const LOOPBACK = parseIpv4("127.0.0.1");

function view(bytes: Uint8Array): TcpHeaderView {
  const v = TcpHeaderView.parse(bytes);
  if (typeof v === "string") throw new Error(`unexpected ${v}`);
  return v;
}

/** Independent reference: RFC 1071 sum of pseudo-header + segment, bytes at a time. */
function referenceChecksum(src: number, dst: number, segment: Uint8Array): number {
  const bytes = [
    src >>> 24,
    (src >>> 16) & 255,
    (src >>> 8) & 255,
    src & 255,
    dst >>> 24,
    (dst >>> 16) & 255,
    (dst >>> 8) & 255,
    dst & 255,
    0,
    6,
    segment.length >> 8,
    segment.length & 255,
    ...segment,
  ];
  if (bytes.length % 2) bytes.push(0);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! * 256 + bytes[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

// Linux SYN: 40000 > 5555, seq 93886555, win 65495,
// <mss 65495,sackOK,TS val 3164438596 ecr 0,nop,wscale 10>, cksum 0xc335.
const LINUX_SYN = hex(
  "9c40 15b3 0598 985b 0000 0000 a002 ffd7 c335 0000 0204 ffd7 0402 080a" +
    "bc9d 8044 0000 0000 0103 030a",
);
// Linux SYN-ACK: 5555 > 40000, seq 972651958, ack 93886556, win 65483,
// <mss 65495,sackOK,TS val 28921530 ecr 3164438596,nop,wscale 10>, cksum 0xbb0d.
const LINUX_SYN_ACK = hex(
  "15b3 9c40 39f9 7db6 0598 985c a012 ffcb bb0d 0000 0204 ffd7 0402 080a" +
    "01b9 4eba bc9d 8044 0103 030a",
);
// Linux data: [P.] seq 1:15 ack 1 win 64 <nop,nop,TS val 3164438596 ecr 28921530>,
// "hello, mip-tap", cksum 0x86b6.
const LINUX_DATA = hex(
  "9c40 15b3 0598 985c 39f9 7db7 8018 0040 86b6 0000 0101 080a bc9d 8044" +
    "01b9 4eba 6865 6c6c 6f2c 206d 6970 2d74 6170",
);
// Linux ACK after the FIN (checksum computed by the kernel, 0xde00).
const LINUX_LAST_ACK = hex(
  "9c40 15b3 0598 986b 39f9 7dba 8010 0040 de00 0000 0101 080a bc9d 8301 01b9 5177",
);
// Linux duplicate ACK with two SACK blocks: 7000 > 41000 seq 289616402 ack 1001 win 65535
// <nop,nop,sack 2 {1201:1211}{1101:1111}>, cksum 0x46dc.
const LINUX_SACK = hex(
  "1b58 a028 1143 3212 0000 03e9 a010 ffff 46dc 0000 0101 0512 0000 04b1" +
    "0000 04bb 0000 044d 0000 0457",
);
// Linux RST for a closed port: 5999 > 43294 [R.] seq 0 ack 149007420 win 0, cksum 0x3c23.
const LINUX_RST = hex("176f a91e 0000 0000 08e1 ac3c 5014 0000 3c23 0000");

Deno.test("wire/tcp: Linux SYN fields and options", () => {
  const v = view(LINUX_SYN);
  assertEquals([v.srcPort, v.dstPort, v.seq, v.ack], [40000, 5555, 93886555, 0]);
  assertEquals([v.headerLength, v.flags, v.window, v.checksum], [40, TcpFlag.SYN, 65495, 0xc335]);
  assertEquals(v.payload.length, 0);
  const o = newTcpOptions();
  assert(parseTcpOptions(v.options, o));
  assertEquals(o, {
    mss: 65495,
    windowScale: 10,
    sackPermitted: true,
    hasTimestamps: true,
    tsVal: 3164438596,
    tsEcr: 0,
    sackBlocks: [],
  });
  assert(verifyTcpChecksum(LINUX_SYN, LOOPBACK, LOOPBACK));
});

Deno.test("wire/tcp: Linux SYN-ACK, data and RST fields", () => {
  const sa = view(LINUX_SYN_ACK);
  assertEquals([sa.seq, sa.ack, sa.flags, sa.window], [
    972651958,
    93886556,
    TcpFlag.SYN | TcpFlag.ACK,
    65483,
  ]);
  const o = newTcpOptions();
  parseTcpOptions(sa.options, o);
  assertEquals([o.tsVal, o.tsEcr, o.windowScale], [28921530, 3164438596, 10]);

  const d = view(LINUX_DATA);
  assertEquals(d.flags, TcpFlag.PSH | TcpFlag.ACK);
  assertEquals(new TextDecoder().decode(d.payload), "hello, mip-tap");
  parseTcpOptions(d.options, o);
  assertEquals([o.hasTimestamps, o.tsVal, o.tsEcr, o.mss], [true, 3164438596, 28921530, 0]);

  const r = view(LINUX_RST);
  assertEquals([r.srcPort, r.dstPort, r.seq, r.ack, r.flags, r.window], [
    5999,
    43294,
    0,
    149007420,
    TcpFlag.RST | TcpFlag.ACK,
    0,
  ]);
  for (const seg of [LINUX_SYN_ACK, LINUX_DATA, LINUX_LAST_ACK, LINUX_SACK, LINUX_RST]) {
    assert(verifyTcpChecksum(seg, LOOPBACK, LOOPBACK));
  }
});

Deno.test("wire/tcp: Linux SACK blocks", () => {
  const v = view(LINUX_SACK);
  const o = newTcpOptions();
  assert(parseTcpOptions(v.options, o));
  assertEquals(o.sackBlocks, [1201, 1211, 1101, 1111]);
  assertEquals(v.ack, 1001);
});

/** Rebuilds a captured segment from its parsed fields and compares bytes. */
function roundTrip(captured: Uint8Array): void {
  const v = view(captured);
  const o = newTcpOptions();
  parseTcpOptions(v.options, o);
  const out = new Uint8Array(captured.length);
  const hl = emitTcpHeader(out, {
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    flags: v.flags,
    window: v.window,
  }, o);
  assertEquals(hl, v.headerLength);
  out.set(v.payload, hl);
  setTcpChecksum(out, LOOPBACK, LOOPBACK);
  assertEquals(out, captured);
}

Deno.test("wire/tcp: emit reproduces Linux segments byte for byte", () => {
  for (const seg of [LINUX_SYN, LINUX_SYN_ACK, LINUX_DATA, LINUX_LAST_ACK, LINUX_SACK]) {
    roundTrip(seg);
  }
  roundTrip(LINUX_RST);
});

Deno.test("wire/tcp: a SYN built by hand from the RFC layouts", () => {
  // RFC 9293 3.1 header, RFC 9293 3.2 MSS (kind 2 len 4), RFC 2018 SACK-permitted (4, 2),
  // RFC 7323 timestamps (8, 10) and window scale (3, 3).
  const src = parseIpv4("192.168.1.10");
  const dst = parseIpv4("192.168.1.20");
  const bytes = new Uint8Array([
    0xc3,
    0x50,
    0x00,
    0x50, // ports 50000 -> 80
    0x12,
    0x34,
    0x56,
    0x78, // seq
    0x00,
    0x00,
    0x00,
    0x00, // ack
    0xa0,
    0x02,
    0xfa,
    0xf0, // offset 10 words, SYN, window 64240
    0x00,
    0x00,
    0x00,
    0x00, // checksum (below), urgent
    0x02,
    0x04,
    0x05,
    0xb4, // MSS 1460
    0x04,
    0x02,
    0x08,
    0x0a, // SACK-permitted, timestamps kind/len
    0x00,
    0x00,
    0x00,
    0x01, // TSval 1
    0x00,
    0x00,
    0x00,
    0x00, // TSecr 0
    0x01,
    0x03,
    0x03,
    0x07, // NOP, window scale 7
  ]);
  const checksum = referenceChecksum(src, dst, bytes);
  bytes[16] = checksum >> 8;
  bytes[17] = checksum & 0xff;

  const v = view(bytes);
  assertEquals([v.srcPort, v.dstPort, v.seq, v.flags, v.window], [
    50000,
    80,
    0x12345678,
    TcpFlag.SYN,
    64240,
  ]);
  const o = newTcpOptions();
  assert(parseTcpOptions(v.options, o));
  assertEquals([o.mss, o.sackPermitted, o.tsVal, o.tsEcr, o.windowScale], [1460, true, 1, 0, 7]);
  assert(verifyTcpChecksum(bytes, src, dst));

  const built = new Uint8Array(40);
  const out: TcpOptions = {
    ...newTcpOptions(),
    mss: 1460,
    windowScale: 7,
    sackPermitted: true,
    hasTimestamps: true,
    tsVal: 1,
  };
  emitTcpHeader(built, {
    srcPort: 50000,
    dstPort: 80,
    seq: 0x12345678,
    ack: 0,
    flags: TcpFlag.SYN,
    window: 64240,
  }, out);
  setTcpChecksum(built, src, dst);
  assertEquals(built, bytes);
});

Deno.test("wire/tcp: the checksum matches an independent byte-wise sum, odd lengths too", () => {
  const random = new SeededRandom(9);
  for (let n = 20; n < 90; n++) {
    const seg = new Uint8Array(n);
    for (let i = 0; i < n; i++) seg[i] = random.u32() & 0xff;
    seg[12] = 5 << 4;
    const src = random.u32();
    const dst = random.u32();
    setTcpChecksum(seg, src, dst);
    const stored = (seg[16]! << 8) | seg[17]!;
    seg[16] = 0;
    seg[17] = 0;
    assertEquals(stored, referenceChecksum(src, dst, seg));
    seg[16] = stored >> 8;
    seg[17] = stored & 0xff;
    assert(verifyTcpChecksum(seg, src, dst));
    seg[n - 1]! ^= 1;
    assert(!verifyTcpChecksum(seg, src, dst));
  }
});

Deno.test("wire/tcp: parse refuses short segments and bad data offsets", () => {
  assertEquals(TcpHeaderView.parse(new Uint8Array(19)), "truncated");
  const seg = new Uint8Array(20);
  seg[12] = 4 << 4;
  assertEquals(TcpHeaderView.parse(seg), "bad-data-offset");
  seg[12] = 6 << 4;
  assertEquals(TcpHeaderView.parse(seg), "truncated");
  seg[12] = 5 << 4;
  assert(TcpHeaderView.parse(seg) instanceof TcpHeaderView);
});

Deno.test("wire/tcp: malformed options stop parsing without reading past the header", () => {
  const o = newTcpOptions();
  // MSS, then an option of length 0 (illegal, RFC 9293 3.1): MSS kept, rest ignored.
  assert(!parseTcpOptions(new Uint8Array([2, 4, 5, 180, 8, 0, 1, 1]), o));
  assertEquals(o.mss, 1460);
  // Length 1 is illegal too.
  assert(!parseTcpOptions(new Uint8Array([3, 1, 1, 1]), o));
  assertEquals(o.windowScale, -1);
  // An option running past the end.
  assert(!parseTcpOptions(new Uint8Array([1, 8, 10, 0, 0, 0, 1]), o));
  assertEquals(o.hasTimestamps, false);
  // A kind byte at the very end with no length.
  assert(!parseTcpOptions(new Uint8Array([1, 1, 1, 2]), o));
  // Known options with the wrong length are ignored; unknown ones skipped.
  assert(parseTcpOptions(new Uint8Array([2, 3, 5, 3, 4, 0, 30, 30, 3, 1, 0]), o));
  assertEquals([o.mss, o.windowScale], [0, -1]);
  // End of option list stops parsing.
  assert(parseTcpOptions(new Uint8Array([0, 2, 4, 5, 180]), o));
  assertEquals(o.mss, 0);
  // RFC 7323 2.3: a shift above 14 is used as 14.
  parseTcpOptions(new Uint8Array([1, 3, 3, 15]), o);
  assertEquals(o.windowScale, 14);
  // SACK with a length that is not 2 + 8n is ignored.
  parseTcpOptions(new Uint8Array([5, 6, 0, 0, 0, 1, 1, 1]), o);
  assertEquals(o.sackBlocks, []);
});

Deno.test("wire/tcp: SACK blocks are limited to what fits in 40 option bytes", () => {
  const o: TcpOptions = {
    ...newTcpOptions(),
    hasTimestamps: true,
    sackBlocks: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  };
  assertEquals(tcpOptionsLength(o), 12 + 4 + 3 * 8);
  const buf = new Uint8Array(60);
  const hl = emitTcpHeader(buf, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0 }, o);
  assertEquals(hl, 20 + TCP_MAX_OPTIONS_LENGTH);
  const back = newTcpOptions();
  parseTcpOptions(view(buf.subarray(0, hl)).options, back);
  assertEquals(back.sackBlocks, [1, 2, 3, 4, 5, 6]);
  o.hasTimestamps = false;
  assertEquals(tcpOptionsLength(o), 4 + 4 * 8);
});

Deno.test("wire/tcp: random bytes never throw and never read out of bounds", () => {
  const random = new SeededRandom(42);
  const o = newTcpOptions();
  for (let i = 0; i < 20000; i++) {
    const n = random.u32() % 80;
    const bytes = new Uint8Array(n);
    for (let j = 0; j < n; j++) bytes[j] = random.u32() & 0xff;
    const v = TcpHeaderView.parse(bytes);
    if (typeof v === "string") continue;
    parseTcpOptions(v.options, o);
    assert(o.sackBlocks.length <= 8);
    assert(v.headerLength + v.payload.length === n);
  }
});

Deno.test("wire/tcp: 32-bit fields are unsigned big-endian", () => {
  assertEquals(readU32(new Uint8Array([0xff, 0xff, 0xff, 0xfe]), 0), 0xfffffffe);
  const b = new Uint8Array(5);
  writeU32(b, 1, 0x80000001);
  assertEquals([...b], [0, 0x80, 0, 0, 1]);
});
