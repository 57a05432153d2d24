/**
 * The idle appliance: CPU use while nothing talks to it, and its resident memory. A fresh
 * appliance starts on tap0 of its own namespace and settles for a moment; then the CPU time of
 * its deno process is read across the idle window (the scheduler's runtime of every thread, or
 * utime + stime ticks where that is missing; see _proc.ts), and VmRSS at the end. The baseline
 * is a bare Deno process idling on one timer (`_bare_deno.ts`) measured the same way: the
 * kernel's stack has no process of its own to compare with.
 * @module
 */

import type { Namespace } from "../helpers/netns.ts";
import type { ChildHandle } from "../helpers/process.ts";
import { type BenchContext, type Benchmark, type Figure, figure, sleep } from "./_figure.ts";
import { cpuPercentOver, type CpuSample, denoPid, rssKiB } from "./_proc.ts";
import { prepareTap, startTapAppliance } from "./_targets.ts";

/** Time after the ready line before the window opens (startup work is not idle work). */
const SETTLE_MS = 500;
const BARE_DENO = decodeURIComponent(new URL("./_bare_deno.ts", import.meta.url).pathname);

interface IdleSample {
  cpu: CpuSample;
  rssMiB: number;
}

export const idle: Benchmark = {
  name: "idle",
  description: "idle appliance: CPU % of one core over an idle window, and VmRSS",
  async run(ctx): Promise<Figure[]> {
    const windowMs = ctx.quick ? 2_000 : 5_000;
    const appliance = await ctx.withNamespace("bench-idle-appliance", async (ns) => {
      await prepareTap(ns);
      const app = await startTapAppliance(ns);
      try {
        ctx.log(`appliance idle for ${windowMs} ms`);
        return await sample(ns, app.child, windowMs);
      } finally {
        await app.stop();
      }
    });
    const bare = await ctx.withNamespace("bench-idle-deno", (ns) => bareDeno(ctx, ns, windowMs));
    const options = { baselineLabel: "bare deno" };
    return [
      figure("cpu_percent", "% of 1 CPU", "lower", {
        appliance: appliance.cpu.percent,
        baseline: bare.cpu.percent,
      }, { ...options, note: cpuNote(appliance.cpu, bare.cpu, windowMs) }),
      figure("rss", "MiB", "lower", { appliance: appliance.rssMiB, baseline: bare.rssMiB }, {
        ...options,
        note: "VmRSS after the idle window",
      }),
    ];
  },
};

function cpuNote(appliance: CpuSample, bare: CpuSample, windowMs: number): string {
  const source = appliance.source === "sched"
    ? "sum of se.sum_exec_runtime of all threads"
    : "utime+stime, 10 ms ticks";
  const ticks = `utime+stime says ${appliance.ticksPercent.toFixed(2)}% / ${
    bare.ticksPercent.toFixed(2)
  }%`;
  return `${source} over ${windowMs} ms; ${ticks}`;
}

async function bareDeno(ctx: BenchContext, ns: Namespace, windowMs: number): Promise<IdleSample> {
  const child = ns.spawn([Deno.execPath(), "run", "--cached-only", BARE_DENO]);
  try {
    await child.waitForLine(/^ready$/, 30_000);
    ctx.log(`bare deno idle for ${windowMs} ms`);
    return await sample(ns, child, windowMs);
  } finally {
    await child.stop();
  }
}

async function sample(ns: Namespace, child: ChildHandle, windowMs: number): Promise<IdleSample> {
  const pid = await denoPid(ns, child);
  await sleep(SETTLE_MS);
  const cpu = await cpuPercentOver(pid, windowMs);
  const rssMiB = (await rssKiB(pid)) / 1024;
  return { cpu, rssMiB };
}
