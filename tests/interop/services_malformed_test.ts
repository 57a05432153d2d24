/**
 * Malformed DHCP, DNS and NTP traffic from the kernel side of a private namespace.
 *
 * A fake DHCP/DNS/NTP server (fixtures/services_fake_peers.py) answers each of the appliance's
 * requests with a burst of broken or forged replies first (truncated headers, option overruns,
 * bad option overload, DNS pointer loops and names past the end, short NTP packets, wrong modes,
 * ids, origins and source ports) and the valid reply last. Every broken reply names a decoy
 * address (or a clock an hour off), so if one were taken it would show in the appliance's log;
 * the test expects the lease, the resolved name and the time of the valid replies only. Then
 * unsolicited broken frames (bad IP and UDP lengths and checksums, stray fragments, DHCP NAKs and
 * ACKs with unknown xids, DNS and NTP junk on many ports) are sent while the kernel pings the
 * appliance: every echo must be answered and the lease must stay as it was.
 */

import { assert, assertEquals, assertMatch, assertNotMatch } from "@std/assert";
import { startAppliance } from "../helpers/appliance.ts";
import { interopTest, withNamespace } from "../helpers/netns.ts";
import { ipToNumber, pings, sntpSync, stopOnExit, storedLease } from "./fixtures/services_peers.ts";

const FAKE_PEERS = decodeURIComponent(
  new URL("./fixtures/services_fake_peers.py", import.meta.url).pathname,
);
const SERVER = "10.64.0.1"; // tap0: fake DHCP and DNS
const NTP = "10.64.0.123"; // tap0's second address: fake NTP, named only by the valid DNS answer
const OFFER = "10.64.0.77"; // the valid OFFER's address
const DECOY = "10.64.0.66"; // the address every broken reply carries
const STRANGER = "10.64.0.200"; // the source of the unsolicited frames (no such host)
const MAX_OFFSET_MS = 50;

/** The JSON lines a fixture printed (other lines are skipped). */
function records(output: string): Record<string, unknown>[] {
  return output.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

interopTest("broken DHCP, DNS and NTP replies are dropped; the valid ones are used", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("tap0", `${SERVER}/24`);
    await ns.ip(["addr", "add", `${NTP}/24`, "dev", "tap0"]);
    const common = ["--iface", "tap0", "--server", SERVER, "--decoy", DECOY, "--ntp", NTP];
    const fake = ns.spawn(["python3", FAKE_PEERS, "serve", ...common, "--offer", OFFER]);
    await fake.waitForLine(/"ready": true/, 5_000);
    const pcap = await Deno.makeTempFile({ prefix: "mip-", suffix: ".pcap" });
    try {
      await using app = stopOnExit(
        await startAppliance(ns, [
          "--iface",
          "tap0",
          "--ntp-server",
          "time.test",
          "--pcap",
          pcap,
          "-v",
        ]),
      );
      const bound = await app.waitForLog(/DHCP \S+ -> BOUND/, 5_000);
      assertMatch(bound, new RegExp(`REQUESTING -> BOUND: bound ${OFFER}/24 via ${SERVER}`));
      assertMatch(app.output(), new RegExp(`SELECTING -> REQUESTING: OFFER of ${OFFER} from`));
      const sync = sntpSync(await app.waitForLog(/SNTP sync with/, 8_000));
      console.log(`SNTP with malformed replies around: offset ${sync?.offsetMs} ms`);
      assertEquals(sync?.address, NTP);
      assert(Math.abs(sync!.offsetMs) < MAX_OFFSET_MS, `offset ${sync!.offsetMs} ms`);
      assertMatch(app.output(), new RegExp(`DNS time\\.test: ${NTP}$`, "m"));
      assertNotMatch(app.output(), new RegExp(DECOY.replaceAll(".", "\\.")));

      // Unsolicited broken frames while the kernel pings: nothing lost, nothing changed.
      const quiet = app.child.lineCount;
      const pinging = pings(ns, OFFER, { count: 40, intervalS: 0.02, deadlineS: 5 });
      const blast = await ns.exec([
        "python3",
        FAKE_PEERS,
        "blast",
        ...common,
        "--src",
        STRANGER,
        "--dst",
        OFFER,
      ]);
      const [blasted] = records(blast.stdout);
      console.log(`unsolicited broken frames: ${blasted?.frames}`);
      assert(await pinging, "every echo answered during the blast");
      assert(await pings(ns, OFFER, { count: 3, intervalS: 0.05 }), "echoes after the blast");
      const later = app.child.lines().filter((l) => l.index >= quiet).map((l) => l.text);
      assertEquals(later.filter((text) => /DHCP|IPv4 address|ERROR|WARN/.test(text)), []);
      assertEquals((await storedLease(app.stateDir))?.address, ipToNumber(OFFER));
      assertEquals(app.child.status, null, "the appliance is still running");
      assertEquals(await app.stop(), 0, app.output());

      // The fake answered a DISCOVER, a REQUEST, a DNS query and SNTP requests (a first one
      // whose sample spans ARP is repeated), each with its broken replies first.
      const served = records(fake.output()).filter((r) => r.service !== undefined);
      const requests = (service: string) => served.filter((r) => r.service === service);
      assertEquals(requests("dhcp").map((r) => r.request), [1, 3], fake.output());
      assertEquals(requests("dns").length, 1, fake.output());
      assert(requests("ntp").length >= 1, fake.output());
      const broken = served.reduce((n, r) => n + (r.malformed as string[]).length, 0);
      console.log(`broken replies sent before valid ones: ${broken}`);

      // The capture shows every reply the fake sent (broken or not) did reach the appliance.
      const sent = (service: string) =>
        served.filter((r) => r.service === service)
          .reduce((n, r) => n + (r.malformed as string[]).length + 1, 0);
      const captured = async (filter: string) => {
        const dump = await ns.exec(["tcpdump", "-n", "-r", pcap, filter]);
        return dump.stdout.trim().split("\n").filter((line) => line !== "").length;
      };
      assertEquals(await captured(`udp and src host ${SERVER} and src port 67`), sent("dhcp"));
      assertEquals(
        await captured(`udp and src host ${SERVER} and (src port 53 or src port 5353)`),
        sent("dns"),
      );
      assertEquals(
        await captured(`udp and src host ${NTP} and (src port 123 or src port 1123)`),
        sent("ntp"),
      );
      const stray = await captured(`src host ${STRANGER}`);
      assert(stray >= (blasted?.frames as number), `${stray} of ${blasted?.frames} captured`);
    } finally {
      await Deno.remove(pcap).catch(() => {});
    }
  });
});
