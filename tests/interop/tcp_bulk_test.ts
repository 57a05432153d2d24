/**
 * Bulk transfers between our TCP (tcp_peer.ts on a TAP) and the Linux kernel's, in a private
 * namespace: 100 MB each way on a clean link, the sha256 of what one side sent equal to the
 * sha256 of what the other received. The throughput is logged, never asserted.
 */

import { assertEquals } from "@std/assert";
import { interopTest, withNamespace } from "../helpers/netns.ts";
import {
  DEVICE,
  drops,
  HOST,
  only,
  ping,
  runKernel,
  setUpTap,
  spawnKernel,
  startPeer,
  stopPeer,
  throughput,
  waitRecord,
} from "./fixtures/tcp_harness.ts";

const BYTES = 100_000_000;

interopTest("100 MB from a kernel client to our server, then 100 MB from our client", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    // Kernel client -> our server; our server replies 1000 bytes after the kernel's FIN.
    const server = await startPeer(ns, ["sink", "7001", "--reply", "1000"]);
    assertEquals(await ping(ns), true, "our stack answers ping");
    const sent = only(await runKernel(ns, ["send", DEVICE, "7001", String(BYTES)]), "conn");
    const got = await waitRecord(server, "conn", 10_000);
    assertEquals(sent.error, null);
    assertEquals(got.error, null);
    assertEquals(got.bytesIn, BYTES);
    assertEquals(got.sha256In, sent.sha256Out);
    assertEquals(sent.bytesIn, 1000);
    assertEquals(sent.sha256In, got.sha256Out);
    console.log(
      `kernel -> mip: ${BYTES} bytes in ${got.elapsedMs} ms, ` +
        throughput(BYTES, got.elapsedMs as number),
    );
    const serverStats = await stopPeer(server);
    assertEquals(drops(serverStats, "ethernet")["internal-error"], undefined);

    // Our client -> kernel server; the kernel replies 5000 bytes after our FIN.
    const sink = spawnKernel(ns, ["sink", "7002", "--reply", "5000"]);
    await waitRecord(sink, "ready", 10_000);
    const client = await startPeer(ns, ["send", HOST, "7002", String(BYTES)]);
    const ours = await waitRecord(client, "conn", 60_000);
    const theirs = await waitRecord(sink, "conn", 10_000);
    assertEquals(ours.error, null);
    assertEquals(theirs.error, null);
    assertEquals(theirs.bytesIn, BYTES);
    assertEquals(theirs.sha256In, ours.sha256Out);
    assertEquals(ours.bytesIn, 5000);
    assertEquals(ours.sha256In, theirs.sha256Out);
    console.log(
      `mip -> kernel: ${BYTES} bytes in ${theirs.elapsedMs} ms, ` +
        throughput(BYTES, theirs.elapsedMs as number),
    );
    await client.exited;
  }, "tcp-bulk");
}, { timeoutMs: 150_000 });
