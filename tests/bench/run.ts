/**
 * `deno task bench`: runs the benchmarks of registry.ts, each figure measured for the appliance
 * on its TAP and for a baseline (the kernel over a veth pair between two namespaces, or a bare
 * Deno process for process figures) in the same run, prints a table with their ratios and writes
 * out/bench.json.
 *
 * Usage: deno task bench [--only NAME[,NAME]] [--quick] [--micro] [--help]
 *
 * Invariants: needs root (namespaces and a TAP); every namespace is made by the harness and
 * deleted at the end, on failure and on SIGINT/SIGTERM; nothing is configured in the root
 * namespace; every load loop is bounded in count and time (each benchmark module bounds its own
 * tools, and the runner gives a benchmark at most `BENCHMARK_TIMEOUT_MS`). Exit status: 0 when
 * every selected benchmark produced its figures, 1 when one failed, 2 on a bad command line.
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { REPO_ROOT } from "../helpers/appliance.ts";
import { interopSkipReason } from "../helpers/netns.ts";
import { run } from "../helpers/process.ts";
import type { Benchmark } from "./_figure.ts";
import { formatMicroTable, MICRO_COMMAND, type MicroResult, runMicroBench } from "./_micro.ts";
import {
  type BenchmarkResult,
  type BenchReport,
  formatTable,
  type HostInfo,
  reportJson,
} from "./_report.ts";
import { Harness } from "./_targets.ts";
import { BENCHMARKS } from "./registry.ts";

/** The longest one benchmark may take before it is abandoned (its namespaces still go). */
const BENCHMARK_TIMEOUT_MS = 240_000;
const OUT_DIR = `${REPO_ROOT}out`;
const OUT_FILE = `${OUT_DIR}/bench.json`;

const USAGE = `Usage: deno task bench [--only NAME[,NAME]] [--quick] [--micro]

Runs each benchmark against the appliance on a TAP and against a baseline (kernel to kernel
over veth, or a bare Deno process), inside private network namespaces it deletes afterwards.
Prints a table and writes out/bench.json. Needs root.

  --only NAMES  run only these benchmarks (comma-separated): ${
  BENCHMARKS.map((b) => b.name).join(", ")
}
  --quick       shorter runs (fewer packets, shorter windows)
  --micro       also run the in-process microbenchmarks (${MICRO_COMMAND})
  -h, --help    show this help`;

/** Command-line choices. */
interface Options {
  quick: boolean;
  micro: boolean;
  only: string[] | null;
}

/** Parses the flags; returns an error message instead for a bad command line. */
function parseOptions(args: string[]): Options | { help: true } | string {
  let unknown: string | null = null;
  const flags = parseArgs(args, {
    boolean: ["quick", "micro", "help"],
    string: ["only"],
    alias: { h: "help" },
    unknown: (arg: string) => {
      unknown ??= arg;
      return false;
    },
  });
  if (unknown !== null) return `unknown argument '${unknown}'`;
  if (flags.help === true) return { help: true };
  let only: string[] | null = null;
  if (typeof flags.only === "string") {
    const names: string[] = flags.only.split(",").map((s: string) => s.trim()).filter((s: string) =>
      s !== ""
    );
    const known = new Set(BENCHMARKS.map((b) => b.name));
    const bad = names.find((name: string) => !known.has(name));
    if (bad !== undefined) return `unknown benchmark '${bad}' in --only (known: ${[...known]})`;
    if (names.length === 0) return "--only needs at least one benchmark name";
    only = names;
  }
  return { quick: flags.quick === true, micro: flags.micro === true, only };
}

async function hostInfo(): Promise<HostInfo> {
  const git = await run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], {
    timeoutMs: 5_000,
  }).catch(() => null);
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    kernel: Deno.osRelease(),
    cpus: navigator.hardwareConcurrency,
    commit: git?.success ? git.stdout.trim() : null,
  };
}

/** Runs one benchmark, bounded in time; a failure becomes an error entry. */
async function runOne(benchmark: Benchmark, harness: Harness): Promise<BenchmarkResult> {
  console.error(`[${benchmark.name}] ${benchmark.description}`);
  const start = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`did not finish within ${BENCHMARK_TIMEOUT_MS} ms`)),
      BENCHMARK_TIMEOUT_MS,
    );
  });
  const base = { name: benchmark.name, description: benchmark.description };
  try {
    const figures = await Promise.race([benchmark.run(harness), expired]);
    return { ...base, durationMs: Math.round(performance.now() - start), figures };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    console.error(`[${benchmark.name}] FAILED: ${error}`);
    return { ...base, durationMs: Math.round(performance.now() - start), figures: [], error };
  } finally {
    clearTimeout(timer);
  }
}

/** Deletes every namespace when interrupted, then exits 130 (SIGINT) or 143 (SIGTERM). */
function installSignalCleanup(harness: Harness): () => void {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      console.error(`\n${signal}: deleting the benchmark namespaces`);
      harness.close().finally(() => Deno.exit(signal === "SIGINT" ? 130 : 143));
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return () => handlers.forEach(([signal, handler]) => Deno.removeSignalListener(signal, handler));
}

async function runNetworkBenchmarks(options: Options): Promise<BenchmarkResult[]> {
  const selected = BENCHMARKS.filter((b) => options.only === null || options.only.includes(b.name));
  const harness = new Harness({ quick: options.quick });
  const removeSignalCleanup = installSignalCleanup(harness);
  const results: BenchmarkResult[] = [];
  try {
    for (const benchmark of selected) results.push(await runOne(benchmark, harness));
  } finally {
    await harness.close();
    removeSignalCleanup();
  }
  return results;
}

async function runMicro(): Promise<MicroResult[] | string> {
  console.error(`[micro] ${MICRO_COMMAND}`);
  try {
    return await runMicroBench();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The entry point; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (typeof options === "string") {
    console.error(`bench: ${options} (see --help)`);
    return 2;
  }
  if ("help" in options) {
    console.log(USAGE);
    return 0;
  }
  const skip = interopSkipReason();
  if (skip !== null) {
    console.error(`bench: cannot run the network benchmarks: ${skip}`);
    return 1;
  }
  const startedAt = new Date();
  const started = performance.now();
  console.error(`benchmarks${options.quick ? " (quick)" : ""}; progress on stderr`);
  const results = await runNetworkBenchmarks(options);
  const micro = options.micro ? await runMicro() : null;
  const report: BenchReport = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    quick: options.quick,
    only: options.only,
    host: await hostInfo(),
    benchmarks: results,
    micro: Array.isArray(micro) ? micro : null,
  };
  await Deno.mkdir(OUT_DIR, { recursive: true });
  await Deno.writeTextFile(OUT_FILE, reportJson(report));
  console.log(`\n${formatTable(results)}`);
  if (typeof micro === "string") console.log(`\nmicro benchmarks FAILED: ${micro}`);
  else if (micro !== null) console.log(`\n${formatMicroTable(micro)}`);
  else console.log(`\nmicro benchmarks: ${MICRO_COMMAND} (or add --micro)`);
  console.log(`\nwrote ${OUT_FILE} (${(report.durationMs / 1000).toFixed(1)} s)`);
  const failed = results.some((r) => r.error !== undefined) || typeof micro === "string";
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
