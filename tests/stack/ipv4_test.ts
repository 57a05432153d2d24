import { assert, assertEquals } from "@std/assert";
import { MemoryLink, SeededRandom, Stack, VirtualClock } from "../../stack/mod.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { Ipv4Packet } from "../../stack/wire/ipv4.ts";
import { parseIcmp } from "../../stack/wire/icmp.ts";
import { ethernetIpv4, fragment, parsed, pattern, udpDatagram } from "./frames.ts";
import { A_IP, A_MAC, B_IP, B_MAC, flushMicrotasks, makePair, RecordingSink } from "./pair.ts";

/** Stack B alone, recording what it sends, with a UDP socket on port 7000. */
function receiver() {
  const sink = new RecordingSink();
  const stack = new Stack({
    link: sink,
    mac: parseMac(B_MAC),
    ipv4: { address: parseIpv4(B_IP), prefixLength: 24, gateway: 0 },
    random: new SeededRandom(5),
  });
  const socket = stack.udp.listenDatagram(7000);
  const got: Uint8Array[] = [];
  (async () => {
    for await (const [data] of socket) got.push(data);
  })();
  sink.take(); // the gratuitous ARP
  return { stack, sink, got };
}

/** A 3000-byte UDP datagram cut into fragments [0,1480), [1480,2960), [2960,3008). */
function fragmentsOf(id: number, payload: Uint8Array) {
  const datagram = udpDatagram(A_IP, B_IP, 5000, 7000, payload);
  const cuts = [[0, 1480, true], [1480, 1480, true], [
    2960,
    datagram.length - 2960,
    false,
  ]] as const;
  return {
    datagram,
    frames: cuts.map(([offset, length, more]) =>
      ethernetIpv4(B_MAC, A_MAC, fragment(A_IP, B_IP, 17, id, datagram, offset, length, more))
    ),
  };
}

const ORDERS: Record<string, number[]> = {
  "in order": [0, 1, 2],
  "reversed": [2, 1, 0],
  "shuffled": [1, 2, 0],
  "duplicated": [0, 1, 0, 1, 2],
};

for (const [name, order] of Object.entries(ORDERS)) {
  Deno.test(`reassembly: fragments ${name} give back the datagram`, async () => {
    const { stack, got } = receiver();
    const payload = pattern(3000, 11);
    const { frames } = fragmentsOf(42, payload);
    for (const i of order) stack.input(frames[i]!, 10);
    await flushMicrotasks();
    assertEquals(got.length, 1);
    assertEquals(got[0], payload);
    assertEquals(stack.ipv4.reassembly, { datagrams: 0, bytes: 0 });
  });
}

Deno.test("reassembly: late duplicates after completion start a new datagram that expires", async () => {
  const { stack, got } = receiver();
  const { frames } = fragmentsOf(45, pattern(3000, 14));
  for (const i of [0, 1, 2, 1, 2]) stack.input(frames[i]!, 10);
  await flushMicrotasks();
  assertEquals(got.length, 1);
  assertEquals(stack.ipv4.reassembly.datagrams, 1);
  stack.poll(15_010);
  assertEquals(stack.ipv4.reassembly, { datagrams: 0, bytes: 0 });
});

Deno.test("reassembly: an overlapping fragment discards the whole datagram (RFC 5722 rule)", async () => {
  const { stack, got } = receiver();
  const payload = pattern(3000, 12);
  const { datagram, frames } = fragmentsOf(43, payload);
  stack.input(frames[0]!, 10);
  // Overlaps the first fragment's tail with different bounds.
  stack.input(
    ethernetIpv4(B_MAC, A_MAC, fragment(A_IP, B_IP, 17, 43, datagram, 1400, 80, true)),
    11,
  );
  stack.input(frames[1]!, 12);
  stack.input(frames[2]!, 13);
  await flushMicrotasks();
  assertEquals(got.length, 0);
  assert((stack.counters.ipv4.drops["overlapping-fragment"] ?? 0) >= 1);
  assertEquals(stack.ipv4.reassembly.bytes, 0);
});

Deno.test("reassembly: an incomplete datagram times out after 15 s with ICMP time exceeded", async () => {
  const { stack, sink, got } = receiver();
  const { frames } = fragmentsOf(44, pattern(3000, 13));
  stack.input(frames[0]!, 1000);
  stack.input(frames[2]!, 1001);
  assertEquals(stack.poll(2000), 16_000);
  // Answer ARP for A so the ICMP error can leave.
  stack.arp.enqueue(parseIpv4(A_IP), new Uint8Array(0), 2000);
  stack.poll(16_000);
  await flushMicrotasks();
  assertEquals(got.length, 0);
  assertEquals(stack.counters.ipv4.drops["reassembly-timeout"], 1);
  assertEquals(stack.ipv4.reassembly, { datagrams: 0, bytes: 0 });
  assert(sink.take().length >= 1, "an ARP request for the ICMP error's destination");
});

Deno.test("reassembly: bounded; fragments beyond the limits are shed and counted", () => {
  const sink = new RecordingSink();
  const stack = new Stack({
    link: sink,
    mac: parseMac(B_MAC),
    ipv4: { address: parseIpv4(B_IP), prefixLength: 24, gateway: 0 },
    reassembly: { maxDatagrams: 4, maxBytes: 8000 },
  });
  for (let id = 0; id < 10; id++) {
    const { frames } = fragmentsOf(100 + id, pattern(3000, id));
    stack.input(frames[0]!, 0);
  }
  assertEquals(stack.ipv4.reassembly.datagrams, 4);
  assert(stack.ipv4.reassembly.bytes <= 8000);
  assertEquals(stack.counters.ipv4.drops["reassembly-full"], 6);
});

Deno.test("UDP between two stacks; a closed port answers ICMP port unreachable", async () => {
  const pair = makePair();
  const server = pair.b.udp.listenDatagram(9000);
  const client = pair.a.udp.listenDatagram(0);
  const message = pattern(3000, 3); // fragmented on the way
  await client.send(message, { hostname: B_IP, port: 9000 });
  const [data, from] = await pair.settle(server.receive());
  assertEquals(data, message);
  assertEquals(from, { transport: "udp", hostname: A_IP, port: client.addr.port });
  assert(client.addr.port >= 49152);

  const frames: Uint8Array[] = [];
  await client.send(new Uint8Array(10), { hostname: B_IP, port: 9001 });
  await pair.run(() => pair.a.counters.icmp.rxPackets > 0, 1000);
  assertEquals(pair.b.counters.udp.drops["port-closed"], 1);
  assertEquals(pair.a.counters.icmp.rxPackets, 1);
  assertEquals(frames.length, 0);
  server.close();
  client.close();
});

Deno.test("IPv4 header fields of a sent packet: TTL 64, DF clear, checksum valid, id increments", () => {
  const sink = new RecordingSink();
  const stack = new Stack({
    link: sink,
    mac: parseMac(A_MAC),
    ipv4: { address: parseIpv4(A_IP), prefixLength: 24, gateway: parseIpv4("10.0.0.254") },
  });
  sink.take();
  const endpoint = stack.udp.open(1234, () => {});
  // Off-link destination: goes via the gateway, which must be resolved first.
  endpoint.send(new Uint8Array(4), parseIpv4("192.0.2.9"), 53);
  endpoint.send(new Uint8Array(4), parseIpv4("192.0.2.9"), 53);
  const arp = sink.take();
  assertEquals(arp.length, 1);
  // The ARP request asks for the gateway (target IP at offset 14 + 24).
  assertEquals([...arp[0]!.subarray(38, 42)], [10, 0, 0, 254]);
  const reply = new Uint8Array(42);
  reply.set(arp[0]!.subarray(6, 12), 0); // to us
  reply.set(parseMac("02:00:00:00:00:fe"), 6);
  reply.set([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2], 12);
  reply.set(parseMac("02:00:00:00:00:fe"), 22);
  reply.set([10, 0, 0, 254], 28);
  reply.set(arp[0]!.subarray(6, 12), 32);
  reply.set([10, 0, 0, 1], 38);
  stack.input(reply, 5);
  const sent = sink.take();
  assertEquals(sent.length, 2);
  const ids = sent.map((frame) => {
    assertEquals([...frame.subarray(0, 6)], [2, 0, 0, 0, 0, 0xfe]);
    const packet = parsed(Ipv4Packet.check(frame.subarray(14)), "IPv4 packet");
    assertEquals(packet.ttl, 64);
    assertEquals(packet.dontFragment, false);
    assertEquals(packet.dst, parseIpv4("192.0.2.9"));
    return packet.identification;
  });
  assertEquals((ids[1]! - ids[0]!) & 0xffff, 1);
});

Deno.test("an unknown protocol gets ICMP protocol unreachable", () => {
  const { stack, sink } = receiver();
  stack.arp.input(
    // A's ARP request for B teaches B where A is.
    Uint8Array.from([
      0,
      1,
      8,
      0,
      6,
      4,
      0,
      1,
      2,
      0,
      0,
      0,
      0,
      0x0a,
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
    ]),
    0,
  );
  sink.take();
  const packet = fragment(A_IP, B_IP, 99, 1, new Uint8Array(30), 0, 30, false);
  stack.input(ethernetIpv4(B_MAC, A_MAC, packet), 1);
  const frames = sink.take();
  assertEquals(frames.length, 1);
  const ip = parsed(Ipv4Packet.check(frames[0]!.subarray(14)), "IPv4 packet");
  const icmp = parsed(parseIcmp(ip.payload), "ICMP message");
  assertEquals([icmp.type, icmp.code], [3, 2]);
  assertEquals(icmp.body.subarray(0, 20), packet.subarray(0, 20));
});

Deno.test("two stacks at MTU 576 exchange a 1400-byte ping through fragmentation", async () => {
  const clock = new VirtualClock();
  const [la, lb] = MemoryLink.pair({ clock, mtu: 576 });
  const a = new Stack({
    link: la,
    mac: parseMac(A_MAC),
    ipv4: { address: parseIpv4(A_IP), prefixLength: 24, gateway: 0 },
  });
  const b = new Stack({
    link: lb,
    mac: parseMac(B_MAC),
    ipv4: { address: parseIpv4(B_IP), prefixLength: 24, gateway: 0 },
  });
  let result: number | null = null;
  a.ping(B_IP, { size: 1400 }).then((r) => (result = r.bytes));
  for (let i = 0; i < 20 && result === null; i++) {
    const now = clock.now();
    la.receive(now, (f) => a.input(f, now));
    lb.receive(now, (f) => b.input(f, now));
    a.poll(now);
    b.poll(now);
    await flushMicrotasks();
  }
  assertEquals(result, 1408);
  assertEquals(la.stats.dropped + lb.stats.dropped, 0, "no frame over the MTU");
});
