/**
 * Firmware upload throughput: a 64 MiB image (32 MiB with --quick) sent to the appliance's
 * firmware API on a TAP as the dashboard does: POST
 * `/api/firmware/upload?name=fw.bin&offset=O&total=T` with 1 MiB bodies at contiguous offsets,
 * then one empty body at offset T that ends the upload (http/dashboard/api.ts), Basic auth
 * `admin:<--admin-password>`. One curl process sends every chunk on one kept-alive connection
 * (`--next`); the figure is the bytes over the sum of curl's per-request `time_total` (MB/s,
 * 1 MB = 10^6 bytes). Baseline: the same curl against a `Deno.serve` upload sink on the kernel
 * stack over a veth pair ("deno on kernel", see _http.ts), which reads and drops each body.
 *
 * Invariants: every curl request is bounded (`--max-time`, and the process by a timeout); the
 * chunk files live in a temporary directory removed afterwards; all traffic stays inside the
 * benchmark's own namespaces.
 * @module
 */

import { type Benchmark, type Figure, figure } from "./_figure.ts";
import {
  ADMIN_PASSWORD,
  type HttpTarget,
  onAppliance,
  onKernel,
  withWebRoot,
  writePatternFile,
} from "./_http.ts";

const CHUNK_BYTES = 1 << 20;
const MAX_TIME_PER_REQUEST_S = 20;

/** What one upload took. */
interface UploadResult {
  bytes: number;
  seconds: number;
  /** Every HTTP status seen (all 200 when it worked). */
  statuses: number[];
}

/** The curl arguments for every chunk of `total` bytes (chunk files `dir/c<i>`), then the end. */
function curlArgs(base: string, dir: string, total: number): string[] {
  const args: string[] = [];
  const common = (offset: number) => [
    "-sS",
    "-o",
    "/dev/null",
    "--max-time",
    String(MAX_TIME_PER_REQUEST_S),
    "-u",
    `admin:${ADMIN_PASSWORD}`,
    "-H",
    "Expect:",
    "-H",
    "Content-Type: application/octet-stream",
    "-w",
    "%{http_code} %{size_upload} %{time_total}\\n",
    `${base}/api/firmware/upload?name=fw.bin&offset=${offset}&total=${total}`,
  ];
  for (let offset = 0, i = 0; offset < total; offset += CHUNK_BYTES, i++) {
    args.push(...(i > 0 ? ["--next"] : []), "--data-binary", `@${dir}/c${i}`, ...common(offset));
  }
  args.push("--next", "--data-binary", "", ...common(total));
  return args;
}

async function sendImage(target: HttpTarget, dir: string, total: number): Promise<UploadResult> {
  const result = await target.ns.exec(["curl", ...curlArgs(target.base, dir, total)], {
    timeoutMs: 120_000,
    check: true,
  });
  let bytes = 0;
  let seconds = 0;
  const statuses: number[] = [];
  for (const line of result.stdout.trim().split("\n")) {
    const [code, size, time] = line.split(" ").map(Number);
    statuses.push(code!);
    bytes += size!;
    seconds += time!;
  }
  const bad = statuses.filter((s) => s !== 200);
  if (bad.length > 0 || bytes !== total) {
    throw new Error(
      `${target.label}: upload failed (statuses ${[...new Set(statuses)]}, ${bytes}/${total} ` +
        `bytes):\n${result.stderr}`,
    );
  }
  return { bytes, seconds, statuses };
}

async function measure(target: HttpTarget, dir: string, total: number, log: (m: string) => void) {
  await sendImage(target, dir, CHUNK_BYTES); // warm-up: one chunk
  const result = await sendImage(target, dir, total);
  const mbps = result.bytes / result.seconds / 1e6;
  log(`${target.label}: ${(total / 2 ** 20).toFixed(0)} MiB in ${result.seconds.toFixed(2)} s`);
  return mbps;
}

/** Splits a `total`-byte pattern image into 1 MiB chunk files c0, c1, ... in `dir`. */
async function writeChunks(dir: string, total: number): Promise<void> {
  for (let offset = 0, i = 0; offset < total; offset += CHUNK_BYTES, i++) {
    await writePatternFile(`${dir}/c${i}`, Math.min(CHUNK_BYTES, total - offset));
  }
}

export const upload: Benchmark = {
  name: "upload",
  description: "firmware API upload in 1 MiB POSTs (curl, keep-alive): MB/s",
  async run(ctx): Promise<Figure[]> {
    const total = (ctx.quick ? 32 : 64) << 20;
    const log = (m: string) => ctx.log(m);
    const { app, kernel } = await withWebRoot({}, async (dir) => {
      await writeChunks(dir, total);
      return {
        app: await onAppliance(ctx, "upload", dir, (t) => measure(t, dir, total, log)),
        kernel: await onKernel(ctx, "upload", dir, (t) => measure(t, dir, total, log)),
      };
    });
    return [
      figure("firmware_upload", "MB/s", "higher", { appliance: app, baseline: kernel }, {
        baselineLabel: "deno on kernel",
        note: `${total >> 20} MiB in 1 MiB POSTs on one connection; baseline reads and drops`,
      }),
    ];
  },
};
