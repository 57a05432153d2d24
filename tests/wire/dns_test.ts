/**
 * DNS codec tests against dnsmasq 2.90 captures (see tests/fixtures/services/dns_captures.ts for
 * how the bytes were obtained): read fields of responses, build queries equal to the captured
 * ones, parse queries, emit/parse round trips; then hand-made hostile names (pointer loops, bad
 * label types, over-long names) and fuzzing.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { parseIpv4 } from "../../stack/wire/address.ts";
import {
  DNS_CLASS_IN,
  type DnsMessage,
  dnsNamesEqual,
  dnsQueryLength,
  DnsRcode,
  DnsType,
  emitDnsQuery,
  encodeDnsName,
  isValidDnsName,
  parseDnsMessage,
  readDnsName,
} from "../../stack/wire/dns.ts";
import { SeededRandom } from "../../stack/random.ts";
import * as captures from "../fixtures/services/dns_captures.ts";

const {
  DNS_QUERY_A,
  DNS_QUERY_AAAA,
  DNS_QUERY_CNAME,
  DNS_QUERY_PTR,
  DNS_QUERY_SOA,
  DNS_RESPONSE_A,
  DNS_RESPONSE_AAAA,
  DNS_RESPONSE_AUTH_NXDOMAIN,
  DNS_RESPONSE_CNAME,
  DNS_RESPONSE_NS,
  DNS_RESPONSE_NXDOMAIN,
  DNS_RESPONSE_PTR,
  DNS_RESPONSE_SOA,
} = captures;
const ALL: [string, Uint8Array][] = Object.entries(captures);

/** The zone dnsmasq served: `--auth-soa=2024010101,hostmaster.example.test,1200,180,1209600`. */
const ZONE_SOA = {
  kind: "SOA",
  mname: "ns.example.test",
  rname: "hostmaster.example.test",
  serial: 2024010101,
  refresh: 1200,
  retry: 180,
  expire: 1209600,
  minimum: 600, // dnsmasq's default --auth-ttl
};

function parseOk(bytes: Uint8Array): DnsMessage {
  const message = parseDnsMessage(bytes);
  if (typeof message === "string") throw new Error(`expected a message, got '${message}'`);
  return message;
}

/** A 12-byte header with the given counts followed by `body`. */
function message(counts: [number, number, number, number], body: number[]): Uint8Array {
  const [qd, an, ns, ar] = counts;
  return Uint8Array.of(0x12, 0x34, 0x81, 0x80, 0, qd, 0, an, 0, ns, 0, ar, ...body);
}

const label = (text: string) => [text.length, ...new TextEncoder().encode(text)];

Deno.test("dns read: A answer from the caching server", () => {
  const m = parseOk(DNS_RESPONSE_A);
  assertEquals(
    [m.id, m.qr, m.opcode, m.aa, m.tc, m.rd, m.ra, m.rcode],
    [0x1a2b, true, 0, true, false, true, true, DnsRcode.NOERROR],
  );
  assertEquals(m.questions, [{ name: "example.test", type: DnsType.A, class: DNS_CLASS_IN }]);
  assertEquals(m.answers.length, 1);
  const answer = m.answers[0]!;
  assertEquals([answer.name, answer.type, answer.class, answer.ttl], ["example.test", 1, 1, 0]);
  assertEquals(answer.data, { kind: "A", address: parseIpv4("10.1.2.3") });
  assertEquals(answer.rdata, Uint8Array.of(10, 1, 2, 3));
  assertEquals(answer.rdata.buffer, DNS_RESPONSE_A.buffer); // a view, not a copy
  assertEquals([m.authority, m.additional], [[], []]);
});

Deno.test("dns read: CNAME chain, AAAA and PTR answers", () => {
  const cname = parseOk(DNS_RESPONSE_CNAME);
  assertEquals(cname.answers.map((r) => [r.name, r.data]), [
    ["alias.example.test", { kind: "CNAME", name: "host.example.test" }],
    // The owner is a pointer into the CNAME's RDATA.
    ["host.example.test", { kind: "A", address: parseIpv4("10.1.2.4") }],
  ]);
  const aaaa = parseOk(DNS_RESPONSE_AAAA).answers[0]!;
  assertEquals(aaaa.data, {
    kind: "AAAA",
    address: Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4),
  });
  const ptr = parseOk(DNS_RESPONSE_PTR);
  assertEquals(ptr.questions[0]!.name, "4.2.1.10.in-addr.arpa");
  assertEquals(ptr.answers[0]!.data, { kind: "PTR", name: "host.example.test" });
});

Deno.test("dns read: NXDOMAIN, with the zone SOA for negative caching (RFC 2308)", () => {
  const plain = parseOk(DNS_RESPONSE_NXDOMAIN);
  assertEquals([plain.rcode, plain.aa, plain.answers.length], [DnsRcode.NXDOMAIN, false, 0]);
  const auth = parseOk(DNS_RESPONSE_AUTH_NXDOMAIN);
  assertEquals([auth.rcode, auth.aa, auth.ra], [DnsRcode.NXDOMAIN, true, false]);
  assertEquals(auth.answers, []);
  assertEquals(auth.authority.length, 1);
  assertEquals(auth.authority[0]!.name, "example.test");
  assertEquals(auth.authority[0]!.ttl, 600);
  assertEquals(auth.authority[0]!.data, ZONE_SOA);
});

Deno.test("dns read: SOA and NS answers, NS owner compressed", () => {
  const soa = parseOk(DNS_RESPONSE_SOA);
  assertEquals(soa.answers[0]!.data, ZONE_SOA);
  assertEquals(soa.authority.map((r) => [r.name, r.type, r.data]), [
    ["example.test", DnsType.NS, { kind: "NS", name: "ns.example.test" }],
  ]);
  assertEquals(parseOk(DNS_RESPONSE_NS).answers[0]!.data, { kind: "NS", name: "ns.example.test" });
});

Deno.test("dns build: queries equal the captured ones", () => {
  const cases: [Uint8Array, number, string, number][] = [
    [DNS_QUERY_A, 0x1a2b, "example.test", DnsType.A],
    [DNS_QUERY_CNAME, 0x1a2c, "alias.example.test", DnsType.A],
    [DNS_QUERY_AAAA, 0x1a2d, "host.example.test", DnsType.AAAA],
    [DNS_QUERY_PTR, 0x1a2e, "4.2.1.10.in-addr.arpa.", DnsType.PTR],
    [DNS_QUERY_SOA, 0x2b03, "example.test", DnsType.SOA],
  ];
  for (const [expected, id, name, type] of cases) {
    const query = { id, name, type };
    const buffer = new Uint8Array(dnsQueryLength(query) + 8).fill(0xee);
    assertEquals(dnsQueryLength(query), expected.length);
    assertEquals(emitDnsQuery(buffer, query), expected.length);
    assertEquals(buffer.subarray(0, expected.length), expected);
  }
});

Deno.test("dns parse: captured queries", () => {
  const q = parseOk(DNS_QUERY_AAAA);
  assertEquals([q.id, q.qr, q.rd, q.rcode], [0x1a2d, false, true, 0]);
  assertEquals(q.questions, [{ name: "host.example.test", type: DnsType.AAAA, class: 1 }]);
  assertEquals([q.answers, q.authority, q.additional], [[], [], []]);
});

Deno.test("dns emit: a query parses back to what was asked", () => {
  const query = { id: 0xbeef, name: "_ntp._udp.Example.test", type: DnsType.SRV };
  for (const recursionDesired of [true, false]) {
    const buffer = new Uint8Array(dnsQueryLength(query));
    emitDnsQuery(buffer, { ...query, recursionDesired });
    const parsed = parseOk(buffer);
    assertEquals([parsed.id, parsed.qr, parsed.rd], [0xbeef, false, recursionDesired]);
    assertEquals(parsed.questions, [{ name: query.name, type: DnsType.SRV, class: 1 }]);
  }
});

Deno.test("dns names: encoding validates labels and total length", () => {
  const max63 = "a".repeat(63);
  for (const good of ["example.test", "example.test.", "a", "x-1_y", ".", max63]) {
    assert(isValidDnsName(good), good);
  }
  const long = [max63, max63, max63, "a".repeat(62)].join("."); // 4 * 64 + 1 = 257 octets
  for (const bad of ["a..b", ".a", "a".repeat(64), "bad name", "ex!", "caf\u00e9.test", long]) {
    assert(!isValidDnsName(bad), bad);
    assertThrows(() => dnsQueryLength({ id: 1, name: bad, type: 1 }), TypeError);
  }
  assertEquals(encodeDnsName(new Uint8Array(3), 0, "."), 1);
  assertThrows(() => encodeDnsName(new Uint8Array(4), 0, "abc"), RangeError);
  assertThrows(() => emitDnsQuery(new Uint8Array(10), { id: 1, name: "a", type: 1 }), RangeError);
  assertThrows(
    () => emitDnsQuery(new Uint8Array(64), { id: 70000, name: "a", type: 1 }),
    RangeError,
  );
  assert(dnsNamesEqual("Example.TEST.", "example.test"));
  assert(!dnsNamesEqual("example.test", "example.tes"));
});

Deno.test("dns names: decompression refuses loops, forward pointers and the header", () => {
  const question = [0, 1, 0, 1];
  const cases: [Uint8Array, string][] = [
    [message([1, 0, 0, 0], [0xc0, 12, ...question]), "bad-pointer"], // to itself
    [message([1, 0, 0, 0], [0xc0, 14, 0, ...question]), "bad-pointer"], // forwards
    [message([1, 0, 0, 0], [0xc0, 2, ...question]), "bad-pointer"], // into the header
    // "a" then a pointer to offset 20, where a pointer leads back to 12: a two-pointer loop.
    [message([1, 1, 0, 0], [1, 0x61, 0xc0, 20, ...question, 0xc0, 12]), "bad-pointer"],
    [message([1, 0, 0, 0], [0x40, ...question]), "bad-label-type"],
    [message([1, 0, 0, 0], [0x80, ...question]), "bad-label-type"],
    [message([1, 0, 0, 0], [5, 0x61]), "truncated"],
    [message([1, 0, 0, 0], [0xc0]), "truncated"],
  ];
  for (const [bytes, reason] of cases) assertEquals(parseDnsMessage(bytes), reason);
});

Deno.test("dns names: total length is limited to 255 octets, also across pointers", () => {
  const l63 = label("b".repeat(63));
  const four = message([1, 0, 0, 0], [
    ...l63,
    ...l63,
    ...l63,
    ...label("c".repeat(62)),
    0,
    0,
    1,
    0,
    1,
  ]);
  assertEquals(parseDnsMessage(four), "name-too-long");
  const three = [...l63, ...l63, ...l63, 0, 0, 1, 0, 1]; // 193 octets: fine
  assertEquals(parseOk(message([1, 0, 0, 0], three)).questions[0]!.name.length, 3 * 64 - 1);
  const viaPointer = message([1, 1, 0, 0], [
    ...three,
    ...l63,
    0xc0,
    12,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assertEquals(parseDnsMessage(viaPointer), "name-too-long");
});

Deno.test("dns names: pointer chains are cut at the hop limit; odd bytes are escaped", () => {
  const bytes = new Uint8Array(12 + 1 + 2 * 80);
  let at = 13;
  for (let previous = 12; at < bytes.length; previous = at, at += 2) {
    bytes.set([0xc0, previous], at);
  }
  assertEquals(readDnsName(bytes, 13 + 2 * 63), { name: ".", end: 13 + 2 * 64 });
  assertEquals(readDnsName(bytes, 13 + 2 * 64), "too-many-pointers");
  const odd = Uint8Array.of(...new Uint8Array(12), 3, 0x61, 0x2e, 0x00, 2, 0x5c, 0x7f, 0);
  assertEquals(readDnsName(odd, 12), { name: "a\\.\\000.\\\\\\127", end: odd.length });
});

Deno.test("dns records: malformed RDATA and high-bit TTLs", () => {
  const question = [0, 0, 1, 0, 1];
  const record = (type: number, ttl: number[], rdata: number[]) => [
    0xc0,
    12,
    0,
    type,
    0,
    1,
    ...ttl,
    0,
    rdata.length,
    ...rdata,
  ];
  const a3 = message([1, 1, 0, 0], [...question, ...record(1, [0, 0, 0, 1], [1, 2, 3])]);
  assertEquals(parseDnsMessage(a3), "bad-rdata");
  const cname = message([1, 1, 0, 0], [...question, ...record(5, [0, 0, 0, 1], [1, 0x61])]);
  assertEquals(parseDnsMessage(cname), "bad-rdata"); // the name runs past RDLENGTH
  const soa = message([1, 1, 0, 0], [...question, ...record(6, [0, 0, 0, 1], [0, 0, 1, 2])]);
  assertEquals(parseDnsMessage(soa), "bad-rdata");
  const high = message([1, 1, 0, 0], [...question, ...record(1, [0x80, 0, 0, 1], [1, 2, 3, 4])]);
  assertEquals(parseOk(high).answers[0]!.ttl, 0); // RFC 2181 8
  const other = message([1, 1, 0, 0], [...question, ...record(16, [0, 0, 0, 9], [1, 0x78])]);
  assertEquals(parseOk(other).answers[0]!.data, { kind: "other" });
  assertEquals(parseOk(other).answers[0]!.rdata, Uint8Array.of(1, 0x78));
});

Deno.test("dns fuzz: every strict prefix of every capture is refused, never thrown", () => {
  for (const [name, bytes] of ALL) {
    parseOk(bytes);
    for (let length = 0; length < bytes.length; length++) {
      assertEquals(
        typeof parseDnsMessage(bytes.subarray(0, length)),
        "string",
        `${name} ${length}`,
      );
    }
  }
});

Deno.test("dns fuzz: random and mutated messages never throw", () => {
  const random = new SeededRandom(0xd25);
  const byte = () => random.u32() & 0xff;
  let accepted = 0;
  for (let i = 0; i < 4000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = Uint8Array.from({ length: random.u32() % 300 }, byte);
    } else {
      bytes = ALL[random.u32() % ALL.length]![1].slice();
      for (let n = 1 + (random.u32() % 3); n > 0; n--) bytes[random.u32() % bytes.length] = byte();
    }
    const result = parseDnsMessage(bytes);
    if (typeof result !== "string") accepted++;
  }
  assert(accepted > 200, `only ${accepted} messages parsed`);
});
