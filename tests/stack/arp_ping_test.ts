import { assert, assertEquals, assertRejects } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import { B_IP, B_MAC, makePair } from "./pair.ts";

Deno.test("ping between two stacks resolves ARP once and measures the link delay", async () => {
  const pair = makePair({ aToB: { delayMs: 3 }, bToA: { delayMs: 4 } });
  await pair.run(() => false, 2500); // both gratuitous ARP announcements (RFC 5227 2.3)
  assertEquals(pair.a.counters.arp.txPackets, 2);
  const baseA = pair.a.counters.arp.txPackets;
  const baseB = pair.b.counters.arp.txPackets;
  const first = await pair.settle(pair.a.ping(B_IP, { sequence: 1 }));
  // First ping waits for the ARP round trip as well: request (3 ms) + reply (4 ms) + echo.
  assertEquals(first.rttMs, 14);
  assertEquals(first.sequence, 1);
  const second = await pair.settle(pair.a.ping(B_IP, { sequence: 2 }));
  assertEquals(second.rttMs, 7);
  const entries = pair.a.arp.entries(pair.clock.now());
  assertEquals(entries.map((e) => [e.ip, e.mac]), [[B_IP, B_MAC]]);
  // B learned A from the request addressed to it (RFC 826 merge), so it needed no request.
  assertEquals(pair.b.counters.arp.txPackets - baseB, 1, "B only replied");
  assertEquals(pair.a.counters.arp.txPackets - baseA, 1, "A sent one request");
});

Deno.test("ARP entries expire and are resolved again; near expiry a unicast refresh is sent", async () => {
  const pair = makePair();
  await pair.run(() => false, 2500);
  const base = pair.a.counters.arp.txPackets;
  await pair.settle(pair.a.ping(B_IP));
  assertEquals(pair.a.counters.arp.txPackets - base, 1);
  pair.clock.advance(56_000); // inside the 5 s refresh window of the 60 s entry
  await pair.settle(pair.a.ping(B_IP, { sequence: 2 }));
  assertEquals(pair.a.counters.arp.txPackets - base, 2, "one unicast refresh");
  pair.clock.advance(61_000); // the refreshed entry has expired too
  assertEquals(pair.a.arp.lookup(parseIpv4(B_IP), pair.clock.now()), null);
  await pair.settle(pair.a.ping(B_IP, { sequence: 3 }));
  assertEquals(pair.a.counters.arp.txPackets - base, 3, "a new broadcast resolution");
});

Deno.test("an unresolvable neighbour: three requests a second apart, then its packets are dropped", async () => {
  const pair = makePair();
  await pair.run(() => false, 2500);
  const base = pair.a.counters.arp.txPackets;
  const ping = pair.a.ping("10.0.0.99", { timeoutMs: 10_000 });
  await assertRejects(() => pair.settle(ping), Deno.errors.TimedOut);
  assertEquals(pair.a.counters.arp.txPackets - base, 3);
  assertEquals(pair.a.counters.arp.drops["unresolved"], 1);
});

Deno.test("ping over a lossy link: each echo succeeds or times out, deterministically by seed", async () => {
  const outcomes = async (seed: number) => {
    const pair = makePair({
      aToB: { lossPercent: 20, seed },
      bToA: { lossPercent: 20, seed: seed + 100 },
    });
    const results: string[] = [];
    for (let seq = 1; seq <= 100; seq++) {
      try {
        const r = await pair.settle(pair.a.ping(B_IP, { sequence: seq, timeoutMs: 500 }));
        assertEquals(r.sequence, seq);
        results.push("ok");
      } catch (error) {
        assert(error instanceof Deno.errors.TimedOut);
        results.push("lost");
      }
    }
    return results;
  };
  const first = await outcomes(3);
  const again = await outcomes(3);
  assertEquals(first, again);
  const ok = first.filter((r) => r === "ok").length;
  // 0.8 * 0.8 = 64% expected; ARP losses cost a little more. Loose bounds, exact value seeded.
  assert(ok > 45 && ok < 85, `${ok} of 100 echoes answered`);
});

Deno.test("large pings are fragmented on send and reassembled on both sides", async () => {
  const pair = makePair();
  for (const size of [1472, 1473, 8000, 65507 - 8]) {
    const r = await pair.settle(pair.a.ping(B_IP, { size }));
    assertEquals(r.bytes, size + 8);
  }
  assert(pair.b.counters.ipv4.rxPackets > 50, "fragments were received");
  assertEquals(pair.b.ipv4.reassembly.datagrams, 0);
  assertEquals(pair.a.ipv4.reassembly.bytes, 0);
});

Deno.test("a ping larger than the MTU with a lossy link still works when retried", async () => {
  const pair = makePair({ aToB: { lossPercent: 5, seed: 9 } });
  let answered = 0;
  for (let seq = 1; seq <= 20; seq++) {
    try {
      await pair.settle(pair.a.ping(B_IP, { size: 4000, sequence: seq }));
      answered++;
    } catch (error) {
      assert(error instanceof Deno.errors.TimedOut);
    }
  }
  assert(answered >= 10, `${answered} of 20 fragmented echoes answered`);
  // Incomplete datagrams are discarded after the reassembly timeout.
  pair.clock.advance(16_000);
  pair.step();
  assertEquals(pair.b.ipv4.reassembly.datagrams, 0);
});
