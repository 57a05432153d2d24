/**
 * HTTP requests per second and p99 latency: `wrk -t1 -cN` (N = 1, 10, 100) fetching a 1 KiB
 * file from the appliance's `--web-root` on a TAP, beside the same wrk against `Deno.serve` on
 * the kernel stack over a veth pair ("deno on kernel", see _http.ts).
 *
 * Also runnable on its own, appliance only, to compare changes quickly or to profile it:
 * `deno run -A tests/bench/http_rps.ts [--repeat N] [--seconds S] [--connections 1,10,100]
 * [--warm-up S] [--profile]` prints req/s, p99 and frames each way per request for every run,
 * and with `--profile` the top self-time entries of the appliance under `--cpu-prof` (see
 * _cpuprofile.ts).
 *
 * Invariants: every wrk run is bounded (`-d` seconds, under `timeout 30`, and a process timeout
 * past that); all traffic stays inside the benchmark's own namespaces.
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import type { Namespace } from "../helpers/netns.ts";
import { formatProfile, summarizeProfile } from "./_cpuprofile.ts";
import { type Benchmark, type Figure, figure } from "./_figure.ts";
import { type HttpTarget, onAppliance, onKernel, withWebRoot } from "./_http.ts";
import { Harness } from "./_targets.ts";

const FILE = "1k.bin";
const FILE_BYTES = 1024;
const CONNECTIONS = [1, 10, 100] as const;
const BASELINE_LABEL = "deno on kernel";
/** The warm-up run's length (s), before any measured run. */
const WARM_UP_SECONDS = 4;

/** What one wrk run reported. */
export interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Reads `Requests/sec`, the 99% latency (`--latency`) and the error counts from wrk's output. */
export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(output);
  const p99 = /^\s+99%\s+([0-9.]+)(us|ms|s|m)\s*$/m.exec(output);
  if (rps === null || p99 === null) throw new Error(`Cannot read wrk's output:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((s, v) => s + Number(v), 0);
  return {
    requestsPerSecond: Number(rps[1]),
    p99Ms: Number(p99[1]) * UNIT_MS[p99[2]!]!,
    errors: Number(non2xx?.[1] ?? 0) + socketErrors,
  };
}

async function runWrk(ns: Namespace, url: string, connections: number, seconds: number) {
  const result = await ns.exec([
    "timeout",
    "30",
    "wrk",
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "--latency",
    url,
  ], { timeoutMs: 40_000, check: true });
  return parseWrk(result.stdout);
}

async function measureAll(
  target: HttpTarget,
  seconds: number,
  log: (m: string) => void,
): Promise<WrkResult[]> {
  const url = `${target.base}/${FILE}`;
  // Warm-up: ARP, first connections, and V8's tier-up of the per-request code, which takes a
  // few seconds of load (after 1 s, 1-connection figures were still rising by a third).
  await runWrk(target.ns, url, 10, WARM_UP_SECONDS);
  const out: WrkResult[] = [];
  for (const c of CONNECTIONS) {
    const r = await runWrk(target.ns, url, c, seconds);
    log(
      `${target.label} c=${c}: ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${
        r.p99Ms.toFixed(2)
      } ms, ${r.errors} errors`,
    );
    out.push(r);
  }
  return out;
}

export const httpRps: Benchmark = {
  name: "http_rps",
  description: "wrk -t1 -c1/10/100 on a 1 KiB --web-root file: req/s and p99 latency",
  async run(ctx): Promise<Figure[]> {
    const seconds = ctx.quick ? 2 : 5;
    const log = (m: string) => ctx.log(m);
    const { app, kernel } = await withWebRoot({ [FILE]: FILE_BYTES }, async (dir) => ({
      app: await onAppliance(ctx, "http-rps", dir, (t) => measureAll(t, seconds, log)),
      kernel: await onKernel(ctx, "http-rps", dir, (t) => measureAll(t, seconds, log)),
    }));
    const figures: Figure[] = [];
    CONNECTIONS.forEach((c, i) => {
      const a = app[i]!;
      const k = kernel[i]!;
      const note = `wrk -t1 -c${c} -d${seconds}s; errors ${a.errors} / baseline ${k.errors}`;
      const options = { baselineLabel: BASELINE_LABEL, note };
      figures.push(
        figure(`rps_c${c}`, "req/s", "higher", {
          appliance: a.requestsPerSecond,
          baseline: k.requestsPerSecond,
        }, options),
        figure(`p99_c${c}`, "ms", "lower", { appliance: a.p99Ms, baseline: k.p99Ms }, options),
      );
    });
    return figures;
  },
};

/** Options of the standalone run (see the module doc). */
interface StandaloneOptions {
  repeat: number;
  seconds: number;
  connections: number[];
  profile: boolean;
  warmUpSeconds: number;
}

function parseStandalone(args: string[]): StandaloneOptions | string {
  const flags = parseArgs(args, {
    boolean: ["profile"],
    string: ["repeat", "seconds", "connections", "warm-up"],
  });
  const repeat = Number(flags.repeat ?? 3);
  const seconds = Number(flags.seconds ?? 3);
  const warmUpSeconds = Number(flags["warm-up"] ?? WARM_UP_SECONDS);
  const connections = String(flags.connections ?? CONNECTIONS.join(",")).split(",").map(Number);
  const valid = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  const counts = [valid(repeat, 20), valid(seconds, 20), valid(warmUpSeconds, 20)];
  if (counts.includes(false) || !connections.every((c) => valid(c, 1000))) {
    return "Usage: deno run -A tests/bench/http_rps.ts [--repeat 1-20] [--seconds 1-20] " +
      "[--connections 1,10,100] [--warm-up 1-20] [--profile]";
  }
  return { repeat, seconds, connections, profile: flags.profile === true, warmUpSeconds };
}

/** Frames the kernel's tap0 sent to the appliance and received from it so far. */
async function tapPackets(ns: Namespace): Promise<{ toApp: number; fromApp: number }> {
  const read = async (dir: "rx" | "tx") =>
    Number((await ns.exec(["cat", `/sys/class/net/tap0/statistics/${dir}_packets`])).stdout);
  return { toApp: await read("tx"), fromApp: await read("rx") };
}

/** The standalone runs on one appliance: req/s, p99 and frames each way per request. */
async function measureSolo(target: HttpTarget, options: StandaloneOptions): Promise<void> {
  const url = `${target.base}/${FILE}`;
  await runWrk(target.ns, url, 10, options.warmUpSeconds);
  for (let i = 0; i < options.repeat; i++) {
    const line: string[] = [];
    for (const c of options.connections) {
      const before = await tapPackets(target.ns);
      const r = await runWrk(target.ns, url, c, options.seconds);
      const after = await tapPackets(target.ns);
      const requests = r.requestsPerSecond * options.seconds;
      const per = (n: number) => (n / requests).toFixed(2);
      line.push(
        `c=${c} ${r.requestsPerSecond.toFixed(0)} (p99 ${r.p99Ms.toFixed(2)} ms, frames/request ` +
          `in ${per(after.toApp - before.toApp)} out ${per(after.fromApp - before.fromApp)})`,
      );
    }
    console.log(`run ${i + 1}: ${line.join(", ")}`);
  }
}

/** Measures the appliance alone `repeat` times; prints req/s per run and a profile if asked. */
async function standaloneMain(args: string[]): Promise<number> {
  const options = parseStandalone(args);
  if (typeof options === "string") {
    console.error(options);
    return 2;
  }
  const harness = new Harness({ quick: false });
  const profileDir = await Deno.makeTempDir({ prefix: "mip-cpuprof-" });
  const denoFlags = options.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : undefined;
  try {
    await withWebRoot(
      { [FILE]: FILE_BYTES },
      (dir) =>
        onAppliance(harness, "http-rps-solo", dir, (t) => measureSolo(t, options), { denoFlags }),
    );
    if (options.profile) {
      for await (const entry of Deno.readDir(profileDir)) {
        if (!entry.name.endsWith(".cpuprofile")) continue;
        const text = await Deno.readTextFile(`${profileDir}/${entry.name}`);
        console.log(`\nappliance, top self time:\n${formatProfile(summarizeProfile(text), 30)}`);
      }
    }
  } finally {
    await harness.close();
    await Deno.remove(profileDir, { recursive: true }).catch(() => {});
  }
  return 0;
}

if (import.meta.main) Deno.exit(await standaloneMain(Deno.args));
