/**
 * Memory held by idle TCP connections: the RSS of a process holding 10,000 idle connections
 * (2,000 with --quick), before and after they are opened, and KiB per connection
 * ((after - before) / n). Ours: fixtures/idle_conn_peer.ts (our stack on a TAP, room for 12,000
 * connections) accepting and holding what the namespace's kernel opens
 * (fixtures/idle_conn_kernel.py, in batches with pauses so the accept loop keeps up). Baseline:
 * the same opener against a python3 server on the kernel over a veth pair, holding the accepted
 * sockets (the RSS of that python3 process; the kernel's own socket memory is not in it).
 * When not every connection could be opened within the time bound, the figures say how many
 * were held.
 *
 * Invariants: the opener is bounded in count and time and the holders by their own time limits;
 * every process runs inside a namespace made by the harness (deleted afterwards).
 * @module
 */

import type { Namespace } from "../helpers/netns.ts";
import type { ChildHandle } from "../helpers/process.ts";
import { type BenchContext, type Benchmark, type Figure, figure, sleep } from "./_figure.ts";
import { denoPid, rssKiB } from "./_proc.ts";

const FIXTURES = decodeURIComponent(new URL("./fixtures/", import.meta.url).pathname);
const PEER = `${FIXTURES}idle_conn_peer.ts`;
const KERNEL = `${FIXTURES}idle_conn_kernel.py`;
const HOST_IP = "10.84.0.1";
const PEER_IP = "10.84.0.2";
const VETH_A = "10.85.0.1";
const VETH_B = "10.85.0.2";
const PORT = 7000;
/** The opener's time bound (s); the holders live this long plus HOLD_S and some. */
const OPEN_S = 90;
const HOLD_S = 60;
/** Pause before the "before" RSS, so start-up garbage has settled. */
const SETTLE_MS = 1_000;

/** What one side measured. */
interface Held {
  n: number;
  beforeKiB: number;
  afterKiB: number;
}

function lastRecord(child: ChildHandle, type: string): Record<string, unknown> | null {
  const lines = child.output().split("\n").reverse();
  for (const line of lines) {
    const start = line.indexOf("{");
    if (start < 0) continue;
    try {
      const record = JSON.parse(line.slice(start));
      if (record?.type === type) return record;
    } catch {
      // not ours
    }
  }
  return null;
}

/** Runs the opener in `ns` towards `address`; resolves with how many it opened (still held). */
async function openMany(ns: Namespace, address: string, n: number): Promise<ChildHandle> {
  const opener = ns.spawn([
    "python3",
    KERNEL,
    "open",
    address,
    String(PORT),
    String(n),
    String(OPEN_S),
    String(HOLD_S),
  ]);
  await opener.waitForLine(/"type": "opened"/, (OPEN_S + 15) * 1000);
  return opener;
}

function openedCount(opener: ChildHandle): number {
  const n = lastRecord(opener, "opened")?.n;
  if (typeof n !== "number") throw new Error(`opener: no count in ${opener.output()}`);
  return n;
}

/** Waits (bounded) until `child` reports at least `n` in its latest record of `type`. */
async function waitForCount(child: ChildHandle, type: string, n: number, ms: number) {
  const deadline = performance.now() + ms;
  let seen = 0;
  while (performance.now() < deadline) {
    const value = lastRecord(child, type)?.n;
    seen = typeof value === "number" ? value : 0;
    if (seen >= n) break;
    await sleep(100);
  }
  return seen;
}

async function measureOurs(ctx: BenchContext, ns: Namespace, n: number): Promise<Held> {
  await ns.addTap("tap0", `${HOST_IP}/24`);
  const peer = ns.spawn([
    Deno.execPath(),
    "run",
    "--allow-all",
    "--cached-only",
    PEER,
    String(PORT),
    String(OPEN_S + HOLD_S + 30),
    "--ip",
    `${PEER_IP}/24`,
  ], { env: { NO_COLOR: "1" } });
  try {
    await peer.waitForLine(/"type":"ready"/, 30_000);
    const pid = await denoPid(ns, peer);
    await ns.exec(["ping", "-c", "1", "-W", "3", PEER_IP], { check: false });
    await sleep(SETTLE_MS);
    const beforeKiB = await rssKiB(pid);
    const opener = await openMany(ns, PEER_IP, n);
    try {
      const opened = openedCount(opener);
      const held = await waitForCount(peer, "count", opened, 10_000);
      const afterKiB = await rssKiB(pid);
      ctx.log(`our stack: opened ${opened}, held ${held}; RSS ${beforeKiB} -> ${afterKiB} KiB`);
      return { n: held, beforeKiB, afterKiB };
    } finally {
      await opener.stop();
    }
  } finally {
    await peer.stop();
  }
}

async function measureKernel(ctx: BenchContext, a: Namespace, b: Namespace, n: number) {
  await a.addVethPeer(b, {
    name: "veth0",
    cidr: `${VETH_A}/24`,
    peerName: "veth1",
    peerCidr: `${VETH_B}/24`,
  });
  const limit = OPEN_S + HOLD_S + 30;
  const server = b.spawn(["python3", KERNEL, "serve", VETH_B, String(PORT), String(n), `${limit}`]);
  try {
    await server.waitForLine(/"type": "ready"/, 10_000);
    const pid = Number(lastRecord(server, "ready")?.pid);
    await sleep(SETTLE_MS);
    const beforeKiB = await rssKiB(pid);
    const opener = await openMany(a, VETH_B, n);
    try {
      const opened = openedCount(opener);
      await server.waitForLine(/"type": "held"/, 10_000).catch(() => null);
      const held = Number(lastRecord(server, "held")?.n ?? 0);
      const afterKiB = await rssKiB(pid);
      ctx.log(`python3 on kernel: opened ${opened}, held ${held}; RSS ${beforeKiB} -> ${afterKiB}`);
      return { n: held, beforeKiB, afterKiB };
    } finally {
      await opener.stop();
    }
  } finally {
    await server.stop();
  }
}

function perConnection(held: Held): number | null {
  return held.n > 0 ? (held.afterKiB - held.beforeKiB) / held.n : null;
}

export const idleConnections: Benchmark = {
  name: "idle_connections",
  description: "RSS of a process holding 10,000 idle TCP connections: our stack vs python3/kernel",
  async run(ctx): Promise<Figure[]> {
    const n = ctx.quick ? 2_000 : 10_000;
    const ours = await ctx.withNamespace("bench-idle-conn", (ns) => measureOurs(ctx, ns, n));
    const kernel = await ctx.withNamespace(
      "bench-idle-conn-a",
      (a) => ctx.withNamespace("bench-idle-conn-b", (b) => measureKernel(ctx, a, b, n)),
    );
    const options = {
      baselineLabel: "python3 on kernel",
      note: `held ${ours.n} of ${n} (baseline ${kernel.n}); the kernel's socket memory is not ` +
        "in the baseline's RSS",
    };
    const mib = (kib: number) => kib / 1024;
    return [
      figure("connections_held", "conns", "higher", { appliance: ours.n, baseline: kernel.n }, {
        baselineLabel: options.baselineLabel,
      }),
      figure("rss_before", "MiB", "lower", {
        appliance: mib(ours.beforeKiB),
        baseline: mib(kernel.beforeKiB),
      }, { baselineLabel: options.baselineLabel }),
      figure("rss_after", "MiB", "lower", {
        appliance: mib(ours.afterKiB),
        baseline: mib(kernel.afterKiB),
      }, options),
      figure("kib_per_conn", "KiB", "lower", {
        appliance: perConnection(ours),
        baseline: perConnection(kernel),
      }, { ...options, note: `(after - before) / held; ${options.note}` }),
    ];
  },
};
