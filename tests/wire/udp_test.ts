/**
 * UDP codec (stack/wire/udp.ts, RFC 768) against datagrams the Linux kernel sent with transmit
 * checksum offload off (tests/fixtures/l2l3/captures.ts; tcpdump -vvv said "udp sum ok" for both).
 * Four ways: read fields, build, parse, round trip; then the length and checksum rules.
 */

import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import { emitUdp, parseUdp, UDP_HEADER_LENGTH, type UdpDatagram } from "../../stack/wire/udp.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

const IP_1 = parseIpv4(cap.IP_1);
const IP_2 = parseIpv4(cap.IP_2);

/** The UDP datagram inside a captured frame (IHL 5). */
function udpOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(34);
}

function parsed(bytes: Uint8Array, src = IP_1, dst = IP_2): UdpDatagram {
  const datagram = parseUdp(bytes, src, dst);
  if (typeof datagram === "string") throw new Error(`expected a datagram, got '${datagram}'`);
  return datagram;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** tcpdump: "192.168.77.1.40000 > 192.168.77.2.9999: [udp sum ok] UDP, length 13" etc. */
const VECTORS = [
  {
    name: "UDP_HELLO",
    datagram: udpOf(cap.UDP_HELLO),
    srcPort: 40000,
    dstPort: 9999,
    payload: "hello mip-tap",
    checksum: 0x1b35,
  },
  {
    name: "UDP_ODD",
    datagram: udpOf(cap.UDP_ODD),
    srcPort: 40001,
    dstPort: 5555,
    payload: "odd!",
    checksum: 0x5f07,
  },
];

Deno.test("udp: header length constant", () => {
  assertEquals(UDP_HEADER_LENGTH, 8);
});

Deno.test("udp: reads the fields of the captured datagrams", () => {
  for (const v of VECTORS) {
    const d = parsed(v.datagram);
    assertEquals(d.srcPort, v.srcPort, v.name);
    assertEquals(d.dstPort, v.dstPort, v.name);
    assertEquals(text(d.payload), v.payload, v.name);
    assertEquals((v.datagram[4]! << 8) | v.datagram[5]!, 8 + v.payload.length, v.name);
    assertEquals((v.datagram[6]! << 8) | v.datagram[7]!, v.checksum, v.name);
  }
});

Deno.test("udp: the payload is a view", () => {
  const bytes = udpOf(cap.UDP_HELLO).slice();
  const d = parsed(bytes);
  assertStrictEquals(d.payload.buffer, bytes.buffer);
  assertEquals(d.payload.byteOffset, bytes.byteOffset + 8);
});

Deno.test("udp: emit builds the captured datagrams, checksum included", () => {
  for (const v of VECTORS) {
    const buffer = new Uint8Array(8 + v.payload.length).fill(0x33);
    buffer.set(new TextEncoder().encode(v.payload), 8);
    emitUdp(buffer, v.srcPort, v.dstPort, IP_1, IP_2);
    assertEquals(buffer, v.datagram, v.name);
  }
});

Deno.test("udp: parse then emit reproduces the captured datagrams", () => {
  for (const v of VECTORS) {
    const d = parsed(v.datagram);
    const buffer = new Uint8Array(8 + d.payload.length);
    buffer.set(d.payload, 8);
    emitUdp(buffer, d.srcPort, d.dstPort, IP_1, IP_2);
    assertEquals(buffer, v.datagram, v.name);
  }
});

Deno.test("udp: emit then parse round trip over random datagrams, odd and even lengths", () => {
  const random = new SeededRandom(768);
  for (let i = 0; i < 1000; i++) {
    const src = random.u32();
    const dst = random.u32();
    const payload = Uint8Array.from({ length: random.u32() % 64 }, () => random.u32() & 0xff);
    const srcPort = random.u32() & 0xffff;
    const dstPort = random.u32() & 0xffff;
    const buffer = new Uint8Array(8 + payload.length);
    buffer.set(payload, 8);
    emitUdp(buffer, srcPort, dstPort, src, dst);
    assert(buffer[6] !== 0 || buffer[7] !== 0, "emit never sends a zero checksum");
    const d = parsed(buffer, src, dst);
    assertEquals({ srcPort: d.srcPort, dstPort: d.dstPort, payload: d.payload }, {
      srcPort,
      dstPort,
      payload,
    });
  }
});

Deno.test("udp: a computed checksum of zero is sent as 0xffff and accepted (RFC 768)", () => {
  // Pick the 2-byte payload that makes the ones' complement sum 0xffff, so the checksum is 0.
  const datagram = Uint8Array.of(0x9c, 0x40, 0x27, 0x0f, 0, 10, 0, 0, 0, 0);
  let sum = 0xc0a8 + 0x4d01 + 0xc0a8 + 0x4d02 + 17 + 10; // pseudo-header
  for (let i = 0; i < 8; i += 2) sum += (datagram[i]! << 8) | datagram[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const word = ~sum & 0xffff;
  datagram[8] = word >>> 8;
  datagram[9] = word & 0xff;
  emitUdp(datagram, 40000, 9999, IP_1, IP_2);
  assertEquals([datagram[6], datagram[7]], [0xff, 0xff]);
  assertEquals(parsed(datagram).payload, Uint8Array.of(word >>> 8, word & 0xff));
});

Deno.test("udp: a zero checksum means none was computed: accepted without checking", () => {
  const bytes = udpOf(cap.UDP_HELLO).slice();
  bytes[6] = 0;
  bytes[7] = 0;
  assertEquals(text(parsed(bytes).payload), "hello mip-tap");
  bytes[8]! ^= 0x20; // "Hello": would fail any checksum
  assertEquals(text(parsed(bytes).payload), "Hello mip-tap");
  // And the pseudo-header does not matter either.
  assertEquals(parsed(bytes, 1, 2).srcPort, 40000);
});

Deno.test("udp: any flipped bit, or the wrong pseudo-header, is 'bad-checksum'", () => {
  for (const v of VECTORS) {
    for (let bit = 0; bit < v.datagram.length * 8; bit++) {
      if (bit >= 32 && bit < 48) continue; // the length field: see the length tests
      const bytes = v.datagram.slice();
      bytes[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      // A flip that zeroes the checksum field disables checking (RFC 768): none here.
      assertEquals(parseUdp(bytes, IP_1, IP_2), "bad-checksum", `${v.name} bit ${bit}`);
    }
    assertEquals(parseUdp(v.datagram, IP_2, IP_1 ^ 0x100), "bad-checksum", `${v.name} src`);
    assertEquals(parseUdp(v.datagram, IP_1, IP_1), "bad-checksum", `${v.name} dst`);
  }
});

Deno.test("udp: every truncation of a captured datagram is rejected", () => {
  for (const v of VECTORS) {
    for (let n = 0; n < v.datagram.length; n++) {
      const reason = n < 8 ? "truncated" : "bad-length";
      assertEquals(
        parseUdp(v.datagram.subarray(0, n), IP_1, IP_2),
        reason,
        `${v.name} cut to ${n}`,
      );
    }
  }
});

Deno.test("udp: a length field larger than the packet is 'bad-length'", () => {
  for (const length of [22, 100, 0xffff]) {
    const bytes = udpOf(cap.UDP_HELLO).slice();
    bytes[4] = length >>> 8;
    bytes[5] = length & 0xff;
    assertEquals(parseUdp(bytes, IP_1, IP_2), "bad-length", `length ${length}`);
  }
});

Deno.test("udp: a length field smaller than the header is 'bad-length'", () => {
  for (let length = 0; length < 8; length++) {
    const bytes = udpOf(cap.UDP_HELLO).slice();
    bytes[4] = 0;
    bytes[5] = length;
    bytes[6] = 0; // no checksum, so only the length can be wrong
    bytes[7] = 0;
    assertEquals(parseUdp(bytes, IP_1, IP_2), "bad-length", `length ${length}`);
  }
});

Deno.test("udp: bytes past the length field are not payload and not summed", () => {
  const padded = new Uint8Array(21 + 3).fill(0xee);
  padded.set(udpOf(cap.UDP_HELLO));
  assertEquals(text(parsed(padded).payload), "hello mip-tap");
  // An empty datagram (length 8) is valid.
  const empty = new Uint8Array(8);
  emitUdp(empty, 1, 2, IP_1, IP_2);
  assertEquals(parsed(empty).payload.length, 0);
});

Deno.test("udp: random bytes and mutated captures never throw; payloads stay in bounds", () => {
  const random = new SeededRandom(0xf0aa);
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    let bytes: Uint8Array;
    let src = IP_1;
    let dst = IP_2;
    if (i % 2 === 0) {
      // Random bytes with no checksum and a length field near the real length.
      bytes = Uint8Array.from({ length: random.u32() % 40 }, () => random.u32() & 0xff);
      if (bytes.length >= 8) {
        const length = random.u32() % (bytes.length + 4);
        bytes.set([length >>> 8, length & 0xff, 0, 0], 4);
      }
      src = random.u32();
      dst = random.u32();
    } else {
      // A capture with 0-1 header bits flipped, then cut short or padded.
      const seed = VECTORS[(i >> 1) % 2]!.datagram;
      bytes = new Uint8Array(seed.length + 4).fill(0xee);
      bytes.set(seed);
      if (random.u32() & 1) bytes[random.u32() % 8]! ^= 1 << (random.u32() & 7);
      bytes = bytes.subarray(0, random.u32() % (bytes.length + 1));
    }
    const result = parseUdp(bytes, src, dst);
    if (typeof result === "string") continue;
    accepted++;
    assert(8 + result.payload.length <= bytes.length);
    assertEquals(result.payload.length, ((bytes[4]! << 8) | bytes[5]!) - 8);
  }
  assert(accepted > 1000, `${accepted} accepted`);
});
