/**
 * Runs micro_bench.ts through `deno bench --json` for `deno task bench --micro`, and reads the
 * result into plain records. In-process only: no namespace, no network.
 *
 * Invariants: the run is bounded in time (killed after `MICRO_TIMEOUT_MS`); a bench that failed
 * is kept with its error rather than dropped; times are nanoseconds per iteration as deno
 * reports them.
 * @module
 */

import { run } from "../helpers/process.ts";

/** The file `--micro` runs. */
export const MICRO_BENCH_PATH: string = decodeURIComponent(
  new URL("./micro_bench.ts", import.meta.url).pathname,
);
/** The command a person would type for the same run (printed by run.ts). */
export const MICRO_COMMAND = "deno bench --allow-all tests/bench/micro_bench.ts";
const MICRO_TIMEOUT_MS = 180_000;

/** One Deno.bench result. */
export interface MicroResult {
  group: string | null;
  name: string;
  /** Mean time per iteration (ns); null when the bench failed. */
  avgNs: number | null;
  p75Ns: number | null;
  p99Ns: number | null;
  minNs: number | null;
  maxNs: number | null;
  /** Iterations per second from the mean. */
  perSecond: number | null;
  error?: string;
}

interface DenoBenchJson {
  benches?: {
    group?: string | null;
    name?: string;
    results?: { ok?: Record<string, number>; failed?: unknown }[];
  }[];
}

/** Runs `deno bench --json` on micro_bench.ts and returns its results. */
export async function runMicroBench(): Promise<MicroResult[]> {
  const result = await run(
    [Deno.execPath(), "bench", "--allow-all", "--json", MICRO_BENCH_PATH],
    { timeoutMs: MICRO_TIMEOUT_MS, env: { NO_COLOR: "1" } },
  );
  if (!result.success) {
    throw new Error(`deno bench failed (exit ${result.code}):\n${result.stderr.slice(-2000)}`);
  }
  return parseMicroJson(result.stdout);
}

/** Reads `deno bench --json` output. */
export function parseMicroJson(text: string): MicroResult[] {
  const parsed = JSON.parse(text) as DenoBenchJson;
  return (parsed.benches ?? []).map((bench) => {
    const outcome = bench.results?.[0];
    const ok = outcome?.ok;
    const base = { group: bench.group ?? null, name: bench.name ?? "?" };
    if (ok === undefined) {
      return {
        ...base,
        avgNs: null,
        p75Ns: null,
        p99Ns: null,
        minNs: null,
        maxNs: null,
        perSecond: null,
        error: JSON.stringify(outcome?.failed ?? outcome ?? "no result"),
      };
    }
    const avg = ok.avg ?? NaN;
    return {
      ...base,
      avgNs: avg,
      p75Ns: ok.p75 ?? null,
      p99Ns: ok.p99 ?? null,
      minNs: ok.min ?? null,
      maxNs: ok.max ?? null,
      perSecond: avg > 0 ? 1e9 / avg : null,
    };
  });
}

/** The results as an aligned text table. */
export function formatMicroTable(results: readonly MicroResult[]): string {
  const time = (ns: number | null) => {
    if (ns === null) return "-";
    if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
    if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} us`;
    return `${ns.toFixed(1)} ns`;
  };
  const rows = results.map((r) => [
    r.name,
    r.error ? "FAILED" : time(r.avgNs),
    time(r.p99Ns),
    r.perSecond === null ? "-" : Math.round(r.perSecond).toLocaleString("en-US"),
  ]);
  const header = ["micro benchmark", "avg/iter", "p99", "iter/s"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
