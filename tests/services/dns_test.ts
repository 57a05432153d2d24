import { assert, assertEquals, assertRejects } from "@std/assert";
import { DnsResolver, type DnsResolverOptions } from "../../stack/dns.ts";
import type { Stack } from "../../stack/stack.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";
import type { DatagramMeta, UdpEndpoint } from "../../stack/udp.ts";
import { dnsName, dnsReply, ip, Lan, readQuery } from "./helpers.ts";

const NS1 = "10.0.0.53";
const NS2 = "10.0.0.54";

interface SeenQuery {
  server: string;
  id: number;
  name: string;
  type: number;
  srcPort: number;
  atMs: number;
}

/** What a scripted server answers: reply bytes (several, or none to stay silent). */
type Script = (q: SeenQuery, meta: DatagramMeta) => Uint8Array[];

function setup(options: DnsResolverOptions = {}) {
  const lan = new Lan();
  const client = lan.add({ mac: "02:00:00:00:00:01", cidr: "10.0.0.1/24" });
  const queries: SeenQuery[] = [];
  const scripts = new Map<string, Script>();
  const endpoints = new Map<string, UdpEndpoint>();
  const server = (address: string, mac: string): Stack => {
    const stack = lan.add({ mac, cidr: `${address}/24` });
    const endpoint = stack.udp.open(53, (payload, meta, nowMs) => {
      const q = { server: address, ...readQuery(payload), srcPort: meta.srcPort, atMs: nowMs };
      queries.push(q);
      for (const reply of scripts.get(address)?.(q, meta) ?? []) {
        endpoint.send(reply, meta.src, meta.srcPort);
      }
    });
    endpoints.set(address, endpoint);
    return stack;
  };
  const ns1 = server(NS1, "02:00:00:00:00:53");
  const ns2 = server(NS2, "02:00:00:00:00:54");
  const resolver = new DnsResolver(client, {
    servers: [parseIpv4(NS1), parseIpv4(NS2)],
    ...options,
  });
  const script = (address: string, s: Script) => scripts.set(address, s);
  return { lan, client, ns1, ns2, resolver, queries, script };
}

const a = (name: string, address: string, ttl = 300) => ({
  name,
  type: "A" as const,
  ttl,
  address,
});
const cname = (name: string, target: string, ttl = 300) => ({
  name,
  type: "CNAME" as const,
  ttl,
  target,
});
const soa = (name: string, ttl: number, minimum: number) => ({
  name,
  type: "SOA" as const,
  ttl,
  minimum,
});

Deno.test("DNS: A answer; cache until the TTL, then asked again; random ids and ports", async () => {
  const { lan, resolver, queries, script } = setup();
  script(
    NS1,
    (q) => [dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.7", 30)] })],
  );
  assertEquals(await lan.settle(resolver.resolve("host.test")), [parseIpv4("192.0.2.7")]);
  assertEquals(queries.length, 1);
  await lan.runFor(29_000);
  assertEquals(await lan.settle(resolver.resolve("HOST.test.")), [parseIpv4("192.0.2.7")]);
  assertEquals(queries.length, 1, "answered from the cache (names are case-insensitive)");
  await lan.runFor(1_100);
  assertEquals(await lan.settle(resolver.resolve("host.test")), [parseIpv4("192.0.2.7")]);
  assertEquals(queries.length, 2, "asked again after 30 s");
  assert(queries[0]!.id !== queries[1]!.id || queries[0]!.srcPort !== queries[1]!.srcPort);
  assert(queries.every((q) => q.srcPort >= 49152));
  assertEquals(queries.map((q) => [q.server, q.name, q.type]), [
    [NS1, "host.test", 1],
    [NS1, "host.test", 1],
  ]);
});

Deno.test("DNS: dotted quads resolve without a query; bad names and no servers reject", async () => {
  const { lan, resolver, queries } = setup();
  assertEquals(await resolver.resolve("192.0.2.1"), [parseIpv4("192.0.2.1")]);
  await assertRejects(() => resolver.resolve("bad name!"), TypeError);
  resolver.servers = [];
  await assertRejects(() => lan.settle(resolver.resolve("x.test")), Deno.errors.NotConnected);
  assertEquals(queries.length, 0);
});

Deno.test("DNS: a CNAME chain inside one answer is followed and each link cached", async () => {
  const { lan, resolver, queries, script } = setup();
  script(NS1, (q) => [
    dnsReply({
      id: q.id,
      question: q.name,
      answers: [
        cname("www.test", "edge.test"),
        cname("edge.test", "node.test"),
        a("node.test", "192.0.2.9"),
      ],
    }),
  ]);
  assertEquals(await lan.settle(resolver.resolve("www.test")), [parseIpv4("192.0.2.9")]);
  assertEquals(await lan.settle(resolver.resolve("edge.test")), [parseIpv4("192.0.2.9")]);
  assertEquals(queries.length, 1);
});

Deno.test("DNS: an answer with only the CNAME leads to a fresh query for its target", async () => {
  const { lan, resolver, queries, script } = setup();
  script(
    NS1,
    (q) =>
      q.name === "alias.test"
        ? [dnsReply({ id: q.id, question: q.name, answers: [cname("alias.test", "real.test")] })]
        : [dnsReply({ id: q.id, question: q.name, answers: [a("real.test", "192.0.2.10")] })],
  );
  assertEquals(await lan.settle(resolver.resolve("alias.test")), [parseIpv4("192.0.2.10")]);
  assertEquals(queries.map((q) => q.name), ["alias.test", "real.test"]);
});

Deno.test("DNS: a CNAME chain longer than 8 is refused", async () => {
  const { lan, resolver, script } = setup();
  const chain = Array.from({ length: 10 }, (_, i) => cname(`n${i}.test`, `n${i + 1}.test`));
  script(NS1, (q) => [dnsReply({ id: q.id, question: q.name, answers: chain })]);
  await assertRejects(
    () => lan.settle(resolver.resolve("n0.test")),
    Deno.errors.InvalidData,
    "CNAME chain longer than 8",
  );
});

Deno.test("DNS: a compression loop is counted and ignored; the next server answers", async () => {
  const { lan, client, resolver, queries, script } = setup();
  script(NS1, (q) => {
    const good = dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.1")] });
    // Replace the answer's owner name with a pointer to itself (offset of that pointer).
    const at = 12 + dnsName(q.name).length + 4;
    const looped = new Uint8Array([
      ...good.subarray(0, at),
      0xc0,
      at,
      ...good.subarray(at + dnsName(q.name).length),
    ]);
    return [looped];
  });
  script(NS2, (q) => [dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.2")] })]);
  const started = lan.clock.now();
  assertEquals(await lan.settle(resolver.resolve("loop.test")), [parseIpv4("192.0.2.2")]);
  assertEquals(client.counters.udp.drops["dns-bad-pointer"], 1);
  assertEquals(queries.map((q) => q.server), [NS1, NS2]);
  assertEquals(queries[1]!.atMs - started, 2_000, "after the 2 s timeout");
});

Deno.test("DNS: a truncated answer (TC) is an error, not retried over TCP", async () => {
  const { lan, resolver, queries, script } = setup();
  script(NS1, (q) => [dnsReply({ id: q.id, question: q.name, tc: true })]);
  await assertRejects(
    () => lan.settle(resolver.resolve("big.test")),
    Deno.errors.InvalidData,
    "truncated (TC)",
  );
  assertEquals(queries.length, 1);
});

Deno.test("DNS: failover: a silent first server costs one timeout; SERVFAIL moves on at once", async () => {
  const { lan, client, resolver, queries, script } = setup();
  script(NS2, (q) => [dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.5")] })]);
  const started = lan.clock.now();
  assertEquals(await lan.settle(resolver.resolve("one.test")), [parseIpv4("192.0.2.5")]);
  assertEquals(queries.map((q) => [q.server, q.atMs - started]), [[NS1, 0], [NS2, 2_000]]);
  script(NS1, (q) => [dnsReply({ id: q.id, question: q.name, rcode: 2 })]);
  const again = lan.clock.now();
  assertEquals(await lan.settle(resolver.resolve("two.test")), [parseIpv4("192.0.2.5")]);
  assert(lan.clock.now() - again < 100, "no timeout waited after SERVFAIL");
  assertEquals(queries.slice(2).map((q) => [q.server, q.name]), [[NS1, "two.test"], [
    NS2,
    "two.test",
  ]]);
  assertEquals(client.counters.udp.drops["dns-rcode-2"], 1);
});

Deno.test("DNS: no answer from anyone: 2 rounds over both servers, then TimedOut", async () => {
  const { lan, resolver, queries } = setup();
  const started = lan.clock.now();
  await assertRejects(() => lan.settle(resolver.resolve("void.test")), Deno.errors.TimedOut);
  assertEquals(queries.map((q) => q.server), [NS1, NS2, NS1, NS2]);
  assertEquals(lan.clock.now() - started, 8_000);
  assertEquals(resolver.snapshot().pending, 0);
});

Deno.test("DNS: NXDOMAIN and NODATA are cached for min(SOA TTL, SOA minimum) (RFC 2308)", async () => {
  const { lan, resolver, queries, script } = setup();
  script(
    NS1,
    (q) =>
      q.name === "gone.test"
        ? [dnsReply({ id: q.id, question: q.name, rcode: 3, authority: [soa("test", 300, 60)] })]
        : [dnsReply({ id: q.id, question: q.name, authority: [soa("test", 20, 600)] })],
  );
  await assertRejects(
    () => lan.settle(resolver.resolve("gone.test")),
    Deno.errors.NotFound,
    "NXDOMAIN",
  );
  await lan.runFor(59_000);
  await assertRejects(() => lan.settle(resolver.resolve("gone.test")), Deno.errors.NotFound);
  assertEquals(queries.length, 1, "negative answer from the cache");
  await lan.runFor(1_500);
  await assertRejects(() => lan.settle(resolver.resolve("gone.test")), Deno.errors.NotFound);
  assertEquals(queries.length, 2);
  await assertRejects(
    () => lan.settle(resolver.resolve("v6only.test")),
    Deno.errors.NotFound,
    "no IPv4",
  );
  await lan.runFor(19_000);
  await assertRejects(() => lan.settle(resolver.resolve("v6only.test")), Deno.errors.NotFound);
  assertEquals(queries.length, 3);
  await lan.runFor(1_500);
  await assertRejects(() => lan.settle(resolver.resolve("v6only.test")), Deno.errors.NotFound);
  assertEquals(queries.length, 4);
});

Deno.test("DNS: replies with the wrong id, port or question are ignored and counted", async () => {
  const { lan, client, ns1, resolver, script } = setup();
  const spoofer = ns1.udp.open(5353, () => {});
  script(NS1, (q, meta) => {
    const right = dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.1")] });
    spoofer.send(
      dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "6.6.6.6")] }),
      meta.src,
      meta.srcPort,
    );
    return [
      dnsReply({ id: (q.id + 1) & 0xffff, question: q.name, answers: [a(q.name, "6.6.6.6")] }),
      dnsReply({ id: q.id, question: "other.test", answers: [a("other.test", "6.6.6.6")] }),
      right,
    ];
  });
  assertEquals(await lan.settle(resolver.resolve("real.test")), [parseIpv4("192.0.2.1")]);
  const drops = client.counters.udp.drops;
  assertEquals(
    [drops["dns-id-mismatch"], drops["dns-question-mismatch"], drops["dns-wrong-source"]],
    [1, 1, 1],
  );
});

Deno.test("DNS: garbage replies are dropped and counted; the resolver keeps working", async () => {
  const { lan, client, resolver, script } = setup();
  let n = 0;
  script(
    NS1,
    (q) =>
      n++ === 0
        ? [
          new Uint8Array(5),
          Uint8Array.of(...dnsReply({ id: q.id, question: q.name }).subarray(0, 20)),
        ]
        : [dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.3")] })],
  );
  script(NS2, () => []);
  assertEquals(await lan.settle(resolver.resolve("ok.test")), [parseIpv4("192.0.2.3")]);
  assertEquals(client.counters.udp.drops["dns-truncated"], 2);
});

Deno.test("DNS: concurrent asks for one name share a query; the cache is bounded", async () => {
  const { lan, resolver, queries, script } = setup({ cacheSize: 2 });
  script(NS1, (q) => [dnsReply({ id: q.id, question: q.name, answers: [a(q.name, "192.0.2.4")] })]);
  const both = Promise.all([resolver.resolve("x.test"), resolver.resolve("x.test")]);
  assertEquals((await lan.settle(both)).map((r) => r.map(ip)), [["192.0.2.4"], ["192.0.2.4"]]);
  assertEquals(queries.length, 1);
  await lan.settle(resolver.resolve("y.test"));
  await lan.settle(resolver.resolve("z.test"));
  assertEquals(resolver.snapshot().cachedNames, 2);
  await lan.settle(resolver.resolve("x.test"));
  assertEquals(queries.length, 4, "x.test was evicted and asked again");
});
