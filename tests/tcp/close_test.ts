/** Closing: every close sequence, TIME-WAIT, resets on close with unread data. */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { TcpFlag } from "../../stack/wire/tcp.ts";
import { pattern, readAll, TestNet } from "./harness.ts";
import { parseSegment } from "./segments.ts";

const FIN = TcpFlag.FIN;

Deno.test("close: client closes first; server ends in CLOSED, client in TIME-WAIT for 2 MSL", async () => {
  const net = new TestNet({ aToB: { delayMs: 5 }, bToA: { delayMs: 5 } });
  const { client, server } = await net.connectPair(80);
  client.close();
  assertEquals(client.state, "FIN-WAIT-1");
  await net.advance(20);
  assertEquals([client.state, server.state], ["FIN-WAIT-2", "CLOSE-WAIT"]);
  assertEquals(await net.settle(server.read(new Uint8Array(10))), null);
  server.close();
  assertEquals(server.state, "LAST-ACK");
  await net.advance(20);
  assertEquals([client.state, server.state], ["TIME-WAIT", "CLOSED"]);
  assertEquals(net.a.layer.timeWaitConnections, 1);
  await net.advance(59_900);
  assertEquals(client.state, "TIME-WAIT");
  await net.advance(200);
  assertEquals(client.state, "CLOSED");
  assertEquals(net.a.layer.timeWaitConnections + net.a.layer.activeConnections, 0);
  assertEquals(net.b.layer.activeConnections, 0);
});

Deno.test("close: server closes first (mirror)", async () => {
  const net = new TestNet();
  const { client, server } = await net.connectPair(80);
  await server.write(new TextEncoder().encode("bye"));
  server.close();
  const got = await net.settle(readAll(client));
  assertEquals(new TextDecoder().decode(got), "bye");
  client.close();
  await net.advance(10);
  assertEquals([client.state, server.state], ["CLOSED", "TIME-WAIT"]);
});

Deno.test("close: simultaneous close goes through CLOSING on both sides", async () => {
  const net = new TestNet({ aToB: { delayMs: 10 }, bToA: { delayMs: 10 }, trace: true });
  const { client, server } = await net.connectPair(80);
  client.close();
  server.close();
  await net.advance(0);
  assertEquals([client.state, server.state], ["FIN-WAIT-1", "FIN-WAIT-1"]);
  await net.advance(15);
  assertEquals([client.state, server.state], ["CLOSING", "CLOSING"]);
  await net.advance(10);
  assertEquals([client.state, server.state], ["TIME-WAIT", "TIME-WAIT"]);
  const fins = net.trace.filter((p) => parseSegment(p.segment).flags & FIN);
  assertEquals(fins.length, 2);
});

Deno.test("close: a lost FIN and a lost last ACK are retransmitted", async () => {
  const net = new TestNet({ trace: true });
  const { client, server } = await net.connectPair(80);
  let finsDropped = 0;
  let lastAckDropped = 0;
  net.tap = (from, seg) => {
    const s = parseSegment(seg);
    if (from === net.a && s.flags & FIN && finsDropped === 0) return (finsDropped++, false);
    if (from === net.a && server.state === "LAST-ACK" && !(s.flags & FIN) && lastAckDropped === 0) {
      return (lastAckDropped++, false);
    }
    return true;
  };
  client.close();
  assertEquals(await net.settle(server.read(new Uint8Array(1))), null);
  server.close();
  await net.run(() => server.state === "CLOSED");
  assertEquals([finsDropped, lastAckDropped], [1, 1]);
  assertEquals(client.state, "TIME-WAIT");
  const serverFins = net.trace.filter((p) => p.from === "b" && parseSegment(p.segment).flags & FIN);
  assertEquals(serverFins.length, 2); // retransmitted once; TIME-WAIT answered the second
});

Deno.test("close: unread data turns close() into a reset (RFC 1122 4.2.2.13)", async () => {
  const net = new TestNet({ trace: true });
  const { client, server } = await net.connectPair(80);
  await client.write(new TextEncoder().encode("unread"));
  await net.advance(10);
  assertEquals(server.connection.readableBytes, 6);
  const pending = server.read(new Uint8Array(0));
  void pending;
  const clientRead = client.read(new Uint8Array(10));
  server.close();
  await net.advance(10);
  assertEquals(server.state, "CLOSED");
  const last = parseSegment(net.trace.at(-1)!.segment);
  assert(last.flags & TcpFlag.RST);
  await assertRejects(() => net.settle(clientRead), Deno.errors.ConnectionReset);
  assertEquals(client.state, "CLOSED");
});

Deno.test("close: data arriving after close() is answered with a reset", async () => {
  const net = new TestNet();
  const { client, server } = await net.connectPair(80);
  server.close(); // FIN-WAIT-1, the application is gone
  await net.advance(10);
  assertEquals(server.state, "FIN-WAIT-2");
  await client.write(new Uint8Array(100));
  await net.advance(10);
  assertEquals(server.state, "CLOSED");
  await assertRejects(
    () => net.settle(client.read(new Uint8Array(10))),
    Deno.errors.ConnectionReset,
  );
  assertEquals(net.b.counters.drops["data-after-close"], 1);
});

Deno.test("close: FIN-WAIT-2 of a closed socket times out when the peer never closes", async () => {
  const net = new TestNet({ a: { tcp: { finWait2TimeoutMs: 5000 } } });
  const { client, server } = await net.connectPair(80);
  client.close();
  await net.advance(100);
  assertEquals([client.state, server.state], ["FIN-WAIT-2", "CLOSE-WAIT"]);
  await net.advance(5000);
  assertEquals(client.state, "CLOSED");
  assertEquals(net.a.layer.activeConnections, 0);
});

Deno.test("close: a half-closed socket stays in FIN-WAIT-2 as long as the peer sends", async () => {
  const net = new TestNet({ a: { tcp: { finWait2TimeoutMs: 5000 } } });
  const { client, server } = await net.connectPair(80);
  await client.closeWrite();
  await net.advance(100_000);
  assertEquals(client.state, "FIN-WAIT-2");
  await server.write(new Uint8Array(10));
  assertEquals(await net.settle(client.read(new Uint8Array(20))), 10);
});

Deno.test("close: a new SYN reuses a TIME-WAIT 4-tuple (RFC 6191)", async () => {
  for (const timestamps of [true, false]) {
    const net = new TestNet({ a: { tcp: { timestamps } } });
    const listener = net.a.layer.listen({ port: 80 }); // a is the server and closes first
    const c1 = net.b.layer.connect({ hostname: "10.0.0.1", port: 80, localPort: 40000 });
    const client1 = await net.settle(c1);
    const server1 = await net.settle(listener.accept());
    server1.close();
    await net.advance(100);
    client1.close();
    await net.advance(100);
    assertEquals([server1.state, client1.state], ["TIME-WAIT", "CLOSED"]);
    await net.advance(1000); // the next ISN is later: 250 per ms (RFC 6528)
    const c2 = net.b.layer.connect({ hostname: "10.0.0.1", port: 80, localPort: 40000 });
    const client2 = await net.settle(c2);
    const server2 = await net.settle(listener.accept());
    assertEquals([server1.state, client2.state, server2.state], [
      "CLOSED",
      "ESTABLISHED",
      "ESTABLISHED",
    ]);
    assert(
      ((server2.connection.sender.iss - server1.connection.sender.sndNxt) | 0) > 0,
      "the new ISN is above the old sequence space",
    );
  }
});

Deno.test("close: the TIME-WAIT table is bounded", async () => {
  const net = new TestNet({ a: { tcp: { maxTimeWait: 2 } } });
  const listener = net.b.layer.listen({ port: 80 });
  for (let i = 0; i < 4; i++) {
    const client = await net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }));
    const server = await net.settle(listener.accept());
    client.close();
    server.close();
    await net.advance(50);
  }
  assertEquals(net.a.layer.timeWaitConnections, 2);
  assertEquals(net.a.layer.activeConnections, 0);
});

Deno.test("close: reads after close() fail, pending ones are interrupted", async () => {
  const net = new TestNet();
  const { client } = await net.connectPair(80);
  const pending = client.read(new Uint8Array(10));
  client.close();
  await assertRejects(() => pending, Deno.errors.Interrupted);
  await assertRejects(() => client.read(new Uint8Array(10)), Deno.errors.BadResource);
  await assertRejects(() => client.write(new Uint8Array(10)), Deno.errors.BadResource);
});

Deno.test("close: queued data is delivered before the FIN", async () => {
  const net = new TestNet({ aToB: { lossPercent: 10, delayMs: 3 }, bToA: { delayMs: 3 } });
  const { client, server } = await net.connectPair(80);
  const data = pattern(500_000, 12);
  let at = 0;
  while (at < data.length) at += await net.settle(client.write(data.subarray(at)));
  client.close();
  const got = await net.settle(readAll(server));
  assertEquals(got.length, data.length);
});

Deno.test("close: closeAll resets connections and closes listeners (shutdown)", async () => {
  const net = new TestNet({ trace: true });
  const { client, server } = await net.connectPair(80);
  const reading = client.read(new Uint8Array(1));
  net.b.layer.closeAll();
  await assertRejects(() => net.settle(reading), Deno.errors.ConnectionReset);
  assertEquals([client.state, server.state], ["CLOSED", "CLOSED"]);
  assertEquals(net.b.layer.activeConnections, 0);
  await assertRejects(
    () => net.settle(net.a.layer.connect({ hostname: "10.0.0.2", port: 80 })),
    Deno.errors.ConnectionRefused,
  );
});
