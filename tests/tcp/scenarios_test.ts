/**
 * Thousands of seeded scenarios: random path faults (loss, duplication, reordering, delay,
 * corruption), random options on each side (timestamps, SACK, window scaling, buffer sizes,
 * MTU, delayed-ACK timeout), random sizes and write chunking, and three ways of finishing
 * (both half-close then close; request/response with the server closing; simultaneous
 * close). Each must deliver both streams intact, keep the wire invariants of
 * tests/tcp/invariants.ts, and leave no connection behind once TIME-WAIT is over.
 */

import { assertEquals } from "@std/assert";
import { randomUnit, SeededRandom } from "../../stack/random.ts";
import type { TcpConn } from "../../stack/tcp/mod.ts";
import { pattern, readAll, sameBytes, TestNet, writeAll } from "./harness.ts";
import { checkTrace } from "./invariants.ts";

interface Scenario {
  net: TestNet;
  up: Uint8Array;
  down: Uint8Array;
  mode: number;
  chunks: [number, number];
  describe: string;
}

function makeScenario(seed: number): Scenario {
  const random = new SeededRandom(seed * 7919);
  const r = () => randomUnit(random);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const spec = {
    lossPercent: Math.floor(r() * 30),
    duplicatePercent: Math.floor(r() * 10),
    reorderPercent: Math.floor(r() * 30),
    corruptPercent: Math.floor(r() * 5),
    delayMs: Math.floor(r() * 30),
  };
  const tcp = {
    timestamps: r() < 0.7,
    sack: r() < 0.7,
    windowScaling: r() < 0.7,
    receiveBufferBytes: pick([2048, 4096, 16384, 65536, 262144]),
    sendBufferBytes: pick([1024, 8192, 65536]),
    delayedAckMs: Math.floor(r() * 200),
    synAckRetries: 12, // heavy loss must not make the handshake itself the failure
    synRetries: 12,
  };
  const tcp2 = { ...tcp, timestamps: r() < 0.7, sack: r() < 0.7, windowScaling: r() < 0.7 };
  const net = new TestNet({
    seed,
    trace: true,
    aToB: spec,
    bToA: { ...spec, lossPercent: Math.floor(r() * 30) },
    a: { tcp, mtu: r() < 0.2 ? 576 : 1500 },
    b: { tcp: tcp2, mtu: r() < 0.2 ? 1280 : 1500 },
  });
  const n1 = Math.floor(r() * r() * 200_000);
  const n2 = Math.floor(r() * r() * 200_000);
  const mode = Math.floor(r() * 3);
  const chunks: [number, number] = [1 + Math.floor(r() * 30000), 1 + Math.floor(r() * 30000)];
  return {
    net,
    up: pattern(n1, seed),
    down: pattern(n2, seed + 1),
    mode,
    chunks,
    describe: JSON.stringify({ seed, mode, spec, tcp, tcp2, n1, n2 }),
  };
}

/** Both directions at once; how each side finishes depends on the mode. */
function exchange(s: Scenario, client: TcpConn, server: TcpConn): Promise<Uint8Array[]> {
  const [c1, c2] = s.chunks;
  if (s.mode === 1) {
    // Request/response: the server reads the whole request, answers, closes.
    return Promise.all([
      writeAll(client, s.up, c1).then(() => client.closeWrite()).then(() => readAll(client)),
      readAll(server).then(async (request) => {
        await writeAll(server, s.down, c2);
        server.close();
        return request;
      }),
    ]);
  }
  const side = (conn: TcpConn, data: Uint8Array, chunk: number) =>
    Promise.all([writeAll(conn, data, chunk).then(() => conn.closeWrite()), readAll(conn)])
      .then(([, got]) => got);
  return Promise.all([side(client, s.up, c1), side(server, s.down, c2)]);
}

async function run(seed: number): Promise<void> {
  const s = makeScenario(seed);
  const { net } = s;
  const { client, server } = await net.connectPair(80);
  const [atClient, atServer] = await net.settle(exchange(s, client, server), 1e9);
  if (!sameBytes(atServer!, s.up)) throw new Error("client to server data differs");
  if (!sameBytes(atClient!, s.down)) throw new Error("server to client data differs");
  client.close();
  server.close();
  // Past TIME-WAIT, and past the last FIN retransmission should every answer be lost.
  await net.advance(1_000_000);
  const left = net.a.layer.activeConnections + net.a.layer.timeWaitConnections +
    net.b.layer.activeConnections + net.b.layer.timeWaitConnections;
  assertEquals(left, 0, `connections left: ${client.state} ${server.state}`);
  assertEquals(checkTrace(net.trace).slice(0, 3), []);
}

Deno.test("scenarios: 1000 seeded random transfers and closes", async () => {
  for (let seed = 1; seed <= 1000; seed++) {
    try {
      await run(seed);
    } catch (e) {
      throw new Error(`scenario ${makeScenario(seed).describe}: ${e}`);
    }
  }
});
