import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { SeededRandom } from "../../stack/random.ts";
import { halfSipHash24 } from "../../stack/tcp/hash.ts";
import { IsnGenerator } from "../../stack/tcp/isn.ts";
import {
  decodeCookieTimestamp,
  encodeCookieTimestamp,
  SynCookies,
} from "../../stack/tcp/syn_cookie.ts";
import { seqDiff } from "../../stack/tcp/seq.ts";

Deno.test("hash: HalfSipHash-2-4 reference vectors (veorq/SipHash vectors_hsip32)", () => {
  // Key bytes 00..07; message bytes 00..(n-1); outputs read little-endian.
  const key = { k0: 0x03020100, k1: 0x07060504 };
  assertEquals(halfSipHash24(key, []), 0x5b9f35a9);
  assertEquals(halfSipHash24(key, [0x03020100]), 0x89466e2a);
  assertEquals(halfSipHash24(key, [0x03020100, 0x07060504]), 0x8f84b8d0);
  assertEquals(halfSipHash24(key, [0x03020100, 0x07060504, 0x0b0a0908]), 0x2f87f057);
});

Deno.test("isn: keyed per 4-tuple and advancing 250 ticks per ms (RFC 6528)", () => {
  const g = new IsnGenerator(new SeededRandom(1));
  const a = g.isn(1, 1000, 2, 80, 0);
  const b = g.isn(1, 1001, 2, 80, 0);
  assertNotEquals(a, b);
  assertEquals(seqDiff(g.isn(1, 1000, 2, 80, 1000), a), 250_000);
  const other = new IsnGenerator(new SeededRandom(2));
  assertNotEquals(other.isn(1, 1000, 2, 80, 0), a);
  assertEquals(g.tsOffset(1, 2), g.tsOffset(1, 2));
  assertNotEquals(g.tsOffset(1, 2), g.tsOffset(1, 3));
});

const TUPLE = { localAddr: 0x0a000002, localPort: 80, remoteAddr: 0x0a000001, remotePort: 50000 };

Deno.test("syn cookies: a cookie checks out with its MSS, for about 2 minutes", () => {
  const c = new SynCookies(new SeededRandom(5));
  const peerIsn = 123456789;
  const cookie = c.make(TUPLE, peerIsn, 1460, 10_000);
  assertEquals(c.check(TUPLE, peerIsn, cookie, 10_000), { mss: 1460 });
  assertEquals(c.check(TUPLE, peerIsn, cookie, 10_000 + 120_000), { mss: 1460 });
  assertEquals(c.check(TUPLE, peerIsn, cookie, 10_000 + 200_000), undefined);
  assertEquals(c.make(TUPLE, peerIsn, 1400, 0) >>> 24 & 7, 4); // largest table entry <= 1400
  assertEquals(c.check(TUPLE, peerIsn, c.make(TUPLE, peerIsn, 100, 0), 0), { mss: 536 });
});

Deno.test("syn cookies: tampering, another peer ISN or another tuple fail", () => {
  const c = new SynCookies(new SeededRandom(5));
  const cookie = c.make(TUPLE, 42, 1460, 0);
  assertEquals(c.check(TUPLE, 43, cookie, 0), undefined);
  assertEquals(c.check({ ...TUPLE, remotePort: 50001 }, 42, cookie, 0), undefined);
  assertEquals(c.check(TUPLE, 42, (cookie ^ 1) >>> 0, 0), undefined);
  assertEquals(c.check(TUPLE, 42, (cookie ^ (1 << 24)) >>> 0, 0), undefined); // MSS bits
  const other = new SynCookies(new SeededRandom(6));
  assertEquals(other.check(TUPLE, 42, cookie, 0), undefined);
  // Guessing: of 10000 random cookies none passes (a 24-bit hash).
  const random = new SeededRandom(8);
  let passed = 0;
  for (let i = 0; i < 10000; i++) if (c.check(TUPLE, 42, random.u32(), 0)) passed++;
  assert(passed <= 1);
});

Deno.test("syn cookies: options ride in the low timestamp bits", () => {
  const ts = encodeCookieTimestamp(0x12345678, { windowScale: 7, sack: true });
  assertEquals(ts & ~0x3f, 0x12345640);
  assertEquals(decodeCookieTimestamp(ts), { windowScale: 7, sack: true });
  assertEquals(decodeCookieTimestamp(encodeCookieTimestamp(99, { windowScale: -1, sack: false })), {
    windowScale: -1,
    sack: false,
  });
});
