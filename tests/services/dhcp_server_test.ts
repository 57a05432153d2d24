import { assert, assertEquals, assertThrows } from "@std/assert";
import { DhcpClient } from "../../stack/dhcp_client.ts";
import { DhcpServer, type DhcpServerOptions } from "../../stack/dhcp_server.ts";
import { MemoryBindingStore } from "../../stack/lease_store.ts";
import { Stack } from "../../stack/stack.ts";
import { MemoryLink } from "../../stack/link.ts";
import { VirtualClock } from "../../stack/clock.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import {
  BootpOp,
  dhcpLength,
  type DhcpMessage,
  DhcpMessageType,
  type DhcpOptions,
  emitDhcp,
} from "../../stack/wire/dhcp.ts";
import { decodeDhcp, dhcpSentBy, ip, isBroadcastFrame, Lan, udpFrame } from "./helpers.ts";

const SERVER_MAC = "02:00:00:00:00:01";
const SERVER_IP = "10.7.0.1";

function setup(options: DhcpServerOptions = {}) {
  const lan = new Lan();
  const serverStack = lan.add({ mac: SERVER_MAC, cidr: `${SERVER_IP}/24` });
  const server = new DhcpServer(serverStack, { leaseSeconds: 600, ...options });
  /** Sends a crafted client message to the server, as from 0.0.0.0 (or `ciaddr`) port 68. */
  const send = (mac: string, type: number, fields: Partial<DhcpMessage> & DhcpOptions = {}) => {
    const { ciaddr = 0, xid = 0x1234, ...options } = fields;
    const message: DhcpMessage = {
      op: BootpOp.REQUEST,
      xid,
      secs: 0,
      broadcast: false,
      ciaddr,
      yiaddr: 0,
      siaddr: 0,
      giaddr: 0,
      chaddr: parseMac(mac),
      messageType: type,
      options,
    };
    const bytes = new Uint8Array(dhcpLength(message));
    emitDhcp(bytes, message);
    const src = ciaddr === 0 ? "0.0.0.0" : ip(ciaddr);
    lan.inject(
      serverStack,
      udpFrame(mac, "ff:ff:ff:ff:ff:ff", src, "255.255.255.255", 68, 67, bytes),
    );
  };
  /** Replies the server sent since the last call. */
  let seen = 0;
  const replies = () => {
    const all = dhcpSentBy(lan, serverStack);
    const fresh = all.slice(seen);
    seen = all.length;
    return fresh;
  };
  return { lan, serverStack, server, send, replies };
}

Deno.test("DHCP server: DISCOVER -> OFFER with lease options, broadcast; REQUEST -> ACK", async () => {
  const { lan, send, replies, server } = setup({ dnsServers: [parseIpv4("10.7.0.53")] });
  send("02:00:00:00:00:a1", DhcpMessageType.DISCOVER, { hostname: "box" });
  await lan.runFor(10);
  const [offer] = replies();
  assertEquals(offer!.dhcp.messageType, DhcpMessageType.OFFER);
  assertEquals(ip(offer!.dhcp.yiaddr), "10.7.0.2"); // .1 is the server itself
  assertEquals([ip(offer!.udp.src), ip(offer!.udp.dst)], [SERVER_IP, "255.255.255.255"]);
  const o = offer!.dhcp.options;
  assertEquals([o.leaseSeconds, o.renewalSeconds, o.rebindingSeconds], [600, 300, 525]);
  assertEquals([ip(o.serverId!), ip(o.subnetMask!)], [SERVER_IP, "255.255.255.0"]);
  assertEquals(o.routers?.map(ip), [SERVER_IP]);
  assertEquals(o.dnsServers?.map(ip), ["10.7.0.53"]);
  assertEquals(offer!.dhcp.xid, 0x1234);
  assertEquals(server.leases().map((l) => [l.state, l.hostname]), [["offered", "box"]]);
  send("02:00:00:00:00:a1", DhcpMessageType.REQUEST, {
    requestedIp: offer!.dhcp.yiaddr,
    serverId: parseIpv4(SERVER_IP),
  });
  await lan.runFor(10);
  const [ack] = replies();
  assertEquals(ack!.dhcp.messageType, DhcpMessageType.ACK);
  assertEquals(ack!.dhcp.yiaddr, offer!.dhcp.yiaddr);
  assertEquals(server.leases().map((l) => l.state), ["bound"]);
});

Deno.test("DHCP server: REQUEST naming another server frees the offer silently; unoffered -> NAK", async () => {
  const { lan, send, replies, server } = setup();
  send("02:00:00:00:00:a1", DhcpMessageType.DISCOVER);
  await lan.runFor(10);
  const [offer] = replies();
  send("02:00:00:00:00:a1", DhcpMessageType.REQUEST, {
    requestedIp: offer!.dhcp.yiaddr,
    serverId: parseIpv4("10.7.0.250"),
  });
  await lan.runFor(10);
  assertEquals(replies(), []);
  assertEquals(server.leases().map((l) => l.state), ["free"]);
  send("02:00:00:00:00:a2", DhcpMessageType.REQUEST, {
    requestedIp: parseIpv4("10.7.0.9"),
    serverId: parseIpv4(SERVER_IP),
  });
  await lan.runFor(10);
  const [nak] = replies();
  assertEquals(nak!.dhcp.messageType, DhcpMessageType.NAK);
  assertEquals(nak!.dhcp.yiaddr, 0);
  assertEquals([nak!.udp.toBroadcastMac, ip(nak!.udp.dst)], [true, "255.255.255.255"]);
  assertEquals(nak!.dhcp.options.message, "requested address was not offered");
});

Deno.test("DHCP server: a two-address pool and a table of two: the third client waits for an offer to lapse", async () => {
  const { lan, send, replies, serverStack } = setup({
    poolFirst: parseIpv4("10.7.0.10"),
    poolLast: parseIpv4("10.7.0.11"),
    maxLeases: 2,
    offerHoldMs: 30_000,
  });
  for (const mac of ["02:00:00:00:00:a1", "02:00:00:00:00:a2", "02:00:00:00:00:a3"]) {
    send(mac, DhcpMessageType.DISCOVER);
  }
  await lan.runFor(10);
  assertEquals(replies().map((r) => ip(r.dhcp.yiaddr)), ["10.7.0.10", "10.7.0.11"]);
  assertEquals(serverStack.counters.udp.drops["dhcp-pool-exhausted"], 1);
  await lan.runFor(31_000);
  send("02:00:00:00:00:a3", DhcpMessageType.DISCOVER);
  await lan.runFor(10);
  const [late] = replies();
  assertEquals(late!.dhcp.messageType, DhcpMessageType.OFFER);
  assert(["10.7.0.10", "10.7.0.11"].includes(ip(late!.dhcp.yiaddr)));
});

Deno.test("DHCP server: DECLINE takes the address out of the pool for a while", async () => {
  const { lan, send, replies, server } = setup({ declineHoldMs: 60_000 });
  const mac = "02:00:00:00:00:a1";
  send(mac, DhcpMessageType.DISCOVER);
  await lan.runFor(10);
  const [offer] = replies();
  send(mac, DhcpMessageType.REQUEST, {
    requestedIp: offer!.dhcp.yiaddr,
    serverId: parseIpv4(SERVER_IP),
  });
  await lan.runFor(10);
  replies();
  send(mac, DhcpMessageType.DECLINE, {
    requestedIp: offer!.dhcp.yiaddr,
    serverId: parseIpv4(SERVER_IP),
  });
  await lan.runFor(10);
  assertEquals(server.leases(), []);
  send(mac, DhcpMessageType.DISCOVER, { xid: 2 });
  await lan.runFor(10);
  assertEquals(ip(replies()[0]!.dhcp.yiaddr), "10.7.0.3");
  await lan.runFor(61_000);
  send("02:00:00:00:00:b1", DhcpMessageType.DISCOVER, { xid: 3 });
  await lan.runFor(10);
  assertEquals(ip(replies()[0]!.dhcp.yiaddr), "10.7.0.2", "the hold is over");
});

Deno.test("DHCP server: INFORM gets parameters only, unicast to ciaddr (RFC 2131 4.3.5)", async () => {
  const { lan, send, serverStack } = setup();
  const host = lan.add({ mac: "02:00:00:00:00:a7", cidr: "10.7.0.77/24" });
  send("02:00:00:00:00:a7", DhcpMessageType.INFORM, { ciaddr: parseIpv4("10.7.0.77") });
  await lan.runFor(100);
  const ack = lan.sent(serverStack).map((f) => ({ f, d: decodeDhcp(f.bytes) })).find((x) =>
    x.d !== null
  )!;
  assertEquals(ack.d!.dhcp.messageType, DhcpMessageType.ACK);
  assertEquals(ack.d!.dhcp.yiaddr, 0);
  assertEquals(ack.d!.dhcp.options.leaseSeconds, undefined);
  assertEquals(ip(ack.d!.dhcp.options.subnetMask!), "255.255.255.0");
  assertEquals(ip(ack.d!.udp.dst), "10.7.0.77");
  assertEquals(isBroadcastFrame(ack.f.bytes), false);
  assert(host.counters.udp.rxPackets >= 1);
});

Deno.test("DHCP server: leases persist; a restarted server keeps them and renews the client's lease", async () => {
  const store = new MemoryBindingStore();
  const { lan, serverStack, server } = setup({ store, unixOriginMs: 1e12 });
  const clientStack = lan.add({ mac: "02:00:00:00:00:c1" });
  const client = new DhcpClient(clientStack);
  assert(await lan.run(() => client.state === "BOUND", 60_000));
  const address = client.lease!.address;
  assertEquals(store.load().map((b) => [b.mac, b.address]), [["02:00:00:00:00:c1", address]]);
  server.close();
  const restarted = new DhcpServer(serverStack, { store, leaseSeconds: 600, unixOriginMs: 1e12 });
  assertEquals(restarted.leases().map((l) => [l.address, l.state]), [[ip(address), "bound"]]);
  // Another client is not given that address.
  const other = lan.add({ mac: "02:00:00:00:00:c2" });
  const otherClient = new DhcpClient(other);
  assert(await lan.run(() => otherClient.state === "BOUND", 60_000));
  assert(otherClient.lease!.address !== address);
  // The first client renews with the restarted server and keeps its address.
  const expires = client.lease!.expiresMs;
  assert(await lan.run(() => client.lease!.expiresMs !== expires, 400_000));
  assertEquals(client.lease!.address, address);
});

Deno.test("DHCP server: a non-authoritative server ignores INIT-REBOOT from unknown clients", async () => {
  const { lan, send, replies } = setup({ authoritative: false });
  send("02:00:00:00:00:a1", DhcpMessageType.REQUEST, { requestedIp: parseIpv4("10.7.0.20") });
  await lan.runFor(10);
  assertEquals(replies(), []);
  send("02:00:00:00:00:a1", DhcpMessageType.REQUEST, { requestedIp: parseIpv4("10.9.0.20") });
  await lan.runFor(10);
  assertEquals(replies().map((r) => r.dhcp.messageType), [DhcpMessageType.NAK], "wrong network");
});

Deno.test("DHCP server: malformed messages are counted and dropped; service continues", async () => {
  const { lan, serverStack, send, replies } = setup();
  const inject = (payload: Uint8Array) =>
    lan.inject(
      serverStack,
      udpFrame(
        "02:00:00:00:00:a1",
        "ff:ff:ff:ff:ff:ff",
        "0.0.0.0",
        "255.255.255.255",
        68,
        67,
        payload,
      ),
    );
  inject(new Uint8Array(20)); // truncated
  const noMagic = new Uint8Array(300);
  noMagic.set([1, 1, 6]);
  inject(noMagic);
  const overrun = new Uint8Array(300);
  overrun.set([1, 1, 6]);
  overrun.set([0x63, 0x82, 0x53, 0x63, 53, 1, 1, 12, 200], 236);
  inject(overrun);
  const reply = new Uint8Array(300);
  reply.set([2, 1, 6]);
  reply.set([0x63, 0x82, 0x53, 0x63, 53, 1, 2, 255], 236);
  inject(reply); // a server message sent to the server
  await lan.runFor(10);
  const drops = serverStack.counters.udp.drops;
  assertEquals(
    [drops["dhcp-truncated"], drops["dhcp-bad-magic"], drops["dhcp-option-overrun"]],
    [1, 1, 1],
  );
  assertEquals(drops["dhcp-not-request"], 1);
  assertEquals(replies(), []);
  send("02:00:00:00:00:a1", DhcpMessageType.DISCOVER);
  await lan.runFor(10);
  assertEquals(replies().map((r) => r.dhcp.messageType), [DhcpMessageType.OFFER]);
});

Deno.test("DHCP server: refuses a stack without an address and a pool outside the subnet", () => {
  const clock = new VirtualClock();
  const [link] = MemoryLink.pair({ clock });
  const bare = new Stack({ link, mac: parseMac("02:00:00:00:00:01") });
  assertThrows(() => new DhcpServer(bare), TypeError, "static IPv4 address");
  const lan = new Lan();
  const stack = lan.add({ mac: SERVER_MAC, cidr: `${SERVER_IP}/24` });
  assertThrows(
    () =>
      new DhcpServer(stack, { poolFirst: parseIpv4("10.8.0.1"), poolLast: parseIpv4("10.8.0.9") }),
    RangeError,
    "inside 10.7.0.0/24",
  );
});
