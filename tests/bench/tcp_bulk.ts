/**
 * Bulk TCP throughput, each way, between our stack on a TAP (fixtures/tcp_bulk_peer.ts: TapDevice
 * + Stack + Pump + NetApi, as the appliance builds them) and the Linux kernel (python3 sockets,
 * fixtures/tcp_bulk_kernel.py), with TAP offloads on and off (`--no-offload`). The baseline is the
 * kernel to itself over a veth pair between two namespaces, the same python3 on both ends.
 *
 * "rx" is kernel -> our stack (the kernel sends, we read), "tx" is our stack -> kernel. A figure
 * is the receiver's count over the receiver's time from its first byte to EOF; each transfer is
 * bounded by a byte count and a time limit, whichever comes first.
 *
 * Also runnable on its own, to profile the fixture with `deno run --cpu-prof`:
 *   deno run -A tests/bench/tcp_bulk.ts --profile [--no-offload] [--seconds N]
 * prints the top self-time entries of the receive and send paths (see _cpuprofile.ts).
 *
 * Invariants: every process runs inside a namespace made by the harness (deleted afterwards);
 * every transfer is bounded in bytes and time, and every process by a timeout past that.
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import type { Namespace } from "../helpers/netns.ts";
import type { ChildHandle } from "../helpers/process.ts";
import { formatProfile, type ProfileEntry, summarizeProfile } from "./_cpuprofile.ts";
import { type BenchContext, type Benchmark, type Figure, figure } from "./_figure.ts";
import { Harness } from "./_targets.ts";

const FIXTURES = decodeURIComponent(new URL("./fixtures/", import.meta.url).pathname);
const PEER = `${FIXTURES}tcp_bulk_peer.ts`;
const KERNEL = `${FIXTURES}tcp_bulk_kernel.py`;
const HOST_IP = "10.79.0.1";
const PEER_IP = "10.79.0.2";
const VETH_A = "10.80.0.1";
const VETH_B = "10.80.0.2";
const PORT = 5201;
const GBIT = 1e9;

/** One direction: "rx" = kernel -> our stack, "tx" = our stack -> kernel. */
export type Direction = "rx" | "tx";

/** A transfer's size and time bounds. */
export interface BulkSize {
  bytes: number;
  seconds: number;
}

/** What a receiver reported. */
interface Done {
  bytes: number;
  seconds: number;
}

function gbps(done: Done): number {
  return done.seconds > 0 ? (done.bytes * 8) / done.seconds / GBIT : NaN;
}

function lastJson(child: ChildHandle | string, type: string): Record<string, unknown> | null {
  const text = typeof child === "string" ? child : child.output();
  const lines = text.split("\n").filter((l) => l.startsWith("{")).reverse();
  for (const line of lines) {
    try {
      const record = JSON.parse(line);
      if (record?.type === type) return record;
    } catch {
      // not ours
    }
  }
  return null;
}

function asDone(record: Record<string, unknown> | null, what: string, output: string): Done {
  if (record === null || typeof record.bytes !== "number" || typeof record.seconds !== "number") {
    throw new Error(`${what}: no 'done' record in:\n${output.slice(-3000)}`);
  }
  return { bytes: record.bytes, seconds: record.seconds };
}

/** Options of {@linkcode measureTap}. */
export interface TapRun extends BulkSize {
  direction: Direction;
  offload: boolean;
  /** Both ends also report the SHA-256 of what they sent or received. */
  hash?: boolean;
  /** Extra deno flags for the fixture (e.g. --cpu-prof). */
  denoFlags?: string[];
  /** Called once the fixture is listening (e.g. to look at the TAP meanwhile). */
  onReady?: () => Promise<void>;
}

/** What one transfer produced: the receiver's figures and both ends' `done` records. */
export interface TapResult extends Done {
  peer: Record<string, unknown>;
  kernel: Record<string, unknown>;
}

/** Starts tcp_bulk_peer.ts in `ns` (tap0 must exist) and waits for its ready line. */
async function startPeer(ns: Namespace, run: TapRun): Promise<ChildHandle> {
  const mode = run.direction === "rx" ? ["sink", String(PORT)] : [
    "source",
    String(PORT),
    String(run.bytes),
    String(run.seconds),
  ];
  const child = ns.spawn([
    Deno.execPath(),
    "run",
    "--allow-all",
    "--cached-only",
    ...(run.denoFlags ?? []),
    PEER,
    ...mode,
    "--ip",
    `${PEER_IP}/24`,
    ...(run.offload ? [] : ["--no-offload"]),
    ...(run.hash ? ["--hash"] : []),
  ], { env: { NO_COLOR: "1", ...(run.offload ? { MIP_NO_OFFLOAD: "0" } : {}) } });
  await child.waitForLine(/"type":"ready"/, 30_000);
  return child;
}

/**
 * One transfer between the fixture and the kernel of `ns` (tap0 at HOST_IP must exist);
 * returns the receiver's figures and both `done` records. Offload "on" is asked for whatever
 * MIP_NO_OFFLOAD says (the fixture gets MIP_NO_OFFLOAD=0).
 */
export async function measureTap(ns: Namespace, run: TapRun): Promise<TapResult> {
  const peer = await startPeer(ns, run);
  await run.onReady?.();
  await ns.exec(["ping", "-c", "1", "-W", "3", PEER_IP], { check: false });
  const limitMs = (run.seconds + 40) * 1000;
  const kernelArgs = run.direction === "rx"
    ? ["send", PEER_IP, String(PORT), String(run.bytes), String(run.seconds)]
    : ["recv", PEER_IP, String(PORT), String(run.seconds)];
  const result = await ns.exec(
    ["python3", KERNEL, ...kernelArgs, ...(run.hash ? ["--hash"] : [])],
    {
      timeoutMs: limitMs,
      check: true,
    },
  );
  await peer.exited;
  const peerDone = lastJson(peer, "done");
  const kernelDone = lastJson(result.stdout, "done");
  const receiver = run.direction === "rx"
    ? asDone(peerDone, "tcp_bulk_peer sink", peer.output())
    : asDone(kernelDone, "python3 recv", result.stdout + result.stderr);
  asDone(run.direction === "rx" ? kernelDone : peerDone, "sender", peer.output() + result.stdout);
  return { ...receiver, peer: peerDone!, kernel: kernelDone! };
}

/** The kernel to itself over veth between `a` and `b` (one direction; both are the same). */
async function measureVeth(a: Namespace, b: Namespace, size: BulkSize): Promise<Done> {
  await a.addVethPeer(b, {
    name: "veth0",
    cidr: `${VETH_A}/24`,
    peerName: "veth1",
    peerCidr: `${VETH_B}/24`,
  });
  const server = b.spawn(["python3", KERNEL, "serve-recv", String(PORT), String(size.seconds)]);
  await server.waitForLine(/"type": "ready"/, 10_000);
  await a.exec([
    "python3",
    KERNEL,
    "send",
    VETH_B,
    String(PORT),
    String(size.bytes),
    String(size.seconds),
  ], {
    timeoutMs: (size.seconds + 40) * 1000,
    check: true,
  });
  await server.exited;
  return asDone(lastJson(server, "done"), "python3 serve-recv", server.output());
}

function sizeFor(quick: boolean): BulkSize {
  return quick ? { bytes: 256e6, seconds: 3 } : { bytes: 2e9, seconds: 8 };
}

async function tapFigures(ctx: BenchContext, offload: boolean, size: BulkSize) {
  return await ctx.withNamespace(`bench-tcp-bulk-${offload ? "offload" : "plain"}`, async (ns) => {
    await ns.addTap("tap0", `${HOST_IP}/24`);
    const out: Record<Direction, Done> = {
      rx: { bytes: 0, seconds: 0 },
      tx: { bytes: 0, seconds: 0 },
    };
    for (const direction of ["rx", "tx"] as const) {
      ctx.log(
        `${direction} offload=${offload ? "on" : "off"}: up to ${
          size.bytes / 1e6
        } MB / ${size.seconds} s`,
      );
      out[direction] = await measureTap(ns, { direction, offload, ...size });
      ctx.log(
        `  ${gbps(out[direction]).toFixed(2)} Gb/s (${(out[direction].bytes / 1e6).toFixed(0)} MB)`,
      );
    }
    return out;
  });
}

export const tcpBulk: Benchmark = {
  name: "tcp_bulk",
  description:
    "bulk TCP each way, our stack on a TAP <-> kernel (python3 sockets), offload on/off: Gb/s",
  async run(ctx): Promise<Figure[]> {
    const size = sizeFor(ctx.quick);
    const on = await tapFigures(ctx, true, size);
    const off = await tapFigures(ctx, false, size);
    const veth = await ctx.withNamespace(
      "bench-tcp-bulk-veth-a",
      (a) =>
        ctx.withNamespace("bench-tcp-bulk-veth-b", (b) => {
          ctx.log(`kernel -> kernel over veth: up to ${size.bytes / 1e6} MB / ${size.seconds} s`);
          return measureVeth(a, b, size);
        }),
    );
    const baseline = gbps(veth);
    const note = (d: Done) => `${(d.bytes / 1e6).toFixed(0)} MB in ${d.seconds.toFixed(2)} s`;
    const make = (name: string, d: Done) =>
      figure(name, "Gb/s", "higher", { appliance: gbps(d), baseline }, {
        note: `${note(d)}; baseline ${note(veth)}`,
      });
    return [
      make("rx_offload", on.rx),
      make("tx_offload", on.tx),
      make("rx_no_offload", off.rx),
      make("tx_no_offload", off.tx),
    ];
  },
};

/** Runs the fixture under `--cpu-prof` for one direction; returns the top entries. */
async function profileOne(
  ctx: BenchContext,
  direction: Direction,
  offload: boolean,
  size: BulkSize,
): Promise<ProfileEntry[]> {
  const dir = await Deno.makeTempDir({ prefix: "mip-cpuprof-" });
  try {
    await ctx.withNamespace(`bench-tcp-bulk-prof-${direction}`, async (ns) => {
      await ns.addTap("tap0", `${HOST_IP}/24`);
      const done = await measureTap(ns, {
        direction,
        offload,
        ...size,
        denoFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
      });
      ctx.log(`${direction}: ${gbps(done).toFixed(2)} Gb/s under the profiler`);
    });
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".cpuprofile")) {
        return summarizeProfile(await Deno.readTextFile(`${dir}/${entry.name}`), entry.name);
      }
    }
    throw new Error(`no .cpuprofile written in ${dir}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function profileMain(args: string[]): Promise<number> {
  const flags = parseArgs(args, { boolean: ["profile", "no-offload"], string: ["seconds"] });
  if (!flags.profile) {
    console.error(
      "Usage: deno run -A tests/bench/tcp_bulk.ts --profile [--no-offload] [--seconds N]",
    );
    return 2;
  }
  const seconds = Number(flags.seconds ?? 5);
  const harness = new Harness({ quick: false });
  try {
    for (const direction of ["rx", "tx"] as const) {
      const entries = await profileOne(harness, direction, !flags["no-offload"], {
        bytes: 100e9,
        seconds,
      });
      console.log(`\n${direction} (offload ${flags["no-offload"] ? "off" : "on"}), top self time:`);
      console.log(formatProfile(entries, 20));
    }
  } finally {
    await harness.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await profileMain(Deno.args));
