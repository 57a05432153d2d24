/**
 * DHCP lease time: from spawning the appliance without `--ip` (`ip netns exec ... deno run
 * main.ts`) to its "DHCP ... -> BOUND" log line, with dnsmasq on tap0 (`--no-ping`, so dnsmasq
 * does not wait 3 s probing the address before offering it; the flags of
 * tests/interop/fixtures/services_peers.ts `startDnsmasq`). Median of 5 runs (2 with --quick),
 * each in a fresh namespace. No kernel baseline (the kernel has no DHCP client of its own):
 * the baseline is "none".
 *
 * Invariants: dnsmasq and the appliance run only inside the run's namespace (deleted after it),
 * dnsmasq answers only on tap0; every wait is bounded.
 * @module
 */

import { startAppliance } from "../helpers/appliance.ts";
import type { Namespace } from "../helpers/netns.ts";
import { startDnsmasq } from "../interop/fixtures/services_peers.ts";
import { type BenchContext, type Benchmark, type Figure, figure, median } from "./_figure.ts";

const HOST = "10.83.0.1";
const LEASED = "10.83.0.66";
const LEASE_SECONDS = 600;
const BOUND_LINE = /DHCP \S+ -> BOUND/;
const BOUND_TIMEOUT_MS = 30_000;

/** One run: ms from the spawn to the BOUND line. */
async function leaseOnce(ctx: BenchContext, ns: Namespace): Promise<number> {
  await ns.addTap("tap0", `${HOST}/24`);
  await using _dnsmasq = await startDnsmasq(ns, {
    dhcpRange: `${LEASED},${LEASED},255.255.255.0,${LEASE_SECONDS}`,
    dhcpOptions: [`option:router,${HOST}`, `option:dns-server,${HOST}`],
  });
  const stateDir = await Deno.makeTempDir({ prefix: "mip-bench-state-" });
  try {
    const args = ["--iface", "tap0", "--ntp-server", HOST, "--https-port", "0"];
    const start = performance.now();
    const app = await startAppliance(ns, [...args, "--state-dir", stateDir]);
    try {
      const line = await app.waitForLog(BOUND_LINE, BOUND_TIMEOUT_MS);
      const ms = performance.now() - start;
      if (!line.includes(LEASED)) throw new Error(`unexpected lease: ${line}`);
      ctx.log(`BOUND after ${ms.toFixed(0)} ms`);
      return ms;
    } finally {
      await app.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

export const dhcpLease: Benchmark = {
  name: "dhcp_lease",
  description: "spawn (no --ip) to the DHCP '-> BOUND' log line with dnsmasq on tap0 (median)",
  async run(ctx): Promise<Figure[]> {
    const runs = ctx.quick ? 2 : 5;
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      samples.push(await ctx.withNamespace("bench-dhcp", (ns) => leaseOnce(ctx, ns)));
    }
    return [
      figure("lease_bound_ms", "ms", "lower", { appliance: median(samples), baseline: null }, {
        baselineLabel: "none",
        note: `median of ${runs}: ${samples.map((s) => s.toFixed(0)).join(", ")} ms`,
      }),
    ];
  },
};
