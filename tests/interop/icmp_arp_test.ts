/**
 * The appliance against the Linux kernel on a TAP in a private namespace: ARP, ping (small,
 * at MTU, fragmented both ways, a fast burst), the pcap capture read back by tcpdump, fault
 * injection with --impair, and a clean exit on SIGTERM.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { startAppliance } from "../helpers/appliance.ts";
import { interopTest, withNamespace } from "../helpers/netns.ts";

const HOST = "10.77.0.1";
const DEVICE = "10.77.0.2";

/** Packet loss percentage from ping's summary line. */
function lossPercent(output: string): number {
  const match = /([0-9.]+)% packet loss/.exec(output);
  if (match === null) throw new Error(`No ping summary in:\n${output}`);
  return Number(match[1]);
}

interopTest("kernel pings the appliance: burst, MTU-sized, fragmented; arping; pcap", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("tap0", `${HOST}/24`);
    const pcap = await Deno.makeTempFile({ prefix: "mip-", suffix: ".pcap" });
    try {
      const app = await startAppliance(ns, [
        "--iface",
        "tap0",
        "--ip",
        `${DEVICE}/24`,
        "--pcap",
        pcap,
      ], { ready: /ready on tap0/ });

      const burst = await ns.exec(["ping", "-c", "200", "-i", "0.01", "-W", "1", "-q", DEVICE]);
      assertEquals(lossPercent(burst.stdout), 0, burst.stdout);

      // 1472 bytes of data + 8 ICMP + 20 IP = 1500: the largest unfragmented echo (DF set).
      const atMtu = await ns.exec(["ping", "-c", "3", "-s", "1472", "-M", "do", "-W", "1", DEVICE]);
      assertEquals(lossPercent(atMtu.stdout), 0, atMtu.stdout);
      assertMatch(atMtu.stdout, /1480 bytes from/);

      // 8000 bytes: the kernel fragments the request, the appliance reassembles it and fragments
      // the reply, the kernel reassembles that.
      const big = await ns.exec(["ping", "-c", "3", "-s", "8000", "-W", "2", DEVICE]);
      assertEquals(lossPercent(big.stdout), 0, big.stdout);
      assertMatch(big.stdout, /8008 bytes from/);

      const arping = await ns.exec(["arping", "-c", "3", "-w", "5", "-I", "tap0", DEVICE]);
      assertMatch(arping.stdout, /3 packets transmitted, 3 packets received/);

      assertEquals(await app.stop(), 0, app.output());

      const dump = await ns.exec(["tcpdump", "-n", "-r", pcap], { check: false });
      assertEquals(dump.code, 0, dump.stderr);
      const lines = dump.stdout.split("\n");
      const requests = lines.filter((l) => /ICMP echo request/.test(l)).length;
      const replies = lines.filter((l) => /ICMP echo reply/.test(l)).length;
      assert(requests >= 206 && replies >= 206, `requests ${requests}, replies ${replies}`);
      assert(lines.some((l) => /ARP, Reply 10\.77\.0\.2 is-at/.test(l)), "ARP replies captured");
      // 3 echoes of 8008 bytes: 6 fragments each way per echo (1480 data bytes per fragment).
      const fragments = await ns.exec(["tcpdump", "-n", "-r", pcap, "ip[6:2] & 0x3fff != 0"]);
      const fragmentCount = fragments.stdout.trim().split("\n").length;
      assertEquals(fragmentCount, 36, fragments.stdout);
    } finally {
      await Deno.remove(pcap).catch(() => {});
    }
  });
});

interopTest("the appliance resolves the kernel with ARP and answers as a neighbour", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("tap0", `${HOST}/24`);
    const app = await startAppliance(ns, ["--iface", "tap0", "--ip", `${DEVICE}/24`], {
      ready: /ready on tap0/,
    });
    await ns.exec(["ping", "-c", "1", "-W", "2", DEVICE]);
    const neigh = await ns.ip(["neigh", "show", "dev", "tap0"]);
    assertMatch(neigh.stdout, /10\.77\.0\.2 lladdr 02:00:01:02:03:77/);
    assertEquals(await app.stop(), 0);
  });
});

interopTest("--impair loss=20% loses roughly a fifth of each direction, reproducibly", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("tap0", `${HOST}/24`);
    // Warm the ARP cache first so only echoes see the loss budget.
    const app = await startAppliance(ns, [
      "--iface",
      "tap0",
      "--ip",
      `${DEVICE}/24`,
      "--impair",
      "loss=20%,seed=4",
    ], { ready: /ready on tap0/ });
    const result = await ns.exec(
      ["ping", "-c", "300", "-i", "0.005", "-W", "1", "-q", DEVICE],
      { check: false },
    );
    const loss = lossPercent(result.stdout);
    // Both directions lose 20%: 1 - 0.8^2 = 36% expected.
    assert(loss > 22 && loss < 50, `loss ${loss}%`);
    assertEquals(await app.stop(), 0);
  });
});

interopTest("a wrong --mac (the kernel's own) ends with one clear line and exit 1", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("tap0", `${HOST}/24`, { mac: "02:00:00:00:00:01" });
    const app = await startAppliance(ns, [
      "--iface",
      "tap0",
      "--ip",
      `${DEVICE}/24`,
      "--mac",
      "02:00:00:00:00:01",
    ]);
    const status = await app.child.exited;
    assertEquals(status.code, 1, app.output());
    assertMatch(app.output(), /kernel side of tap0/);
    await app.stop(); // removes its temporary state directory
  });
});
