/**
 * The dashboard under a real `Deno.serve` on 127.0.0.1 (port 0), with Deno.upgradeWebSocket:
 * login over HTTP, then a Deno WebSocket client receives stats pushes on /api/ws.
 * Loopback only; every wait is bounded.
 */

import { assert, assertEquals } from "@std/assert";
import { createDashboard, type Dashboard } from "../../http/dashboard/mod.ts";
import { ADMIN, FakeDevice } from "./dashboard_helpers.ts";

interface Served {
  base: string;
  dashboard: Dashboard;
  device: FakeDevice;
  stop(): Promise<void>;
}

async function serve(sampleIntervalMs: number): Promise<Served> {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
  const device = new FakeDevice();
  const dashboard = await createDashboard(device.deps(stateDir, {
    upgradeWebSocket: Deno.upgradeWebSocket,
    now: Date.now,
    sampleIntervalMs,
  }));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request, info) => dashboard.fetch(request, info),
  );
  return {
    base: `127.0.0.1:${server.addr.port}`,
    dashboard,
    device,
    async stop() {
      await dashboard.close();
      await server.shutdown();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

/** Collects `count` messages (or fails after `timeoutMs`). */
function messages(ws: WebSocket, count: number, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${got.length} messages`)), timeoutMs);
    ws.onmessage = (m) => {
      got.push(JSON.parse(m.data));
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error("WebSocket error"));
    };
  });
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve();
    else ws.addEventListener("close", () => resolve(), { once: true });
  });
}

Deno.test("dashboard under Deno.serve: a WebSocket client receives stats pushes", async () => {
  const served = await serve(0);
  try {
    const res = await fetch(`http://${served.base}/api/login`, { method: "POST", headers: ADMIN });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;

    const ws = new WebSocket(`ws://${served.base}/api/ws`, { headers: { cookie } });
    const received = messages(ws, 2);
    await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
    served.dashboard.sample(); // baseline: pushes, history still empty
    served.device.snapshot.layers.ethernet!.rxBytes += 4096;
    served.dashboard.sample();
    const [greeting, push] = await received as {
      name: string;
      data: { frames: { in: number }; history: unknown[] };
    }[];
    assertEquals(greeting!.name, "stats");
    assertEquals(greeting!.data.frames.in, 10);
    assertEquals(push!.name, "stats");
    ws.close();
    await closed(ws);
  } finally {
    await served.stop();
  }
});

Deno.test("dashboard under Deno.serve: the sampling timer pushes by itself", async () => {
  const served = await serve(50);
  try {
    const ws = new WebSocket(`ws://${served.base}/api/ws`, { headers: ADMIN });
    const got = await messages(ws, 4) as { data: { history: unknown[] } }[];
    assert(got.at(-1)!.data.history.length >= 1, "the timer sampled the counters");
    ws.close();
    await closed(ws);
  } finally {
    await served.stop();
  }
});

Deno.test("dashboard under Deno.serve: a WebSocket without credentials is refused", async () => {
  const served = await serve(0);
  try {
    const ws = new WebSocket(`ws://${served.base}/api/ws`);
    const outcome = await new Promise<string>((resolve) => {
      ws.onopen = () => resolve("open");
      ws.onerror = () => resolve("error");
    });
    assertEquals(outcome, "error");
    await closed(ws);
    const res = await fetch(`http://${served.base}/api/stats/get`);
    assertEquals(res.status, 403);
    await res.body?.cancel();
  } finally {
    await served.stop();
  }
});
