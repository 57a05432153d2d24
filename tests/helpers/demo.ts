/**
 * `deno task demo`: the appliance in a private network namespace where nothing is set up.
 *
 * Creates a namespace with a TAP (`tap0`, host side 192.168.77.1/24) and dnsmasq serving DHCP
 * and DNS on it, starts the appliance without an address so it joins by DHCP like a device, shows
 * the kernel pinging the leased address, forwards 127.0.0.1:8080 to the dashboard (port 80) and
 * 127.0.0.1:8443 to HTTPS (port 443) with socat (the next free port when one is taken), prints the
 * URLs and the admin password, then keeps running until Ctrl-C, when the forwards end, the
 * appliance stops (releasing its lease) and the namespace, with everything in it, is deleted.
 * Outside the namespace only the two listeners on 127.0.0.1 exist, and only while the demo runs.
 * Without dnsmasq the appliance gets the static address 192.168.77.2; without socat there are no
 * forwards.
 * @module
 */

import { type Appliance, startAppliance } from "./appliance.ts";
import { type Forward, forwardSkipReason, startForward } from "./forward.ts";
import { interopSkipReason, Namespace } from "./netns.ts";
import { cacheDependencies, ensurePackages } from "./prepare.ts";
import { run } from "./process.ts";

const HOST = "192.168.77.1";
const STATIC_DEVICE = "192.168.77.2";
/** The appliance's log line for a new lease, e.g. "DHCP REQUESTING -> BOUND: leased 192.168.77.23/24". */
const BOUND = /-> BOUND: \S+ ([0-9.]+)\//;
/** The appliance's one-time line on first start without --admin-password. */
const GENERATED_PASSWORD = /generated dashboard password for user admin: (\S+)/;

/** The local forwards: 127.0.0.1:<local> -> the appliance's port given by `flag`. */
const FORWARDS = [
  { local: 8080, scheme: "http", flag: "--http-port", devicePort: 80 },
  { local: 8443, scheme: "https", flag: "--https-port", devicePort: 443 },
] as const;

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

/** The value of `--name V` or `--name=V` in `args`, else null. */
function flagValue(args: string[], name: string): string | null {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1] ?? null;
    if (args[i]!.startsWith(`${name}=`)) return args[i]!.slice(name.length + 1);
  }
  return null;
}

/** The admin password: given on the command line or in the environment, else the generated one. */
function adminPassword(app: Appliance): string {
  const given = flagValue(Deno.args, "--admin-password") ?? Deno.env.get("MIP_ADMIN_PASSWORD");
  if (given) return given;
  return GENERATED_PASSWORD.exec(app.output())?.[1] ?? `(the one stored in ${app.stateDir})`;
}

/**
 * Starts the 127.0.0.1 forwards to `device` (into `forwards`, so that the caller stops them) and
 * prints where the dashboard is.
 */
async function openDashboard(
  ns: Namespace,
  device: string,
  app: Appliance,
  forwards: Forward[],
): Promise<void> {
  const missing = forwardSkipReason();
  if (missing !== null) {
    console.log(`${missing}: no forward to the dashboard`);
    return;
  }
  const lines: string[] = [];
  for (const spec of FORWARDS) {
    const port = Number(flagValue(Deno.args, spec.flag) ?? spec.devicePort);
    if (port === 0) continue; // --https-port 0: HTTPS off
    const forward = await startForward(ns, { hostname: device, port }, {
      port: spec.local,
      fallback: true,
    });
    forwards.push(forward);
    const moved = forward.port === spec.local ? "" : ` (${spec.local} was taken)`;
    lines.push(`  ${forward.url(spec.scheme)}  -> ${device}:${port}${moved}`);
  }
  console.log(
    `\nDashboard (user admin, password ${adminPassword(app)}):\n${lines.join("\n")}\n` +
      "  (HTTPS uses a self-signed certificate: the browser warns once.)",
  );
}

/**
 * Stops the appliance. A terminal's Ctrl-C reaches it too (it is in the same process group), and
 * a second signal during its shutdown makes it exit at once with code 1, so a shutdown that it
 * has already begun is left to finish; otherwise it gets SIGTERM.
 */
async function stopAppliance(app: Appliance): Promise<number> {
  const began = await app.child.waitForLine(/stopping on SIG/, 500).then(() => true, () => false);
  if (began) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise((resolve) => timer = setTimeout(resolve, 10_000));
    await Promise.race([app.child.exited, bound]);
    clearTimeout(timer);
  }
  return await app.stop();
}

/** What the demo itself uses; installed when missing (as root on Debian or Ubuntu). */
const DEMO_PACKAGES = ["iproute2", "iputils-ping", "dnsmasq-base", "socat"];

async function demo(): Promise<number> {
  if (Deno.uid() === 0) {
    await ensurePackages(DEMO_PACKAGES);
    await cacheDependencies();
  }
  const reason = interopSkipReason();
  if (reason !== null) {
    console.error(`mip-tap demo: ${reason} (the demo creates a network namespace: run it as root)`);
    return 1;
  }
  const ns = await Namespace.create("demo");
  const forwards: Forward[] = [];
  let app: Appliance | null = null;
  let leaseFile: string | null = null;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await ns.addTap("tap0", `${HOST}/24`);
    console.log(`namespace ${ns.name}: tap0 = ${HOST}/24 (the host side)`);
    const haveDnsmasq = (await run(["sh", "-c", "command -v dnsmasq"])).success;
    leaseFile = await Deno.makeTempFile({ prefix: "mip-demo-", suffix: ".leases" });
    if (haveDnsmasq) {
      startDnsmasq(ns, leaseFile);
      console.log("dnsmasq serves DHCP and DNS on tap0");
    } else {
      console.log("dnsmasq not found (apt-get install dnsmasq-base): using a static address");
    }
    const addressArgs = haveDnsmasq ? [] : ["--ip", `${STATIC_DEVICE}/24`, "--gateway", HOST];
    app = await startAppliance(ns, ["--iface", "tap0", ...addressArgs, ...Deno.args], {
      ready: /ready on tap0/,
    });
    const DEVICE = haveDnsmasq
      ? BOUND.exec(await app.waitForLog(BOUND, 15_000))![1]!
      : STATIC_DEVICE;
    console.log(`appliance running at ${DEVICE}; pinging it from the namespace:`);
    // -w: wait for all three replies (up to 5 s), not just two round trips after the last echo.
    const ping = await ns.exec(["ping", "-c", "3", "-i", "0.2", "-w", "5", DEVICE], {
      check: false,
    });
    console.log(ping.stdout.trimEnd());
    await openDashboard(ns, DEVICE, app, forwards);
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
    const code = await stopAppliance(app);
    console.log(`\nappliance stopped (exit code ${code})`);
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    for (const forward of forwards) await forward.stop();
    if (forwards.length > 0) console.log("forwards on 127.0.0.1 closed");
    await app?.stop(); // after an error; idempotent (and removes its temporary state dir)
    await ns.destroy();
    if (leaseFile !== null) await Deno.remove(leaseFile).catch(() => {});
    console.log(`namespace ${ns.name} deleted`);
  }
}

if (import.meta.main) Deno.exit(await demo());
