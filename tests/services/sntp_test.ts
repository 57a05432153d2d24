import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { DnsResolver } from "../../stack/dns.ts";
import { SntpClient, type SntpClientOptions } from "../../stack/sntp.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";
import type { DatagramMeta } from "../../stack/udp.ts";
import { dnsReply, ip, Lan, type LanOptions, ntpReply, readQuery } from "./helpers.ts";

/** Wall-clock time at stack time 0, as the host would measure it. */
const ORIGIN = Date.UTC(2025, 0, 15, 12, 0, 0);
const NTP_IP = "10.0.0.123";
const HOUR = 3_600_000;

interface Seen {
  atMs: number;
  request: Uint8Array;
  meta: DatagramMeta;
}

/** What the scripted server answers to one request. */
type Script = (seen: Seen) => Uint8Array[];

function setup(
  options: Partial<SntpClientOptions> = {},
  links: { toServer?: LanOptions; toClient?: LanOptions } = {},
) {
  const lan = new Lan();
  const client = lan.add({
    mac: "02:00:00:00:00:01",
    cidr: "10.0.0.1/24",
    inbound: links.toClient,
  });
  const server = lan.add({
    mac: "02:00:00:00:01:23",
    cidr: `${NTP_IP}/24`,
    inbound: links.toServer,
  });
  const requests: Seen[] = [];
  let script: Script = () => [];
  const endpoint = server.udp.open(123, (payload, meta, nowMs) => {
    const seen = { atMs: nowMs, request: payload.slice(), meta };
    requests.push(seen);
    for (const reply of script(seen)) endpoint.send(reply, meta.src, meta.srcPort);
  });
  const sntp = new SntpClient(client, { server: NTP_IP, unixOriginMs: ORIGIN, ...options });
  return {
    lan,
    client,
    server,
    sntp,
    requests,
    script: (s: Script) => (script = s),
  };
}

/** A server whose clock is `skewMs` ahead of ours and which answers at once. */
function honest(skewMs: number, extra: Partial<Parameters<typeof ntpReply>[0]> = {}): Script {
  return ({ atMs, request }) => [
    ntpReply({
      request,
      receiveUnixMs: ORIGIN + atMs + skewMs,
      transmitUnixMs: ORIGIN + atMs + skewMs,
      ...extra,
    }),
  ];
}

Deno.test("SNTP: offset and delay from known T1-T4 over a 20 ms link each way", async () => {
  const { lan, sntp, requests, script } = setup({}, {
    toServer: { delayMs: 20 },
    toClient: { delayMs: 20 },
  });
  script(honest(1_500));
  assert(await lan.run(() => sntp.offsetMs !== null, 10_000));
  assertAlmostEquals(sntp.offsetMs!, 1_500, 0.01);
  assertAlmostEquals(sntp.snapshot().delayMs!, 40, 0.01);
  // The first request waited for ARP after T1 was taken, so its sample was not used; the
  // second went out when the first reply arrived (60 ms) and came back 40 ms later.
  assertEquals(requests.length, 2);
  assertEquals(requests[1]!.atMs, 80);
  assertEquals(sntp.lastSyncMs, 100);
  const now = lan.clock.now();
  assertAlmostEquals(sntp.nowUnixMs(now), ORIGIN + now + 1_500, 0.01);
  // The request: mode 3, version 4, transmit = our local time at sending (T1 = 60 ms).
  const r = requests[1]!.request;
  assertEquals([r[0]! & 7, (r[0]! >> 3) & 7], [3, 4]);
  const view = new DataView(r.buffer, r.byteOffset);
  assertEquals(view.getUint32(40), Math.floor(ORIGIN / 1000) + 2208988800);
  assertAlmostEquals(view.getUint32(44) / 2 ** 32 * 1000, (ORIGIN % 1000) + 60, 0.25);
  assert(requests.every((q) => q.meta.srcPort >= 49152));
  assert(requests[0]!.meta.srcPort !== requests[1]!.meta.srcPort, "a fresh port per request");
  const snapshot = sntp.snapshot();
  assertEquals([snapshot.synchronized, snapshot.address, snapshot.stratum], [true, NTP_IP, 2]);
  assertEquals(snapshot.nextSyncMs, 100 + HOUR);
});

Deno.test("SNTP: an asymmetric path shows as half the difference of the one-way delays", async () => {
  const { lan, sntp, script } = setup({}, {
    toServer: { delayMs: 10 },
    toClient: { delayMs: 30 },
  });
  script(honest(-250));
  assert(await lan.run(() => sntp.offsetMs !== null, 10_000));
  assertAlmostEquals(sntp.offsetMs!, -250 + (10 - 30) / 2, 0.01); // RFC 4330 5 error term
  assertAlmostEquals(sntp.snapshot().delayMs!, 40, 0.01);
});

Deno.test("SNTP: replies with the wrong origin, mode, port or size are ignored and counted", async () => {
  const { lan, client, server, sntp, requests, script } = setup();
  const other = server.udp.open(1123, () => {});
  script((seen) => {
    const wrongOrigin = new Uint8Array(8).fill(7);
    other.send(honest(9_000)(seen)[0]!, seen.meta.src, seen.meta.srcPort);
    return [
      honest(9_000, { origin: wrongOrigin })(seen)[0]!,
      honest(9_000, { mode: 5 })(seen)[0]!,
      new Uint8Array(20),
      honest(300)(seen)[0]!,
    ];
  });
  assert(await lan.run(() => sntp.offsetMs !== null, 10_000));
  assertAlmostEquals(sntp.offsetMs!, 300, 0.01);
  const drops = client.counters.udp.drops;
  assertEquals(
    [
      drops["ntp-bad-origin"],
      drops["ntp-bad-mode"],
      drops["ntp-wrong-source"],
      drops["ntp-truncated"],
    ],
    Array(4).fill(requests.length), // each request drew one of each
  );
});

Deno.test("SNTP: leap indicator 3 and zero timestamps fail each try; the sync fails and retries in 5 min", async () => {
  const { lan, client, sntp, requests, script } = setup();
  let n = 0;
  script((seen) => [honest(100, n++ % 2 === 0 ? { leap: 3 } : { zeroTransmit: true })(seen)[0]!]);
  await lan.runFor(1_000);
  assertEquals(requests.length, 3, "three tries per sync");
  assertEquals(sntp.offsetMs, null);
  const drops = client.counters.udp.drops;
  assertEquals([drops["ntp-unsynchronized"], drops["ntp-zero-timestamp"]], [2, 1]);
  assertEquals(sntp.snapshot().nextSyncMs, 300_000);
  assert(client.events.list().some((e) => e.type === "ntp" && e.text.includes("failed")));
  script(honest(100));
  assert(await lan.run(() => sntp.offsetMs !== null, 400_000));
  assertEquals(requests.at(-1)!.atMs, 300_000);
});

Deno.test("SNTP: kiss-o'-death RATE doubles the interval; DENY stops asking that server for a day", async () => {
  const { lan, client, sntp, requests, script } = setup();
  script(honest(0, { stratum: 0, refId: "RATE" }));
  await lan.runFor(1_000);
  assertEquals(requests.length, 1);
  assertEquals(sntp.offsetMs, null);
  assert(sntp.snapshot().lastError!.includes("RATE"));
  assertEquals(sntp.snapshot().nextSyncMs, 2 * HOUR);
  assertEquals(client.counters.udp.drops["ntp-kiss-rate"], 1);
  script(honest(0, { stratum: 0, refId: "DENY" }));
  await lan.runFor(2 * HOUR);
  assertEquals(requests.length, 2);
  await lan.runFor(12 * HOUR);
  assertEquals(requests.length, 2, "no request to a server that said DENY");
  assert(client.events.list().some((e) => e.text.includes("DENY")));
});

Deno.test("SNTP: resync every hour; a silent server is retried after 5, 10, 20 min", async () => {
  const { lan, sntp, requests, script } = setup();
  script(honest(42));
  assert(await lan.run(() => sntp.offsetMs !== null, 10_000));
  await lan.runFor(3 * HOUR - 1);
  // Each sync sends two: ARP entries last 60 s, so the first sample of each spans a resolution.
  assertEquals(requests.map((r) => r.atMs), [0, 0, HOUR, HOUR, 2 * HOUR, 2 * HOUR]);
  script(() => []);
  const silentFrom = 3 * HOUR;
  await lan.runFor(40 * 60_000);
  const times = requests.map((r) => r.atMs - silentFrom).slice(6);
  // Three 5 s tries per sync; failed syncs end at 15 s and retry 5, then 10, then 20 min later.
  assertEquals(times, [
    ...[0, 5_000, 10_000],
    ...[315_000, 320_000, 325_000],
    ...[930_000, 935_000, 940_000],
    ...[2_145_000, 2_150_000, 2_155_000],
  ]);
  assertAlmostEquals(sntp.offsetMs!, 42, 0.01, "the last good offset is kept");
  assertEquals(sntp.lastSyncMs, 2 * HOUR);
});

Deno.test("SNTP: a server name is resolved through the resolver; syncNow() syncs at the next poll", async () => {
  const lan = new Lan();
  const client = lan.add({ mac: "02:00:00:00:00:01", cidr: "10.0.0.1/24" });
  const dns = lan.add({ mac: "02:00:00:00:00:53", cidr: "10.0.0.53/24" });
  const ntp = lan.add({ mac: "02:00:00:00:01:23", cidr: `${NTP_IP}/24` });
  const dnsEndpoint = dns.udp.open(53, (payload, meta) => {
    const q = readQuery(payload);
    const answers = [{ name: q.name, type: "A" as const, ttl: 60, address: NTP_IP }];
    dnsEndpoint.send(dnsReply({ id: q.id, question: q.name, answers }), meta.src, meta.srcPort);
  });
  const seen: number[] = [];
  const ntpEndpoint = ntp.udp.open(123, (payload, meta, nowMs) => {
    seen.push(nowMs);
    const reply = honest(77)({ atMs: nowMs, request: payload, meta })[0]!;
    ntpEndpoint.send(reply, meta.src, meta.srcPort);
  });
  const resolver = new DnsResolver(client, { servers: [parseIpv4("10.0.0.53")] });
  const sntp = new SntpClient(client, { server: "time.test", resolver, unixOriginMs: ORIGIN });
  assertEquals(sntp.server, "time.test");
  assert(await lan.run(() => sntp.offsetMs !== null, 10_000));
  assertAlmostEquals(sntp.offsetMs!, 77, 0.01);
  assertEquals(sntp.snapshot().address, NTP_IP);
  await lan.runFor(60_000);
  sntp.syncNow();
  await lan.runFor(10);
  assertEquals([seen[0], seen.at(-1), sntp.lastSyncMs], [0, 60_000, 60_000]);
  assertThrows(
    () => new SntpClient(client, { server: "time.test", unixOriginMs: ORIGIN }),
    TypeError,
    "needs a resolver",
  );
  assertEquals(ip(parseIpv4(NTP_IP)), NTP_IP);
});
