import { assert, assertEquals, assertRejects } from "@std/assert";
import { NetApi } from "../../stack/api.ts";
import { pattern } from "./frames.ts";
import { B_IP, makePair, readAll, writeAll } from "./pair.ts";

for (const lossPercent of [0, 5]) {
  Deno.test(`TCP through two full stacks (Ethernet, ARP, IPv4) at ${lossPercent}% loss`, async () => {
    const pair = makePair({
      aToB: { lossPercent, reorderPercent: lossPercent, delayMs: 1, seed: 11 },
      bToA: { lossPercent, duplicatePercent: lossPercent, delayMs: 1, seed: 12 },
    });
    const netA = new NetApi(pair.a);
    const netB = new NetApi(pair.b);
    const listener = netB.listen({ port: 8080 });
    const upload = pattern(1_000_000, 5);
    const download = pattern(700_000, 6);
    const server = (async () => {
      const conn = await listener.accept();
      const received = await readAll(conn);
      for (let at = 0; at < download.length; at += 50_000) {
        await writeAll(conn, download.subarray(at, at + 50_000));
      }
      conn.close();
      return received;
    })();
    const client = (async () => {
      const conn = await netA.connect({ hostname: B_IP, port: 8080 });
      assertEquals(conn.remoteAddr, { transport: "tcp", hostname: B_IP, port: 8080 });
      for (let at = 0; at < upload.length; at += 64_000) {
        await writeAll(conn, upload.subarray(at, at + 64_000));
      }
      await conn.closeWrite();
      const received = await readAll(conn);
      conn.close();
      return received;
    })();
    const [atServer, atClient] = await pair.settle(Promise.all([server, client]), 600_000);
    assertEquals(atServer.length, upload.length);
    assertEquals(atServer, upload);
    assertEquals(atClient, download);
    listener.close();
    if (lossPercent > 0) assert(pair.a.counters.tcp.txPackets > 700, "retransmissions happened");
  });
}

Deno.test("connect to a closed port is refused through the full stack", async () => {
  const pair = makePair();
  const net = new NetApi(pair.a);
  await assertRejects(
    () => pair.settle(net.connect({ hostname: B_IP, port: 9 })),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("connect by name without a resolver says what is missing", async () => {
  const pair = makePair();
  const net = new NetApi(pair.a);
  await assertRejects(
    () => net.connect({ hostname: "device.test", port: 80 }),
    Deno.errors.NotConnected,
  );
});
