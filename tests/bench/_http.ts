/**
 * Where the HTTP benchmarks (http_rps, http_download, upload) run: the appliance (main.ts) on
 * tap0 of a fresh namespace, serving `--web-root` and its firmware API, its peer the namespace's
 * kernel; and the baseline, "Deno on the kernel stack": fixtures/http_kernel_server.ts
 * (`Deno.serve`) on one end of a veth pair between two fresh namespaces, the client tools on the
 * other end. The same client command runs against both.
 *
 * Invariants: every namespace comes from `ctx.withNamespace` (deleted afterwards, also on
 * failure); servers listen only on addresses inside them; every server process is stopped
 * before its namespace goes, and bounded by its own time limit besides.
 * @module
 */

import { applianceCommand, REPO_ROOT, startAppliance } from "../helpers/appliance.ts";
import type { Namespace } from "../helpers/netns.ts";
import type { BenchContext } from "./_figure.ts";
import { APPLIANCE_ARGS, APPLIANCE_IP, prepareTap, READY_LINE } from "./_targets.ts";

/** The port both servers listen on. */
export const HTTP_PORT = 8080;
/** The appliance's `--admin-password` (Basic auth `admin:<this>` for the firmware API). */
export const ADMIN_PASSWORD = "bench-admin-pw";
const SERVER = decodeURIComponent(
  new URL("./fixtures/http_kernel_server.ts", import.meta.url).pathname,
);
const VETH_A = "10.82.0.1";
const VETH_B = "10.82.0.2";
/** The baseline server's own time limit (s): past any benchmark's run. */
const SERVER_LIMIT_S = 300;

/** Where a client runs (`ns`) and the base URL it talks to. */
export interface HttpTarget {
  ns: Namespace;
  /** e.g. "http://10.77.0.2:8080". */
  base: string;
  /** For progress lines: "appliance" or "deno on kernel". */
  label: string;
}

/** A temporary web root holding `files` (name -> size in bytes, pattern filled); removed after `fn`. */
export async function withWebRoot<T>(
  files: Record<string, number>,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "mip-bench-www-" });
  try {
    for (const [name, size] of Object.entries(files)) {
      await writePatternFile(`${dir}/${name}`, size);
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Writes `size` bytes (0..255 repeating) to `path`, 1 MiB at a time. */
export async function writePatternFile(path: string, size: number): Promise<void> {
  const block = new Uint8Array(Math.min(size, 1 << 20));
  for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let written = 0; written < size;) {
    const part = block.subarray(0, Math.min(block.length, size - written));
    for (let n = 0; n < part.length;) n += await file.write(part.subarray(n));
    written += part.length;
  }
}

/** Options of {@link onAppliance}. */
export interface ApplianceRunOptions {
  /**
   * Extra `deno run` flags for the appliance (e.g. `--cpu-prof`). The appliance then gets a
   * SIGTERM at the end and is waited for, so a profile is written.
   */
  denoFlags?: string[];
}

/** Runs `fn` against the appliance on a TAP, serving `webRoot` on HTTP_PORT (HTTPS off). */
export function onAppliance<T>(
  ctx: BenchContext,
  tag: string,
  webRoot: string,
  fn: (target: HttpTarget) => Promise<T>,
  options: ApplianceRunOptions = {},
): Promise<T> {
  return ctx.withNamespace(`bench-${tag}-app`, async (ns) => {
    await prepareTap(ns);
    const args = [
      ...APPLIANCE_ARGS,
      "--web-root",
      webRoot,
      "--http-port",
      String(HTTP_PORT),
      "--https-port",
      "0",
      "--admin-password",
      ADMIN_PASSWORD,
    ];
    const app = options.denoFlags
      ? await startWithFlags(ns, args, options.denoFlags)
      : await startAppliance(ns, args, { ready: READY_LINE, readyTimeoutMs: 30_000 });
    try {
      await ns.exec(["ping", "-n", "-c", "3", "-i", "0.1", "-w", "5", APPLIANCE_IP], {
        timeoutMs: 15_000,
      });
      return await fn({ ns, base: `http://${APPLIANCE_IP}:${HTTP_PORT}`, label: "appliance" });
    } finally {
      await app.stop();
    }
  });
}

/** Starts main.ts in `ns` with extra deno flags and its own state dir (removed by `stop`). */
async function startWithFlags(
  ns: Namespace,
  args: string[],
  denoFlags: string[],
): Promise<{ stop(): Promise<void> }> {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-state-" });
  const [deno, runWord, ...rest] = await applianceCommand([...args, "--state-dir", stateDir]);
  const child = ns.spawn([deno!, runWord!, "--cached-only", ...denoFlags, ...rest], {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
  });
  const stop = async () => {
    await child.stop("SIGTERM", 20_000);
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  };
  try {
    await child.waitForLine(READY_LINE, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** Runs `fn` against `Deno.serve` on the kernel, over a veth pair, serving `webRoot`. */
export function onKernel<T>(
  ctx: BenchContext,
  tag: string,
  webRoot: string,
  fn: (target: HttpTarget) => Promise<T>,
): Promise<T> {
  return ctx.withNamespace(
    `bench-${tag}-veth-a`,
    (a) =>
      ctx.withNamespace(`bench-${tag}-veth-b`, async (b) => {
        await a.addVethPeer(b, {
          name: "veth0",
          cidr: `${VETH_A}/24`,
          peerName: "veth1",
          peerCidr: `${VETH_B}/24`,
        });
        const server = b.spawn([
          Deno.execPath(),
          "run",
          "--allow-all",
          "--cached-only",
          SERVER,
          "--root",
          webRoot,
          "--hostname",
          VETH_B,
          "--port",
          String(HTTP_PORT),
          "--seconds",
          String(SERVER_LIMIT_S),
        ], { env: { NO_COLOR: "1" } });
        try {
          await server.waitForLine(/"type":"ready"/, 30_000);
          return await fn({
            ns: a,
            base: `http://${VETH_B}:${HTTP_PORT}`,
            label: "deno on kernel",
          });
        } finally {
          await server.stop();
        }
      }),
  );
}
