/**
 * ARP codec (stack/wire/arp.ts, RFC 826) against packets captured from the Linux kernel and
 * arping (tests/fixtures/l2l3/captures.ts). Four ways: read fields, build, parse, round trip.
 * Expected values come from `tcpdump -vvv -e`, not from the codec.
 */

import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import {
  ARP_LENGTH,
  ArpOperation,
  type ArpPacket,
  emitArp,
  parseArp,
} from "../../stack/wire/arp.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

const ZERO_MAC = new Uint8Array(6);

/** The ARP packet inside a captured frame (after the 14-byte Ethernet header). */
function arpOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(14);
}

function parsed(bytes: Uint8Array): ArpPacket {
  const packet = parseArp(bytes);
  if (typeof packet === "string") throw new Error(`expected an ARP packet, got '${packet}'`);
  return packet;
}

/** tcpdump: "Request who-has 192.168.77.2 tell 192.168.77.1" / "Reply 192.168.77.2 is-at 02:..:02". */
const REQUEST: ArpPacket = {
  operation: 1,
  senderMac: parseMac(cap.MAC_1),
  senderIp: parseIpv4(cap.IP_1),
  targetMac: ZERO_MAC,
  targetIp: parseIpv4(cap.IP_2),
};
const REPLY: ArpPacket = {
  operation: 2,
  senderMac: parseMac(cap.MAC_2),
  senderIp: parseIpv4(cap.IP_2),
  targetMac: parseMac(cap.MAC_1),
  targetIp: parseIpv4(cap.IP_1),
};

const VECTORS: { name: string; frame: Uint8Array; packet: ArpPacket }[] = [
  { name: "ARP_REQUEST", frame: cap.ARP_REQUEST, packet: REQUEST },
  { name: "ARP_REQUEST_ARPING", frame: cap.ARP_REQUEST_ARPING, packet: REQUEST },
  { name: "ARP_REPLY", frame: cap.ARP_REPLY, packet: REPLY },
];

Deno.test("arp: constants are RFC 826 values for Ethernet/IPv4", () => {
  assertEquals(ARP_LENGTH, 28);
  assertEquals(ArpOperation, { REQUEST: 1, REPLY: 2 });
});

Deno.test("arp: reads the fields of captured requests and replies", () => {
  for (const v of VECTORS) {
    assertEquals(parsed(arpOf(v.frame)), v.packet, v.name);
  }
});

Deno.test("arp: the 16 bytes of padding arping sends after the packet are ignored", () => {
  assertEquals(arpOf(cap.ARP_REQUEST_ARPING).length, 44);
  assertEquals(parsed(arpOf(cap.ARP_REQUEST_ARPING)), parsed(arpOf(cap.ARP_REQUEST)));
});

Deno.test("arp: MACs are views into the packet", () => {
  const bytes = arpOf(cap.ARP_REPLY).slice();
  const packet = parsed(bytes);
  assertStrictEquals(packet.senderMac.buffer, bytes.buffer);
  bytes[8] = 0x0e;
  assertEquals(packet.senderMac[0], 0x0e);
  bytes[23] = 0x77;
  assertEquals(packet.targetMac[5], 0x77);
});

Deno.test("arp: emit builds the captured 28 bytes and touches nothing after them", () => {
  for (const v of VECTORS) {
    const buffer = new Uint8Array(40).fill(0xaa);
    assertEquals(emitArp(buffer, v.packet), 28, v.name);
    assertEquals(buffer.subarray(0, 28), arpOf(v.frame).subarray(0, 28), v.name);
    assertEquals(buffer.subarray(28), new Uint8Array(12).fill(0xaa), v.name);
  }
});

Deno.test("arp: parse then emit reproduces every captured packet", () => {
  for (const v of VECTORS) {
    const buffer = new Uint8Array(28);
    emitArp(buffer, parsed(arpOf(v.frame)));
    assertEquals(buffer, arpOf(v.frame).subarray(0, 28), v.name);
  }
});

Deno.test("arp: emit then parse round trip over random packets", () => {
  const random = new SeededRandom(826);
  const mac = () => Uint8Array.from({ length: 6 }, () => random.u32() & 0xff);
  for (let i = 0; i < 500; i++) {
    const packet: ArpPacket = {
      operation: 1 + (random.u32() & 1),
      senderMac: mac(),
      senderIp: random.u32(),
      targetMac: mac(),
      targetIp: random.u32(),
    };
    const buffer = new Uint8Array(28);
    emitArp(buffer, packet);
    assertEquals(parsed(buffer), packet);
  }
});

Deno.test("arp: every truncation of a captured packet is 'truncated'", () => {
  for (const v of VECTORS) {
    for (let n = 0; n < 28; n++) {
      assertEquals(parseArp(arpOf(v.frame).subarray(0, n)), "truncated", `${v.name} cut to ${n}`);
    }
  }
});

Deno.test("arp: other hardware or protocol types and lengths are 'unsupported'", () => {
  const cases: [string, number, number][] = [
    ["hardware type 6 (IEEE 802)", 1, 6],
    ["hardware type 0x0100", 0, 1],
    ["protocol type IPv6", 2, 0x86],
    ["protocol type 0x0801", 3, 0x01],
    ["hardware length 8", 4, 8],
    ["protocol length 16", 5, 16],
  ];
  for (const [what, offset, value] of cases) {
    const bytes = arpOf(cap.ARP_REQUEST).slice();
    bytes[offset] = value;
    assertEquals(parseArp(bytes), "unsupported", what);
  }
});

Deno.test("arp: operations other than request and reply are 'bad-operation'", () => {
  // 0 is reserved; 3/4 are RARP (RFC 903); 8/9 InARP (RFC 2390); 0x0101 has the high byte set.
  for (const operation of [0, 3, 4, 8, 9, 0x0101, 0xffff]) {
    const bytes = arpOf(cap.ARP_REPLY).slice();
    bytes[6] = operation >>> 8;
    bytes[7] = operation & 0xff;
    assertEquals(parseArp(bytes), "bad-operation", `operation ${operation}`);
  }
});

Deno.test("arp: random bytes never throw; only well-formed Ethernet/IPv4 ARP is accepted", () => {
  const random = new SeededRandom(0xf826);
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    const bytes = Uint8Array.from({ length: random.u32() % 48 }, () => random.u32() & 0xff);
    if (bytes.length >= 8 && i % 2 === 0) bytes.set([0, 1, 8, 0, 6, 4, 0, 1 + (i & 3)]);
    const result = parseArp(bytes);
    if (typeof result === "string") continue;
    accepted++;
    assertEquals(Array.from(bytes.subarray(0, 6)), [0, 1, 8, 0, 6, 4]);
    assertEquals(result.operation === 1 || result.operation === 2, true);
    assertEquals(result.senderMac.length, 6);
    assertEquals(result.targetMac.length, 6);
  }
  assert(accepted > 1000, `${accepted} accepted`);
});
