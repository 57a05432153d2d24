/**
 * Presenting results: the table `deno task bench` prints, and the JSON document it writes to
 * out/bench.json.
 *
 * Invariants: the table and the JSON show the same numbers (the table only rounds them); a
 * benchmark that failed appears in both with its error instead of figures; the JSON is plain
 * data (numbers or null, never NaN: JSON.stringify would turn NaN into null silently, so values
 * that are not finite are written as null on purpose here).
 * @module
 */

import type { Figure } from "./_figure.ts";
import type { MicroResult } from "./_micro.ts";

/** One benchmark's outcome. */
export interface BenchmarkResult {
  name: string;
  description: string;
  durationMs: number;
  figures: Figure[];
  /** Why it failed; figures is empty then. */
  error?: string;
}

/** What out/bench.json holds. */
export interface BenchReport {
  schema: 1;
  startedAt: string;
  durationMs: number;
  quick: boolean;
  /** The `--only` selection, or null for all. */
  only: string[] | null;
  host: HostInfo;
  benchmarks: BenchmarkResult[];
  /** `deno bench` results of micro_bench.ts with `--micro`, else null. */
  micro: MicroResult[] | null;
}

/** The machine and build the figures come from. */
export interface HostInfo {
  deno: string;
  v8: string;
  typescript: string;
  kernel: string;
  cpus: number;
  /** `git rev-parse --short HEAD`, or null outside a work tree. */
  commit: string | null;
}

/** A number with 3-4 significant digits, thousands grouped; "-" for null or not finite. */
export function formatValue(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return "-";
  const size = Math.abs(value);
  if (size >= 1000) return Math.round(value).toLocaleString("en-US");
  if (size >= 100) return value.toFixed(1);
  if (size >= 1) return value.toFixed(2);
  if (size === 0) return "0";
  return value.toFixed(4);
}

/** A ratio as "4.65x"; "-" when there is none. */
export function formatRatio(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return "-";
  return ratio >= 100 ? `${ratio.toFixed(0)}x` : `${ratio.toFixed(2)}x`;
}

const HEADER = ["benchmark", "figure", "unit", "appliance", "baseline", "baseline is", "ratio"];
/** Columns aligned right (numbers). */
const RIGHT = new Set([3, 4, 6]);

/** The results as an aligned text table, notes and errors listed under it. */
export function formatTable(results: readonly BenchmarkResult[]): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const result of results) {
    if (result.error !== undefined) {
      rows.push([result.name, "FAILED", "", "", "", "", ""]);
      notes.push(`${result.name}: FAILED: ${result.error.split("\n")[0]}`);
      continue;
    }
    for (const f of result.figures) {
      const arrow = f.better === "lower" ? "(lower is better)" : "(higher is better)";
      rows.push([
        result.name,
        f.name,
        `${f.unit} ${arrow}`,
        formatValue(f.appliance),
        formatValue(f.baseline),
        f.baselineLabel,
        formatRatio(f.ratio),
      ]);
      if (f.note) notes.push(`${result.name}.${f.name}: ${f.note}`);
    }
  }
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => RIGHT.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))
      .join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const body = [line(HEADER), rule, ...rows.map(line)].join("\n");
  const footer = notes.length > 0 ? `\n\nnotes:\n${notes.map((n) => `  ${n}`).join("\n")}` : "";
  return `${body}\n\nratio = appliance / baseline${footer}`;
}

/** The report as JSON text, non-finite numbers written as null. */
export function reportJson(report: BenchReport): string {
  return JSON.stringify(
    report,
    (_key, value) => typeof value === "number" && !Number.isFinite(value) ? null : value,
    2,
  ) + "\n";
}
