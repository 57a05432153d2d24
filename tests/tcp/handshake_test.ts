/** Opening connections: options, refusal, timeouts, lost handshake segments, ports. */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { INITIAL_SSTHRESH } from "../../stack/tcp/congestion.ts";
import { TcpFlag } from "../../stack/wire/tcp.ts";
import { TestNet } from "./harness.ts";
import { parseSegment } from "./segments.ts";

const SYN = TcpFlag.SYN;
const ACK = TcpFlag.ACK;

Deno.test("handshake: three segments negotiate MSS, window scale, SACK and timestamps", async () => {
  const net = new TestNet({ trace: true });
  const { client, server } = await net.connectPair(80);
  assertEquals([client.state, server.state], ["ESTABLISHED", "ESTABLISHED"]);
  const [syn, synAck, ack] = net.trace.map((p) => parseSegment(p.segment));
  assertEquals(syn!.flags, SYN);
  assertEquals(synAck!.flags, SYN | ACK);
  assertEquals(ack!.flags, ACK);
  assertEquals(synAck!.ack, (syn!.seq + 1) >>> 0);
  assertEquals([ack!.seq, ack!.ack], [(syn!.seq + 1) >>> 0, (synAck!.seq + 1) >>> 0]);
  for (const s of [syn!, synAck!]) {
    assertEquals(s.options.mss, 1500 - 40);
    assertEquals(s.options.windowScale, 3); // 256 KiB needs a shift of 3 (RFC 7323 2.3)
    assert(s.options.sackPermitted && s.options.hasTimestamps);
    assertEquals(s.window, 65535); // never scaled in a SYN (RFC 7323 2.2)
  }
  assertEquals(synAck!.options.tsEcr, syn!.options.tsVal);
  assertEquals(ack!.options.tsEcr, synAck!.options.tsVal);
  assertEquals(ack!.window, (256 * 1024) >> 3);
  assertEquals(client.remoteAddr, { transport: "tcp", hostname: "10.0.0.2", port: 80 });
  assertEquals(server.localAddr, { transport: "tcp", hostname: "10.0.0.2", port: 80 });
  assertEquals(server.remoteAddr, client.localAddr);
  assert(client.localAddr.port >= 49152 && client.localAddr.port <= 65535);
});

Deno.test("handshake: options the client does not offer are not used", async () => {
  const net = new TestNet({
    trace: true,
    a: { tcp: { timestamps: false, sack: false, windowScaling: false } },
  });
  const { client, server } = await net.connectPair(80);
  const [syn, synAck, ack] = net.trace.map((p) => parseSegment(p.segment));
  for (const s of [syn!, synAck!, ack!]) {
    assertEquals([s.options.hasTimestamps, s.options.sackPermitted], [false, false]);
    assertEquals(s.options.windowScale, -1);
  }
  assertEquals(ack!.window, 65535); // unscaled: the buffer is larger than the field
  const sc = server.connection;
  assertEquals([sc.receiver.tsEnabled, sc.sender.sackEnabled, sc.receiver.shift], [
    false,
    false,
    0,
  ]);
  assertEquals(sc.sender.mss, 1460); // no timestamp option to subtract
  assertEquals(client.connection.sender.mss, 1460);
});

Deno.test("handshake: the MSS follows the smaller MTU and the timestamp option", async () => {
  const net = new TestNet({ a: { mtu: 1280 }, b: { mtu: 9000 } });
  const { client, server } = await net.connectPair(80);
  assertEquals(client.connection.sender.mss, 1240 - 12);
  assertEquals(server.connection.sender.mss, 1240 - 12);
});

Deno.test("handshake: a port with no listener answers RST and connect is refused", async () => {
  const net = new TestNet({ trace: true });
  await assertRejects(
    () => net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 81 })),
    Deno.errors.ConnectionRefused,
  );
  const [syn, rst] = net.trace.map((p) => parseSegment(p.segment));
  assertEquals(rst!.flags, TcpFlag.RST | ACK); // RFC 9293 3.10.7.1, SYN without ACK
  assertEquals([rst!.seq, rst!.ack], [0, (syn!.seq + 1) >>> 0]);
  assertEquals(net.b.counters.drops["no-socket"], 1);
  assertEquals(net.a.layer.activeConnections, 0);
});

Deno.test("handshake: SYNs are retried with backoff, then connect times out", async () => {
  const net = new TestNet({ trace: true, a: { tcp: { synRetries: 3 } } });
  net.tap = (from) => from !== net.a; // the server never hears anything
  const start = net.clock.now();
  await assertRejects(
    () => net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 })),
    Deno.errors.TimedOut,
  );
  assertEquals(net.trace.length, 0); // dropped before the trace
  assertEquals(net.a.ip.sentPackets, 4);
  assertEquals(net.clock.now() - start, 1000 + 2000 + 4000 + 8000);
  assertEquals(net.a.layer.activeConnections, 0);
});

Deno.test("handshake: a lost SYN-ACK is retransmitted and the RTO restarts at 3 s", async () => {
  const net = new TestNet({ trace: true });
  let dropped = 0;
  net.tap = (from, seg) => {
    const s = parseSegment(seg);
    if (from === net.b && s.flags === (SYN | ACK) && dropped === 0) return (dropped++, false);
    return true;
  };
  const start = net.clock.now();
  const { client, server } = await net.connectPair(80);
  assertEquals(dropped, 1);
  assertEquals(net.clock.now() - start, 1000); // the client's SYN timer fired once
  assertEquals(client.state, "ESTABLISHED");
  assertEquals(server.state, "ESTABLISHED");
  assertEquals(client.connection.sender.rto.rtoMs, 3000); // RFC 6298 5.7
});

Deno.test("handshake: after a lost SYN or SYN-ACK, one segment of window and ssthresh untouched", async () => {
  for (const lost of ["SYN", "SYN-ACK"] as const) {
    const net = new TestNet();
    let dropped = 0;
    net.tap = (from, seg) => {
      const flags = parseSegment(seg).flags;
      const hit = lost === "SYN"
        ? from === net.a && flags === SYN
        : from === net.b && flags === (SYN | ACK);
      if (!hit || dropped > 0) return true;
      dropped++;
      return false;
    };
    const { client, server } = await net.connectPair(80);
    assertEquals(dropped, 1);
    // RFC 5681 3.1: the window after a lost SYN or SYN-ACK is one segment; the loss says
    // nothing about the path, so ssthresh keeps its initial value (and slow start its course).
    const s = (lost === "SYN" ? client : server).connection.sender;
    assertEquals([s.stats.timeouts, s.cc.cwndBytes], [1, s.mss], lost);
    assertEquals(s.cc.ssthreshBytes, INITIAL_SSTHRESH, lost);
  }
});

Deno.test("handshake: a lost final ACK is covered by the first data segment", async () => {
  const net = new TestNet();
  let dropped = false;
  net.tap = (from, seg) => {
    const s = parseSegment(seg);
    if (from === net.a && s.flags === ACK && s.payload.length === 0 && !dropped) {
      dropped = true;
      return false;
    }
    return true;
  };
  const listener = net.b.layer.listen({ port: 80 });
  const client = await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  assert(dropped);
  await client.write(new TextEncoder().encode("hello"));
  const server = await net.settle(listener.accept());
  const buf = new Uint8Array(10);
  const n = await net.settle(server.read(buf));
  assertEquals(new TextDecoder().decode(buf.subarray(0, n!)), "hello");
});

Deno.test("handshake: simultaneous open (RFC 9293 figure 8)", async () => {
  const net = new TestNet({ trace: true });
  const pa = net.a.layer.connect({ hostname: "10.0.0.2", port: 5000, localPort: 6000 });
  const pb = net.b.layer.connect({ hostname: "10.0.0.1", port: 6000, localPort: 5000 });
  const [ca, cb] = await net.settle(Promise.all([pa, pb]));
  assertEquals([ca.state, cb.state], ["ESTABLISHED", "ESTABLISHED"]);
  const flags = net.trace.map((p) => parseSegment(p.segment).flags);
  assertEquals(flags.slice(0, 4), [SYN, SYN, SYN | ACK, SYN | ACK]);
  await ca.write(new Uint8Array([1, 2, 3]));
  const buf = new Uint8Array(3);
  assertEquals(await net.settle(cb.read(buf)), 3);
  assertEquals([...buf], [1, 2, 3]);
});

Deno.test("handshake: sequence numbers wrapping past 2^32 during a transfer", async () => {
  // Learn the ISN function at one instant, then start the clock where it lands near 2^32.
  const probe = new TestNet({ seed: 3 });
  const { client: c0 } = await probe.connectPair(80);
  const iss0 = c0.connection.sender.iss;
  const t0 = c0.connection.sender.lastProgressMs;
  const target = 2 ** 32 - 20_000;
  const d = Math.ceil((((target - iss0) % 2 ** 32) + 2 ** 32) % 2 ** 32 / 250);
  const net = new TestNet({ seed: 3, startMs: t0 + d });
  const { client, server } = await net.connectPair(80);
  const iss = client.connection.sender.iss;
  assert(iss > 2 ** 32 - 25_000, `iss ${iss}`);
  const data = new Uint8Array(200_000).map((_, i) => i * 7);
  const done = (async () => {
    for (let at = 0; at < data.length;) at += await client.write(data.subarray(at));
    await client.closeWrite();
  })();
  const got: number[] = [];
  const buf = new Uint8Array(50_000);
  for (;;) {
    const n = await net.settle(server.read(buf));
    if (n === null) break;
    for (let i = 0; i < n; i++) got.push(buf[i]!);
  }
  await net.settle(done);
  assertEquals(got.length, data.length);
  assert(got.every((b, i) => b === data[i]));
  assert(client.connection.sender.sndUna < 1_000_000); // it wrapped
});

Deno.test("ports: AddrInUse, port 0, and random ephemeral ports", async () => {
  const net = new TestNet();
  const l = net.b.layer.listen({ port: 8080 });
  assertEquals(l.addr, { transport: "tcp", hostname: "0.0.0.0", port: 8080 });
  assertThrows(() => net.b.layer.listen({ port: 8080 }), Deno.errors.AddrInUse);
  assertThrows(
    () => net.b.layer.listen({ port: 8080, hostname: "10.0.0.2" }),
    Deno.errors.AddrInUse,
  );
  l.close();
  net.b.layer.listen({ port: 8080, hostname: "10.0.0.2" }).close();
  const any = net.b.layer.listen({ port: 0 });
  assert(any.addr.port >= 49152);
  assertThrows(() => net.b.layer.listen({ port: 70000 }), RangeError);
  const server = net.b.layer.listen({ port: 80 });
  const ports: number[] = [];
  for (let i = 0; i < 40; i++) {
    const c = await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
    ports.push(c.localAddr.port);
  }
  assertEquals(new Set(ports).size, 40);
  assert(ports.every((p) => p >= 49152 && p <= 65535));
  const sequential = ports.slice(1).filter((p, i) => p === ports[i]! + 1).length;
  assert(sequential < 5, "ports should not be sequential (RFC 6056)");
  server.close();
});

Deno.test("listener: close resets unaccepted connections and ends iteration", async () => {
  const net = new TestNet();
  const listener = net.b.layer.listen({ port: 80 });
  const client = await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  const seen: string[] = [];
  const loop = (async () => {
    for await (const c of listener) seen.push(c.remoteAddr.hostname);
  })();
  await net.advance(10);
  assertEquals(seen, ["10.0.0.1"]);
  const second = await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
  await net.advance(1);
  listener.close();
  await net.settle(loop);
  await assertRejects(() => listener.accept(), Deno.errors.BadResource);
  assertEquals(seen.length, 2);
  assertEquals(client.state, "ESTABLISHED");
  void second;
});
