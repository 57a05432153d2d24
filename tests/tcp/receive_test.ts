/**
 * The receiving side against a scripted sender: SACK blocks (RFC 2018), immediate ACKs for
 * out-of-order data (RFC 5681 4.2), receiver SWS avoidance and window updates when the
 * application drains the buffer (RFC 9293 3.8.6.2.2), the reassembly bound.
 */

import { assert, assertEquals } from "@std/assert";
import { TcpFlag } from "../../stack/wire/tcp.ts";
import type { TcpConn } from "../../stack/tcp/mod.ts";
import { type HostOptions, TestNet } from "./harness.ts";
import { ScriptedPeer, type Segment } from "./segments.ts";

const { SYN, ACK } = TcpFlag;
const ISN = 0xfffff000; // the peer's sequence numbers wrap during these tests
const PORT = 4000;

interface Session {
  net: TestNet;
  peer: ScriptedPeer;
  conn: TcpConn;
  /** Host a's ISS + 1. */
  ourNext: number;
}

/** Host a accepts a connection from the scripted peer (with SACK and timestamps). */
async function accepted(a: HostOptions = {}): Promise<Session> {
  const net = new TestNet({ a });
  const peer = new ScriptedPeer(net);
  const listener = net.a.layer.listen({ port: 80 });
  peer.send({
    srcPort: PORT,
    dstPort: 80,
    seq: ISN,
    flags: SYN,
    options: { mss: 1000, sackPermitted: true, windowScale: 0 },
  });
  await net.advance(0);
  const [synAck] = peer.take();
  const ourNext = (synAck!.seq + 1) >>> 0;
  peer.send({ srcPort: PORT, dstPort: 80, seq: ISN + 1, ack: ourNext, flags: ACK });
  const conn = await net.settle(listener.accept());
  return { net, peer, conn, ourNext };
}

function data(s: Session, offset: number, length: number): void {
  s.peer.send({
    srcPort: PORT,
    dstPort: 80,
    seq: (ISN + 1 + offset) >>> 0,
    ack: s.ourNext,
    flags: ACK,
    payload: new Uint8Array(length).fill(offset & 0xff),
  });
}

const at = (offset: number) => (ISN + 1 + offset) >>> 0;

Deno.test("receive: out-of-order data is acknowledged at once with SACK blocks", async () => {
  const s = await accepted();
  data(s, 1000, 500);
  data(s, 3000, 500);
  data(s, 2000, 500);
  await s.net.advance(0);
  const acks = s.peer.take();
  assertEquals(acks.length, 3); // one duplicate ACK per out-of-order segment
  assert(acks.every((a) => a.ack === at(0)));
  // RFC 2018 4: the block of the latest segment first, then the most recent others.
  assertEquals(acks[0]!.options.sackBlocks, [at(1000), at(1500)]);
  assertEquals(acks[1]!.options.sackBlocks, [at(3000), at(3500), at(1000), at(1500)]);
  assertEquals(acks[2]!.options.sackBlocks, [
    at(2000),
    at(2500),
    at(3000),
    at(3500),
    at(1000),
    at(1500),
  ]);
  data(s, 0, 1000); // fills the first hole: ACK at once, remaining blocks reported
  await s.net.advance(0);
  const [filled] = s.peer.take();
  assertEquals(filled!.ack, at(1500));
  assertEquals(filled!.options.sackBlocks, [at(2000), at(2500), at(3000), at(3500)]);
  assertEquals(s.conn.connection.readableBytes, 1500);
});

Deno.test("receive: in-order data is acknowledged every second full segment", async () => {
  const s = await accepted();
  for (let i = 0; i < 6; i++) data(s, i * 1000, 1000);
  await s.net.advance(0);
  const acks = s.peer.take();
  assertEquals(acks.map((a) => a.ack), [at(2000), at(4000), at(6000)]);
});

Deno.test("receive: the window opens in steps of at least one MSS (SWS avoidance)", async () => {
  const s = await accepted({ tcp: { receiveBufferBytes: 8192, delayedAckMs: 10 } });
  for (let i = 0; i < 8; i++) data(s, i * 1000, 1000);
  data(s, 8000, 192);
  await s.net.advance(100);
  const full = s.peer.take().at(-1)!;
  assertEquals([full.ack, full.window], [at(8192), 0]);
  const small = new Uint8Array(100);
  const updates: Segment[] = [];
  for (let i = 0; i < 30; i++) {
    await s.conn.read(small);
    await s.net.advance(1);
    updates.push(...s.peer.take());
  }
  // 3000 bytes read in 100-byte steps: updates only when the window grows by >= 1 MSS
  // (2 MSS while it is open), never one per read.
  assert(updates.length >= 1 && updates.length <= 3, `${updates.length} updates`);
  assert(updates.every((u) => u.window === 0 || u.window >= 1000), "no silly windows");
});

Deno.test("receive: draining a full buffer sends a window update", async () => {
  const s = await accepted({ tcp: { receiveBufferBytes: 4096 } });
  for (let i = 0; i < 4; i++) data(s, i * 1000, 1000);
  data(s, 4000, 96);
  await s.net.advance(100);
  assertEquals(s.peer.take().at(-1)!.window, 0);
  await s.conn.read(new Uint8Array(4096));
  await s.net.advance(0);
  const [update] = s.peer.take();
  assertEquals([update!.ack, update!.window], [at(4096), 4096]);
});

Deno.test("receive: a zero-window probe beyond the window is answered", async () => {
  const s = await accepted({ tcp: { receiveBufferBytes: 4096 } });
  for (let i = 0; i < 4; i++) data(s, i * 1000, 1000);
  data(s, 4000, 96);
  await s.net.advance(100);
  s.peer.take();
  data(s, 4096, 1); // a BSD-style probe: one byte beyond a zero window
  await s.net.advance(0);
  const [answer] = s.peer.take();
  assertEquals([answer!.ack, answer!.window], [at(4096), 0]);
});

Deno.test("receive: reassembly holds a bounded number of holes", async () => {
  const s = await accepted();
  for (let i = 0; i < 40; i++) data(s, 1000 + i * 200, 100); // 40 separate islands
  await s.net.advance(0);
  const rb = s.conn.connection.receiver.buffer;
  assertEquals(rb.rangeCount, 32);
  assertEquals(s.net.a.counters.drops["reassembly-full"], 8);
  data(s, 0, 1000);
  await s.net.advance(0);
  assertEquals(s.conn.connection.readableBytes, 1100);
});
