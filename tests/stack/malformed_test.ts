import { assert, assertEquals } from "@std/assert";
import { SeededRandom } from "../../stack/random.ts";
import { A_MAC, B_IP, B_MAC, makePair, RecordingSink } from "./pair.ts";
import { Stack } from "../../stack/stack.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { ethernetIpv4, fragment, pattern, udpDatagram } from "./frames.ts";

/** Valid frames of every kind B handles, addressed to B. */
function validFrames(): Uint8Array[] {
  const arpRequest = Uint8Array.from([
    ...parseMac(B_MAC),
    ...parseMac(A_MAC),
    0x08,
    0x06,
    0,
    1,
    8,
    0,
    6,
    4,
    0,
    1,
    ...parseMac(A_MAC),
    10,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    10,
    0,
    0,
    2,
  ]);
  const echo = new Uint8Array(8 + 32);
  echo.set([8, 0, 0, 0, 0x12, 0x34, 0, 1]);
  let sum = 0;
  for (let i = 0; i < echo.length; i += 2) sum += (echo[i]! << 8) | echo[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  echo[2] = (~sum >>> 8) & 0xff;
  echo[3] = ~sum & 0xff;
  const udp = udpDatagram("10.0.0.1", B_IP, 1000, 7, pattern(100));
  const big = udpDatagram("10.0.0.1", B_IP, 1000, 7, pattern(2000));
  return [
    arpRequest,
    ethernetIpv4(B_MAC, A_MAC, fragment("10.0.0.1", B_IP, 1, 9, echo, 0, echo.length, false)),
    ethernetIpv4(B_MAC, A_MAC, fragment("10.0.0.1", B_IP, 17, 10, udp, 0, udp.length, false)),
    ethernetIpv4(B_MAC, A_MAC, fragment("10.0.0.1", B_IP, 17, 11, big, 0, 1480, true)),
    ethernetIpv4(
      B_MAC,
      A_MAC,
      fragment("10.0.0.1", B_IP, 17, 11, big, 1480, big.length - 1480, false),
    ),
  ];
}

function freshStack(sink: RecordingSink): Stack {
  return new Stack({
    link: sink,
    mac: parseMac(B_MAC),
    ipv4: { address: parseIpv4(B_IP), prefixLength: 24, gateway: 0 },
    random: new SeededRandom(1),
  });
}

function totalDrops(stack: Stack): number {
  return Object.values(stack.counters).reduce((n, c) => n + c.dropped, 0);
}

Deno.test("every truncation of every valid frame is dropped and counted, never thrown", () => {
  const sink = new RecordingSink();
  const stack = freshStack(sink);
  for (const frame of validFrames()) {
    for (let length = 0; length < frame.length; length++) {
      const before = totalDrops(stack);
      stack.input(frame.subarray(0, length), 1);
      // Truncating inside padding-free frames always loses something a layer checks.
      assert(totalDrops(stack) > before, `truncation to ${length} of ${frame.length} was counted`);
    }
  }
  assertEquals(stack.counters.ethernet.drops["internal-error"], undefined);
});

Deno.test("single bit flips in valid frames never throw and never crash later traffic", () => {
  const sink = new RecordingSink();
  const stack = freshStack(sink);
  for (const frame of validFrames()) {
    for (let bit = 0; bit < frame.length * 8; bit += 3) {
      const copy = frame.slice();
      copy[bit >>> 3]! ^= 1 << (bit & 7);
      stack.input(copy, 2);
    }
  }
  stack.poll(100_000);
  assertEquals(stack.counters.ethernet.drops["internal-error"], undefined);
  assertEquals(stack.counters.ipv4.drops["internal-error"], undefined);
});

Deno.test("random bytes, seeded: thousands of frames with valid Ethernet/IPv4 headers", () => {
  const sink = new RecordingSink();
  const stack = freshStack(sink);
  const random = new SeededRandom(2024);
  const templates = validFrames();
  for (let i = 0; i < 5000; i++) {
    const template = templates[i % templates.length]!;
    const length = random.u32() % 1600;
    const frame = new Uint8Array(length);
    for (let j = 0; j < length; j++) frame[j] = random.u32() & 0xff;
    // Keep the first bytes of a valid frame for a growing share, so deeper layers see garbage.
    frame.set(template.subarray(0, Math.min(length, (i % 40) + 12)));
    stack.input(frame, i);
    if (i % 100 === 0) stack.poll(i);
  }
  assertEquals(stack.counters.ethernet.drops["internal-error"], undefined);
  assert(totalDrops(stack) > 4000);
});

Deno.test("after a flood of garbage the stack still answers ping", async () => {
  const pair = makePair();
  const random = new SeededRandom(77);
  for (let i = 0; i < 2000; i++) {
    const frame = new Uint8Array(14 + (random.u32() % 200));
    for (let j = 0; j < frame.length; j++) frame[j] = random.u32() & 0xff;
    frame.set(parseMac(B_MAC), 0);
    frame[12] = 0x08;
    frame[13] = i % 2 === 0 ? 0x00 : 0x06;
    pair.b.input(frame, 0);
  }
  const reply = await pair.settle(pair.a.ping(B_IP));
  assertEquals(reply.sequence, 1);
});
