/**
 * HTTP download throughput: `curl -o /dev/null -w %{speed_download}` of a 50 MB file from the
 * appliance's `--web-root` on a TAP (MB/s, 1 MB = 10^6 bytes), beside the same curl against
 * `Deno.serve` on the kernel stack over a veth pair ("deno on kernel", see _http.ts). Median of
 * three downloads (one with --quick), after one warm-up download.
 *
 * Invariants: every curl is bounded (`--max-time` and a process timeout past it); all traffic
 * stays inside the benchmark's own namespaces.
 * @module
 */

import { type Benchmark, type Figure, figure, median } from "./_figure.ts";
import { type HttpTarget, onAppliance, onKernel, withWebRoot } from "./_http.ts";

const FILE = "50m.bin";
const FILE_BYTES = 50e6;
const MAX_TIME_S = 60;

/** One download: bytes/s as curl measured it, and the size it got. */
async function download(target: HttpTarget): Promise<{ mbps: number; bytes: number }> {
  const result = await target.ns.exec([
    "curl",
    "-sS",
    "--fail",
    "--max-time",
    String(MAX_TIME_S),
    "-o",
    "/dev/null",
    "-w",
    "%{speed_download} %{size_download}",
    `${target.base}/${FILE}`,
  ], { timeoutMs: (MAX_TIME_S + 10) * 1000, check: true });
  const [speed, size] = result.stdout.trim().split(" ").map(Number);
  if (size !== FILE_BYTES) throw new Error(`${target.label}: got ${size} of ${FILE_BYTES} bytes`);
  return { mbps: speed! / 1e6, bytes: size };
}

async function measure(target: HttpTarget, runs: number, log: (m: string) => void) {
  await download(target); // warm-up
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { mbps } = await download(target);
    log(`${target.label}: ${mbps.toFixed(1)} MB/s`);
    speeds.push(mbps);
  }
  return median(speeds);
}

export const httpDownload: Benchmark = {
  name: "http_download",
  description: "curl download of a 50 MB --web-root file: MB/s (median)",
  async run(ctx): Promise<Figure[]> {
    const runs = ctx.quick ? 1 : 3;
    const log = (m: string) => ctx.log(m);
    const { app, kernel } = await withWebRoot({ [FILE]: FILE_BYTES }, async (dir) => ({
      app: await onAppliance(ctx, "http-dl", dir, (t) => measure(t, runs, log)),
      kernel: await onKernel(ctx, "http-dl", dir, (t) => measure(t, runs, log)),
    }));
    return [
      figure("download_50mb", "MB/s", "higher", { appliance: app, baseline: kernel }, {
        baselineLabel: "deno on kernel",
        note: `curl, median of ${runs} after a warm-up; 1 MB = 10^6 bytes`,
      }),
    ];
  },
};
