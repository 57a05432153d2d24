/**
 * `deno task demo`: the appliance in a private network namespace where nothing is set up.
 *
 * Creates a namespace with a TAP (`tap0`, host side 192.168.77.1/24), starts the appliance on
 * it, shows the kernel pinging it, then keeps running until Ctrl-C, when the appliance stops and
 * the namespace (with everything in it) is deleted. Nothing outside the namespace is touched.
 * @module
 */

import { startAppliance } from "./appliance.ts";
import { interopSkipReason, Namespace } from "./netns.ts";

const HOST = "192.168.77.1";
const DEVICE = "192.168.77.2";

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
    const app = await startAppliance(
      ns,
      ["--iface", "tap0", "--ip", `${DEVICE}/24`, "--gateway", HOST, ...Deno.args],
      { ready: /ready on tap0/ },
    );
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
