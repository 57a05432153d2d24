/**
 * Defences and timers: SYN backlog, SYN cookies, connection limits, garbage input, keepalive,
 * retransmission limits, user timeout, ICMP errors.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { SeededRandom } from "../../stack/random.ts";
import { setTcpChecksum, TcpFlag } from "../../stack/wire/tcp.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";
import { buildSegment, ScriptedPeer } from "./segments.ts";

const { SYN, ACK, RST } = TcpFlag;

Deno.test("defence: the SYN backlog is bounded and SYN cookies answer beyond it", async () => {
  const net = new TestNet({ a: { tcp: { synBacklog: 4 } } });
  const peer = new ScriptedPeer(net);
  const listener = net.a.layer.listen({ port: 80 });
  for (let i = 0; i < 10; i++) {
    peer.send({
      srcPort: 20000 + i,
      dstPort: 80,
      seq: 1000 * i,
      flags: SYN,
      options: { mss: 1400, windowScale: 6, sackPermitted: true, hasTimestamps: true, tsVal: 77 },
    });
  }
  await net.advance(0);
  const answers = peer.take();
  assertEquals(answers.length, 10);
  assert(answers.every((s) => s.flags === (SYN | ACK)));
  assertEquals(net.a.layer.activeConnections, 4); // synBacklog below
  assertEquals(net.a.counters.drops["syn-cookie-sent"], 6);
  // Complete the handshake of the last SYN (a cookie) and send data in the same ACK.
  const cookie = answers[9]!;
  assertEquals(cookie.options.tsEcr, 77);
  assertEquals(cookie.options.windowScale, 3);
  peer.send({
    srcPort: 20009,
    dstPort: 80,
    seq: 9001,
    ack: cookie.seq + 1,
    flags: ACK | TcpFlag.PSH,
    window: 1000, // scaled by 2^6 per the SYN
    payload: new TextEncoder().encode("cookie!"),
    options: { hasTimestamps: true, tsVal: 78, tsEcr: cookie.options.tsVal },
  });
  const conn = await net.settle(listener.accept());
  assertEquals(conn.remoteAddr.port, 20009);
  const buf = new Uint8Array(20);
  const n = await net.settle(conn.read(buf));
  assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "cookie!");
  const c = conn.connection;
  assertEquals(c.sender.sndWnd, 1000 * 64);
  assert(c.sender.sackEnabled && c.receiver.tsEnabled);
  assertEquals(c.sender.mss, 1400 - 12);
  // A forged ACK (wrong cookie) for another port gets a RST and no state.
  peer.send({ srcPort: 20008, dstPort: 80, seq: 8001, ack: 12345, flags: ACK });
  await net.advance(0);
  const [rst] = peer.take().filter((s) => s.flags & RST);
  assertEquals([rst!.flags, rst!.seq], [RST, 12345]);
  assertEquals(net.a.layer.activeConnections, 5);
});

Deno.test("defence: without cookies, SYNs beyond the backlog are dropped", async () => {
  const net = new TestNet({ a: { tcp: { synBacklog: 2, synCookies: false } } });
  const peer = new ScriptedPeer(net);
  net.a.layer.listen({ port: 80 });
  for (let i = 0; i < 5; i++) peer.send({ srcPort: 20000 + i, dstPort: 80, seq: i, flags: SYN });
  await net.advance(0);
  assertEquals(peer.take().length, 2);
  assertEquals(net.a.counters.drops["syn-backlog-full"], 3);
});

Deno.test("defence: a full accept queue drops SYNs until the application accepts", async () => {
  const net = new TestNet({ b: { tcp: { acceptBacklog: 2, synCookies: false } } });
  const listener = net.b.layer.listen({ port: 80 });
  const clients = [0, 1, 2].map(() => net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  let established = 0;
  for (const c of clients) c.then(() => established++);
  await net.advance(500);
  assertEquals(established, 2);
  assert(net.b.counters.drops["syn-backlog-full"]! >= 1);
  await net.settle(listener.accept());
  await net.settle(clients[2]!); // the SYN retransmission finds room
  assertEquals(established, 3);
});

Deno.test("defence: the global connection limit", async () => {
  const net = new TestNet({ a: { tcp: { maxConnections: 2 } } });
  net.b.layer.listen({ port: 80 });
  await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  await assertRejects(
    () => net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }),
    Deno.errors.AddrNotAvailable,
  );
  const server = new TestNet({ b: { tcp: { maxConnections: 1 } } });
  server.b.layer.listen({ port: 80 });
  await server.settle(server.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  server.a.layer.connect({ hostname: "10.0.0.2", port: 80 }).catch(() => {});
  await server.advance(100);
  assertEquals(server.b.layer.activeConnections, 1);
  assertEquals(server.b.counters.drops["connection-limit"], 1);
});

Deno.test("defence: garbage never throws and creates no state", async () => {
  const net = new TestNet();
  const { client, server } = await net.connectPair(80);
  const random = new SeededRandom(99);
  const before = net.b.layer.activeConnections;
  const ports = [client.localAddr.port, 80];
  for (let i = 0; i < 20000; i++) {
    const n = random.u32() % 80;
    const bytes = new Uint8Array(n);
    for (let j = 0; j < n; j++) bytes[j] = random.u32() & 0xff;
    if (n >= 20 && i % 2 === 0) {
      // Well-formed enough to pass the checksum and reach the state machine.
      bytes[0] = ports[0]! >> 8;
      bytes[1] = ports[0]! & 0xff;
      bytes[2] = 0;
      bytes[3] = 80;
      const words = Math.min(15, 5 + (random.u32() % Math.floor((n - 20) / 4 + 1)));
      bytes[12] = words << 4;
      bytes[13] = bytes[13]! & ~SYN; // a SYN would legitimately open a connection
      setTcpChecksum(bytes, net.a.address, net.b.address); // random options stay in
      net.inject(net.b, bytes);
    } else {
      net.inject(net.b, bytes);
    }
  }
  await net.advance(1000);
  assertEquals(net.b.layer.activeConnections, before);
  const drops = net.b.counters.drops;
  assert(drops["bad-checksum"]! > 2000 && drops["truncated"]! > 2000);
  assert(drops["out-of-window"]! > 5000, "checked segments reached the state machine");
  assertEquals([client.state, server.state], ["ESTABLISHED", "ESTABLISHED"]);
});

Deno.test("defence: keepalive probes an idle connection and gives up on a dead peer", async () => {
  const tcp = { keepAliveIdleMs: 10_000, keepAliveIntervalMs: 1000, keepAliveProbes: 3 };
  const net = new TestNet({ a: { tcp }, trace: true });
  const { client } = await net.connectPair(80);
  client.setKeepAlive(true);
  net.trace.length = 0;
  await net.advance(25_000);
  const probes = net.trace.filter((p) => p.from === "a");
  assertEquals(probes.length, 2); // one per idle period, each answered
  assertEquals(client.state, "ESTABLISHED");
  net.tap = (from) => from !== net.b; // the peer goes silent
  const reading = client.read(new Uint8Array(1));
  await assertRejects(() => net.settle(reading), Deno.errors.TimedOut);
});

Deno.test("defence: a dead peer during a transfer: backoff, then TimedOut", async () => {
  const net = new TestNet({ a: { tcp: { dataRetries: 5 } } });
  const { client } = await net.connectPair(80);
  await net.advance(10);
  net.tap = (from) => from !== net.a;
  const sendTimes: number[] = [];
  const previous = net.tap;
  net.tap = (from, seg) => {
    if (from === net.a) sendTimes.push(net.clock.now());
    return previous(from, seg);
  };
  await client.write(new Uint8Array(100));
  const reading = client.read(new Uint8Array(1));
  await assertRejects(() => net.settle(reading), Deno.errors.TimedOut);
  const gaps = sendTimes.slice(1).map((t, i) => t - sendTimes[i]!);
  const rto = 200;
  // A tail loss probe first (RFC 8985 7.2: one segment in flight, so the probe timeout is
  // capped at the RTO), then five retransmissions with exponential backoff (RFC 6298 5.5).
  assertEquals(gaps, [rto, rto, 2 * rto, 4 * rto, 8 * rto, 16 * rto]);
});

Deno.test("defence: the user timeout aborts before the retry count", async () => {
  const net = new TestNet({ a: { tcp: { userTimeoutMs: 1000 } } });
  const { client } = await net.connectPair(80);
  await net.advance(10);
  net.tap = (from) => from !== net.a;
  const t0 = net.clock.now();
  await client.write(new Uint8Array(100));
  await assertRejects(() => net.settle(client.read(new Uint8Array(1))), Deno.errors.TimedOut);
  // The RTO is clamped to the user timeout: the abort comes at 1 s, not at the next backoff.
  assertEquals(net.clock.now() - t0, 1000);
});

Deno.test("defence: ICMP port unreachable refuses a connect; frag needed lowers the MSS", async () => {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  const connecting = net.a.layer.connect({ hostname: "10.0.0.2", port: 80 });
  await net.advance(0);
  const [syn] = peer.take();
  const quoted = buildSegment(
    { srcPort: syn!.srcPort, dstPort: 80, seq: syn!.seq, flags: SYN },
    net.a.address,
    net.b.address,
  );
  net.a.layer.icmpError({
    type: 3,
    code: 3,
    dst: net.b.address,
    src: net.a.address,
    quoted: quoted.subarray(0, 8),
    nextHopMtu: 0,
  }, net.clock.now());
  await assertRejects(() => net.settle(connecting), Deno.errors.ConnectionRefused);

  const net2 = new TestNet();
  const { client, server } = await net2.connectPair(80);
  const data = pattern(100_000, 3);
  const writing = writeAll(client, data).then(() => client.closeWrite());
  await net2.advance(0);
  const sender = client.connection.sender;
  net2.a.layer.icmpError({
    type: 3,
    code: 4,
    dst: net2.b.address,
    src: net2.a.address,
    quoted: buildSegment(
      { srcPort: client.localAddr.port, dstPort: 80, seq: sender.sndUna, flags: ACK },
      0,
      0,
    ).subarray(0, 8),
    nextHopMtu: 1000,
  }, net2.clock.now());
  assertEquals(sender.mss, 1000 - 40 - 12);
  const got = await net2.settle(readAll(server));
  await net2.settle(writing);
  assert(sameBytes(got, data));
});

Deno.test("defence: a half-open connection gives up after synAckRetries", async () => {
  const net = new TestNet({ a: { tcp: { synAckRetries: 3 } } });
  const peer = new ScriptedPeer(net);
  net.a.layer.listen({ port: 80 });
  const t0 = net.clock.now();
  peer.send({ srcPort: 20000, dstPort: 80, seq: 1, flags: SYN });
  const times: number[] = [];
  await net.run(() => {
    for (const s of peer.take()) if (s.flags === (SYN | ACK)) times.push(net.clock.now() - t0);
    return net.a.layer.activeConnections === 0;
  });
  assertEquals(times, [0, 1000, 3000, 7000]); // RFC 6298 backoff from a 1 s initial RTO
});

Deno.test("defence: closing a listener resets its half-open connections", async () => {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  const listener = net.a.layer.listen({ port: 80 });
  peer.send({ srcPort: 20000, dstPort: 80, seq: 1, flags: SYN });
  await net.advance(0);
  const [synAck] = peer.take();
  listener.close();
  await net.advance(0);
  const [rst] = peer.take();
  assertEquals([rst!.flags & RST, rst!.seq], [RST, (synAck!.seq + 1) >>> 0]);
  assertEquals(net.a.layer.activeConnections, 0);
});
