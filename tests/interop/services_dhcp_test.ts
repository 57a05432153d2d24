/**
 * DHCP against real peers in a private namespace: the appliance's client leasing from dnsmasq
 * (time to a usable address, the lease's contents, RELEASE on SIGTERM, INIT-REBOOT after a crash),
 * and the appliance's --dhcp-server leasing to busybox udhcpc on the kernel side.
 *
 * dnsmasq's range holds exactly one address, so the address the appliance must get is known
 * before it starts (and can be pinged from the moment it is spawned); the router (a second
 * address of tap0) differs from the DNS server (dnsmasq's own address) so that a mix-up shows.
 */

import { assert, assertEquals, assertMatch, assertNotMatch } from "@std/assert";
import { startAppliance } from "../helpers/appliance.ts";
import { interopTest, type Namespace, withNamespace } from "../helpers/netns.ts";
import {
  APPLIANCE_MAC,
  dnsmasqLeases,
  ipToNumber,
  pings,
  runUdhcpc,
  since,
  startDnsmasq,
  stopOnExit,
  storedLease,
  waitLeaseGone,
} from "./fixtures/services_peers.ts";

const HOST = "10.61.0.1"; // tap0, dnsmasq (DHCP and DNS)
const ROUTER = "10.61.0.254"; // tap0's second address, handed out as the router
const LEASED = "10.61.0.66"; // the only address in dnsmasq's range
const LEASE_SECONDS = 600;
/** An address outside the subnet (on the namespace's lo): its echoes need the router. */
const FAR = "10.62.0.1";
/** The brief's bound: a usable address within 3 s of spawning the appliance. */
const LEASE_BOUND_MS = 3_000;

const APPLIANCE_ARGS = ["--iface", "tap0", "--ntp-server", HOST, "--https-port", "0"];

/** tap0 with the host and router addresses, lo with FAR, and dnsmasq leasing LEASED. */
async function dhcpNamespace(ns: Namespace) {
  await ns.addTap("tap0", `${HOST}/24`);
  await ns.ip(["addr", "add", `${ROUTER}/24`, "dev", "tap0"]);
  await ns.ip(["addr", "add", `${FAR}/32`, "dev", "lo"]);
  return await startDnsmasq(ns, {
    dhcpRange: `${LEASED},${LEASED},255.255.255.0,${LEASE_SECONDS}`,
    dhcpOptions: [`option:router,${ROUTER}`, `option:dns-server,${HOST}`],
  });
}

interopTest(
  "dnsmasq leases the appliance an address in < 3 s; RELEASE on SIGTERM; asked again on restart",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "mip-state-" });
    await withNamespace(async (ns) => {
      await using dnsmasq = await dhcpNamespace(ns);
      const start = performance.now();
      const args = [...APPLIANCE_ARGS, "--state-dir", stateDir];
      await using app = stopOnExit(await startAppliance(ns, args));
      // Ping from the moment of the spawn: the first echo answered marks a usable address.
      const pinged = pings(ns, LEASED, { count: 1, deadlineS: 5, intervalS: 0.05 }).then(
        (ok) => ({ ok, ms: since(start) }),
      );
      const bound = await app.waitForLog(/DHCP \S+ -> BOUND/, 5_000);
      const boundMs = since(start);
      const ping = await pinged;
      console.log(`lease: BOUND ${boundMs.toFixed(0)} ms, first echo ${ping.ms.toFixed(0)} ms`);
      assert(boundMs < LEASE_BOUND_MS, `BOUND after ${boundMs} ms`);
      assert(ping.ok, `no echo from ${LEASED}:\n${app.output()}`);
      assert(ping.ms < LEASE_BOUND_MS, `first echo after ${ping.ms} ms`);

      // The lease as the appliance logged it, stored it, and as dnsmasq recorded it.
      assertMatch(
        bound,
        new RegExp(
          `REQUESTING -> BOUND: bound ${LEASED}/24 via ${ROUTER} from ${HOST} ` +
            `for ${LEASE_SECONDS} s, DNS ${HOST}$`,
        ),
      );
      assertMatch(app.output(), new RegExp(`DNS servers: ${HOST}$`, "m"));
      const stored = await storedLease(app.stateDir);
      assertEquals(
        {
          address: stored?.address,
          prefixLength: stored?.prefixLength,
          router: stored?.router,
          dnsServers: stored?.dnsServers,
          server: stored?.server,
          leaseSeconds: stored?.leaseSeconds,
        },
        {
          address: ipToNumber(LEASED),
          prefixLength: 24,
          router: ipToNumber(ROUTER),
          dnsServers: [ipToNumber(HOST)],
          server: ipToNumber(HOST),
          leaseSeconds: LEASE_SECONDS,
        },
      );
      const leases = await dnsmasqLeases(dnsmasq.leaseFile);
      assert(
        leases.some((line) => line.includes(` ${APPLIANCE_MAC} ${LEASED} mip-tap `)),
        leases.join("\n"),
      );
      // Mask and router at work: an echo from outside the subnet is answered via the router.
      assert(await pings(ns, LEASED, { count: 2, source: FAR }), "echo from outside the subnet");

      const stopped = performance.now();
      assertEquals(await app.stop(), 0, app.output());
      assertMatch(app.output(), new RegExp(`BOUND -> INIT: released ${LEASED} to ${HOST}`));
      assert(
        await waitLeaseGone(dnsmasq.leaseFile, APPLIANCE_MAC, 2_000),
        `dnsmasq still holds the lease ${since(stopped).toFixed(0)} ms after SIGTERM: ` +
          (await dnsmasqLeases(dnsmasq.leaseFile)).join("\n"),
      );
      await dnsmasq.child.waitForLine(
        new RegExp(`DHCPRELEASE\\(tap0\\) ${LEASED} ${APPLIANCE_MAC}`),
        1_000,
      );
      // A released lease is not assumed on the next start (no INIT-REBOOT), but its address is
      // remembered and suggested in the DISCOVER (RFC 2131 4.4.1), so the device keeps it.
      const released = await storedLease(stateDir);
      assertEquals([released?.released, released?.address], [true, ipToNumber(LEASED)]);
      await using again = stopOnExit(await startAppliance(ns, args));
      const rebound = await again.waitForLog(/DHCP \S+ -> BOUND/, 5_000);
      assertMatch(rebound, new RegExp(`REQUESTING -> BOUND: bound ${LEASED}/24`));
      assert(!/REBOOTING/.test(again.output()), again.output());
      // dnsmasq logs the requested address of a DISCOVER when option 50 is present.
      await dnsmasq.child.waitForLine(
        new RegExp(`DHCPDISCOVER\\(tap0\\) ${LEASED} ${APPLIANCE_MAC}`),
        1_000,
      );
    }).finally(() => Deno.remove(stateDir, { recursive: true }).catch(() => {}));
  },
);

interopTest("after a crash the appliance INIT-REBOOTs to its stored lease", async () => {
  await withNamespace(async (ns) => {
    await using dnsmasq = await dhcpNamespace(ns);
    const stateDir = await Deno.makeTempDir({ prefix: "mip-state-" });
    try {
      const args = [...APPLIANCE_ARGS, "--state-dir", stateDir];
      await using first = stopOnExit(
        await startAppliance(ns, args, { ready: /-> BOUND/, readyTimeoutMs: 5_000 }),
      );
      // SIGKILL: no RELEASE, the lease stays in the state directory and in dnsmasq.
      await first.child.stop("SIGKILL", 2_000);
      assertEquals((await storedLease(stateDir))?.address, ipToNumber(LEASED));

      const dnsmasqLine = dnsmasq.child.lineCount;
      const start = performance.now();
      await using second = stopOnExit(await startAppliance(ns, args));
      const bound = await second.waitForLog(/DHCP \S+ -> BOUND/, 5_000);
      const boundMs = since(start);
      console.log(`lease after INIT-REBOOT: BOUND ${boundMs.toFixed(0)} ms`);
      assertMatch(second.output(), new RegExp(`INIT-REBOOT -> REBOOTING: .*${LEASED}`));
      assertMatch(bound, new RegExp(`REBOOTING -> BOUND: bound ${LEASED}/24 via ${ROUTER}`));
      assertNotMatch(second.output(), /DISCOVER|SELECTING/);
      assert(boundMs < LEASE_BOUND_MS, `BOUND after ${boundMs} ms`);
      // dnsmasq saw an INIT-REBOOT REQUEST and nothing else from the restarted appliance.
      await dnsmasq.child.waitForLine(
        new RegExp(`DHCPREQUEST\\(tap0\\) ${LEASED} ${APPLIANCE_MAC}`),
        1_000,
        dnsmasqLine,
      );
      const seen = dnsmasq.child.lines().filter((l) => l.index >= dnsmasqLine).map((l) => l.text);
      assertEquals(seen.filter((text) => /DHCPDISCOVER/.test(text)), []);
      assert(await pings(ns, LEASED, { count: 1 }), "echo after INIT-REBOOT");
      assertEquals(await second.stop(), 0, second.output());
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  });
});

interopTest("--dhcp-server leases the kernel side an address (busybox udhcpc)", async () => {
  await withNamespace(async (ns) => {
    const server = "10.63.0.1";
    await ns.addTap("tap0", null);
    await using app = stopOnExit(
      await startAppliance(ns, [
        "--iface",
        "tap0",
        "--ip",
        `${server}/24`,
        "--dhcp-server",
        "--dns",
        server,
        "--ntp-server",
        server,
        "--https-port",
        "0",
      ], { ready: /ready on tap0/ }),
    );
    const start = performance.now();
    const lease = await runUdhcpc(ns, "tap0");
    console.log(`udhcpc lease ${lease.ip} after ${since(start).toFixed(0)} ms`);
    const address = ipToNumber(lease.ip);
    assert(
      address > ipToNumber(server) && address <= ipToNumber("10.63.0.254"),
      `${lease.ip} outside the pool`,
    );
    assertEquals(
      { mask: lease.mask, router: lease.router, dns: lease.dns, serverid: lease.serverid },
      { mask: "24", router: server, dns: server, serverid: server },
    );
    assertEquals(lease.lease, "3600");
    const addr = await ns.ip(["-4", "addr", "show", "dev", "tap0"]);
    assertMatch(addr.stdout, new RegExp(`inet ${lease.ip.replaceAll(".", "\\.")}/24 `));
    assert(await pings(ns, server, { count: 3, intervalS: 0.2 }), "echo from the appliance");
    await app.waitForLog(new RegExp(`DHCP server: leased ${lease.ip} to `), 1_000);
    assertEquals(await app.stop(), 0, app.output());
  });
});
