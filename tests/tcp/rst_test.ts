/**
 * Resets in every state and the RFC 5961 protections, against a scripted peer: host a runs
 * the real TcpLayer, the test plays host b segment by segment.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { TcpFlag } from "../../stack/wire/tcp.ts";
import type { TcpConn } from "../../stack/tcp/mod.ts";
import { TestNet } from "./harness.ts";
import { ScriptedPeer, type Segment } from "./segments.ts";

const { SYN, ACK, RST, FIN } = TcpFlag;
const PEER_ISN = 0x10000000;
const PEER_PORT = 5555;

interface Scripted {
  net: TestNet;
  peer: ScriptedPeer;
  conn: TcpConn;
  /** Our next sequence number as the peer. */
  peerSeq: number;
  /** Host a's ISS. */
  iss: number;
  localPort: number;
}

/** Host a connects to the scripted peer, which completes the handshake. */
async function connectToScript(): Promise<Scripted> {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  const connecting = net.a.layer.connect({ hostname: "10.0.0.2", port: PEER_PORT });
  await net.advance(0);
  const [syn] = peer.take();
  assertEquals(syn!.flags, SYN);
  peer.send({
    srcPort: PEER_PORT,
    dstPort: syn!.srcPort,
    seq: PEER_ISN,
    ack: syn!.seq + 1,
    flags: SYN | ACK,
    options: { mss: 1460 },
  });
  const conn = await net.settle(connecting);
  const [ack] = peer.take();
  assertEquals(ack!.flags, ACK);
  return {
    net,
    peer,
    conn,
    peerSeq: PEER_ISN + 1,
    iss: syn!.seq,
    localPort: syn!.srcPort,
  };
}

function send(s: Scripted, flags: number, extra: Partial<Segment> = {}, seq = s.peerSeq): void {
  s.peer.send({
    srcPort: PEER_PORT,
    dstPort: s.localPort,
    seq,
    ack: (s.conn.connection.sender.sndNxt) >>> 0,
    flags,
    window: 65535,
    ...extra,
  });
}

async function reachState(s: Scripted, state: string): Promise<void> {
  const { net, conn } = s;
  switch (state) {
    case "ESTABLISHED":
      break;
    case "FIN-WAIT-1":
      await conn.closeWrite();
      break;
    case "FIN-WAIT-2":
      await conn.closeWrite();
      await net.advance(0);
      send(s, ACK);
      break;
    case "CLOSE-WAIT":
      send(s, FIN | ACK);
      s.peerSeq++;
      break;
    case "CLOSING":
      await conn.closeWrite();
      await net.advance(0);
      send(s, FIN | ACK, { ack: s.iss + 1 }); // FIN that does not acknowledge ours
      s.peerSeq++;
      break;
    case "LAST-ACK":
      send(s, FIN | ACK);
      s.peerSeq++;
      await net.advance(0);
      conn.close();
      break;
    case "TIME-WAIT":
      await conn.closeWrite();
      await net.advance(0);
      send(s, FIN | ACK);
      s.peerSeq++;
      break;
  }
  await net.advance(0);
  assertEquals(conn.state, state);
  s.peer.take();
}

const RESET_ERRORS: Record<string, unknown> = {
  "ESTABLISHED": Deno.errors.ConnectionReset,
  "FIN-WAIT-1": Deno.errors.ConnectionReset,
  "FIN-WAIT-2": Deno.errors.ConnectionReset,
  "CLOSE-WAIT": Deno.errors.ConnectionReset,
  "CLOSING": undefined,
  "LAST-ACK": undefined,
  "TIME-WAIT": undefined,
};

for (const [state, error] of Object.entries(RESET_ERRORS)) {
  Deno.test(`rst: an exact RST in ${state} closes the connection`, async () => {
    const s = await connectToScript();
    await reachState(s, state);
    send(s, RST);
    await s.net.advance(0);
    assertEquals(s.conn.state, "CLOSED");
    assertEquals(s.conn.connection.error?.constructor, error);
    assertEquals(s.peer.take().length, 0); // nobody answers a RST
    assertEquals(s.net.a.layer.activeConnections + s.net.a.layer.timeWaitConnections, 0);
  });

  Deno.test(`rst: an in-window inexact RST in ${state} gets a challenge ACK`, async () => {
    const s = await connectToScript();
    await reachState(s, state);
    send(s, RST, {}, s.peerSeq + 100);
    await s.net.advance(0);
    assertEquals(s.conn.state, state);
    const [challenge] = s.peer.take();
    assertEquals(challenge!.flags & (ACK | RST), ACK);
    assertEquals(challenge!.ack, s.peerSeq); // RFC 5961 3.2: tells the real peer RCV.NXT
    send(s, RST, {}, s.peerSeq + 10_000_000); // out of window: silently dropped
    await s.net.advance(1000);
    assertEquals(s.conn.state, state);
  });
}

Deno.test("rst: in SYN-SENT only a RST acknowledging our SYN refuses", async () => {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  const connecting = net.a.layer.connect({ hostname: "10.0.0.2", port: PEER_PORT });
  let result: unknown;
  connecting.catch((e) => result = e);
  await net.advance(0);
  const [syn] = peer.take();
  const base = { srcPort: PEER_PORT, dstPort: syn!.srcPort, seq: 0 };
  peer.send({ ...base, flags: RST }); // no ACK: ignored
  peer.send({ ...base, flags: RST | ACK, ack: syn!.seq + 5 }); // unacceptable ACK: ignored
  await net.advance(0);
  assertEquals(result, undefined);
  peer.send({ ...base, flags: RST | ACK, ack: syn!.seq + 1 });
  await net.advance(0);
  assert(result instanceof Deno.errors.ConnectionRefused);
});

Deno.test("rst: a bad ACK in SYN-SENT is answered with <SEQ=SEG.ACK><CTL=RST>", async () => {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  net.a.layer.connect({ hostname: "10.0.0.2", port: PEER_PORT }).catch(() => {});
  await net.advance(0);
  const [syn] = peer.take();
  peer.send({
    srcPort: PEER_PORT,
    dstPort: syn!.srcPort,
    seq: 1,
    ack: syn!.seq + 1000,
    flags: SYN | ACK,
  });
  await net.advance(0);
  const [rst] = peer.take();
  assertEquals([rst!.flags, rst!.seq], [RST, (syn!.seq + 1000) >>> 0]);
});

Deno.test("rst: a RST in SYN-RECEIVED drops the half-open connection silently", async () => {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  const listener = net.a.layer.listen({ port: 80 });
  let accepted = false;
  listener.accept().then(() => accepted = true);
  peer.send({ srcPort: PEER_PORT, dstPort: 80, seq: PEER_ISN, flags: SYN });
  await net.advance(0);
  const [synAck] = peer.take();
  assertEquals(synAck!.flags, SYN | ACK);
  assertEquals(net.a.layer.activeConnections, 1);
  peer.send({ srcPort: PEER_PORT, dstPort: 80, seq: PEER_ISN + 1, flags: RST });
  await net.advance(5000);
  assertEquals(net.a.layer.activeConnections, 0);
  assertEquals(peer.take().length, 0); // no SYN-ACK retransmissions after the RST
  assert(!accepted);
});

Deno.test("rst: a SYN in ESTABLISHED gets a challenge ACK (RFC 5961 4.2)", async () => {
  const s = await connectToScript();
  send(s, SYN, {}, PEER_ISN + 12345);
  await s.net.advance(0);
  const [challenge] = s.peer.take();
  assertEquals([challenge!.flags, challenge!.ack], [ACK, s.peerSeq]);
  assertEquals(s.conn.state, "ESTABLISHED");
});

Deno.test("rst: an ACK of data never sent is answered and dropped (RFC 5961 5.2)", async () => {
  const s = await connectToScript();
  send(s, ACK | TcpFlag.PSH, { ack: s.iss + 1 + 5000, payload: new Uint8Array([1, 2, 3]) });
  await s.net.advance(0);
  const [reply] = s.peer.take();
  assertEquals(reply!.ack, s.peerSeq); // the data was not taken
  assertEquals(s.conn.connection.readableBytes, 0);
  assertEquals(s.net.a.counters.drops["ack-unsent"], 1);
});

Deno.test("rst: challenge ACKs are rate-limited per connection (RFC 5961 7)", async () => {
  const s = await connectToScript();
  for (let i = 0; i < 20; i++) send(s, RST, {}, s.peerSeq + 1 + i);
  await s.net.advance(0);
  assertEquals(s.peer.take().length, 1);
  await s.net.advance(600);
  send(s, RST, {}, s.peerSeq + 1);
  await s.net.advance(0);
  assertEquals(s.peer.take().length, 1);
  assertEquals(s.conn.state, "ESTABLISHED");
});

Deno.test("rst: an ACK to a closed port gets <SEQ=SEG.ACK><CTL=RST>, a RST gets nothing", async () => {
  const net = new TestNet();
  const peer = new ScriptedPeer(net);
  peer.send({ srcPort: PEER_PORT, dstPort: 99, seq: 5, ack: 777, flags: ACK });
  peer.send({ srcPort: PEER_PORT, dstPort: 99, seq: 5, ack: 777, flags: RST | ACK });
  peer.send({ srcPort: PEER_PORT, dstPort: 99, seq: 5, flags: FIN, payload: new Uint8Array(3) });
  await net.advance(0);
  const replies = peer.take();
  assertEquals(replies.map((r) => [r.flags, r.seq, r.ack]), [
    [RST, 777, 0],
    [RST | ACK, 0, 5 + 3 + 1], // SEG.SEQ + SEG.LEN, FIN counted
  ]);
});

Deno.test("rst: aborting the writable stream resets the connection", async () => {
  const s = await connectToScript();
  await s.conn.writable.abort();
  await s.net.advance(0);
  const [rst] = s.peer.take();
  assertEquals(rst!.flags & RST, RST);
  assertEquals(rst!.seq, s.iss + 1);
  assertEquals(s.conn.state, "CLOSED");
  await assertRejects(() => s.conn.read(new Uint8Array(1)), Deno.errors.BadResource);
});
