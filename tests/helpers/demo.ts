/**
 * `deno task demo`: the appliance in a private network namespace where nothing is set up.
 *
 * Creates a namespace with a TAP (`tap0`, host side 192.168.77.1/24) and dnsmasq serving DHCP
 * and DNS on it, starts the appliance without an address so it joins by DHCP like a device, shows
 * the kernel pinging the leased address, then keeps running until Ctrl-C, when the appliance stops
 * (releasing its lease) and the namespace, with everything in it, is deleted. Nothing outside the
 * namespace is touched. Without dnsmasq the appliance gets the static address 192.168.77.2.
 * @module
 */

import { startAppliance } from "./appliance.ts";
import { interopSkipReason, Namespace } from "./netns.ts";
import { run } from "./process.ts";

const HOST = "192.168.77.1";
const STATIC_DEVICE = "192.168.77.2";
/** The appliance's log line for a new lease, e.g. "DHCP REQUESTING -> BOUND: leased 192.168.77.23/24". */
const BOUND = /-> BOUND: \S+ ([0-9.]+)\//;

/** dnsmasq on tap0: DHCP for .10-.99 (router and DNS = the host side) and a local DNS name. */
function startDnsmasq(ns: Namespace, leaseFile: string) {
  return ns.spawn([
    "dnsmasq",
    "--no-daemon",
    "--conf-file=/dev/null",
    "--interface=tap0",
    "--bind-interfaces",
    "--dhcp-range=192.168.77.10,192.168.77.99,12h",
    `--dhcp-leasefile=${leaseFile}`,
    // dnsmasq pings an address before offering it (3 s); a fresh namespace has no one to find.
    "--no-ping",
    "--no-resolv",
    "--address=/demo.test/192.168.77.1",
    `--dhcp-option=option:router,${HOST}`,
    `--dhcp-option=option:dns-server,${HOST}`,
  ]);
}

async function demo(): Promise<number> {
  const reason = interopSkipReason();
  if (reason !== null) {
    console.error(`mip-tap demo: ${reason} (the demo creates a network namespace: run it as root)`);
    return 1;
  }
  const ns = await Namespace.create("demo");
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await ns.addTap("tap0", `${HOST}/24`);
    console.log(`namespace ${ns.name}: tap0 = ${HOST}/24 (the host side)`);
    const haveDnsmasq = (await run(["sh", "-c", "command -v dnsmasq"])).success;
    const leaseFile = await Deno.makeTempFile({ prefix: "mip-demo-", suffix: ".leases" });
    if (haveDnsmasq) {
      startDnsmasq(ns, leaseFile);
      console.log("dnsmasq serves DHCP and DNS on tap0");
    } else {
      console.log("dnsmasq not found (apt-get install dnsmasq-base): using a static address");
    }
    const addressArgs = haveDnsmasq ? [] : ["--ip", `${STATIC_DEVICE}/24`, "--gateway", HOST];
    const app = await startAppliance(ns, ["--iface", "tap0", ...addressArgs, ...Deno.args], {
      ready: /ready on tap0/,
    });
    const DEVICE = haveDnsmasq
      ? BOUND.exec(await app.waitForLog(BOUND, 15_000))![1]!
      : STATIC_DEVICE;
    await Deno.remove(leaseFile).catch(() => {});
    console.log(`appliance running at ${DEVICE}; pinging it from the namespace:`);
    const ping = await ns.exec(["ping", "-c", "3", "-i", "0.2", DEVICE], { check: false });
    console.log(ping.stdout.trimEnd());
    console.log(
      `\nTry it yourself:  sudo ip netns exec ${ns.name} ping ${DEVICE}\n` +
        `Capture:          sudo ip netns exec ${ns.name} tcpdump -ni tap0\n` +
        "Press Ctrl-C to stop; the namespace and everything in it are removed.",
    );
    const exited = app.child.exited.then(() => "exited" as const);
    const aborted = new Promise<"stop">((resolve) =>
      stop.signal.addEventListener("abort", () => resolve("stop"))
    );
    if (await Promise.race([exited, aborted]) === "exited") {
      console.error(`the appliance exited:\n${app.output()}`);
      return 1;
    }
    const code = await app.stop();
    console.log(`\nappliance stopped (exit code ${code})`);
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await ns.destroy();
    console.log(`namespace ${ns.name} deleted`);
  }
}

if (import.meta.main) Deno.exit(await demo());
