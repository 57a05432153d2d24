/**
 * Address helpers (stack/wire/address.ts): IPv4 as an unsigned 32-bit number, MACs as 6 bytes.
 * Parse/format round trips, byte-level read/write against captured packets, masks and prefixes,
 * and the exact error messages (std style: "Cannot parse X 'input': expected ...").
 */

import { assertEquals, assertThrows } from "@std/assert";
import {
  formatIpv4,
  formatMac,
  IPV4_ANY,
  IPV4_BROADCAST,
  ipv4MulticastMac,
  isIpv4,
  MAC_BROADCAST,
  macEquals,
  maskPrefixLength,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
  readIpv4,
  writeIpv4,
} from "../../stack/wire/address.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

Deno.test("address: constants", () => {
  assertEquals(IPV4_BROADCAST, 0xffffffff);
  assertEquals(IPV4_ANY, 0);
  assertEquals(MAC_BROADCAST, new Uint8Array(6).fill(0xff));
});

Deno.test("address: parseIpv4 gives an unsigned host-order number", () => {
  const cases: [string, number][] = [
    ["0.0.0.0", 0],
    ["192.168.0.1", 0xc0a80001],
    ["192.168.77.2", 0xc0a84d02],
    ["10.0.0.1", 0x0a000001],
    ["127.0.0.1", 0x7f000001],
    ["128.0.0.0", 0x80000000],
    ["255.255.255.255", 0xffffffff],
    ["1.2.3.4", 0x01020304],
  ];
  for (const [text, value] of cases) {
    assertEquals(parseIpv4(text), value, text);
    assertEquals(formatIpv4(value), text, text);
    assertEquals(isIpv4(text), true, text);
  }
});

Deno.test("address: formatIpv4 accepts signed 32-bit values from bit operations", () => {
  assertEquals(formatIpv4(0xc0a80001 | 0), "192.168.0.1");
  assertEquals(formatIpv4(-1), "255.255.255.255");
});

Deno.test("address: parseIpv4 and formatIpv4 round trip over random addresses", () => {
  const random = new SeededRandom(4);
  for (let i = 0; i < 2000; i++) {
    const address = random.u32();
    const text = formatIpv4(address);
    const octets = text.split(".").map(Number);
    assertEquals(octets, [
      address >>> 24,
      (address >>> 16) & 255,
      (address >>> 8) & 255,
      address & 255,
    ]);
    assertEquals(parseIpv4(text), address);
  }
});

Deno.test("address: parseIpv4 rejects anything but four decimal octets, with the input quoted", () => {
  const bad = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.256",
    "1000.0.0.1",
    "01.2.3.4",
    "1.2.3.04",
    "a.b.c.d",
    "1..2.3",
    "1.2.3.",
    ".1.2.3",
    "-1.2.3.4",
    "+1.2.3.4",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.4\n",
    "0x1.2.3.4",
    "1e2.0.0.1",
    "1.2.3.4/24",
    "::1",
  ];
  for (const text of bad) {
    assertThrows(
      () => parseIpv4(text),
      TypeError,
      `Cannot parse IPv4 address '${text}': expected four decimal octets`,
    );
    assertEquals(isIpv4(text), false, JSON.stringify(text));
  }
});

Deno.test("address: readIpv4 and writeIpv4 at offsets in captured packets", () => {
  // ECHO_REQUEST: 192.168.77.1 > 192.168.77.2 at IPv4 offsets 12 and 16 (frame offsets 26, 30).
  assertEquals(readIpv4(cap.ECHO_REQUEST, 26), parseIpv4(cap.IP_1));
  assertEquals(readIpv4(cap.ECHO_REQUEST, 30), parseIpv4(cap.IP_2));
  const buffer = new Uint8Array(10).fill(0xaa);
  writeIpv4(buffer, 3, parseIpv4("192.168.77.2"));
  assertEquals(Array.from(buffer), [0xaa, 0xaa, 0xaa, 192, 168, 77, 2, 0xaa, 0xaa, 0xaa]);
  writeIpv4(buffer, 0, -1);
  assertEquals(Array.from(buffer.subarray(0, 4)), [255, 255, 255, 255]);
  const random = new SeededRandom(5);
  for (let i = 0; i < 1000; i++) {
    const address = random.u32();
    writeIpv4(buffer, 6, address);
    assertEquals(readIpv4(buffer, 6), address);
  }
});

Deno.test("address: prefixMask for every length", () => {
  for (let n = 0; n <= 32; n++) {
    assertEquals(prefixMask(n), 2 ** 32 - 2 ** (32 - n), `/${n}`);
    assertEquals(maskPrefixLength(prefixMask(n)), n, `/${n}`);
  }
  assertEquals(formatIpv4(prefixMask(24)), "255.255.255.0");
  assertEquals(formatIpv4(prefixMask(1)), "128.0.0.0");
  assertEquals(formatIpv4(prefixMask(32)), "255.255.255.255");
});

Deno.test("address: prefixMask rejects lengths outside 0-32", () => {
  for (const n of [-1, 33, 1.5, NaN, Infinity]) {
    assertThrows(() => prefixMask(n), RangeError, `Cannot use prefix length ${n}: expected 0-32`);
  }
});

Deno.test("address: maskPrefixLength is -1 for masks with holes", () => {
  for (const text of ["255.0.255.0", "0.255.255.255", "255.255.255.253", "128.0.0.1"]) {
    assertEquals(maskPrefixLength(parseIpv4(text)), -1, text);
  }
  assertEquals(maskPrefixLength(-1), 32); // signed all-ones
});

Deno.test("address: parseCidr", () => {
  assertEquals(parseCidr("192.168.0.2/24"), { address: 0xc0a80002, prefixLength: 24 });
  assertEquals(parseCidr("0.0.0.0/0"), { address: 0, prefixLength: 0 });
  assertEquals(parseCidr("10.1.2.3/32"), { address: 0x0a010203, prefixLength: 32 });
  for (
    const text of [
      "192.168.0.2",
      "192.168.0.2/",
      "/24",
      "192.168.0.2/33",
      "192.168.0.2/99",
      "192.168.0.2/124",
      "192.168.0.2/-1",
      "192.168.0.2/24 ",
      "x/24",
    ]
  ) {
    assertThrows(
      () => parseCidr(text),
      TypeError,
      `Cannot parse address '${text}': expected IPv4 address and prefix length, e.g. 192.168.0.2/24`,
    );
  }
  // A well-formed CIDR with a bad address reports the address.
  assertThrows(
    () => parseCidr("192.168.0.256/24"),
    TypeError,
    "Cannot parse IPv4 address '192.168.0.256': expected four decimal octets",
  );
});

Deno.test("address: parseMac and formatMac", () => {
  assertEquals(parseMac("02:00:00:00:00:01"), Uint8Array.of(2, 0, 0, 0, 0, 1));
  assertEquals(parseMac("AA-bb-CC-dd-EE-ff"), Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff));
  assertEquals(parseMac("ff:ff:ff:ff:ff:ff"), MAC_BROADCAST);
  assertEquals(formatMac(Uint8Array.of(2, 0, 0, 0, 0, 1)), "02:00:00:00:00:01");
  assertEquals(formatMac(Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff)), "aa:bb:cc:dd:ee:ff");
  // Only the first six bytes of a longer view.
  assertEquals(formatMac(cap.ECHO_REQUEST), cap.MAC_2);
  assertEquals(formatMac(cap.ECHO_REQUEST.subarray(6)), cap.MAC_1);
  const random = new SeededRandom(6);
  for (let i = 0; i < 1000; i++) {
    const mac = Uint8Array.from({ length: 6 }, () => random.u32() & 0xff);
    const text = formatMac(mac);
    assertEquals(text.length, 17);
    assertEquals(parseMac(text), mac);
    assertEquals(parseMac(text.toUpperCase().replaceAll(":", "-")), mac);
  }
});

Deno.test("address: parseMac rejects anything but six hex octets, with the input quoted", () => {
  const bad = [
    "zz:01",
    "",
    "aa:bb:cc:dd:ee",
    "aa:bb:cc:dd:ee:ff:00",
    "a:bb:cc:dd:ee:ff",
    "aaa:bb:cc:dd:ee:ff",
    "gg:bb:cc:dd:ee:ff",
    "aabb.ccdd.eeff",
    "aabbccddeeff",
    "aa bb cc dd ee ff",
    " aa:bb:cc:dd:ee:ff",
    "aa:bb:cc:dd:ee:ff:",
    "0x:bb:cc:dd:ee:ff",
  ];
  for (const text of bad) {
    assertThrows(
      () => parseMac(text),
      TypeError,
      `Cannot parse MAC address '${text}': expected six hex octets`,
    );
  }
});

Deno.test("address: macEquals compares six bytes at an offset", () => {
  const mac1 = parseMac(cap.MAC_1);
  const mac2 = parseMac(cap.MAC_2);
  assertEquals(macEquals(cap.ECHO_REQUEST, 0, mac2), true);
  assertEquals(macEquals(cap.ECHO_REQUEST, 6, mac1), true);
  assertEquals(macEquals(cap.ECHO_REQUEST, 0, mac1), false);
  assertEquals(macEquals(cap.ARP_REQUEST, 0, MAC_BROADCAST), true);
  for (let i = 0; i < 6; i++) {
    const other = mac1.slice();
    other[i]! ^= 1;
    assertEquals(macEquals(cap.ECHO_REQUEST, 6, other), false, `byte ${i}`);
  }
  // Past the end of the buffer nothing matches.
  assertEquals(macEquals(mac1, 2, mac1), false);
});

Deno.test("address: ipv4MulticastMac maps the low 23 bits (RFC 1112 6.4)", () => {
  const cases: [string, string][] = [
    ["224.0.0.1", "01:00:5e:00:00:01"],
    ["224.0.0.251", "01:00:5e:00:00:fb"],
    ["239.255.255.250", "01:00:5e:7f:ff:fa"],
    ["224.128.0.1", "01:00:5e:00:00:01"], // the 24th bit is dropped
    ["239.1.2.3", "01:00:5e:01:02:03"],
  ];
  for (const [group, mac] of cases) {
    const result = ipv4MulticastMac(parseIpv4(group));
    assertEquals(formatMac(result), mac, group);
  }
  // A fresh array each time: callers may keep it.
  const a = ipv4MulticastMac(parseIpv4("224.0.0.1"));
  a[5] = 9;
  assertEquals(ipv4MulticastMac(parseIpv4("224.0.0.1"))[5], 1);
});
