/**
 * NTP codec tests against chronyd 4.3 captures (see tests/fixtures/services/ntp_captures.ts for
 * how the bytes were obtained): read fields, build the client request, parse, emit; timestamp
 * conversions, kiss-o'-death detection, malformed packets and fuzzing.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import {
  emitNtp,
  emitNtpRequest,
  NTP_LEAP_UNSYNCHRONIZED,
  NTP_PACKET_LENGTH,
  NTP_UNIX_OFFSET_SECONDS,
  ntpKissCode,
  NtpMode,
  type NtpPacket,
  ntpShortToMs,
  ntpTimestampEquals,
  ntpToUnixMs,
  NtpView,
  parseNtp,
  unixMsToNtp,
} from "../../stack/wire/ntp.ts";
import { SeededRandom } from "../../stack/random.ts";
import {
  NTP_REPLY,
  NTP_REPLY_UNSYNC,
  NTP_REQUEST,
  NTP_REQUEST_2,
} from "../fixtures/services/ntp_captures.ts";

const CAPTURES = [NTP_REQUEST, NTP_REPLY, NTP_REQUEST_2, NTP_REPLY_UNSYNC];
/** The transmit timestamp the python client put into NTP_REQUEST (bytes 40-47). */
const SENT = { seconds: 0xeeb18fc2, fraction: 0xdae88800 };
const ZERO = { seconds: 0, fraction: 0 };

function parseOk(bytes: Uint8Array): NtpPacket {
  const packet = parseNtp(bytes);
  if (typeof packet === "string") throw new Error(`expected a packet, got '${packet}'`);
  return packet;
}

function withReferenceId(bytes: Uint8Array, id: number[]): Uint8Array {
  const copy = bytes.slice();
  copy.set(id, 12);
  return copy;
}

Deno.test("ntp read: chronyd reply fields through the view", () => {
  const view = NtpView.check(NTP_REPLY);
  if (typeof view === "string") throw new Error(view);
  assertEquals([view.leap, view.version, view.mode], [0, 4, NtpMode.SERVER]);
  assertEquals(view.stratum, 8); // `local stratum 8`
  assertEquals(view.poll, 0);
  assertEquals(view.precision, -26); // 0xe6 as int8
  assertEquals([view.rootDelay, view.rootDispersion], [0, 0]);
  assertEquals(view.referenceId, parseIpv4("127.127.1.1")); // chrony's local reference
  assert(ntpTimestampEquals(view.originateTimestamp, SENT)); // the echo of our transmit
  assertEquals(view.referenceTimestamp, { seconds: 0xeeb18fc1, fraction: 0x5b0b8283 });
  assertEquals(view.receiveTimestamp, { seconds: 0xeeb18fc2, fraction: 0xdafa5fe9 });
  assertEquals(view.transmitTimestamp, { seconds: 0xeeb18fc2, fraction: 0xdb0022da });
  assertEquals(ntpKissCode(view.toRecord()), null);
});

Deno.test("ntp read: unsynchronised reply is stratum 0 but not a kiss-o'-death", () => {
  const packet = parseOk(NTP_REPLY_UNSYNC);
  assertEquals(packet.leap, NTP_LEAP_UNSYNCHRONIZED);
  assertEquals([packet.stratum, packet.referenceId], [0, 0]);
  assertEquals(ntpShortToMs(packet.rootDelay), 1000);
  assertEquals(ntpShortToMs(packet.rootDispersion), 1000);
  assertEquals(packet.referenceTimestamp, ZERO);
  assertEquals(packet.originateTimestamp, parseOk(NTP_REQUEST_2).transmitTimestamp);
  assertEquals(ntpKissCode(packet), null);
});

Deno.test("ntp build: the client request equals the captured one", () => {
  const buffer = new Uint8Array(64).fill(0xee);
  assertEquals(emitNtpRequest(buffer, SENT), NTP_PACKET_LENGTH);
  assertEquals(buffer.subarray(0, 48), NTP_REQUEST);
  assertEquals(buffer[48], 0xee);
});

Deno.test("ntp parse: captured requests", () => {
  const request = parseOk(NTP_REQUEST);
  assertEquals(request, {
    leap: 0,
    version: 4,
    mode: NtpMode.CLIENT,
    stratum: 0,
    poll: 0,
    precision: 0,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: 0,
    referenceTimestamp: ZERO,
    originateTimestamp: ZERO,
    receiveTimestamp: ZERO,
    transmitTimestamp: SENT,
  });
  // Captured on 2026-11-25 at 16:48:02 UTC (chronyd's log of that run).
  assertEquals(
    new Date(ntpToUnixMs(request.transmitTimestamp)).toISOString().slice(0, 19),
    "2026-11-25T16:48:02",
  );
});

Deno.test("ntp emit: every capture re-emits byte for byte", () => {
  for (const bytes of CAPTURES) {
    const buffer = new Uint8Array(48);
    emitNtp(buffer, parseOk(bytes));
    assertEquals(buffer, bytes);
  }
});

Deno.test("ntp time: conversions around the epochs (RFC 5905 6)", () => {
  assertEquals(ntpToUnixMs({ seconds: NTP_UNIX_OFFSET_SECONDS, fraction: 0 }), 0);
  assertEquals(ntpToUnixMs({ seconds: NTP_UNIX_OFFSET_SECONDS, fraction: 0x80000000 }), 500);
  assertEquals(unixMsToNtp(0), { seconds: 2208988800, fraction: 0 });
  assertEquals(unixMsToNtp(1500), { seconds: 2208988801, fraction: 0x80000000 });
  // 2000-01-01T00:00:00Z is NTP second 3155673600 (0xbc17c200).
  assertEquals(unixMsToNtp(Date.UTC(2000, 0, 1)), { seconds: 0xbc17c200, fraction: 0 });
  assertEquals(unixMsToNtp(-1), { seconds: 2208988799, fraction: 4290672328 }); // 0.999 s
  assertEquals(ntpToUnixMs(ZERO), Date.UTC(1900, 0, 1));
  const lastMs = Date.UTC(2036, 1, 7, 6, 28, 16) - 1; // era 0 ends at 2^32 s
  assertEquals(unixMsToNtp(lastMs).seconds, 0xffffffff);
  assertThrows(() => unixMsToNtp(lastMs + 1), RangeError);
  assertThrows(() => unixMsToNtp(Date.UTC(1899, 11, 31)), RangeError);
  assertThrows(() => unixMsToNtp(NaN), RangeError);
  const random = new SeededRandom(5905);
  for (let i = 0; i < 1000; i++) {
    const ms = random.u32() * 1000 + (random.u32() % 1000) - 2208988800000 + random.u32() / 2 ** 32;
    const back = ntpToUnixMs(unixMsToNtp(ms));
    assert(Math.abs(ms - back) < 1e-3, `${ms} -> ${back}`);
  }
});

Deno.test("ntp kiss-o'-death: stratum 0 with an ASCII code (RFC 4330 8)", () => {
  // Kiss codes grafted onto the captured unsynchronised reply (chrony 4.3 cannot send them).
  const kiss = (id: number[]) => ntpKissCode(parseOk(withReferenceId(NTP_REPLY_UNSYNC, id)));
  assertEquals(kiss([0x52, 0x41, 0x54, 0x45]), "RATE");
  assertEquals(kiss([0x44, 0x45, 0x4e, 0x59]), "DENY");
  assertEquals(kiss([0x52, 0x53, 0x54, 0x52]), "RSTR");
  assertEquals(kiss([0x58, 0x59, 0, 0]), "XY"); // left-justified, zero-padded
  assertEquals(kiss([0x58, 0, 0x59, 0]), null); // a character after the padding
  assertEquals(kiss([0x01, 0x41, 0x54, 0x45]), null); // not printable
  assertEquals(kiss([0x20, 0x41, 0x54, 0x45]), null); // not left-justified
  assertEquals(kiss([0, 0, 0, 0]), null);
  const stratum8 = withReferenceId(NTP_REPLY, [0x52, 0x41, 0x54, 0x45]);
  assertEquals(ntpKissCode(parseOk(stratum8)), null);
});

Deno.test("ntp parse: short packets, bad versions and modes are refused", () => {
  const first = (byte: number) => {
    const copy = NTP_REPLY.slice();
    copy[0] = byte;
    return parseNtp(copy);
  };
  assertEquals(first(0x04), "bad-version"); // VN 0
  assertEquals(first(0x2c), "bad-version"); // VN 5
  assertEquals(first(0x20), "bad-mode"); // mode 0 (reserved)
  assertEquals(first(0x26), "bad-mode"); // mode 6 (control)
  assertEquals(first(0x27), "bad-mode"); // mode 7 (private)
  assertEquals(parseOk(Uint8Array.of(0x1b, ...NTP_REQUEST.subarray(1))).version, 3); // RFC 4330 5
  const withMac = Uint8Array.of(...NTP_REPLY, ...new Uint8Array(20).fill(7));
  assertEquals(parseOk(withMac), parseOk(NTP_REPLY)); // extensions / MAC are ignored
});

Deno.test("ntp emit: bad arguments throw RangeError", () => {
  const packet = parseOk(NTP_REPLY);
  assertThrows(() => emitNtp(new Uint8Array(47), packet), RangeError);
  assertThrows(() => emitNtp(new Uint8Array(48), { ...packet, leap: 4 }), RangeError);
  assertThrows(() => emitNtp(new Uint8Array(48), { ...packet, poll: 128 }), RangeError);
  assertThrows(
    () => emitNtpRequest(new Uint8Array(48), { seconds: 0, fraction: 2 ** 32 }),
    RangeError,
  );
});

Deno.test("ntp fuzz: every prefix shorter than 48 bytes is refused, never thrown", () => {
  for (const bytes of CAPTURES) {
    for (let length = 0; length < 48; length++) {
      assertEquals(parseNtp(bytes.subarray(0, length)), "truncated");
    }
  }
});

Deno.test("ntp fuzz: random bytes never throw; accepted packets re-emit exactly", () => {
  const random = new SeededRandom(0x4330);
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = Uint8Array.from({ length: random.u32() % 80 }, () => random.u32() & 0xff);
    const packet = parseNtp(bytes);
    if (typeof packet === "string") continue;
    accepted++;
    const buffer = new Uint8Array(48);
    emitNtp(buffer, packet);
    assertEquals(buffer, bytes.subarray(0, 48));
  }
  assert(accepted > 500, `only ${accepted} packets parsed`);
});
