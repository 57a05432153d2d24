/**
 * DNS and SNTP against real peers in a private namespace: the appliance resolves its
 * `--ntp-server` name through dnsmasq (learned by DHCP, or given with `--dns`) and syncs with the
 * chronyd the name points at. The appliance has no shell, so a successful SNTP sync with the
 * address that only the DNS record names is the proof that the name was resolved.
 *
 * chronyd serves its local clock (`local stratum 8`), the same system clock the appliance reads,
 * so the offset the appliance measures must be close to zero: a broken T1..T4 computation or a
 * wrong NTP era would show up as seconds or years.
 */

import { assert, assertEquals, assertMatch, assertNotMatch } from "@std/assert";
import { startAppliance } from "../helpers/appliance.ts";
import { interopTest, withNamespace } from "../helpers/netns.ts";
import { sntpSync, startChronyd, startDnsmasq, stopOnExit } from "./fixtures/services_peers.ts";

/** The brief's bound on |offset| against a chronyd on the same clock. */
const MAX_OFFSET_MS = 50;

interopTest("a DNS server learned by DHCP resolves --ntp-server; chronyd syncs", async () => {
  await withNamespace(async (ns) => {
    const host = "10.65.0.1"; // dnsmasq: DHCP and DNS
    const ntp = "10.65.0.123"; // chronyd: only the DNS record time.test names it
    const leased = "10.65.0.66";
    await ns.addTap("tap0", `${host}/24`);
    await ns.ip(["addr", "add", `${ntp}/24`, "dev", "tap0"]);
    await using _chronyd = await startChronyd(ns, ntp);
    await using dnsmasq = await startDnsmasq(ns, {
      dhcpRange: `${leased},${leased},255.255.255.0,600`,
      dhcpOptions: [`option:dns-server,${host}`],
      records: { "time.test": ntp },
    });
    const start = performance.now();
    await using app = stopOnExit(
      await startAppliance(ns, ["--iface", "tap0", "--ntp-server", "time.test", "-v"]),
    );
    const line = await app.waitForLog(/SNTP sync with/, 8_000);
    const sync = sntpSync(line);
    console.log(
      `SNTP via DHCP's DNS: ${sync?.address} offset ${sync?.offsetMs} ms after ` +
        `${(performance.now() - start).toFixed(0)} ms`,
    );
    assertEquals({ address: sync?.address, stratum: sync?.stratum }, {
      address: ntp,
      stratum: 8,
    });
    assert(Math.abs(sync!.offsetMs) < MAX_OFFSET_MS, `offset ${sync!.offsetMs} ms`);
    const log = app.output();
    assertMatch(log, new RegExp(`-> BOUND: bound ${leased}/24 .* DNS ${host}$`, "m"));
    assertMatch(log, new RegExp(`DNS query \\d+ for time\\.test to ${host}$`, "m"));
    assertMatch(log, new RegExp(`DNS time\\.test: ${ntp}$`, "m"));
    // dnsmasq saw the question from the leased address and answered from its local record.
    await dnsmasq.child.waitForLine(new RegExp(`query\\[A\\] time\\.test from ${leased}`), 1_000);
    await dnsmasq.child.waitForLine(new RegExp(`config time\\.test is ${ntp}`), 1_000);
    assertEquals(await app.stop(), 0, app.output());
  });
});

interopTest("--dns with a static --ip resolves --ntp-server; NXDOMAIN fails the sync", async () => {
  await withNamespace(async (ns) => {
    const host = "10.66.0.1"; // dnsmasq: DNS only
    const ntp = "10.66.0.123";
    const device = "10.66.0.2";
    await ns.addTap("tap0", `${host}/24`);
    await ns.ip(["addr", "add", `${ntp}/24`, "dev", "tap0"]);
    await using _chronyd = await startChronyd(ns, ntp);
    await using dnsmasq = await startDnsmasq(ns, { records: { "time.test": ntp } });
    const args = ["--iface", "tap0", "--ip", `${device}/24`, "--dns", host, "-v"];
    await using app = stopOnExit(
      await startAppliance(ns, [...args, "--ntp-server", "time.test"]),
    );
    const sync = sntpSync(await app.waitForLog(/SNTP sync with/, 8_000));
    console.log(`SNTP via --dns: ${sync?.address} offset ${sync?.offsetMs} ms`);
    assertEquals(sync?.address, ntp);
    assert(Math.abs(sync!.offsetMs) < MAX_OFFSET_MS, `offset ${sync!.offsetMs} ms`);
    assertMatch(app.output(), new RegExp(`DNS time\\.test: ${ntp}$`, "m"));
    assertNotMatch(app.output(), /DHCP/); // a static address runs no DHCP client
    await dnsmasq.child.waitForLine(new RegExp(`query\\[A\\] time\\.test from ${device}`), 1_000);
    assertEquals(await app.stop(), 0, app.output());

    // A name dnsmasq does not know: NXDOMAIN, reported, and no time from anywhere.
    await using missing = stopOnExit(
      await startAppliance(ns, [...args, "--ntp-server", "missing.test"]),
    );
    const failed = await missing.waitForLog(/SNTP sync failed/, 8_000);
    assertMatch(failed, /cannot resolve missing\.test/);
    assertMatch(missing.output(), /DNS missing\.test failed/);
    await dnsmasq.child.waitForLine(/query\[A\] missing\.test from/, 1_000);
    assertNotMatch(missing.output(), /SNTP sync with/);
    assertEquals(await missing.stop(), 0, missing.output());
  });
});
