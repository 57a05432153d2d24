/**
 * HTTP requests per second and p99 latency: `wrk -t1 -cN` (N = 1, 10, 100) fetching a 1 KiB
 * file from the appliance's `--web-root` on a TAP, beside the same wrk against `Deno.serve` on
 * the kernel stack over a veth pair ("deno on kernel", see _http.ts).
 *
 * Invariants: every wrk run is bounded (`-d` seconds, under `timeout 30`, and a process timeout
 * past that); all traffic stays inside the benchmark's own namespaces.
 * @module
 */

import type { Namespace } from "../helpers/netns.ts";
import { type Benchmark, type Figure, figure } from "./_figure.ts";
import { type HttpTarget, onAppliance, onKernel, withWebRoot } from "./_http.ts";

const FILE = "1k.bin";
const FILE_BYTES = 1024;
const CONNECTIONS = [1, 10, 100] as const;
const BASELINE_LABEL = "deno on kernel";

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
  await runWrk(target.ns, url, 10, 1); // warm-up: JIT, ARP, first connections
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
