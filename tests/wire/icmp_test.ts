/**
 * ICMP codec (stack/wire/icmp.ts, RFC 792) against messages captured from the Linux kernel
 * (tests/fixtures/l2l3/captures.ts): echo request and reply, a 9-byte (odd) echo, an echo
 * carried in three IPv4 fragments, and a port unreachable quoting the offending datagram. Four
 * ways: read fields, build, parse, round trip. Expected values come from `tcpdump -vvv`.
 */

import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import {
  emitIcmp,
  ICMP_HEADER_LENGTH,
  IcmpMessage,
  IcmpType,
  isIcmpError,
  parseIcmp,
  UnreachableCode,
} from "../../stack/wire/icmp.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

/** The ICMP message inside a captured frame whose IPv4 header has IHL `ihl`. */
function icmpOf(frame: Uint8Array, ihl = 5): Uint8Array {
  return frame.subarray(14 + ihl * 4);
}

function parsed(bytes: Uint8Array): IcmpMessage {
  const message = parseIcmp(bytes);
  if (typeof message === "string") throw new Error(`expected an ICMP message, got '${message}'`);
  return message;
}

interface Vector {
  name: string;
  message: Uint8Array;
  type: number;
  code: number;
  identifier: number;
  sequence: number;
  bodyLength: number;
}

/** tcpdump: "ICMP echo request, id 12063, seq 1, length 64" and so on. */
const VECTORS: Vector[] = [
  {
    name: "ECHO_REQUEST",
    message: icmpOf(cap.ECHO_REQUEST),
    type: 8,
    code: 0,
    identifier: 12063,
    sequence: 1,
    bodyLength: 56,
  },
  {
    name: "ECHO_REPLY",
    message: icmpOf(cap.ECHO_REPLY),
    type: 0,
    code: 0,
    identifier: 12063,
    sequence: 1,
    bodyLength: 56,
  },
  {
    name: "ECHO_REQUEST_RR",
    message: icmpOf(cap.ECHO_REQUEST_RR, 15),
    type: 8,
    code: 0,
    identifier: 12067,
    sequence: 1,
    bodyLength: 56,
  },
  {
    name: "ECHO_REPLY_RR",
    message: icmpOf(cap.ECHO_REPLY_RR, 15),
    type: 0,
    code: 0,
    identifier: 12067,
    sequence: 1,
    bodyLength: 56,
  },
  {
    name: "ECHO_REQUEST_ODD",
    message: icmpOf(cap.ECHO_REQUEST_ODD),
    type: 8,
    code: 0,
    identifier: 12069,
    sequence: 1,
    bodyLength: 1,
  },
  {
    name: "ECHO_REPLY_ODD",
    message: icmpOf(cap.ECHO_REPLY_ODD),
    type: 0,
    code: 0,
    identifier: 12069,
    sequence: 1,
    bodyLength: 1,
  },
  {
    // "udp port 9999 unreachable, length 49": the rest-of-header word is unused (zero).
    name: "PORT_UNREACHABLE",
    message: icmpOf(cap.PORT_UNREACHABLE),
    type: 3,
    code: 3,
    identifier: 0,
    sequence: 0,
    bodyLength: 41,
  },
];

/** The ICMP message a 3000-byte ping sent in three fragments (payloads joined in offset order). */
function reassembledEcho(): Uint8Array {
  const parts = [cap.FRAGMENT_1, cap.FRAGMENT_2, cap.FRAGMENT_3].map((f) => f.subarray(34));
  const message = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    message.set(part, at);
    at += part.length;
  }
  return message;
}

Deno.test("icmp: constants are the RFC 792 / RFC 1191 values", () => {
  assertEquals(ICMP_HEADER_LENGTH, 8);
  assertEquals(IcmpType, {
    ECHO_REPLY: 0,
    DEST_UNREACHABLE: 3,
    SOURCE_QUENCH: 4,
    REDIRECT: 5,
    ECHO_REQUEST: 8,
    TIME_EXCEEDED: 11,
    PARAMETER_PROBLEM: 12,
  });
  assertEquals(UnreachableCode, { NET: 0, HOST: 1, PROTOCOL: 2, PORT: 3, FRAGMENTATION_NEEDED: 4 });
});

Deno.test("icmp: isIcmpError is true exactly for the types that quote a packet", () => {
  const errors = [3, 4, 5, 11, 12];
  for (let type = 0; type < 256; type++) {
    assertEquals(isIcmpError(type), errors.includes(type), `type ${type}`);
  }
});

Deno.test("icmp: reads the fields of every captured message", () => {
  for (const v of VECTORS) {
    const m = parsed(v.message);
    assertEquals(
      [m.type, m.code, m.identifier, m.sequence, m.body.length],
      [v.type, v.code, v.identifier, v.sequence, v.bodyLength],
      v.name,
    );
  }
});

Deno.test("icmp: an echo body carries ping's pattern and the reply echoes it", () => {
  const request = parsed(icmpOf(cap.ECHO_REQUEST));
  // Linux ping: a 16-byte timeval, then the -p pattern "mip-tap" continued from the packet start.
  const text = new TextDecoder().decode(request.body.subarray(16));
  assert("mip-tap".repeat(8).includes(text), text);
  assertEquals(parsed(icmpOf(cap.ECHO_REPLY)).body, request.body);
});

Deno.test("icmp: a port unreachable quotes the IPv4 header and the whole UDP datagram", () => {
  const m = parsed(icmpOf(cap.PORT_UNREACHABLE));
  assertEquals(m.body, cap.UDP_HELLO.subarray(14));
});

Deno.test("icmp: the body is a view into the message", () => {
  const bytes = icmpOf(cap.ECHO_REQUEST).slice();
  const m = parsed(bytes);
  assertStrictEquals(m.body.buffer, bytes.buffer);
  assertEquals(m.body.byteOffset, bytes.byteOffset + 8);
});

Deno.test("icmp: the fragmented 3000-byte echo request checks out once reassembled", () => {
  const m = parsed(reassembledEcho());
  // tcpdump: "ICMP echo request, id 12065, seq 1" for the first fragment; ping -s 3000.
  assertEquals([m.type, m.code, m.identifier, m.sequence], [8, 0, 12065, 1]);
  assertEquals(m.body.length, 3000);
  // A fragment alone does not.
  assertEquals(parseIcmp(cap.FRAGMENT_1.subarray(34)), "bad-checksum");
});

Deno.test("icmp: emit builds every captured message from its body", () => {
  const all = [...VECTORS, {
    name: "reassembled",
    message: reassembledEcho(),
    type: 8,
    code: 0,
    identifier: 12065,
    sequence: 1,
    bodyLength: 3000,
  }];
  for (const v of all) {
    const buffer = new Uint8Array(v.message.length).fill(0x55);
    buffer.set(v.message.subarray(8), 8);
    emitIcmp(buffer, v.type, v.code, v.identifier, v.sequence);
    assertEquals(buffer, v.message, v.name);
  }
});

Deno.test("icmp: parse then emit reproduces every captured message", () => {
  for (const v of VECTORS) {
    const m = parsed(v.message);
    const buffer = new Uint8Array(v.message.length);
    buffer.set(m.body, 8);
    emitIcmp(buffer, m.type, m.code, m.identifier, m.sequence);
    assertEquals(buffer, v.message, v.name);
  }
});

Deno.test("icmp: emit then parse round trip, odd and even lengths", () => {
  const random = new SeededRandom(792);
  for (let i = 0; i < 1000; i++) {
    const bodyLength = random.u32() % 80;
    const buffer = new Uint8Array(8 + bodyLength);
    for (let j = 8; j < buffer.length; j++) buffer[j] = random.u32() & 0xff;
    const body = buffer.slice(8);
    const fields = {
      type: random.u32() & 0xff,
      code: random.u32() & 0xff,
      identifier: random.u32() & 0xffff,
      sequence: random.u32() & 0xffff,
    };
    emitIcmp(buffer, fields.type, fields.code, fields.identifier, fields.sequence);
    const m = parsed(buffer);
    assertEquals(
      { type: m.type, code: m.code, identifier: m.identifier, sequence: m.sequence },
      fields,
    );
    assertEquals(m.body, body);
  }
});

Deno.test("icmp: messages shorter than the header are 'truncated'", () => {
  for (const v of VECTORS) {
    for (let n = 0; n < 8; n++) {
      assertEquals(parseIcmp(v.message.subarray(0, n)), "truncated", `${v.name} cut to ${n}`);
    }
  }
});

Deno.test("icmp: every other truncation is rejected unless only zero bytes were cut", () => {
  // ICMP has no length field: IPv4's total length bounds it. Cutting bytes that are all zero
  // leaves the checksum valid (RFC 1071 pads with zero), so those prefixes still parse.
  for (const v of VECTORS) {
    for (let n = 8; n < v.message.length; n++) {
      const result = parseIcmp(v.message.subarray(0, n));
      if (v.message.subarray(n).every((b) => b === 0)) {
        assert(typeof result !== "string", `${v.name} cut to ${n}`);
      } else {
        assertEquals(result, "bad-checksum", `${v.name} cut to ${n}`);
      }
    }
  }
});

Deno.test("icmp: a flipped bit anywhere is 'bad-checksum'", () => {
  for (const v of VECTORS) {
    for (let bit = 0; bit < v.message.length * 8; bit++) {
      const bytes = v.message.slice();
      bytes[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      assertEquals(parseIcmp(bytes), "bad-checksum", `${v.name} bit ${bit}`);
    }
  }
});

Deno.test("icmp: random bytes never throw and are almost always 'bad-checksum'", () => {
  const random = new SeededRandom(0xf1c3);
  const reasons = new Map<string, number>();
  for (let i = 0; i < 20000; i++) {
    const bytes = Uint8Array.from({ length: random.u32() % 64 }, () => random.u32() & 0xff);
    const result = parseIcmp(bytes);
    const key = typeof result === "string" ? result : "accepted";
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
    if (typeof result !== "string") assertEquals(result.body.length, bytes.length - 8);
  }
  // About 1 in 65535 random messages checks out by chance.
  assert((reasons.get("accepted") ?? 0) < 10, JSON.stringify([...reasons]));
  assert((reasons.get("truncated") ?? 0) > 2000);
});
