import { assert, assertEquals, assertGreaterOrEqual, assertLessOrEqual } from "@std/assert";
import { DhcpClient, type DhcpClientOptions, type DhcpLease } from "../../stack/dhcp_client.ts";
import { DhcpServer, type DhcpServerOptions } from "../../stack/dhcp_server.ts";
import { MemoryLeaseStore } from "../../stack/lease_store.ts";
import type { Stack } from "../../stack/stack.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { ArpOperation } from "../../stack/wire/arp.ts";
import { DhcpMessageType } from "../../stack/wire/dhcp.ts";
import {
  arpFrame,
  decodeArp,
  decodeDhcp,
  dhcpSentBy,
  ip,
  isBroadcastFrame,
  Lan,
  type LanOptions,
  udpFrame,
} from "./helpers.ts";

const SERVER_MAC = "02:00:00:00:00:01";
const CLIENT_MAC = "02:00:00:00:00:c1";
const SERVER_IP = "10.7.0.1";
const DNS_IP = "10.7.0.53";

interface Setup {
  lan?: LanOptions;
  server?: DhcpServerOptions;
  client?: DhcpClientOptions;
}

function setup(options: Setup = {}) {
  const lan = new Lan(options.lan);
  const serverStack = lan.add({ mac: SERVER_MAC, cidr: `${SERVER_IP}/24` });
  const clientStack = lan.add({ mac: CLIENT_MAC });
  const server = new DhcpServer(serverStack, {
    dnsServers: [parseIpv4(DNS_IP)],
    leaseSeconds: 600,
    ...options.server,
  });
  const leases: (DhcpLease | null)[] = [];
  const client = new DhcpClient(clientStack, {
    onLease: (lease) => leases.push(lease),
    ...options.client,
  });
  return { lan, serverStack, clientStack, server, client, leases };
}

/** DHCP message types a host sent, in order. */
function types(lan: Lan, stack: Stack): number[] {
  return dhcpSentBy(lan, stack).map((m) => m.dhcp.messageType);
}

async function bind(lan: Lan, client: DhcpClient, limitMs = 120_000): Promise<DhcpLease> {
  assert(await lan.run(() => client.state === "BOUND", limitMs), `stuck in ${client.state}`);
  return client.lease!;
}

Deno.test("DHCP: acquisition over a lossy link; first DISCOVER within 100 ms, ARP check, options", async () => {
  const { lan, serverStack, clientStack, server, client, leases } = setup({
    lan: { lossPercent: 25, seed: 11 },
  });
  const lease = await bind(lan, client, 300_000);
  const sent = dhcpSentBy(lan, clientStack);
  assertGreaterOrEqual(sent.length, 3, "the loss forced a retransmission");
  const first = sent[0]!;
  assertEquals(first.dhcp.messageType, DhcpMessageType.DISCOVER);
  assertLessOrEqual(first.atMs, 100);
  assertEquals([ip(first.udp.src), ip(first.udp.dst), first.udp.dstPort], [
    "0.0.0.0",
    "255.255.255.255",
    67,
  ]);
  const o = first.dhcp.options;
  assertEquals([...o.clientId!], [1, ...parseMac(CLIENT_MAC)]); // RFC 2132 9.14
  assertEquals(o.hostname, "mip-tap");
  for (const code of [1, 3, 6, 51, 58, 59]) assert(o.parameterRequestList!.includes(code));
  // The REQUEST that got the ACK names the address and the server, with the DISCOVER's xid.
  const request = sent.findLast((m) => m.dhcp.messageType === DhcpMessageType.REQUEST)!;
  assertEquals(request.dhcp.xid, sent.findLast((m) => m.dhcp.messageType === 1)!.dhcp.xid);
  assertEquals(request.dhcp.options.requestedIp, lease.address);
  assertEquals(request.dhcp.options.serverId, parseIpv4(SERVER_IP));
  // The lease and the stack agree with what the server handed out.
  assertEquals(clientStack.ipv4.config, {
    address: lease.address,
    prefixLength: 24,
    gateway: parseIpv4(SERVER_IP),
  });
  assertEquals(lease.dnsServers, [parseIpv4(DNS_IP)]);
  assertEquals(lease.leaseSeconds, 600);
  assertEquals(lease.renewAtMs - lease.obtainedMs, 300_000);
  assertEquals(lease.rebindAtMs - lease.obtainedMs, 525_000);
  assertEquals(leases, [lease]);
  const bound = server.leases().filter((l) => l.state === "bound");
  assertEquals(bound.map((l) => [l.mac, l.address]), [[CLIENT_MAC, ip(lease.address)]]);
  // RFC 5227: three probes from 0.0.0.0 for the address, all before it was configured.
  const probes = lan.sent(clientStack).filter((f) => {
    const arp = decodeArp(f.bytes);
    return arp !== null && arp.senderIp === 0 && arp.targetIp === lease.address;
  });
  assertGreaterOrEqual(probes.length, 3);
  const configuredAt = clientStack.events.list().find((e) => e.type === "network")!.timeMs;
  assert(probes.every((p) => p.atMs < configuredAt));
  const transitions = clientStack.events.list().filter((e) => e.type === "dhcp").map((e) =>
    e.text.split(":")[0]
  );
  assertEquals(transitions.slice(-3), [
    "INIT -> SELECTING",
    "SELECTING -> REQUESTING",
    "REQUESTING -> BOUND",
  ]);
  assertEquals(client.snapshot().state, "BOUND");
  assertEquals(client.snapshot().dnsServers, [DNS_IP]);
  // And the address works.
  let pongs = 0;
  for (let sequence = 1; sequence <= 10; sequence++) {
    const ping = clientStack.ping(SERVER_IP, { timeoutMs: 1000, sequence });
    pongs += await lan.settle(ping.then(() => 1, () => 0));
  }
  assertGreaterOrEqual(pongs, 3, "some pings get through 25% loss each way");
  assertEquals(serverStack.counters.udp.drops["dhcp-truncated"], undefined);
});

Deno.test("DHCP: DISCOVER retransmits at 4, 8, 16, 32, 64, 64 s, each +-1 s (RFC 2131 4.1)", async () => {
  const { lan, serverStack, clientStack, client } = setup();
  lan.plug(serverStack, false);
  await lan.runFor(250_000);
  const times = dhcpSentBy(lan, clientStack).map((m) => m.atMs);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  const expected = [4, 8, 16, 32, 64, 64].map((s) => s * 1000);
  assertEquals(gaps.length >= expected.length, true, `gaps ${gaps}`);
  expected.forEach((e, i) => {
    assertGreaterOrEqual(gaps[i]!, e - 1000);
    assertLessOrEqual(gaps[i]!, e + 1000);
  });
  const xids = new Set(dhcpSentBy(lan, clientStack).map((m) => m.dhcp.xid));
  assertEquals(xids.size, 1, "retransmissions keep the xid");
  assertEquals(client.state, "SELECTING");
});

Deno.test("DHCP: renewal at T1 is unicast to the server and extends the lease in place", async () => {
  const { lan, clientStack, client, leases } = setup();
  const lease = await bind(lan, client);
  const before = dhcpSentBy(lan, clientStack).length;
  assert(await lan.run(() => client.lease !== lease, 400_000));
  const renewal = dhcpSentBy(lan, clientStack).slice(before);
  assertEquals(renewal.length, 1);
  const r = renewal[0]!;
  assertEquals(r.atMs, lease.renewAtMs);
  assertEquals(r.dhcp.messageType, DhcpMessageType.REQUEST);
  assertEquals([ip(r.udp.src), ip(r.udp.dst)], [ip(lease.address), SERVER_IP]);
  assertEquals(r.dhcp.ciaddr, lease.address);
  assertEquals(r.dhcp.options.serverId, undefined); // RFC 2131 4.3.2 RENEWING
  assertEquals(r.dhcp.options.requestedIp, undefined);
  const renewed = client.lease!;
  assertEquals(client.state, "BOUND");
  assertEquals(renewed.address, lease.address);
  assertEquals(renewed.expiresMs, lease.renewAtMs + 600_000);
  assertEquals(leases.length, 2);
  const network = clientStack.events.list().filter((e) => e.type === "network");
  assertEquals(network.length, 1, "the address was not reconfigured");
  const texts = clientStack.events.list().map((e) => e.text);
  assert(texts.some((t) => t.startsWith("BOUND -> RENEWING: T1 reached")));
  assert(texts.some((t) => t.startsWith("RENEWING -> BOUND: renewed")));
});

Deno.test("DHCP: unicast renewals unanswered -> REBINDING at T2 by broadcast, answered", async () => {
  const { lan, clientStack, client } = setup();
  const lease = await bind(lan, client);
  // The server never hears unicast DHCP from the client (broadcast still gets through).
  lan.filter(clientStack, (frame) => {
    const d = decodeDhcp(frame);
    return d === null || isBroadcastFrame(frame);
  });
  const before = dhcpSentBy(lan, clientStack).length;
  assert(await lan.run(() => client.lease !== lease, 600_000));
  const sent = dhcpSentBy(lan, clientStack).slice(before);
  const t1 = lease.renewAtMs;
  // RFC 2131 4.4.5: half the time to T2, at least 60 s: T1, T1 + 112.5 s, T1 + 172.5 s, then T2.
  assertEquals(sent.map((m) => m.atMs), [t1, t1 + 112_500, t1 + 172_500, lease.rebindAtMs]);
  assertEquals(sent.map((m) => ip(m.udp.dst)), [
    SERVER_IP,
    SERVER_IP,
    SERVER_IP,
    "255.255.255.255",
  ]);
  assertEquals(client.state, "BOUND");
  assertEquals(client.lease!.address, lease.address);
  assertEquals(client.lease!.expiresMs, lease.rebindAtMs + 600_000);
  assert(clientStack.events.list().some((e) => e.text.startsWith("RENEWING -> REBINDING")));
});

Deno.test("DHCP: server gone -> address dropped at lease end, events recorded, then found again", async () => {
  const store = new MemoryLeaseStore();
  const { lan, serverStack, clientStack, client, leases } = setup({ client: { store } });
  const lease = await bind(lan, client);
  assertEquals(store.load()?.address, lease.address);
  lan.plug(serverStack, false);
  assert(await lan.run(() => client.lease === null, 700_000));
  const removed = clientStack.events.list().find((e) => e.text === "IPv4 address removed")!;
  assertEquals(removed.timeMs, lease.expiresMs);
  assertEquals(clientStack.ipv4.config, null);
  assertEquals(leases.at(-1), null);
  assertEquals(store.load(), null);
  const expiry = clientStack.events.list().find((e) => e.text.includes("expired"))!;
  assertEquals([expiry.type, expiry.priority, expiry.timeMs], ["dhcp", "warning", lease.expiresMs]);
  assert(await lan.run(() => client.state === "SELECTING", 1000));
  // The new DISCOVER asks for the old address; when the server is back, it gets it again.
  const discover = dhcpSentBy(lan, clientStack).at(-1)!;
  assertEquals(discover.dhcp.messageType, DhcpMessageType.DISCOVER);
  assertEquals(discover.dhcp.options.requestedIp, lease.address);
  lan.plug(serverStack, true);
  const again = await bind(lan, client, 200_000);
  assertEquals(again.address, lease.address);
});

Deno.test("DHCP: NAK at renewal from a restarted server without the lease -> new address", async () => {
  const { lan, serverStack, clientStack, client, server } = setup();
  const lease = await bind(lan, client);
  server.close();
  const restarted = new DhcpServer(serverStack, {
    poolFirst: parseIpv4("10.7.0.200"),
    poolLast: parseIpv4("10.7.0.210"),
    leaseSeconds: 600,
  });
  const nakked = () => clientStack.events.list().some((e) => e.text.includes("NAK from 10.7.0.1"));
  assert(await lan.run(nakked, 400_000));
  assertEquals(client.snapshot().address, null);
  assertEquals(clientStack.ipv4.config, null);
  const event = serverStack.events.list().find((e) => e.text.includes("NAK"))!;
  assert(event.text.includes("address not available"), event.text);
  const again = await bind(lan, client);
  assertGreaterOrEqual(again.address, parseIpv4("10.7.0.200"));
  assertLessOrEqual(again.address, parseIpv4("10.7.0.210"));
  assert(again.address !== lease.address);
  assertEquals(restarted.leases().filter((l) => l.state === "bound").length, 1);
});

Deno.test("DHCP: INIT-REBOOT with a stored address from another network is NAKed, then DISCOVER", async () => {
  const store = new MemoryLeaseStore({
    address: parseIpv4("192.168.99.5"),
    prefixLength: 24,
    router: 0,
    dnsServers: [],
    server: parseIpv4("192.168.99.1"),
    leaseSeconds: 3600,
    expiresUnixMs: null,
  });
  const { lan, clientStack, client } = setup({ client: { store } });
  assertEquals(client.state, "INIT-REBOOT");
  const lease = await bind(lan, client);
  assertEquals(types(lan, clientStack).slice(0, 2), [DhcpMessageType.REQUEST, 1]);
  assert(
    clientStack.events.list().some((e) => e.text.includes("NAK from 10.7.0.1 (wrong network)")),
  );
  assertEquals(ip(lease.address).startsWith("10.7.0."), true);
  assertEquals(store.load()?.address, lease.address);
});

Deno.test("DHCP: a host already using the offered address answers the probe -> DECLINE, 10 s, another address", async () => {
  const lan = new Lan();
  const serverStack = lan.add({ mac: SERVER_MAC, cidr: `${SERVER_IP}/24` });
  const squatter = lan.add({ mac: "02:00:00:00:00:99", cidr: "10.7.0.2/24" }); // unknown to the server
  const clientStack = lan.add({ mac: CLIENT_MAC });
  const server = new DhcpServer(serverStack, { leaseSeconds: 600 });
  const client = new DhcpClient(clientStack);
  const lease = await bind(lan, client);
  assertEquals(ip(lease.address), "10.7.0.3");
  const sent = dhcpSentBy(lan, clientStack);
  const decline = sent.find((m) => m.dhcp.messageType === DhcpMessageType.DECLINE)!;
  assertEquals(decline.dhcp.options.requestedIp, parseIpv4("10.7.0.2"));
  assertEquals(decline.dhcp.options.serverId, parseIpv4(SERVER_IP));
  assertEquals([ip(decline.udp.src), ip(decline.udp.dst)], ["0.0.0.0", "255.255.255.255"]);
  const next = sent.find((m) => m.atMs > decline.atMs)!;
  assertEquals(next.dhcp.messageType, DhcpMessageType.DISCOVER);
  assertGreaterOrEqual(next.atMs - decline.atMs, 10_000); // RFC 2131 3.1.5
  assert(squatter.counters.arp.txPackets > 0);
  assert(server.leases().every((l) => l.address !== "10.7.0.2"));
  const declined = serverStack.events.list().find((e) => e.text.includes("declined 10.7.0.2"))!;
  assertEquals(declined.priority, "warning");
  assert(clientStack.events.list().some((e) => e.text.includes("is in use by 02:00:00:00:00:99")));
});

Deno.test("DHCP: an injected ARP claim for the address during probing also means DECLINE", async () => {
  const { lan, clientStack, client } = setup({ client: { probe: { probeWaitMs: 0 } } });
  let injected = false;
  // When the first probe leaves, a crafted gratuitous ARP from another MAC claims its target.
  assert(
    await lan.run(() => {
      const probe = lan.sent(clientStack).map((f) => decodeArp(f.bytes)).find((a) =>
        a !== null && a.senderIp === 0
      );
      if (probe && !injected) {
        injected = true;
        const other = parseMac("02:00:00:00:00:77");
        lan.inject(
          clientStack,
          arpFrame(parseMac("ff:ff:ff:ff:ff:ff"), {
            operation: ArpOperation.REQUEST,
            senderMac: other,
            senderIp: probe.targetIp,
            targetMac: new Uint8Array(6),
            targetIp: probe.targetIp,
          }),
        );
      }
      return types(lan, clientStack).includes(DhcpMessageType.DECLINE);
    }, 60_000),
  );
  assertEquals(client.state, "INIT");
  assertEquals(clientStack.ipv4.config, null);
  const lease = await bind(lan, client);
  assert(ip(lease.address) !== "10.7.0.2");
});

Deno.test("DHCP: another host probing the same address (RFC 5227 2.1.1 b) also means DECLINE", async () => {
  const { lan, clientStack, client } = setup({ client: { probe: { probeWaitMs: 0 } } });
  let injected = false;
  // When the first probe leaves, another MAC sends its own probe (sender 0.0.0.0) for the target.
  assert(
    await lan.run(() => {
      const probe = lan.sent(clientStack).map((f) => decodeArp(f.bytes)).find((a) =>
        a !== null && a.senderIp === 0
      );
      if (probe && !injected) {
        injected = true;
        const other = parseMac("02:00:00:00:00:77");
        lan.inject(
          clientStack,
          arpFrame(parseMac("ff:ff:ff:ff:ff:ff"), {
            operation: ArpOperation.REQUEST,
            senderMac: other,
            senderIp: 0,
            targetMac: new Uint8Array(6),
            targetIp: probe.targetIp,
          }),
        );
      }
      return types(lan, clientStack).includes(DhcpMessageType.DECLINE);
    }, 60_000),
  );
  assertEquals(client.state, "INIT");
  assertEquals(clientStack.ipv4.config, null);
  const lease = await bind(lan, client);
  assert(ip(lease.address) !== "10.7.0.2");
});

Deno.test("DHCP: release() sends RELEASE at the next poll, the server frees the lease, the client stops", async () => {
  const store = new MemoryLeaseStore();
  const { lan, clientStack, client, server, leases } = setup({ client: { store } });
  const lease = await bind(lan, client);
  client.release();
  lan.step();
  const release = dhcpSentBy(lan, clientStack).at(-1)!;
  assertEquals(release.dhcp.messageType, DhcpMessageType.RELEASE);
  assertEquals(release.dhcp.ciaddr, lease.address);
  assertEquals(release.dhcp.options.serverId, parseIpv4(SERVER_IP));
  assertEquals(clientStack.ipv4.config, null);
  assertEquals(leases.at(-1), null);
  assertEquals(store.load()?.released, true, "the address is remembered, marked released");
  assertEquals(store.load()?.address, lease.address);
  await lan.runFor(1000);
  assertEquals(server.leases().map((l) => l.state), ["free"]);
  const count = dhcpSentBy(lan, clientStack).length;
  await lan.runFor(600_000);
  assertEquals(dhcpSentBy(lan, clientStack).length, count, "nothing after the release");

  // The next start does not assume the released address (no INIT-REBOOT) but suggests it.
  lan.plug(clientStack, false);
  const stack2 = lan.add({ mac: CLIENT_MAC, seed: 998 });
  const client2 = new DhcpClient(stack2, { store });
  assertEquals(client2.state, "INIT");
  const again = await bind(lan, client2);
  const discover = dhcpSentBy(lan, stack2).find((m) =>
    m.dhcp.messageType === DhcpMessageType.DISCOVER
  )!;
  assertEquals(discover.dhcp.options.requestedIp, lease.address);
  assertEquals(again.address, lease.address);
});

Deno.test("DHCP: a second client instance with the same store INIT-REBOOTs to the same address quickly", async () => {
  const store = new MemoryLeaseStore();
  const { lan, clientStack, client } = setup({ client: { store, unixOriginMs: 1.7e12 } });
  const lease = await bind(lan, client);
  await lan.runFor(60_000);
  // "Restart": the old stack leaves the wire; a new one with the same MAC and store starts.
  client.close();
  lan.plug(clientStack, false);
  const stack2 = lan.add({ mac: CLIENT_MAC, seed: 999 });
  const started = lan.clock.now();
  const client2 = new DhcpClient(stack2, { store, unixOriginMs: 1.7e12 });
  assertEquals(client2.state, "INIT-REBOOT");
  const lease2 = await bind(lan, client2);
  assertEquals(lease2.address, lease.address);
  const sent = dhcpSentBy(lan, stack2);
  assertEquals(sent.map((m) => m.dhcp.messageType), [DhcpMessageType.REQUEST]);
  const request = sent[0]!.dhcp;
  assertEquals(request.options.requestedIp, lease.address);
  assertEquals(request.options.serverId, undefined);
  assertEquals(request.ciaddr, 0);
  // One round trip plus the RFC 5227 check (at most 1 + 2 + 2 + 2 s).
  assertLessOrEqual(lan.clock.now() - started, 7_200);
  const texts = stack2.events.list().map((e) => e.text);
  assert(texts.some((t) => t.startsWith("INIT-REBOOT -> REBOOTING")));
});

Deno.test("DHCP: a stored lease known to have expired is not rebooted but hinted in DISCOVER", async () => {
  const store = new MemoryLeaseStore({
    address: parseIpv4("10.7.0.42"),
    prefixLength: 24,
    router: parseIpv4(SERVER_IP),
    dnsServers: [],
    server: parseIpv4(SERVER_IP),
    leaseSeconds: 600,
    expiresUnixMs: 1_000,
  });
  const { lan, clientStack, client } = setup({ client: { store, unixOriginMs: 5_000 } });
  lan.step();
  assertEquals(client.state, "INIT");
  const lease = await bind(lan, client);
  assertEquals(ip(lease.address), "10.7.0.42");
  assertEquals(types(lan, clientStack)[0], DhcpMessageType.DISCOVER);
});

Deno.test("DHCP: malformed and foreign replies are counted and dropped; the client still binds", async () => {
  const { lan, clientStack, client } = setup();
  const toClient = (payload: Uint8Array) =>
    lan.inject(
      clientStack,
      udpFrame(SERVER_MAC, "ff:ff:ff:ff:ff:ff", SERVER_IP, "255.255.255.255", 67, 68, payload),
    );
  toClient(new Uint8Array(100)); // truncated
  const badMagic = new Uint8Array(300);
  badMagic.set([2, 1, 6]);
  toClient(badMagic);
  const noType = new Uint8Array(300);
  noType.set([2, 1, 6]);
  noType.set([0x63, 0x82, 0x53, 0x63, 255], 236);
  toClient(noType);
  // A well-formed OFFER for someone else's xid and MAC.
  const foreign = new Uint8Array(300);
  foreign.set([2, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef]);
  foreign.set([10, 7, 0, 99], 16);
  foreign.set([2, 0, 0, 0, 0, 0xee], 28);
  foreign.set([0x63, 0x82, 0x53, 0x63, 53, 1, 2, 54, 4, 10, 7, 0, 1, 255], 236);
  toClient(foreign);
  const lease = await bind(lan, client);
  const drops = clientStack.counters.udp.drops;
  assertEquals(
    [drops["dhcp-truncated"], drops["dhcp-bad-magic"], drops["dhcp-no-message-type"]],
    [1, 1, 1],
  );
  assertEquals(drops["dhcp-not-ours"], 1);
  assert(ip(lease.address) !== "10.7.0.99");
});

Deno.test("DHCP: INIT-REBOOT unanswered (non-authoritative server) falls back to DISCOVER after 2 tries", async () => {
  const store = new MemoryLeaseStore({
    address: parseIpv4("10.7.0.42"),
    prefixLength: 24,
    router: 0,
    dnsServers: [],
    server: parseIpv4("10.7.0.9"),
    leaseSeconds: 600,
    expiresUnixMs: null,
  });
  const { lan, clientStack, client } = setup({
    server: { authoritative: false },
    client: { store },
  });
  const lease = await bind(lan, client);
  const sent = dhcpSentBy(lan, clientStack);
  assertEquals(sent.slice(0, 3).map((m) => m.dhcp.messageType), [
    DhcpMessageType.REQUEST,
    DhcpMessageType.REQUEST,
    DhcpMessageType.DISCOVER,
  ]);
  assertLessOrEqual(sent[2]!.atMs, 100 + 4_000 + 8_000 + 2_000);
  assertEquals(ip(lease.address), "10.7.0.42", "DISCOVER still asks for the stored address");
});
