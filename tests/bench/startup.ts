/**
 * Startup latency: from spawning the appliance (`ip netns exec ... deno run main.ts`) to the
 * kernel's first echo reply. Before the spawn, `ping -D -i 0.002` already sends into the
 * detached TAP (a static neighbour entry removes ARP from the path), so the first reply comes
 * within 2 ms of the appliance being able to answer; its `-D` timestamp and the spawn time are
 * both wall-clock. Also the time until the "ready" log line is seen. Median of several runs.
 * Baseline: the same spawn of a bare Deno script until its first line ("bare deno"): the
 * runtime's own floor; the kernel has no start-up to compare with.
 * @module
 */

import { applianceCommand, REPO_ROOT } from "../helpers/appliance.ts";
import type { Namespace } from "../helpers/netns.ts";
import {
  type BenchContext,
  type Benchmark,
  type Figure,
  figure,
  median,
  sleep,
} from "./_figure.ts";
import { APPLIANCE_ARGS, APPLIANCE_IP, prepareTap, READY_LINE } from "./_targets.ts";

/** How long ping runs before the spawn, so its own start-up is not in the figure. */
const PING_LEAD_MS = 300;
const BARE_DENO = decodeURIComponent(new URL("./_bare_deno.ts", import.meta.url).pathname);

interface StartupSample {
  readyMs: number;
  firstReplyMs: number;
}

export const startup: Benchmark = {
  name: "startup",
  description: "spawn to first echo reply and to the ready line (median of runs)",
  async run(ctx): Promise<Figure[]> {
    const runs = ctx.quick ? 2 : 5;
    const appliance: StartupSample[] = [];
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      appliance.push(await ctx.withNamespace("bench-startup", (ns) => applianceStart(ctx, ns)));
      bare.push(await ctx.withNamespace("bench-startup-deno", bareStart));
    }
    const options = { baselineLabel: "bare deno" };
    return [
      figure("first_reply_ms", "ms", "lower", {
        appliance: median(appliance.map((s) => s.firstReplyMs)),
        baseline: median(bare),
      }, { ...options, note: `median of ${runs}; baseline: spawn to first line` }),
      figure("ready_line_ms", "ms", "lower", {
        appliance: median(appliance.map((s) => s.readyMs)),
        baseline: median(bare),
      }, options),
    ];
  },
};

async function applianceStart(ctx: BenchContext, ns: Namespace): Promise<StartupSample> {
  await prepareTap(ns);
  const stateDir = await Deno.makeTempDir({ prefix: "mip-bench-state-" });
  try {
    const [deno, runWord, ...rest] = await applianceCommand([
      ...APPLIANCE_ARGS,
      "--state-dir",
      stateDir,
    ]);
    const ping = ns.spawn(["ping", "-n", "-D", "-i", "0.002", "-c", "1", "-w", "30", APPLIANCE_IP]);
    await sleep(PING_LEAD_MS);
    const startMs = Date.now();
    const app = ns.spawn([deno!, runWord!, "--cached-only", ...rest], {
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
    });
    try {
      await app.waitForLine(READY_LINE, 30_000);
      const readyMs = Date.now() - startMs;
      const reply = await ping.waitForLine(/^\[(\d+\.\d+)\] .*bytes from/, 30_000);
      const stamp = Number(/^\[(\d+\.\d+)\]/.exec(reply.text)![1]);
      const sample = { readyMs, firstReplyMs: stamp * 1000 - startMs };
      ctx.log(
        `appliance: ready line ${readyMs} ms, first reply ${sample.firstReplyMs.toFixed(1)} ms`,
      );
      return sample;
    } finally {
      await app.stop();
      await ping.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

async function bareStart(ns: Namespace): Promise<number> {
  const startMs = Date.now();
  const child = ns.spawn([Deno.execPath(), "run", "--cached-only", BARE_DENO]);
  try {
    await child.waitForLine(/^ready$/, 30_000);
    return Date.now() - startMs;
  } finally {
    await child.stop();
  }
}
