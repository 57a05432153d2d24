/**
 * DHCP codec tests against dnsmasq 2.90 captures (see tests/fixtures/services/dhcp_captures.ts
 * for how the bytes were obtained): read fields, build by hand, parse, emit; then hand-made
 * malformed messages for every drop reason, RFC 3396 concatenation, and fuzzing.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import {
  BOOTP_MIN_LENGTH,
  BootpOp,
  dhcpLength,
  type DhcpMessage,
  DhcpMessageType,
  emitDhcp,
  type ParsedDhcpMessage,
  parseDhcp,
} from "../../stack/wire/dhcp.ts";
import { SeededRandom } from "../../stack/random.ts";
import {
  DHCP_ACK,
  DHCP_DISCOVER,
  DHCP_DISCOVER_SMALL,
  DHCP_NAK,
  DHCP_OFFER,
  DHCP_OFFER_OVERLOAD,
  DHCP_RELEASE,
  DHCP_REQUEST,
  DHCP_REQUEST_WRONG,
} from "../fixtures/services/dhcp_captures.ts";

const ip = parseIpv4;
const CLIENT_MAC = parseMac("02:00:00:00:00:c1");
const SERVER = ip("10.9.0.1");
const PRL = Uint8Array.of(1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59);
const ascii = (text: string) => new TextEncoder().encode(text);

/** Each capture with the offset of its end option in the options field (read off the dump). */
const CAPTURES: [string, Uint8Array, number][] = [
  ["DISCOVER", DHCP_DISCOVER, 278],
  ["OFFER", DHCP_OFFER, 395],
  ["REQUEST", DHCP_REQUEST, 290],
  ["ACK", DHCP_ACK, 404],
  ["REQUEST_WRONG", DHCP_REQUEST_WRONG, 280],
  ["NAK", DHCP_NAK, 264],
  ["RELEASE", DHCP_RELEASE, 258],
  ["DISCOVER_SMALL", DHCP_DISCOVER_SMALL, 265],
  ["OFFER_OVERLOAD", DHCP_OFFER_OVERLOAD, 536],
];

function parseOk(bytes: Uint8Array): ParsedDhcpMessage {
  const message = parseDhcp(bytes);
  if (typeof message === "string") throw new Error(`expected a message, got '${message}'`);
  return message;
}

function emit(message: DhcpMessage): Uint8Array {
  const buffer = new Uint8Array(dhcpLength(message));
  assertEquals(emitDhcp(buffer, message), buffer.length);
  return buffer;
}

/** A copy of `bytes` with `patch` written at `offset` (and cut to `length` when given). */
function patched(bytes: Uint8Array, offset: number, patch: number[], length?: number): Uint8Array {
  const copy = bytes.slice(0, length ?? bytes.length);
  copy.set(patch, offset);
  return copy;
}

/** The 20 NTP servers dnsmasq was configured with: 10.9.0.123 .. 10.9.0.142. */
function ntpServerBytes(): Uint8Array {
  const bytes = new Uint8Array(80);
  for (let i = 0; i < 20; i++) bytes.set([10, 9, 0, 123 + i], i * 4);
  return bytes;
}

Deno.test("dhcp read: dnsmasq OFFER header and typed options", () => {
  const offer = parseOk(DHCP_OFFER);
  assertEquals(offer.op, BootpOp.REPLY);
  assertEquals(offer.xid, 0x3903f326);
  assertEquals(offer.secs, 0);
  assertEquals(offer.broadcast, true);
  assertEquals(offer.ciaddr, 0);
  assertEquals(offer.yiaddr, ip("10.9.0.133"));
  assertEquals(offer.siaddr, SERVER);
  assertEquals(offer.giaddr, 0);
  assertEquals(offer.chaddr, CLIENT_MAC);
  assertEquals(offer.messageType, DhcpMessageType.OFFER);
  const o = offer.options;
  assertEquals(o.serverId, SERVER);
  assertEquals(o.leaseSeconds, 3600); // --dhcp-range ...,1h
  assertEquals(o.renewalSeconds, 1800); // T1 = 0.5 * lease (RFC 2131 4.4.5)
  assertEquals(o.rebindingSeconds, 3150); // T2 = 0.875 * lease
  assertEquals(o.subnetMask, ip("255.255.255.0"));
  assertEquals(o.routers, [SERVER]);
  assertEquals(o.dnsServers, [ip("10.9.0.53"), ip("10.9.0.54")]);
  assertEquals(o.hostname, undefined);
  assertEquals([...o.raw.keys()], [53, 54, 51, 58, 59, 1, 28, 42, 15, 6, 3]);
  assertEquals(o.raw.get(15), ascii("lab.example.test"));
  assertEquals(o.raw.get(28), Uint8Array.of(10, 9, 0, 255));
  assertEquals(o.raw.get(42), ntpServerBytes());
});

Deno.test("dhcp read: client messages, ACK, NAK and RELEASE", () => {
  const discover = parseOk(DHCP_DISCOVER);
  assertEquals(discover.op, BootpOp.REQUEST);
  assertEquals(discover.messageType, DhcpMessageType.DISCOVER);
  assertEquals(discover.options.clientId, Uint8Array.of(1, ...CLIENT_MAC));
  assertEquals(discover.options.maxMessageSize, 1500);
  assertEquals(discover.options.hostname, "mip-tap");
  assertEquals(discover.options.parameterRequestList, PRL);

  const request = parseOk(DHCP_REQUEST);
  assertEquals(request.messageType, DhcpMessageType.REQUEST);
  assertEquals(request.options.requestedIp, ip("10.9.0.133"));
  assertEquals(request.options.serverId, SERVER);

  const ack = parseOk(DHCP_ACK);
  assertEquals(ack.messageType, DhcpMessageType.ACK);
  assertEquals(ack.yiaddr, ip("10.9.0.133"));
  assertEquals(ack.options.hostname, "mip-tap");

  const nak = parseOk(DHCP_NAK);
  assertEquals(nak.messageType, DhcpMessageType.NAK);
  assertEquals(nak.yiaddr, 0);
  assertEquals(nak.options.message, "wrong address");

  const release = parseOk(DHCP_RELEASE);
  assertEquals(release.messageType, DhcpMessageType.RELEASE);
  assertEquals(release.broadcast, false);
});

Deno.test("dhcp read: option overload puts option 42 in the file field (RFC 2132 9.3)", () => {
  const offer = parseOk(DHCP_OFFER_OVERLOAD);
  assertEquals(offer.yiaddr, ip("10.9.0.134"));
  assertEquals(offer.chaddr, parseMac("02:00:00:00:00:c2"));
  assertEquals(offer.options.raw.get(42), ntpServerBytes());
  assertEquals(offer.options.raw.has(52), false);
  assertEquals(offer.options.raw.get(121)?.length, 12 * 7); // twelve /16 routes, 7 bytes each
  assertEquals(offer.options.routers, [SERVER]);
  assertEquals([...offer.options.raw.keys()].at(-1), 42); // file is walked after options
});

Deno.test("dhcp build: hand-made DISCOVER, REQUEST and NAK equal the captures", () => {
  const client = {
    op: BootpOp.REQUEST,
    secs: 0,
    broadcast: true,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: CLIENT_MAC,
  };
  const common = {
    clientId: Uint8Array.of(1, ...CLIENT_MAC),
    maxMessageSize: 1500,
    hostname: "mip-tap",
    parameterRequestList: PRL,
  };
  const discover: DhcpMessage = {
    ...client,
    xid: 0x3903f326,
    messageType: DhcpMessageType.DISCOVER,
    options: common,
  };
  assertEquals(dhcpLength(discover), BOOTP_MIN_LENGTH);
  assertEquals(emit(discover), DHCP_DISCOVER);
  const request: DhcpMessage = {
    ...client,
    xid: 0x3903f327,
    messageType: DhcpMessageType.REQUEST,
    options: { ...common, requestedIp: ip("10.9.0.133"), serverId: SERVER },
  };
  assertEquals(emit(request), DHCP_REQUEST);
  const nak: DhcpMessage = {
    ...client,
    op: BootpOp.REPLY,
    xid: 0x3903f328,
    messageType: DhcpMessageType.NAK,
    options: { serverId: SERVER, message: "wrong address" },
  };
  assertEquals(emit(nak), DHCP_NAK);
});

Deno.test("dhcp emit: every non-overloaded capture re-emits byte for byte", () => {
  for (const [name, bytes] of CAPTURES) {
    if (name === "OFFER_OVERLOAD") continue;
    assertEquals(emit(parseOk(bytes)), bytes, name);
  }
});

Deno.test("dhcp emit: an overloaded message re-emits unoverloaded with the same options", () => {
  const original = parseOk(DHCP_OFFER_OVERLOAD);
  const again = parseOk(emit(original));
  assertEquals(again.options, original.options);
  assertEquals({ ...again, options: null }, { ...original, options: null });
});

Deno.test("dhcp emit: typed fields replace raw values; raw-only options keep their place", () => {
  const offer = parseOk(DHCP_OFFER);
  const changed = parseOk(emit({ ...offer, options: { ...offer.options, leaseSeconds: 600 } }));
  assertEquals(changed.options.leaseSeconds, 600);
  assertEquals([...changed.options.raw.keys()], [...offer.options.raw.keys()]);
  assertEquals(changed.options.raw.get(42), ntpServerBytes());
});

Deno.test("dhcp parse: repeated options are concatenated (RFC 3396)", () => {
  // The captured OFFER with option 42 (80 bytes, header at 279) split into 30 + 50 bytes and
  // option 6 (8 bytes, header at 379) split into 4 + 4: two more option headers, 4 more bytes.
  const o = DHCP_OFFER;
  const split = Uint8Array.of(
    ...o.subarray(0, 279),
    ...[42, 30],
    ...o.subarray(281, 311),
    ...[42, 50],
    ...o.subarray(311, 379),
    ...[6, 4],
    ...o.subarray(381, 385),
    ...[6, 4],
    ...o.subarray(385),
  );
  assertEquals(split.length, o.length + 4);
  const message = parseOk(split);
  assertEquals(message.options.raw.get(42), ntpServerBytes());
  assertEquals(message.options.dnsServers, [ip("10.9.0.53"), ip("10.9.0.54")]);
  assertEquals(message.options, parseOk(o).options);
});

Deno.test("dhcp emit: values over 255 bytes go out split and parse back whole", () => {
  const long = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
  const message = { ...parseOk(DHCP_DISCOVER), options: { raw: new Map([[224, long]]) } };
  const bytes = emit(message);
  assertEquals(bytes.length, 240 + 3 + 3 * 2 + 600 + 1);
  assertEquals([bytes[240], bytes[241], bytes[497], bytes[498]], [224, 255, 224, 255]);
  assertEquals([bytes[754], bytes[755]], [224, 90]);
  assertEquals(parseOk(bytes).options.raw.get(224), long);
});

Deno.test("dhcp parse: overload areas concatenate after the options field", () => {
  // DISCOVER + overload 3: file holds the rest of option 12, sname an option 224.
  const bytes = DHCP_DISCOVER.slice();
  bytes.set([52, 1, 3, 255], 278);
  bytes.set([12, 3, 0x2d, 0x76, 0x32, 255], 108);
  bytes.set([224, 1, 7, 0, 0, 255], 44);
  const message = parseOk(bytes);
  assertEquals(message.options.hostname, "mip-tap-v2");
  assertEquals(message.options.raw.get(224), Uint8Array.of(7));
  assertEquals([...message.options.raw.keys()].slice(-1), [224]);
});

Deno.test("dhcp parse: each malformation returns its reason", () => {
  const d = DHCP_DISCOVER;
  const cases: [Uint8Array, string | number][] = [
    [d.slice(0, 239), "truncated"],
    [patched(d, 0, [3]), "bad-op"],
    [patched(d, 1, [6]), "bad-htype"],
    [patched(d, 2, [16]), "bad-hlen"],
    [patched(d, 236, [99, 130, 83, 98]), "bad-magic"],
    [patched(d, 265, [55, 40], 290), "option-overrun"],
    [patched(d, 278, [0], 279), "missing-end"],
    [patched(d, 278, [52, 1, 4, 255]), "bad-overload"],
    [patched(d, 278, [52, 2, 1, 1, 255]), "bad-overload"],
    [patched(d, 108, [52, 1, 1, 255]), DhcpMessageType.DISCOVER], // file unused: no overload
    [patched(patched(d, 278, [52, 1, 1, 255]), 108, [52, 1, 1, 255]), "bad-overload"],
    [patched(patched(d, 278, [52, 1, 1, 255]), 108, [1, 4]), "missing-end"],
    [patched(patched(d, 278, [52, 1, 2, 255]), 106, [1, 4, 9, 9, 9, 9]), "option-overrun"],
    [patched(d, 278, [1, 3, 255, 255, 0, 255]), "bad-option-length"],
    [patched(d, 278, [3, 6, 1, 2, 3, 4, 5, 6, 255]), "bad-option-length"],
    [patched(d, 243, [61, 1, 1, 0, 0, 0, 0, 0, 0]), "bad-option-length"],
    [patched(d, 278, [50, 2, 1, 2, 255]), "bad-option-length"],
    [patched(d, 278, [53, 1, 1, 255]), "bad-option-length"], // a second 53 concatenates to 2 bytes
    [patched(d, 252, [57, 2, 1, 0xf4]), "bad-option-value"], // 500 < 576
    [patched(d, 240, [0, 0, 0]), "no-message-type"],
    [patched(d, 242, [9]), "bad-message-type"],
    [patched(d, 242, [0]), "bad-message-type"],
  ];
  for (const [bytes, expected] of cases) {
    const result = parseDhcp(bytes);
    assertEquals(typeof result === "string" ? result : result.messageType, expected);
  }
});

Deno.test("dhcp parse: options past the end option and short BOOTP messages are accepted", () => {
  const trailing = patched(DHCP_DISCOVER, 279, [1, 200]); // garbage after end is padding
  assertEquals(parseOk(trailing).options, parseOk(DHCP_DISCOVER).options);
  assertEquals(parseOk(DHCP_DISCOVER.subarray(0, 279)).xid, 0x3903f326);
});

Deno.test("dhcp parse: NUL-terminated names lose the NULs; all-NUL names stay raw", () => {
  const terminated = parseOk(patched(DHCP_DISCOVER, 278, [12, 3, 0x61, 0, 0, 255]));
  assertEquals(terminated.options.hostname, "mip-tapa"); // concatenated with the first 12
  const nuls = patched(DHCP_DISCOVER, 256, [12, 7, 0, 0, 0, 0, 0, 0, 0]);
  const message = parseOk(nuls);
  assertEquals(message.options.hostname, undefined);
  assertEquals(message.options.raw.get(12), new Uint8Array(7));
  assertEquals(emit(message), nuls);
});

Deno.test("dhcp emit: bad arguments throw RangeError", () => {
  const discover = parseOk(DHCP_DISCOVER);
  assertThrows(() => emitDhcp(new Uint8Array(299), discover), RangeError);
  assertThrows(() => emit({ ...discover, chaddr: new Uint8Array(16) }), RangeError);
  assertThrows(() => emit({ ...discover, op: 3 }), RangeError);
  assertThrows(() => emit({ ...discover, xid: -1 }), RangeError);
  assertThrows(() => emit({ ...discover, messageType: 9 }), RangeError);
  assertThrows(() => emit({ ...discover, options: { routers: [] } }), RangeError);
  assertThrows(() => emit({ ...discover, options: { hostname: "" } }), RangeError);
  assertThrows(() => emit({ ...discover, options: { maxMessageSize: 575 } }), RangeError);
  const raw = (code: number) => ({ raw: new Map([[code, Uint8Array.of(1)]]) });
  assertThrows(() => emit({ ...discover, options: raw(52) }), RangeError);
  assertThrows(() => emit({ ...discover, options: raw(255) }), RangeError);
  assertThrows(() => emit({ ...discover, options: raw(0) }), RangeError);
});

Deno.test("dhcp fuzz: every prefix before the end option is refused, never thrown", () => {
  for (const [name, bytes, end] of CAPTURES) {
    const full = parseOk(bytes);
    for (let length = 0; length <= bytes.length; length++) {
      const result = parseDhcp(bytes.subarray(0, length));
      if (length <= end) assertEquals(typeof result, "string", `${name} prefix ${length}`);
      else assertEquals(result, full, `${name} prefix ${length}`);
    }
  }
});

Deno.test("dhcp fuzz: random and mutated bytes never throw; accepted ones re-emit stably", () => {
  const random = new SeededRandom(0xd4c9);
  const byte = () => random.u32() & 0xff;
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const base = CAPTURES[random.u32() % CAPTURES.length]![1];
    let bytes: Uint8Array;
    if (i % 3 === 0) {
      bytes = Uint8Array.from({ length: random.u32() % 600 }, byte);
    } else if (i % 3 === 1) {
      // A valid fixed header and cookie followed by random options.
      bytes = Uint8Array.of(...base.subarray(0, 240), ...Array.from({ length: 120 }, byte));
    } else {
      bytes = base.slice();
      for (let n = 1 + (random.u32() % 4); n > 0; n--) bytes[random.u32() % bytes.length] = byte();
    }
    const message = parseDhcp(bytes);
    if (typeof message === "string") continue;
    accepted++;
    const once = emit(message);
    assertEquals(emit(parseOk(once)), once);
  }
  assert(accepted > 500, `only ${accepted} mutated messages parsed`);
});
