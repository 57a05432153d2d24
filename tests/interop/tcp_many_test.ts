/**
 * Many connections and a full accept queue.
 *
 * 1000 concurrent connections from the Linux kernel to our echo server: the kernel opens them in
 * batches of 100 and holds them all open, each echoes a few bytes, then the kernel closes them
 * all and our connection table must drain to zero (we close second, so nothing lingers in
 * TIME-WAIT). TcpConfig defaults throughout (maxConnections 1024, SYN and accept backlogs
 * 128): when a burst fills the accept queue, SYN cookies take over and a handshake that
 * completes into the full queue waits for room instead of being reset; the second test shows
 * that with scapy against a deliberately slow application.
 */

import { assert, assertEquals } from "@std/assert";
import { interopTest, withNamespace } from "../helpers/netns.ts";
import {
  DEVICE,
  DEVICE_MAC,
  dropKernelResets,
  drops,
  ping,
  records,
  runHostile,
  setUpTap,
  spawnKernel,
  startPeer,
  stopPeer,
  waitRecord,
} from "./fixtures/tcp_harness.ts";

const COUNT = 1000;

interopTest(`${COUNT} concurrent kernel connections to our echo server`, async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const server = await startPeer(ns, [
      "echo",
      "7301",
      "--stats-ms",
      "250",
    ]);
    assertEquals(await ping(ns), true);
    const release = await Deno.makeTempFile({ prefix: "mip-tcp-many-" });
    await Deno.remove(release);
    try {
      const kernel = spawnKernel(ns, [
        "many",
        DEVICE,
        "7301",
        String(COUNT),
        "--batch",
        "100",
        "--release",
        release,
      ]);
      const held = await waitRecord(kernel, "held", 60_000);
      assertEquals(held.failureCount, 0, JSON.stringify(held.failures));
      assertEquals(held.open, COUNT);
      assertEquals(held.exchanged, COUNT);
      // While the kernel holds them: all of them ESTABLISHED on our side at once.
      const peak = await waitRecord(
        server,
        "stats",
        10_000,
        (r) => (r.states as Record<string, number>).ESTABLISHED === COUNT,
      );
      console.log(
        `${COUNT} connections open and echoed in ${held.elapsedMs} ms; our table: ` +
          JSON.stringify(peak.states),
      );
      await Deno.writeTextFile(release, "go");
      const closed = await waitRecord(kernel, "closed", 60_000);
      assertEquals(closed.eofs, COUNT, "every connection saw our FIN after its own");
      const drained = await waitRecord(server, "stats", 30_000, (r) => r.active === 0);
      assertEquals(drained.timeWait, 0);
      assertEquals(drained.states, {});
      // The last of the per-connection reports (waits until all COUNT are printed).
      await waitRecord(server, "conn", 5_000, () => true, COUNT - 1);
      const finished = records(server).filter((r) => r.type === "conn");
      assertEquals(finished.length, COUNT);
      assertEquals(finished.filter((r) => r.error !== null).length, 0);
      assert(finished.every((r) => r.bytesIn === r.bytesOut && r.sha256In === r.sha256Out));
      const stats = await stopPeer(server);
      console.log(`  our counters: ${JSON.stringify(drops(stats, "tcp"))}`);
      assertEquals(drops(stats, "ethernet")["internal-error"], undefined);
    } finally {
      await Deno.remove(release).catch(() => {});
    }
  }, "tcp-many");
}, { timeoutMs: 120_000 });

interopTest("a handshake completing into a full accept queue is not reset", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    await dropKernelResets(ns);
    // A slow application: it accepts one connection, then nothing for 20 s.
    const server = await startPeer(ns, ["echo", "7302", "--accept-delay-ms", "20000"]);
    assertEquals(await ping(ns), true);
    // scapy: 128 completed handshakes (the accept queue: 127 after the one accept), then one
    // half-open connection (the last free slot is now promised to it), then a SYN that only a
    // cookie can answer; the cookie's ACK comes first, the half-open one's ACK second.
    const r = await runHostile(ns, ["backlog", DEVICE, DEVICE_MAC, "7302"]);
    assertEquals(r.filled, 128, JSON.stringify(r));
    assertEquals([r.halfSynAck, r.cookieSynAck], [true, true], JSON.stringify(r));
    const halfReplies = r.halfReplies as { flags: string }[];
    const stats = await stopPeer(server);
    console.log(
      `  half-open client got: ${halfReplies.map((x) => x.flags).join(", ")}; our drops: ` +
        JSON.stringify(drops(stats, "tcp")),
    );
    // Linux (tcp_abort_on_overflow = 0) drops such an ACK and lets the peer retry; the handshake
    // completed, so a RST here breaks a connection the client already reported as open.
    assertEquals(halfReplies.filter((x) => x.flags.includes("R")), []);
  }, "tcp-accept-overflow");
});
