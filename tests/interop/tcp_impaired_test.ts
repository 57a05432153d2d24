/**
 * Transfers between our TCP and the Linux kernel's through a bad wire: tcp_peer.ts runs with
 * `--impair loss=5%,delay=10ms,reorder=25%,duplicate=5%` on both directions (as the appliance's
 * --impair does), and 100 MB must still arrive intact (sha256 equal) both ways.
 *
 * Our NewReno is bound by loss-based congestion control at 5% loss (about one window
 * reduction every few dozen segments): it sends at about 0.5 MB/s, near what the Reno response
 * function allows at this loss and RTT. How fast the kernel sends to us depends on its
 * congestion control, which the test logs: with BBR (the default on our machines), which does
 * not back off on random loss, about 2-2.5 MB/s, bound by the bandwidth BBR estimates. The
 * whole test takes about four minutes; the throughput is logged, never asserted.
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
const IMPAIR = "loss=5%,delay=10ms,reorder=25%,duplicate=5%";

interopTest(`100 MB each way through --impair ${IMPAIR}`, async () => {
  await withNamespace(async (ns) => {
    await setUpTap(ns);
    const server = await startPeer(ns, ["sink", "7101", "--reply", "100000", "--impair", IMPAIR]);
    // A lost ping is fine here: the loss is the point.
    await ping(ns);
    const cc = await ns.exec(["sysctl", "-n", "net.ipv4.tcp_congestion_control"], { check: false });
    console.log(`kernel congestion control: ${cc.stdout.trim() || "unknown"}`);
    const sent = only(
      await runKernel(ns, ["send", DEVICE, "7101", String(BYTES)], 400_000),
      "conn",
    );
    const got = await waitRecord(server, "conn", 20_000);
    assertEquals(sent.error, null);
    assertEquals(got.error, null);
    assertEquals(got.bytesIn, BYTES);
    assertEquals(got.sha256In, sent.sha256Out);
    assertEquals(sent.bytesIn, 100_000);
    assertEquals(sent.sha256In, got.sha256Out);
    console.log(
      `impaired kernel -> mip: ${BYTES} bytes in ${got.elapsedMs} ms, ` +
        throughput(BYTES, got.elapsedMs as number),
    );
    const serverStats = await stopPeer(server);
    assertEquals(drops(serverStats, "ethernet")["internal-error"], undefined);
    console.log(`  our drops: ${JSON.stringify(drops(serverStats, "tcp"))}`);

    const sink = spawnKernel(ns, ["sink", "7102", "--reply", "100000"]);
    await waitRecord(sink, "ready", 10_000);
    const client = await startPeer(ns, ["send", HOST, "7102", String(BYTES), "--impair", IMPAIR]);
    const ours = await waitRecord(client, "conn", 400_000);
    const theirs = await waitRecord(sink, "conn", 20_000);
    assertEquals(ours.error, null);
    assertEquals(theirs.error, null);
    assertEquals(theirs.bytesIn, BYTES);
    assertEquals(theirs.sha256In, ours.sha256Out);
    assertEquals(ours.bytesIn, 100_000);
    assertEquals(ours.sha256In, theirs.sha256Out);
    console.log(
      `impaired mip -> kernel: ${BYTES} bytes in ${theirs.elapsedMs} ms, ` +
        throughput(BYTES, theirs.elapsedMs as number),
    );
    const clientStats = await waitRecord(client, "stats", 10_000);
    console.log(`  our drops: ${JSON.stringify(drops(clientStats, "tcp"))}`);
    const nstat = await ns.exec(["nstat", "-az", "TcpRetransSegs", "TcpExtTCPDSACKRecv"], {
      check: false,
    });
    console.log(`  kernel: ${nstat.stdout.split("\n").slice(1).join(" ").replace(/\s+/g, " ")}`);
  }, "tcp-impaired");
}, { timeoutMs: 900_000 });
