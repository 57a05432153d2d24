/**
 * Dashboard API at the handler level (no network): stats with throughput history, events paging,
 * debug level, settings validation and persistence, body limits, device reset, the UI assets.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { createDashboard } from "../../http/dashboard/mod.ts";
import {
  ADMIN,
  call,
  FakeDevice,
  ORIGIN_MS,
  postJson,
  withDashboard,
} from "./dashboard_helpers.ts";

Deno.test("dashboard api: stats/get reports the snapshot's figures", async () => {
  await withDashboard(async (dashboard) => {
    const res = await call(dashboard, "/api/stats/get", { headers: ADMIN });
    assertEquals(res.status, 200);
    assertMatch(res.headers.get("content-type")!, /^application\/json/);
    assertEquals(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assertEquals(body.uptime, 3723);
    assertEquals(body.frames, { in: 10, out: 7 });
    assertEquals(body.bytes, { in: 1000, out: 700 });
    assertEquals(body.drops, {
      total: 5,
      byReason: { "ethernet/short": 2, "ipv4/bad-checksum": 3 },
    });
    assertEquals(body.tcp, { total: 4, byState: { ESTABLISHED: 2, "TIME-WAIT": 1, LISTEN: 1 } });
    assertEquals(body.arp.length, 2);
    assertEquals(body.arp[1], { ip: "10.0.0.9", mac: null, expiresInMs: 1000 });
    assertEquals(body.dhcp.state, "BOUND");
    assertEquals(body.dhcp.expiresUnixMs, ORIGIN_MS + 3_600_000);
    assertEquals(body.link.name, "tap0");
    assertEquals(body.ipv4.address, "10.0.0.2");
    assertEquals(body.history, []);
    assertEquals(body.points, []);
  });
});

Deno.test("dashboard api: the throughput history is sampled from the counters", async () => {
  await withDashboard(async (dashboard, device) => {
    const ethernet = device.snapshot.layers.ethernet!;
    dashboard.sample(); // baseline
    const steps = [
      { ms: 1000, rxBytes: 5000, txBytes: 1000, rxFrames: 5, txFrames: 2 },
      { ms: 2000, rxBytes: 3000, txBytes: 8000, rxFrames: 4, txFrames: 6 },
    ];
    for (const step of steps) {
      device.clock.advance(step.ms);
      ethernet.rxBytes += step.rxBytes;
      ethernet.txBytes += step.txBytes;
      ethernet.rxPackets += step.rxFrames;
      ethernet.txPackets += step.txFrames;
      dashboard.sample();
    }
    const body = await (await call(dashboard, "/api/stats/get", { headers: ADMIN })).json();
    assertEquals(body.history.length, 2);
    assertEquals(body.history[0], {
      time: (ORIGIN_MS + 1000) / 1000,
      rxBytesPerSecond: 5000,
      txBytesPerSecond: 1000,
      rxFramesPerSecond: 5,
      txFramesPerSecond: 2,
    });
    assertEquals(body.history[1].rxBytesPerSecond, 1500); // 3000 bytes over 2 s
    assertEquals(body.history[1].txFramesPerSecond, 3);
    assertEquals(body.points, [6000, 5500]);
    // Counters that go back (a device reset) give rates from zero, never negative ones.
    device.clock.advance(1000);
    ethernet.rxBytes = 400;
    dashboard.sample();
    const after = await (await call(dashboard, "/api/stats/get", { headers: ADMIN })).json();
    assertEquals(after.history[2].rxBytesPerSecond, 400);
  }, { historyLength: 3 });
});

Deno.test("dashboard api: the history keeps only the last samples", async () => {
  await withDashboard(async (dashboard, device) => {
    for (let i = 0; i < 10; i++) {
      device.clock.advance(1000);
      dashboard.sample();
    }
    const body = await (await call(dashboard, "/api/stats/get", { headers: ADMIN })).json();
    assertEquals(body.history.length, 4);
    assertEquals(body.history[3].time, (ORIGIN_MS + 10_000) / 1000);
  }, { historyLength: 4 });
});

Deno.test("dashboard api: events/get pages through the log, newest first", async () => {
  await withDashboard(async (dashboard, device) => {
    for (let i = 0; i < 45; i++) {
      const priority = i % 3 === 0 ? "error" : i % 3 === 1 ? "warning" : "info";
      device.events.add(i * 60_000, i % 2 ? "dhcp" : "link", `event ${i}`, priority);
    }
    const page1 = await (await postJson(dashboard, "/api/events/get", { page: 1 })).json();
    assertEquals(page1.totalCount, 45);
    assertEquals(page1.arr.length, 20);
    assertEquals(page1.arr[0], {
      time: Math.floor((ORIGIN_MS + 44 * 60_000) / 1000),
      type: "link",
      prio: 2,
      text: "event 44",
    });
    assertEquals(page1.arr[1].prio, 1);
    assertEquals(page1.arr[2].prio, 0);
    assertEquals(page1.arr[19].text, "event 25");
    const page3 = await (await postJson(dashboard, "/api/events/get", { page: 3 })).json();
    assertEquals(page3.arr.map((e: { text: string }) => e.text), [
      "event 4",
      "event 3",
      "event 2",
      "event 1",
      "event 0",
    ]);
    const page4 = await (await postJson(dashboard, "/api/events/get", { page: 4 })).json();
    assertEquals(page4, { arr: [], totalCount: 45 });
    const byQuery = await (await call(dashboard, "/api/events/get?page=2", { headers: ADMIN }))
      .json();
    assertEquals(byQuery.arr[0].text, "event 24");
    const noBody = await (await postJson(dashboard, "/api/events/get", "")).json();
    assertEquals(noBody.arr[0].text, "event 44", "no body means page 1, as in Mongoose");
    for (const bad of [{ page: 0 }, { page: -1 }, { page: 1.5 }, { page: "2" }]) {
      const res = await postJson(dashboard, "/api/events/get", bad);
      assertEquals(res.status, 400, JSON.stringify(bad));
      await res.body?.cancel();
    }
  });
});

Deno.test("dashboard api: debug sets the log level", async () => {
  await withDashboard(async (dashboard, device) => {
    const res = await postJson(dashboard, "/api/debug", { level: 2 });
    assertEquals(res.status, 200);
    assertEquals(await res.text(), "Debug level set to 2\n");
    const dflt = await postJson(dashboard, "/api/debug", {});
    assertEquals(await dflt.text(), "Debug level set to 3\n");
    assertEquals(device.logLevels, [2, 3]);
    for (const bad of ['{"level": 9}', '{"level": -1}', '{"level": "2"}', "{level: 2", "[1]"]) {
      const r = await postJson(dashboard, "/api/debug", bad);
      assertEquals(r.status, 400, bad);
      assert(typeof (await r.json()).error === "string");
    }
    const get = await call(dashboard, "/api/debug", { headers: ADMIN });
    assertEquals(get.status, 405);
    assertEquals(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    assertEquals(device.logLevels, [2, 3]);
  });
});

Deno.test("dashboard api: settings are validated", async () => {
  await withDashboard(async (dashboard, device) => {
    const initial = await (await call(dashboard, "/api/settings/get", { headers: ADMIN })).json();
    assertEquals(initial, {
      log_enabled: true,
      log_level: 2,
      brightness: 57,
      device_name: "My Device",
    });
    const bad: unknown[] = [
      { brightness: 101 },
      { brightness: -1 },
      { brightness: 1.5 },
      { brightness: "50" },
      { log_level: 4 },
      { log_enabled: "yes" },
      { device_name: "" },
      { device_name: "   " },
      { device_name: "x".repeat(40) },
      { device_name: "a\nb" },
      { device_name: 7 },
      { colour: "red" },
      { brightness: 10, log_level: 9 },
    ];
    for (const patch of bad) {
      const res = await postJson(dashboard, "/api/settings/set", patch);
      assertEquals(res.status, 400, JSON.stringify(patch));
      const body = await res.json();
      assertEquals(body.status, false);
      assert(body.message.length > 0);
    }
    for (const raw of ["{", "null", "[]", '"x"']) {
      const res = await postJson(dashboard, "/api/settings/set", raw);
      assertEquals(res.status, 400, raw);
      await res.body?.cancel();
    }
    const after = await (await call(dashboard, "/api/settings/get", { headers: ADMIN })).json();
    assertEquals(after, initial, "refused updates change nothing");
    assertEquals(device.logLevels, []);
  });
});

Deno.test("dashboard api: settings/set saves, applies the log level and logs", async () => {
  await withDashboard(async (dashboard, device, stateDir) => {
    const res = await postJson(dashboard, "/api/settings/set", {
      log_enabled: false,
      brightness: 80,
      device_name: "  Lab switch ",
    });
    assertEquals(await res.json(), { status: true, message: "Success" });
    const now = await (await call(dashboard, "/api/settings/get", { headers: ADMIN })).json();
    assertEquals(now, {
      log_enabled: false,
      log_level: 2,
      brightness: 80,
      device_name: "Lab switch",
    });
    assertEquals(device.logLevels, [0], "logging disabled means level 0");
    await postJson(dashboard, "/api/settings/set", { log_enabled: true, log_level: 3 })
      .then((r) => r.json());
    assertEquals(device.logLevels, [0, 3]);
    const onDisk = JSON.parse(await Deno.readTextFile(`${stateDir}/settings.json`));
    assertEquals(onDisk.brightness, 80);
    assertEquals(onDisk.log_level, 3);
    const names = [];
    for await (const entry of Deno.readDir(stateDir)) names.push(entry.name);
    assert(!names.some((n) => n.includes(".tmp-")), "no temporary file is left behind");
    const events = device.events.list().filter((e) => e.type === "settings");
    assertEquals(events[0]!.text, "Settings changed: log_enabled, brightness, device_name");
  });
});

Deno.test("dashboard api: settings survive a restart on the same state dir", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
  try {
    const device = new FakeDevice();
    const first = await createDashboard(device.deps(stateDir));
    try {
      const res = await postJson(first, "/api/settings/set", {
        brightness: 12,
        device_name: "Rack 4",
        log_level: 1,
      });
      assertEquals((await res.json()).status, true);
    } finally {
      await first.close();
    }
    const second = await createDashboard(new FakeDevice().deps(stateDir));
    try {
      assertEquals(second.settings(), {
        log_enabled: true,
        log_level: 1,
        brightness: 12,
        device_name: "Rack 4",
      });
      const body = await (await call(second, "/api/settings/get", { headers: ADMIN })).json();
      assertEquals(body.device_name, "Rack 4");
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("dashboard api: oversized bodies are refused with 413", async () => {
  await withDashboard(async (dashboard, device) => {
    const big = JSON.stringify({ device_name: "x".repeat(5000) });
    const declared = await postJson(dashboard, "/api/settings/set", big);
    assertEquals(declared.status, 413);
    await declared.body?.cancel();
    // A streamed body without Content-Length is cut off as soon as it passes the limit.
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 100) controller.close();
        else controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const streamed = await call(dashboard, "/api/events/get", {
      method: "POST",
      headers: ADMIN,
      body: stream,
    });
    assertEquals(streamed.status, 413);
    await streamed.body?.cancel();
    assert(pulled < 10, `read only up to the limit, pulled ${pulled} chunks`);
    assertEquals(device.logLevels, []);
  }, { limits: { maxJsonBytes: 4096 } });
});

Deno.test("dashboard api: device/reset answers, then calls resetDevice", async () => {
  await withDashboard(async (dashboard, device) => {
    const reset = device.nextReset();
    const res = await postJson(dashboard, "/api/device/reset", {});
    assertEquals(await res.json(), true);
    await reset;
    assertEquals(device.resets, 1);
    const get = await call(dashboard, "/api/device/reset", { headers: ADMIN });
    assertEquals(get.status, 405);
    await get.body?.cancel();
    assertEquals(device.resets, 1, "a GET (e.g. a cross-site link) does not reset");
    const types = device.events.list().map((e) => `${e.type}: ${e.text}`);
    assert(types.includes("reset: Network stack restart requested"));
  });
});

Deno.test("dashboard api: close() cancels a pending reset", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
  try {
    const device = new FakeDevice();
    const dashboard = await createDashboard(device.deps(stateDir, { resetDelayMs: 60_000 }));
    const res = await postJson(dashboard, "/api/device/reset", {});
    assertEquals(await res.json(), true);
    await dashboard.close();
    assertEquals(device.resets, 0);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("dashboard api: unknown API paths are 404 after auth", async () => {
  await withDashboard(async (dashboard) => {
    const res = await call(dashboard, "/api/nope", { headers: ADMIN });
    assertEquals(res.status, 404);
    assertEquals(await res.json(), { error: "No such API" });
    const ws = await call(dashboard, "/api/ws", { headers: ADMIN });
    assertEquals(ws.status, 426, "a plain GET of the WebSocket path");
    await ws.body?.cancel();
  });
});

Deno.test("dashboard ui: the embedded assets are served with security headers", async () => {
  await withDashboard(async (dashboard) => {
    const page = await call(dashboard, "/");
    assertEquals(page.status, 200);
    assertMatch(page.headers.get("content-type")!, /^text\/html/);
    const csp = page.headers.get("content-security-policy")!;
    assertMatch(csp, /script-src 'self'/);
    assertMatch(csp, /frame-ancestors 'none'/);
    assertEquals(page.headers.get("x-content-type-options"), "nosniff");
    const html = await page.text();
    assertMatch(html, /<script src="app.js" defer><\/script>/);
    assert(!/https?:\/\/(?!www\.w3\.org)/.test(html), "nothing is loaded from another host");
    const js = await call(dashboard, "/app.js");
    assertMatch(js.headers.get("content-type")!, /^text\/javascript/);
    const source = await js.text();
    assertMatch(source, /api\/ws/);
    assertMatch(source, /api\/stats\/get/);
    const css = await call(dashboard, "/app.css");
    assertMatch(await css.text(), /@media \(max-width: 640px\)/);
    const etag = css.headers.get("etag")!;
    const cached = await call(dashboard, "/app.css", { headers: { "if-none-match": etag } });
    assertEquals(cached.status, 304);
    const missing = await call(dashboard, "/secret.txt");
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
    const api = await call(dashboard, "/api/stats/get", { headers: ADMIN });
    assertEquals(api.headers.get("x-frame-options"), "DENY");
    await api.body?.cancel();
  });
});
