/**
 * Closing against the Linux kernel: half-close in both directions (data keeps flowing the other
 * way after a FIN), a kernel RST (SO_LINGER 0) surfacing as ConnectionReset on our read, and a
 * connect to a closed kernel port failing with ConnectionRefused.
 */

import { assertEquals } from "@std/assert";
import { interopTest, withNamespace } from "../helpers/netns.ts";
import {
  DEVICE,
  HOST,
  only,
  ping,
  runKernel,
  setUpTap,
  spawnKernel,
  startPeer,
  stopPeer,
  waitRecord,
} from "./fixtures/tcp_harness.ts";

interopTest("kernel half-closes (SHUT_WR), then still reads our 300 kB reply", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const server = await startPeer(ns, ["sink", "7201", "--reply", "300000"]);
    await ping(ns);
    const kernel = only(await runKernel(ns, ["send", DEVICE, "7201", "50000"]), "conn");
    const ours = await waitRecord(server, "conn", 10_000);
    assertEquals(kernel.error, null);
    assertEquals(ours.error, null);
    assertEquals(ours.bytesIn, 50_000);
    assertEquals(ours.sha256In, kernel.sha256Out);
    // Everything we sent went out after the kernel's FIN (the sink replies at EOF).
    assertEquals(kernel.bytesIn, 300_000);
    assertEquals(kernel.sha256In, ours.sha256Out);
    await stopPeer(server);
  }, "tcp-halfclose-kernel");
});

interopTest("kernel half-closes while our echo server streams back what it reads", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const server = await startPeer(ns, ["echo", "7202"]);
    await ping(ns);
    const kernel = only(await runKernel(ns, ["halfclose", DEVICE, "7202", "200000"]), "conn");
    const ours = await waitRecord(server, "conn", 10_000);
    assertEquals(kernel.error, null);
    assertEquals(kernel.echoed, true);
    assertEquals(kernel.bytesIn, 200_000);
    assertEquals(ours.bytesIn, 200_000);
    assertEquals(ours.error, null);
    await stopPeer(server);
  }, "tcp-halfclose-echo");
});

interopTest("we closeWrite, then still read the kernel's 300 kB reply", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const sink = spawnKernel(ns, ["sink", "7203", "--reply", "300000"]);
    await waitRecord(sink, "ready", 10_000);
    const client = await startPeer(ns, ["send", HOST, "7203", "50000"]);
    const ours = await waitRecord(client, "conn", 20_000);
    const kernel = await waitRecord(sink, "conn", 10_000);
    assertEquals(ours.error, null);
    assertEquals(kernel.error, null);
    assertEquals(kernel.bytesIn, 50_000);
    assertEquals(kernel.sha256In, ours.sha256Out);
    assertEquals(ours.bytesIn, 300_000);
    assertEquals(ours.sha256In, kernel.sha256Out);
    // We sent the first FIN, so we are the side that waits in TIME-WAIT.
    assertEquals(ours.state, "TIME-WAIT");
    await client.exited;
  }, "tcp-halfclose-ours");
});

interopTest(
  "a kernel RST (SO_LINGER 0) makes our pending read reject ConnectionReset",
  async () => {
    await withNamespace(async (ns) => {
      await setUpTap(ns);
      const kernel = spawnKernel(ns, ["reset", "7204", "--delay-ms", "300"]);
      await waitRecord(kernel, "ready", 10_000);
      const client = await startPeer(ns, ["recv", HOST, "7204"]);
      const ours = await waitRecord(client, "conn", 10_000);
      await waitRecord(kernel, "reset", 5_000);
      assertEquals((ours.error as { name: string } | null)?.name, "ConnectionReset");
      assertEquals(ours.bytesIn, 0);
      assertEquals(ours.state, "CLOSED");
      await client.exited;
    }, "tcp-rst");
  },
);

interopTest("connect to a closed kernel port fails with ConnectionRefused", async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const client = await startPeer(ns, ["send", HOST, "7299", "10"]);
    const ours = await waitRecord(client, "conn", 10_000);
    assertEquals((ours.error as { name: string } | null)?.name, "ConnectionRefused");
    // Refused quickly (one RST), not after SYN retries.
    assertEquals((ours.elapsedMs as number) < 3_000, true, `took ${ours.elapsedMs} ms`);
    await client.exited;
  }, "tcp-refused");
});
