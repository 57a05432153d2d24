/**
 * The Internet checksum (stack/wire/checksum.ts, RFC 1071): the RFC's worked example, odd
 * lengths, running sums split across buffers, the properties RFC 1071 section 2 relies on, a
 * plain word-by-word reference over random buffers, and the checksums the Linux kernel wrote into
 * captured packets (tests/fixtures/l2l3/captures.ts), including the UDP pseudo-header.
 */

import { assertEquals } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import {
  finish,
  fold,
  internetChecksum,
  pseudoHeaderSum,
  sum16,
} from "../../stack/wire/checksum.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as cap from "../fixtures/l2l3/captures.ts";

/** A deliberately naive RFC 1071 checksum: one word at a time, end-around carry every step. */
function referenceChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) {
    sum += (data[i]! << 8) | (i + 1 < data.length ? data[i + 1]! : 0);
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  }
  return ~sum & 0xffff;
}

function randomBytes(random: SeededRandom, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => random.u32() & 0xff);
}

function field(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

Deno.test("checksum: the RFC 1071 section 3 example", () => {
  // Bytes 00 01 f2 03 f4 f5 f6 f7: sum 2ddf0, folded ddf2, checksum 220d.
  const data = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assertEquals(sum16(data), 0x2ddf0);
  assertEquals(fold(sum16(data)), 0xddf2);
  assertEquals(finish(sum16(data)), 0x220d);
  assertEquals(internetChecksum(data), 0x220d);
  // Appending the checksum makes the whole sum to zero.
  assertEquals(internetChecksum(Uint8Array.of(...data, 0x22, 0x0d)), 0);
});

Deno.test("checksum: empty and all-zero data", () => {
  assertEquals(sum16(new Uint8Array(0)), 0);
  assertEquals(internetChecksum(new Uint8Array(0)), 0xffff);
  assertEquals(internetChecksum(new Uint8Array(7)), 0xffff);
  assertEquals(internetChecksum(new Uint8Array(10).fill(0xff)), 0);
});

Deno.test("checksum: an odd trailing byte is padded with zero on the right (RFC 1071 4.1)", () => {
  assertEquals(sum16(Uint8Array.of(0xab)), 0xab00);
  assertEquals(sum16(Uint8Array.of(0x01, 0x02, 0x03)), 0x0102 + 0x0300);
  for (let n = 1; n <= 17; n += 2) {
    const data = Uint8Array.from({ length: n }, (_, i) => 0x11 * (i + 1));
    const padded = new Uint8Array(n + 1);
    padded.set(data);
    assertEquals(sum16(data), sum16(padded), `length ${n}`);
    assertEquals(internetChecksum(data), referenceChecksum(data), `length ${n}`);
  }
});

Deno.test("checksum: agrees with the reference over random buffers of every length to 130", () => {
  const random = new SeededRandom(1071);
  for (let n = 0; n <= 130; n++) {
    for (let k = 0; k < 5; k++) {
      const data = randomBytes(random, n);
      assertEquals(internetChecksum(data), referenceChecksum(data), `length ${n}`);
    }
  }
  for (const n of [1499, 1500, 9000, 65535]) {
    const data = randomBytes(random, n);
    assertEquals(internetChecksum(data), referenceChecksum(data), `length ${n}`);
  }
  const ones = new Uint8Array(65535).fill(0xff);
  assertEquals(internetChecksum(ones), referenceChecksum(ones));
});

Deno.test("checksum: a running sum split at even offsets equals the sum of the whole", () => {
  const random = new SeededRandom(2);
  for (let k = 0; k < 200; k++) {
    const data = randomBytes(random, 1 + (random.u32() % 200));
    const cuts = [0, data.length];
    for (let c = 0; c < 3; c++) cuts.push(2 * (random.u32() % Math.ceil(data.length / 2)));
    cuts.sort((a, b) => a - b);
    let sum = 0;
    for (let i = 1; i < cuts.length; i++) sum = sum16(data.subarray(cuts[i - 1], cuts[i]), sum);
    assertEquals(fold(sum), fold(sum16(data)), `cuts ${cuts}`);
    assertEquals(finish(sum), internetChecksum(data));
  }
});

Deno.test("checksum: the initial value is added as a number (no folding needed between parts)", () => {
  const data = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
  assertEquals(sum16(data, 0x1_0000_0000), 0x1_0000_0000 + 0x1234 + 0x5678);
  assertEquals(internetChecksum(data, 0xffff), internetChecksum(data));
});

Deno.test("checksum: fold does the end-around carry, finish inverts", () => {
  assertEquals(fold(0), 0);
  assertEquals(fold(0xffff), 0xffff);
  assertEquals(fold(0x10000), 1);
  assertEquals(fold(0x1fffe), 0xffff);
  assertEquals(fold(0x2ddf0), 0xddf2);
  // 2^40 = 2^8 * (2^16)^2 folds to 2^8; a sum of 10^6 words of 0xffff folds to 0xffff.
  assertEquals(fold(2 ** 40), 0x100);
  assertEquals(fold(1_000_000 * 0xffff), 0xffff);
  assertEquals(finish(0), 0xffff);
  assertEquals(finish(0xffff), 0);
  assertEquals(finish(0x2ddf0), 0x220d);
});

Deno.test("checksum: byte order independence (RFC 1071 2(B))", () => {
  const random = new SeededRandom(3);
  for (let k = 0; k < 100; k++) {
    const data = randomBytes(random, 2 * (1 + (random.u32() % 50)));
    const swapped = data.slice();
    for (let i = 0; i < swapped.length; i += 2) {
      [swapped[i], swapped[i + 1]] = [data[i + 1]!, data[i]!];
    }
    const c = internetChecksum(data);
    assertEquals(internetChecksum(swapped), ((c & 0xff) << 8) | (c >>> 8));
  }
});

Deno.test("checksum: every captured IPv4 header and ICMP message sums to zero", () => {
  const ipv4 = [
    cap.ECHO_REQUEST,
    cap.ECHO_REPLY,
    cap.FRAGMENT_1,
    cap.FRAGMENT_2,
    cap.FRAGMENT_3,
    cap.ECHO_REQUEST_RR,
    cap.ECHO_REPLY_RR,
    cap.ECHO_REQUEST_ODD,
    cap.ECHO_REPLY_ODD,
    cap.UDP_HELLO,
    cap.PORT_UNREACHABLE,
    cap.UDP_ODD,
  ];
  for (const frame of ipv4) {
    const ihl = (frame[14]! & 0x0f) * 4;
    const header = frame.subarray(14, 14 + ihl);
    assertEquals(internetChecksum(header), 0);
    // With the field zeroed, the checksum is the value the kernel wrote.
    const zeroed = header.slice();
    zeroed[10] = 0;
    zeroed[11] = 0;
    assertEquals(internetChecksum(zeroed), field(header, 10));
  }
  for (const frame of [cap.ECHO_REQUEST, cap.ECHO_REQUEST_ODD, cap.PORT_UNREACHABLE]) {
    const message = frame.subarray(34);
    assertEquals(internetChecksum(message), 0);
    const zeroed = message.slice();
    zeroed[2] = 0;
    zeroed[3] = 0;
    assertEquals(internetChecksum(zeroed), field(message, 2));
  }
});

Deno.test("checksum: the pseudo-header sum reproduces the kernel's UDP checksums", () => {
  const src = parseIpv4(cap.IP_1);
  const dst = parseIpv4(cap.IP_2);
  // 192.168.77.1 > 192.168.77.2, protocol 17, UDP length 21 (odd) and 12.
  assertEquals(pseudoHeaderSum(src, dst, 17, 21), 0xc0a8 + 0x4d01 + 0xc0a8 + 0x4d02 + 17 + 21);
  for (
    const [frame, length, checksum] of [[cap.UDP_HELLO, 21, 0x1b35], [
      cap.UDP_ODD,
      12,
      0x5f07,
    ]] as const
  ) {
    const datagram = frame.subarray(34);
    assertEquals(datagram.length, length);
    assertEquals(finish(sum16(datagram, pseudoHeaderSum(src, dst, 17, length))), 0);
    const zeroed = datagram.slice();
    zeroed[6] = 0;
    zeroed[7] = 0;
    assertEquals(finish(sum16(zeroed, pseudoHeaderSum(src, dst, 17, length))), checksum);
    // Summing the pseudo-header as 12 bytes in front gives the same (RFC 768).
    const pseudo = Uint8Array.of(192, 168, 77, 1, 192, 168, 77, 2, 0, 17, 0, length);
    assertEquals(referenceChecksum(Uint8Array.of(...pseudo, ...zeroed)), checksum);
  }
});

Deno.test("checksum: pseudoHeaderSum takes signed or unsigned 32-bit addresses alike", () => {
  assertEquals(
    pseudoHeaderSum(0xffffffff, 0x80000001, 6, 40),
    pseudoHeaderSum(-1, 0x80000001 | 0, 6, 40),
  );
  assertEquals(pseudoHeaderSum(0xffffffff, 0, 0, 0), 0x1fffe);
});

Deno.test("sum16 (word-wise on long aligned buffers) equals a byte-pair reference at every alignment", () => {
  // Reference: RFC 1071's definition, one big-endian 16-bit word at a time, folded.
  const reference = (data: Uint8Array, initial: number) => {
    let sum = initial;
    for (let i = 0; i < data.length; i += 2) sum += (data[i]! << 8) | (data[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
    return sum;
  };
  const buffer = new Uint8Array(70_000);
  let x = 99;
  for (let i = 0; i < buffer.length; i++) buffer[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  buffer.fill(0xff, 100, 4100); // long runs of ones stress the carries
  for (const offset of [0, 1, 2, 3, 6, 34, 46]) {
    for (const length of [0, 1, 2, 3, 63, 64, 65, 66, 67, 100, 1460, 1461, 4096, 65_535]) {
      const data = buffer.subarray(offset, offset + length);
      for (const initial of [0, 0x1fffe, 123_456_789]) {
        assertEquals(fold(sum16(data, initial)), reference(data, initial), `${offset}+${length}`);
      }
    }
  }
});
