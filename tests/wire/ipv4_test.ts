/**
 * IPv4 header codec (stack/wire/ipv4.ts, RFC 791) against packets captured from the Linux kernel
 * (tests/fixtures/l2l3/captures.ts): plain, fragmented (MF and offsets), with options (IHL 15),
 * odd-length and with a non-zero TOS. Four ways: read fields, build, parse, round trip; then every
 * malformed shape `check` must reject, with its reason. Expected values come from
 * `tcpdump -vvv -e`, not from the codec.
 */

import { assert, assertEquals, assertFalse, assertStrictEquals } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import {
  emitIpv4,
  IPV4_DEFAULT_TTL,
  IPV4_HEADER_LENGTH,
  type Ipv4HeaderFields,
  Ipv4Packet,
} from "../../stack/wire/ipv4.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

const IP_1 = parseIpv4(cap.IP_1);
const IP_2 = parseIpv4(cap.IP_2);

/** What tcpdump printed for each captured packet. */
interface Expected {
  name: string;
  frame: Uint8Array;
  headerLength: number;
  tos: number;
  totalLength: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  fragmentOffset: number;
  protocol: number;
  src: number;
  dst: number;
}

function expected(
  name: string,
  frame: Uint8Array,
  fields: Partial<Expected> & Pick<Expected, "totalLength" | "identification">,
): Expected {
  const outbound = fields.src === undefined || fields.src === IP_1;
  return {
    name,
    frame,
    headerLength: 20,
    tos: 0,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    protocol: 1,
    src: outbound ? IP_1 : IP_2,
    dst: outbound ? IP_2 : IP_1,
    ...fields,
  };
}

const VECTORS: Expected[] = [
  expected("ECHO_REQUEST", cap.ECHO_REQUEST, {
    totalLength: 84,
    identification: 44456,
    dontFragment: true,
  }),
  expected("ECHO_REPLY", cap.ECHO_REPLY, { totalLength: 84, identification: 37912, src: IP_2 }),
  expected("FRAGMENT_1", cap.FRAGMENT_1, {
    totalLength: 1500,
    identification: 44457,
    moreFragments: true,
  }),
  expected("FRAGMENT_2", cap.FRAGMENT_2, {
    totalLength: 1500,
    identification: 44457,
    moreFragments: true,
    fragmentOffset: 1480,
  }),
  expected("FRAGMENT_3", cap.FRAGMENT_3, {
    totalLength: 68,
    identification: 44457,
    fragmentOffset: 2960,
  }),
  expected("ECHO_REQUEST_RR", cap.ECHO_REQUEST_RR, {
    headerLength: 60,
    totalLength: 124,
    identification: 44458,
    dontFragment: true,
  }),
  expected("ECHO_REPLY_RR", cap.ECHO_REPLY_RR, {
    headerLength: 60,
    totalLength: 124,
    identification: 37914,
    src: IP_2,
  }),
  expected("ECHO_REQUEST_ODD", cap.ECHO_REQUEST_ODD, {
    totalLength: 29,
    identification: 44459,
    dontFragment: true,
  }),
  expected("ECHO_REPLY_ODD", cap.ECHO_REPLY_ODD, {
    totalLength: 29,
    identification: 37915,
    src: IP_2,
  }),
  expected("UDP_HELLO", cap.UDP_HELLO, {
    totalLength: 41,
    identification: 64480,
    dontFragment: true,
    protocol: 17,
  }),
  expected("PORT_UNREACHABLE", cap.PORT_UNREACHABLE, {
    tos: 0xc0,
    totalLength: 69,
    identification: 37923,
    src: IP_2,
  }),
  expected("UDP_ODD", cap.UDP_ODD, {
    totalLength: 32,
    identification: 64592,
    dontFragment: true,
    protocol: 17,
  }),
];

/** The IPv4 packet inside a captured frame. */
function ipOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(14);
}

function checked(bytes: Uint8Array): Ipv4Packet {
  const packet = Ipv4Packet.check(bytes);
  if (typeof packet === "string") throw new Error(`expected a valid packet, got '${packet}'`);
  return packet;
}

/** Recomputes the header checksum of `packet` with a plain RFC 1071 loop (not the codec's). */
function fixChecksum(packet: Uint8Array): Uint8Array {
  const headerLength = Math.max(20, (packet[0]! & 0x0f) * 4);
  packet[10] = 0;
  packet[11] = 0;
  let sum = 0;
  for (let i = 0; i < headerLength; i += 2) {
    sum += (packet[i]! << 8) | packet[i + 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  const checksum = ~sum & 0xffff;
  packet[10] = checksum >>> 8;
  packet[11] = checksum & 0xff;
  return packet;
}

Deno.test("ipv4: constants", () => {
  assertEquals(IPV4_HEADER_LENGTH, 20);
  assertEquals(IPV4_DEFAULT_TTL, 64);
});

Deno.test("ipv4: reads the fields of every captured packet", () => {
  for (const v of VECTORS) {
    const p = checked(ipOf(v.frame));
    assertEquals(p.headerLength, v.headerLength, v.name);
    assertEquals(p.tos, v.tos, v.name);
    assertEquals(p.totalLength, v.totalLength, v.name);
    assertEquals(p.identification, v.identification, v.name);
    assertEquals(p.dontFragment, v.dontFragment, v.name);
    assertEquals(p.moreFragments, v.moreFragments, v.name);
    assertEquals(p.fragmentOffset, v.fragmentOffset, v.name);
    assertEquals(p.isFragment, v.moreFragments || v.fragmentOffset > 0, v.name);
    assertEquals(p.ttl, 64, v.name);
    assertEquals(p.protocol, v.protocol, v.name);
    assertEquals(p.src, v.src, v.name);
    assertEquals(p.dst, v.dst, v.name);
    assertEquals(p.payload.length, v.totalLength - v.headerLength, v.name);
  }
});

Deno.test("ipv4: the three fragments of a 3000-byte ping carry the 3008-byte ICMP message", () => {
  const fragments = [cap.FRAGMENT_1, cap.FRAGMENT_2, cap.FRAGMENT_3].map((f) => checked(ipOf(f)));
  assertEquals(fragments.map((f) => f.payload.length), [1480, 1480, 48]);
  assertEquals(fragments.map((f) => f.fragmentOffset), [0, 1480, 2960]);
  assert(fragments.every((f) => f.isFragment));
  // Each offset is where the previous fragment's payload ends.
  assertEquals(fragments[1]!.fragmentOffset, fragments[0]!.payload.length);
  assertEquals(fragments[2]!.fragmentOffset, 1480 + fragments[1]!.payload.length);
  // The first fragment starts with the echo request header (type 8, code 0).
  assertEquals(Array.from(fragments[0]!.payload.subarray(0, 2)), [8, 0]);
});

Deno.test("ipv4: options are skipped: the payload of an IHL-15 packet starts after them", () => {
  const p = checked(ipOf(cap.ECHO_REQUEST_RR));
  // tcpdump: options (NOP, RR 192.168.77.1, ...); the RR option type is 7, length 39.
  assertEquals(Array.from(p.bytes.subarray(20, 23)), [1, 7, 39]);
  assertEquals(p.payload.length, 64);
  assertEquals(p.payload[0], 8); // ICMP echo request
  assertEquals(checked(ipOf(cap.ECHO_REPLY_RR)).payload[0], 0); // ICMP echo reply
});

Deno.test("ipv4: the view and its payload share the captured buffer", () => {
  const bytes = ipOf(cap.UDP_ODD).slice();
  const p = checked(bytes);
  assertStrictEquals(p.bytes.buffer, bytes.buffer);
  assertStrictEquals(p.payload.buffer, bytes.buffer);
  assertEquals(p.payload.byteOffset, bytes.byteOffset + 20);
});

Deno.test("ipv4: link padding past the total length is excluded from the packet and payload", () => {
  // A real NIC pads UDP_ODD's 46-byte frame to the 60-byte Ethernet minimum: 14 bytes of junk.
  const padded = new Uint8Array(32 + 14).fill(0xee);
  padded.set(ipOf(cap.UDP_ODD));
  const p = checked(padded);
  assertEquals(p.totalLength, 32);
  assertEquals(p.bytes.length, 32);
  assertEquals(p.payload.length, 12);
  assertEquals(p.payload, ipOf(cap.UDP_ODD).subarray(20));
});

Deno.test("ipv4: emit builds the captured header of every option-less packet", () => {
  for (const v of VECTORS.filter((v) => v.headerLength === 20)) {
    const fields: Ipv4HeaderFields = {
      tos: v.tos,
      totalLength: v.totalLength,
      identification: v.identification,
      dontFragment: v.dontFragment,
      moreFragments: v.moreFragments,
      fragmentOffset: v.fragmentOffset,
      ttl: 64,
      protocol: v.protocol,
      src: v.src,
      dst: v.dst,
    };
    const buffer = new Uint8Array(20);
    assertEquals(emitIpv4(buffer, 0, fields), 20, v.name);
    assertEquals(buffer, ipOf(v.frame).subarray(0, 20), v.name);
  }
});

Deno.test("ipv4: emit defaults are TOS 0, no flags, offset 0, TTL 64", () => {
  const buffer = new Uint8Array(20);
  emitIpv4(buffer, 0, {
    totalLength: 84,
    identification: 37912,
    protocol: 1,
    src: IP_2,
    dst: IP_1,
  });
  assertEquals(buffer, ipOf(cap.ECHO_REPLY).subarray(0, 20));
});

Deno.test("ipv4: emit writes at the offset and nothing outside the 20 header bytes", () => {
  const frame = new Uint8Array(14 + 20 + 8).fill(0xaa);
  emitIpv4(frame, 14, {
    totalLength: 28,
    identification: 1,
    protocol: 17,
    src: IP_1,
    dst: IP_2,
  });
  assertEquals(frame.subarray(0, 14), new Uint8Array(14).fill(0xaa));
  assertEquals(frame.subarray(34), new Uint8Array(8).fill(0xaa));
  assertEquals(checked(frame.subarray(14)).src, IP_1);
});

Deno.test("ipv4: parse then emit reproduces every option-less captured header", () => {
  for (const v of VECTORS.filter((v) => v.headerLength === 20)) {
    const p = checked(ipOf(v.frame));
    const buffer = new Uint8Array(20);
    emitIpv4(buffer, 0, {
      tos: p.tos,
      totalLength: p.totalLength,
      identification: p.identification,
      dontFragment: p.dontFragment,
      moreFragments: p.moreFragments,
      fragmentOffset: p.fragmentOffset,
      ttl: p.ttl,
      protocol: p.protocol,
      src: p.src,
      dst: p.dst,
    });
    assertEquals(buffer, ipOf(v.frame).subarray(0, 20), v.name);
  }
});

Deno.test("ipv4: emit then check round trip over random headers", () => {
  const random = new SeededRandom(791);
  for (let i = 0; i < 1000; i++) {
    const payloadLength = random.u32() % 100;
    const fields = {
      tos: random.u32() & 0xff,
      totalLength: 20 + payloadLength,
      identification: random.u32() & 0xffff,
      dontFragment: (random.u32() & 1) === 1,
      moreFragments: (random.u32() & 1) === 1,
      fragmentOffset: (random.u32() & 0x1fff) * 8,
      ttl: random.u32() & 0xff,
      protocol: random.u32() & 0xff,
      src: random.u32(),
      dst: random.u32(),
    };
    const buffer = new Uint8Array(fields.totalLength);
    emitIpv4(buffer, 0, fields);
    const p = checked(buffer);
    assertEquals({
      tos: p.tos,
      totalLength: p.totalLength,
      identification: p.identification,
      dontFragment: p.dontFragment,
      moreFragments: p.moreFragments,
      fragmentOffset: p.fragmentOffset,
      ttl: p.ttl,
      protocol: p.protocol,
      src: p.src,
      dst: p.dst,
    }, fields);
    assertEquals(p.payload.length, payloadLength);
  }
});

Deno.test("ipv4: every truncation of every captured packet is 'truncated'", () => {
  for (const v of VECTORS) {
    const packet = ipOf(v.frame);
    for (let n = 0; n < packet.length; n++) {
      assertEquals(Ipv4Packet.check(packet.subarray(0, n)), "truncated", `${v.name} cut to ${n}`);
    }
  }
});

Deno.test("ipv4: a version other than 4 is 'bad-version'", () => {
  for (const version of [0, 1, 5, 6, 15]) {
    const bytes = ipOf(cap.ECHO_REQUEST).slice();
    bytes[0] = (version << 4) | 5;
    assertEquals(Ipv4Packet.check(fixChecksum(bytes)), "bad-version", `version ${version}`);
  }
});

Deno.test("ipv4: IHL < 5 is 'bad-header-length'", () => {
  for (const ihl of [0, 1, 2, 3, 4]) {
    const bytes = ipOf(cap.ECHO_REQUEST).slice();
    bytes[0] = 0x40 | ihl;
    assertEquals(Ipv4Packet.check(fixChecksum(bytes)), "bad-header-length", `IHL ${ihl}`);
  }
});

Deno.test("ipv4: a total length below the header length is 'bad-total-length'", () => {
  const cases: [string, Uint8Array, number][] = [
    ["IHL 5, total 0", cap.ECHO_REQUEST, 0],
    ["IHL 5, total 19", cap.ECHO_REQUEST, 19],
    ["IHL 15, total 20", cap.ECHO_REQUEST_RR, 20],
    ["IHL 15, total 59", cap.ECHO_REQUEST_RR, 59],
  ];
  for (const [what, frame, totalLength] of cases) {
    const bytes = ipOf(frame).slice();
    bytes[2] = totalLength >>> 8;
    bytes[3] = totalLength & 0xff;
    assertEquals(Ipv4Packet.check(fixChecksum(bytes)), "bad-total-length", what);
  }
  // Exactly the header length is a valid, empty packet.
  const bytes = ipOf(cap.ECHO_REQUEST).slice();
  bytes[2] = 0;
  bytes[3] = 20;
  assertEquals(checked(fixChecksum(bytes)).payload.length, 0);
});

Deno.test("ipv4: a total length beyond the buffer is 'truncated'", () => {
  const bytes = ipOf(cap.ECHO_REQUEST).slice();
  bytes[2] = 0;
  bytes[3] = 85;
  assertEquals(Ipv4Packet.check(fixChecksum(bytes)), "truncated");
});

Deno.test("ipv4: any single flipped header bit is caught ('bad-checksum' or an earlier reason)", () => {
  for (const v of VECTORS) {
    const headerLength = v.headerLength;
    for (let bit = 0; bit < headerLength * 8; bit++) {
      const bytes = ipOf(v.frame).slice();
      bytes[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      const result = Ipv4Packet.check(bytes);
      assert(typeof result === "string", `${v.name} with bit ${bit} flipped was accepted`);
      // Fields checked before the checksum may fail first; the rest must be the checksum.
      const early = bit < 8 || (bit >= 16 && bit < 32);
      if (!early) assertEquals(result, "bad-checksum", `${v.name} bit ${bit}`);
    }
  }
});

Deno.test("ipv4: the header checksum does not cover the payload", () => {
  const bytes = ipOf(cap.ECHO_REQUEST).slice();
  bytes[40]! ^= 0xff;
  assertFalse(typeof Ipv4Packet.check(bytes) === "string");
});

Deno.test("ipv4: random bytes and mutated captures never throw; accepted views stay in bounds", () => {
  const random = new SeededRandom(0xf022);
  const seeds = VECTORS.map((v) => ipOf(v.frame));
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = Uint8Array.from({ length: random.u32() % 80 }, () => random.u32() & 0xff);
      if (bytes.length > 0 && (i & 2) === 0) bytes[0] = 0x40 | (bytes[0]! & 0x0f); // version 4
    } else {
      // A capture with 0-2 header bits flipped, then cut short or padded.
      const seed = seeds[random.u32() % seeds.length]!;
      bytes = new Uint8Array(seed.length + 8).fill(0xee);
      bytes.set(seed);
      for (let k = random.u32() % 3; k > 0; k--) {
        bytes[random.u32() % 24]! ^= 1 << (random.u32() & 7);
      }
      bytes = bytes.subarray(0, random.u32() % (bytes.length + 1));
    }
    const result = Ipv4Packet.check(bytes);
    if (typeof result === "string") continue;
    accepted++;
    assert(result.headerLength >= 20 && result.headerLength <= result.totalLength);
    assert(result.totalLength <= bytes.length);
    assertEquals(result.payload.length, result.totalLength - result.headerLength);
    assertEquals(internetChecksumOf(result.bytes.subarray(0, result.headerLength)), 0);
  }
  assert(accepted > 200, `${accepted} accepted`);
});

/** The naive RFC 1071 checksum of `data` (even length). */
function internetChecksumOf(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
