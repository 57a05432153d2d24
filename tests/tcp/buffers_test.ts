import { assert, assertEquals, assertThrows } from "@std/assert";
import { ReceiveBuffer } from "../../stack/tcp/receive_buffer.ts";
import { SendBuffer } from "../../stack/tcp/send_buffer.ts";
import { SeededRandom } from "../../stack/random.ts";

function bytes(from: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

Deno.test("send buffer: bounded writes, copies across the wrap, consume", () => {
  const b = new SendBuffer(100);
  assertEquals(b.write(bytes(0, 70)), 70);
  assertEquals(b.write(bytes(70, 50)), 30); // only 30 fit
  assertEquals(b.free, 0);
  b.consume(60);
  assertEquals(b.write(bytes(100, 40)), 40); // wraps around
  const out = new Uint8Array(80);
  b.copyOut(0, out);
  assertEquals(out, bytes(60, 80));
  const mid = new Uint8Array(10);
  b.copyOut(35, mid);
  assertEquals(mid, bytes(95, 10));
  assertThrows(() => b.copyOut(75, new Uint8Array(10)), RangeError);
  assertThrows(() => b.consume(81), RangeError);
});

Deno.test("send buffer: grows from small to the bound keeping order", () => {
  const b = new SendBuffer(1 << 20);
  const random = new SeededRandom(3);
  let written = 0;
  let consumed = 0;
  for (let i = 0; i < 200; i++) {
    const n = random.u32() % 20000;
    written += b.write(bytes(written, n));
    const c = Math.min(b.length, random.u32() % 15000);
    const out = new Uint8Array(c);
    b.copyOut(0, out);
    assertEquals(out, bytes(consumed, c));
    b.consume(c);
    consumed += c;
  }
  assertEquals(b.length, written - consumed);
});

Deno.test("receive buffer: in-order data is readable at once", () => {
  const r = new ReceiveBuffer(1000);
  assertEquals(r.insert(0, bytes(0, 100)), 100);
  assertEquals(r.readable, 100);
  assertEquals(r.free, 900);
  const out = new Uint8Array(60);
  assertEquals(r.read(out), 60);
  assertEquals(out, bytes(0, 60));
  assertEquals(r.readPos, 60);
  assertEquals(r.inOrderEnd, 100);
});

Deno.test("receive buffer: holes are filled in any order, ranges merge", () => {
  const r = new ReceiveBuffer(1000);
  assertEquals(r.insert(300, bytes(300, 100)), 0);
  assertEquals(r.insert(100, bytes(100, 100)), 0);
  assertEquals(r.insert(200, bytes(200, 50)), 0); // touches both: merges into one range
  assertEquals(r.rangeCount, 2);
  assertEquals(r.insert(250, bytes(250, 50)), 0);
  assertEquals(r.rangeCount, 1);
  assertEquals(r.outOfOrderBytes, 300);
  assertEquals(r.insert(0, bytes(0, 100)), 400);
  assertEquals(r.rangeCount, 0);
  const out = new Uint8Array(400);
  r.read(out);
  assertEquals(out, bytes(0, 400));
});

Deno.test("receive buffer: SACK ranges list the most recent first (RFC 2018 4)", () => {
  const r = new ReceiveBuffer(10000);
  r.insert(1000, bytes(0, 10));
  r.insert(3000, bytes(0, 10));
  r.insert(2000, bytes(0, 10));
  const out: number[] = [];
  assertEquals(r.sackRanges(out, 4), 3);
  assertEquals(out, [2000, 2010, 3000, 3010, 1000, 1010]);
  r.insert(1010, bytes(0, 10)); // grows the oldest range: now the most recent
  r.sackRanges(out, 2);
  assertEquals(out, [1000, 1020, 2000, 2010]);
});

Deno.test("receive buffer: the range table is bounded", () => {
  const r = new ReceiveBuffer(100000, 4);
  for (let i = 1; i <= 4; i++) assertEquals(r.insert(i * 1000, bytes(0, 10)), 0);
  assertEquals(r.insert(6000, bytes(0, 10)), -1); // would need a fifth range
  assertEquals(r.insert(1010, bytes(0, 10)), 0); // extends an existing one: fine
  assertEquals(r.rangeCount, 4);
  assertThrows(() => r.insert(99999, bytes(0, 10)), RangeError); // beyond the buffer
});

Deno.test("receive buffer: random segments reassemble into the stream", () => {
  const random = new SeededRandom(11);
  for (let round = 0; round < 50; round++) {
    const total = 5000 + (random.u32() % 50000);
    const r = new ReceiveBuffer(1 << 16, 64);
    const stream = bytes(round, total);
    const got: number[] = [];
    const out = new Uint8Array(4096);
    while (r.readPos + r.readable < total || r.readable > 0) {
      const base = r.inOrderEnd;
      const at = base + (random.u32() % Math.min(8000, r.free));
      const len = Math.min(1 + (random.u32() % 1500), total - at, base + r.free - at);
      if (len > 0) r.insert(at, stream.subarray(at, at + len));
      if (random.u32() % 3 === 0) {
        const n = r.read(out);
        for (let i = 0; i < n; i++) got.push(out[i]!);
      }
    }
    assertEquals(got.length, total);
    assert(got.every((b, i) => b === stream[i]));
  }
});
