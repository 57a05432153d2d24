/**
 * Ethernet II codec (stack/wire/ethernet.ts) against frames captured from the Linux kernel
 * (tests/fixtures/l2l3/captures.ts: how they were made is written there). Each vector is tested
 * four ways: read fields, build, parse (check), emit-then-parse round trip. Expected values come
 * from `tcpdump -e`, not from the codec.
 */

import { assert, assertEquals, assertFalse, assertStrictEquals } from "@std/assert";
import { parseMac } from "../../stack/wire/address.ts";
import {
  emitEthernet,
  ETHERNET_HEADER_LENGTH,
  ETHERNET_MAX_PAYLOAD,
  EthernetFrame,
  EtherType,
} from "../../stack/wire/ethernet.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

const ARP = 0x0806;
const IPV4 = 0x0800;
const BROADCAST_FROM_1 = { dst: "ff:ff:ff:ff:ff:ff", src: cap.MAC_1 };
const FROM_1 = { dst: cap.MAC_2, src: cap.MAC_1 };
const FROM_2 = { dst: cap.MAC_1, src: cap.MAC_2 };

/** Every captured frame with what `tcpdump -e` printed for its Ethernet header. */
const VECTORS = ([
  ["ARP_REQUEST_ARPING", BROADCAST_FROM_1, ARP],
  ["ARP_REPLY", FROM_2, ARP],
  ["ARP_REQUEST", BROADCAST_FROM_1, ARP],
  ["ECHO_REQUEST", FROM_1, IPV4],
  ["ECHO_REPLY", FROM_2, IPV4],
  ["FRAGMENT_1", FROM_1, IPV4],
  ["FRAGMENT_2", FROM_1, IPV4],
  ["FRAGMENT_3", FROM_1, IPV4],
  ["ECHO_REQUEST_RR", FROM_1, IPV4],
  ["ECHO_REPLY_RR", FROM_2, IPV4],
  ["ECHO_REQUEST_ODD", FROM_1, IPV4],
  ["ECHO_REPLY_ODD", FROM_2, IPV4],
  ["UDP_HELLO", FROM_1, IPV4],
  ["PORT_UNREACHABLE", FROM_2, IPV4],
  ["UDP_ODD", FROM_1, IPV4],
] as const).map(([name, { dst, src }, type]) => ({ name, frame: cap[name], dst, src, type }));

function checked(bytes: Uint8Array): EthernetFrame {
  const frame = EthernetFrame.check(bytes);
  if (frame === null) throw new Error(`a ${bytes.length}-byte frame should pass check`);
  return frame;
}

Deno.test("ethernet: constants are the IEEE values", () => {
  assertEquals(ETHERNET_HEADER_LENGTH, 14);
  assertEquals(ETHERNET_MAX_PAYLOAD, 1500);
  assertEquals(EtherType, { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd });
});

Deno.test("ethernet: reads the fields of every captured frame", () => {
  for (const v of VECTORS) {
    const frame = checked(v.frame);
    assertEquals(frame.destination, parseMac(v.dst), v.name);
    assertEquals(frame.source, parseMac(v.src), v.name);
    assertEquals(frame.etherType, v.type, v.name);
    assertEquals(frame.payload.length, v.frame.length - 14, v.name);
    assertEquals(frame.isFor(parseMac(v.dst)), true, v.name);
    assertEquals(frame.isFor(parseMac(v.src)), false, v.name);
  }
});

Deno.test("ethernet: broadcast, group and unicast destinations", () => {
  const broadcast = checked(cap.ARP_REQUEST);
  assert(broadcast.isBroadcast);
  assert(broadcast.isGroup);
  const unicast = checked(cap.ECHO_REQUEST);
  assertFalse(unicast.isBroadcast);
  assertFalse(unicast.isGroup);
  // 01:00:5e:00:00:fb (mDNS group, RFC 1112 6.4): group bit set, not broadcast.
  const multicast = cap.ECHO_REQUEST.slice();
  multicast.set(parseMac("01:00:5e:00:00:fb"), 0);
  assert(checked(multicast).isGroup);
  assertFalse(checked(multicast).isBroadcast);
  // All ones but one bit: not broadcast.
  const almost = cap.ARP_REQUEST.slice();
  almost[5] = 0xfe;
  assertFalse(checked(almost).isBroadcast);
  assert(checked(almost).isGroup);
});

Deno.test("ethernet: destination, source and payload are views, not copies", () => {
  const bytes = cap.ECHO_REQUEST.slice();
  const frame = checked(bytes);
  assertStrictEquals(frame.bytes, bytes);
  assertStrictEquals(frame.payload.buffer, bytes.buffer);
  assertEquals(frame.payload.byteOffset, bytes.byteOffset + 14);
  bytes[14] = 0x46;
  assertEquals(frame.payload[0], 0x46);
  bytes[6] = 0x0a;
  assertEquals(frame.source[0], 0x0a);
});

Deno.test("ethernet: check accepts exactly 14 bytes and rejects every shorter prefix", () => {
  for (const v of VECTORS) {
    for (let n = 0; n < ETHERNET_HEADER_LENGTH; n++) {
      assertEquals(EthernetFrame.check(v.frame.subarray(0, n)), null, `${v.name} cut to ${n}`);
    }
  }
  const bare = checked(cap.ECHO_REQUEST.subarray(0, 14));
  assertEquals(bare.payload.length, 0);
  assertEquals(bare.etherType, 0x0800);
});

Deno.test("ethernet: emit builds the captured header in front of a payload in place", () => {
  for (const v of VECTORS) {
    const buffer = new Uint8Array(v.frame.length);
    buffer.set(v.frame.subarray(14), 14);
    emitEthernet(buffer, parseMac(v.dst), parseMac(v.src), v.type);
    assertEquals(buffer, v.frame, v.name);
  }
});

Deno.test("ethernet: emit writes only the 14 header bytes", () => {
  const buffer = new Uint8Array(40).fill(0xaa);
  emitEthernet(buffer, parseMac(cap.MAC_2), parseMac(cap.MAC_1), EtherType.ARP);
  assertEquals(buffer.subarray(14), new Uint8Array(26).fill(0xaa));
  // A longer source array: only its first six bytes are used.
  const long = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  emitEthernet(buffer, long, long, EtherType.IPV6);
  assertEquals(
    buffer.subarray(0, 14),
    Uint8Array.of(1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0x86, 0xdd),
  );
  assertEquals(buffer[14], 0xaa);
});

Deno.test("ethernet: parse then emit reproduces every captured frame", () => {
  for (const v of VECTORS) {
    const frame = checked(v.frame);
    const buffer = new Uint8Array(v.frame.length);
    buffer.set(frame.payload, 14);
    emitEthernet(buffer, frame.destination, frame.source, frame.etherType);
    assertEquals(buffer, v.frame, v.name);
  }
});

Deno.test("ethernet: emit then check round trip over random headers", () => {
  const random = new SeededRandom(0xe7e7);
  for (let i = 0; i < 500; i++) {
    const dst = Uint8Array.from({ length: 6 }, () => random.u32() & 0xff);
    const src = Uint8Array.from({ length: 6 }, () => random.u32() & 0xff);
    const type = random.u32() & 0xffff;
    const payloadLength = random.u32() % 64;
    const buffer = new Uint8Array(14 + payloadLength);
    emitEthernet(buffer, dst, src, type);
    const frame = checked(buffer);
    assertEquals(frame.destination, dst);
    assertEquals(frame.source, src);
    assertEquals(frame.etherType, type);
    assertEquals(frame.payload.length, payloadLength);
    assertEquals(frame.isBroadcast, dst.every((b) => b === 0xff));
    assertEquals(frame.isGroup, (dst[0]! & 1) === 1);
  }
});
