/**
 * Running iputils `ping` from a target's namespace and reading its output.
 *
 * Invariants: every run is bounded three ways: a packet count (`-c`), ping's own deadline
 * (`-w`), and a process timeout a few seconds past that deadline (the child is killed then).
 * Parsers never guess: a missing summary is an error that quotes the output.
 * @module
 */

import type { Target } from "./_figure.ts";

/** ping's closing statistics. */
export interface PingSummary {
  transmitted: number;
  received: number;
  lossPercent: number;
  /** ping's "time": from the first request to the end of the run, in ms. */
  timeMs: number;
  /** The rtt line (min/avg/max/mdev in ms), when any reply came back. */
  rtt: { min: number; avg: number; max: number; mdev: number } | null;
}

/** Options of {@linkcode runPing}. */
export interface PingRun {
  count: number;
  /** ping's `-w` deadline in seconds. */
  deadlineSeconds: number;
  /** `-s` payload bytes (default 56). */
  size?: number;
  /** `-i` interval in seconds (root may go below 0.002). */
  intervalSeconds?: number;
  /** `-f`: flood (one request per reply, or 100/s, whichever is more). */
  flood?: boolean;
  /** `-l`: requests sent before waiting for replies (keeps this many in flight with -f). */
  preload?: number;
  /** `-q`: summary only (no per-reply lines). */
  quiet?: boolean;
}

/** The output of one ping run and its parsed summary. */
export interface PingOutcome {
  summary: PingSummary;
  stdout: string;
}

/** Runs ping from `target.ns` to `target.address`; throws when no summary is printed. */
export async function runPing(target: Target, options: PingRun): Promise<PingOutcome> {
  const args = ["ping", "-n", "-c", String(options.count), "-w", String(options.deadlineSeconds)];
  if (options.size !== undefined) args.push("-s", String(options.size));
  if (options.intervalSeconds !== undefined) args.push("-i", String(options.intervalSeconds));
  if (options.flood) args.push("-f");
  if (options.preload !== undefined) args.push("-l", String(options.preload));
  if (options.quiet) args.push("-q");
  args.push(target.address);
  const result = await target.ns.exec(args, {
    check: false,
    timeoutMs: (options.deadlineSeconds + 10) * 1000,
  });
  return { summary: parsePingSummary(result.stdout + result.stderr), stdout: result.stdout };
}

/** Reads ping's statistics lines; throws (quoting the output) when they are missing. */
export function parsePingSummary(output: string): PingSummary {
  const counts =
    /(\d+) packets transmitted, (\d+) received,.*?([0-9.]+)% packet loss(?:, time (\d+)ms)?/
      .exec(output);
  if (counts === null) throw new Error(`No ping summary in:\n${output.slice(-2000)}`);
  const rttMatch = /= ([0-9.]+)\/([0-9.]+)\/([0-9.]+)\/([0-9.]+) ms/.exec(output);
  return {
    transmitted: Number(counts[1]),
    received: Number(counts[2]),
    lossPercent: Number(counts[3]),
    timeMs: Number(counts[4] ?? NaN),
    rtt: rttMatch === null ? null : {
      min: Number(rttMatch[1]),
      avg: Number(rttMatch[2]),
      max: Number(rttMatch[3]),
      mdev: Number(rttMatch[4]),
    },
  };
}

/** The `time=X ms` of every reply line, in order. */
export function parseReplyTimes(output: string): number[] {
  const times: number[] = [];
  for (const match of output.matchAll(/bytes from .*? time=([0-9.]+) ms/g)) {
    times.push(Number(match[1]));
  }
  return times;
}

/** Replies per second of a run (received over ping's elapsed time); NaN without a time. */
export function repliesPerSecond(summary: PingSummary): number {
  if (!(summary.timeMs > 0)) return NaN;
  return summary.received / (summary.timeMs / 1000);
}
