/**
 * The shapes every benchmark module shares: a `Benchmark` measures something and returns
 * `Figure`s, each one number for the appliance beside the same number for a baseline (the Linux
 * kernel over a veth pair for network figures; a bare Deno process for process figures), with
 * their ratio. Plus the small statistics the modules need.
 *
 * Invariants: a figure's `ratio` is `appliance / baseline` whenever both are finite and the
 * baseline is not 0, else null; every value is a plain number in the figure's `unit`, so the JSON
 * report needs no per-figure decoding.
 * @module
 */

import type { Namespace } from "../helpers/netns.ts";

/** Whether a smaller or a larger value is the better one. */
export type Better = "lower" | "higher";

/** One measured number for the appliance and for its baseline. */
export interface Figure {
  /** Stable snake_case key, e.g. "rtt_avg" (unique within its benchmark). */
  name: string;
  /** Unit of both values, e.g. "ms", "replies/s", "MB/s", "%", "MiB". */
  unit: string;
  better: Better;
  /** The appliance on its TAP; null when it could not be measured. */
  appliance: number | null;
  /** The same workload on the baseline; null when it has none. */
  baseline: number | null;
  /** What the baseline is, e.g. "kernel veth" or "bare deno". */
  baselineLabel: string;
  /** appliance / baseline, or null. */
  ratio: number | null;
  /** What exactly was measured, when the name alone does not say. */
  note?: string;
}

/** What the harness hands a benchmark. */
export interface BenchContext {
  /** Shorter runs (`--quick`): fewer packets, shorter windows. */
  readonly quick: boolean;
  /** A progress line (stderr). */
  log(message: string): void;
  /** The shared appliance on tap0 in its namespace, started on first use. */
  appliance(): Promise<Target>;
  /** The shared kernel-to-kernel veth pair between two namespaces, made on first use. */
  kernel(): Promise<Target>;
  /**
   * A fresh namespace for the duration of `fn`, deleted afterwards (also on failure, and by the
   * harness on Ctrl-C).
   */
  withNamespace<T>(tag: string, fn: (ns: Namespace) => Promise<T>): Promise<T>;
}

/** Where a kernel peer runs and what it talks to. */
export interface Target {
  kind: "appliance" | "kernel";
  /** For messages: "appliance on TAP" or "kernel over veth". */
  label: string;
  /** The namespace whose kernel runs the peer tools (ping). */
  ns: Namespace;
  /** The address the peer sends to. */
  address: string;
  /** The peer's interface towards the target. */
  iface: string;
}

/** A benchmark module's export. */
export interface Benchmark {
  /** The `--only` key and the file name: tests/bench/<name>.ts. */
  name: string;
  /** One line: what it measures and how. */
  description: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

/** Options of {@linkcode figure}. */
export interface FigureOptions {
  baselineLabel?: string;
  note?: string;
}

/** Builds a figure, computing the ratio (baseline "kernel veth" unless given). */
export function figure(
  name: string,
  unit: string,
  better: Better,
  values: { appliance: number | null; baseline: number | null },
  options: FigureOptions = {},
): Figure {
  const { appliance, baseline } = values;
  const ratio = appliance !== null && baseline !== null && Number.isFinite(appliance) &&
      Number.isFinite(baseline) && baseline !== 0
    ? appliance / baseline
    : null;
  return {
    name,
    unit,
    better,
    appliance,
    baseline,
    baselineLabel: options.baselineLabel ?? "kernel veth",
    ratio,
    ...(options.note ? { note: options.note } : {}),
  };
}

/** Runs `measure` on the appliance, then on the kernel veth pair. */
export async function onBoth<T>(
  ctx: BenchContext,
  measure: (target: Target) => Promise<T>,
): Promise<{ appliance: T; kernel: T }> {
  const appliance = await measure(await ctx.appliance());
  const kernel = await measure(await ctx.kernel());
  return { appliance, kernel };
}

/** The nearest-rank `p`-th percentile (0 < p <= 100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The arithmetic mean; NaN when empty. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** The median (50th percentile, nearest rank). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** A promise that resolves after `ms` (the harness waits on real processes, not a stack). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
