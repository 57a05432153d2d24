/**
 * Firmware upload through the dashboard API at the handler level: chunked uploads into the
 * inactive slot with contiguous offsets and an enforced total, CRC-32 checked against node:zlib,
 * commit and rollback between slots A and B, and persistence across restarts.
 */

import { assert, assertEquals } from "@std/assert";
import { createDashboard, type Dashboard } from "../../http/dashboard/mod.ts";
import { crc32 } from "../../http/dashboard/crc32.ts";
import {
  ADMIN,
  call,
  FakeDevice,
  ORIGIN_MS,
  referenceCrc32,
  testBytes,
  withDashboard,
} from "./dashboard_helpers.ts";

function upload(
  dashboard: Dashboard,
  query: { name?: string; offset: number | string; total: number | string },
  body: Uint8Array,
): Promise<Response> {
  const q = new URLSearchParams({
    name: query.name ?? "fw.bin",
    offset: String(query.offset),
    total: String(query.total),
  });
  return call(dashboard, `/api/firmware/upload?${q}`, {
    method: "POST",
    headers: ADMIN,
    body: body as Uint8Array<ArrayBuffer>,
  });
}

/** Uploads `image` in `chunkBytes` pieces plus the closing empty chunk; returns the statuses. */
async function uploadAll(
  dashboard: Dashboard,
  image: Uint8Array,
  chunkBytes: number,
  name = "fw.bin",
): Promise<number[]> {
  const statuses = [];
  for (let offset = 0; offset < image.length; offset += chunkBytes) {
    const chunk = image.subarray(offset, offset + chunkBytes);
    const res = await upload(dashboard, { name, offset, total: image.length }, chunk);
    statuses.push(res.status);
    await res.body?.cancel();
  }
  const end = await upload(
    dashboard,
    { name, offset: image.length, total: image.length },
    new Uint8Array(0),
  );
  statuses.push(end.status);
  await end.body?.cancel();
  return statuses;
}

async function status(dashboard: Dashboard) {
  return await (await call(dashboard, "/api/firmware/status", { headers: ADMIN })).json();
}

async function post(dashboard: Dashboard, path: string): Promise<unknown> {
  return await (await call(dashboard, path, { method: "POST", headers: ADMIN })).json();
}

Deno.test("crc32 matches node:zlib on random data and the check value", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  for (const n of [0, 1, 7, 1000, 65_537]) {
    const bytes = testBytes(n, n + 1);
    assertEquals(crc32(bytes), referenceCrc32(bytes), `${n} bytes`);
  }
});

Deno.test("dashboard firmware: a chunked upload lands in the inactive slot", async () => {
  await withDashboard(async (dashboard, device, stateDir) => {
    const before = await status(dashboard);
    assertEquals(before.length, 2);
    assertEquals(before[0].slot, "a");
    assertEquals(before[0].status, 0);
    assertEquals(before[1].status, 0);

    const image = testBytes(150_000);
    device.clock.advance(5000);
    assertEquals(await uploadAll(dashboard, image, 64 * 1024), [200, 200, 200, 200]);

    const after = await status(dashboard);
    assertEquals(after[0].slot, "a", "the running slot is unchanged until commit");
    assertEquals(after[1], {
      status: 2,
      crc32: referenceCrc32(image).toString(16).padStart(8, "0"),
      size: 150_000,
      timestamp: (ORIGIN_MS + 5000) / 1000,
      slot: "b",
      state: "uploaded",
      name: "fw.bin",
      active: false,
    });
    const onDisk = await Deno.readFile(`${stateDir}/firmware/slot_b.bin`);
    assertEquals(onDisk.length, image.length);
    assertEquals(referenceCrc32(onDisk), referenceCrc32(image));
    assert(device.events.list().some((e) => e.type === "firmware" && e.text.includes("slot B")));
  });
});

Deno.test("dashboard firmware: a gap in offsets is refused and the upload can resume", async () => {
  await withDashboard(async (dashboard) => {
    const image = testBytes(3000, 7);
    let res = await upload(dashboard, { offset: 0, total: 3000 }, image.subarray(0, 1000));
    assertEquals(res.status, 200);
    await res.body?.cancel();
    res = await upload(dashboard, { offset: 1500, total: 3000 }, image.subarray(1500, 2500));
    assertEquals(res.status, 400);
    assertEquals(await res.json(), {
      error: "Offset 1500 is not contiguous: expected 1000",
      received: 1000,
    });
    res = await upload(dashboard, { offset: 500, total: 3000 }, image.subarray(500, 1500));
    assertEquals(res.status, 400, "an overlap is refused too");
    await res.body?.cancel();
    res = await upload(dashboard, { name: "other.bin", offset: 1000, total: 3000 }, image);
    assertEquals(res.status, 400, "the name must not change mid-upload");
    await res.body?.cancel();
    res = await upload(dashboard, { offset: 1000, total: 3000 }, new Uint8Array(0));
    assertEquals(res.status, 400, "ending early is refused");
    assertEquals((await res.json()).error, "Upload incomplete: 1000 of 3000 bytes");
    for (const [offset, end] of [[1000, 2000], [2000, 3000], [3000, 3000]]) {
      res = await upload(dashboard, { offset: offset!, total: 3000 }, image.subarray(offset, end));
      assertEquals(res.status, 200, `offset ${offset}`);
      await res.body?.cancel();
    }
    const after = await status(dashboard);
    assertEquals(after[1].crc32, referenceCrc32(image).toString(16).padStart(8, "0"));
  });
});

Deno.test("dashboard firmware: the total is enforced", async () => {
  await withDashboard(async (dashboard) => {
    const image = testBytes(2000, 3);
    let res = await upload(dashboard, { offset: 0, total: 1500 }, image.subarray(0, 1000));
    await res.body?.cancel();
    res = await upload(dashboard, { offset: 1000, total: 1500 }, image.subarray(1000, 2000));
    assertEquals(res.status, 400);
    assertEquals(await res.json(), {
      error: "Chunk of 1000 bytes at 1000 exceeds total 1500",
      received: 1000,
    });
    res = await upload(dashboard, { offset: 0, total: 1_000_001 }, image);
    assertEquals(res.status, 413, "an image above the limit");
    await res.body?.cancel();
    res = await upload(dashboard, { offset: 0, total: 900_000 }, testBytes(70_000));
    assertEquals(res.status, 413, "a chunk above the chunk limit");
    await res.body?.cancel();
    res = await upload(dashboard, { offset: 0, total: 0 }, new Uint8Array(0));
    assertEquals(res.status, 400, "an empty image");
    await res.body?.cancel();
    for (const query of ["offset=0", "total=5", "offset=-1&total=5", "offset=x&total=5"]) {
      res = await call(dashboard, `/api/firmware/upload?name=a&${query}`, {
        method: "POST",
        headers: ADMIN,
        body: "abc",
      });
      assertEquals(res.status, 400, query);
      assertEquals((await res.json()).error, "offset and total not set");
    }
    res = await upload(dashboard, { offset: 10, total: 100 }, new Uint8Array(5));
    assertEquals(res.status, 400, "continuing without a start");
    await res.body?.cancel();
    const after = await status(dashboard);
    assertEquals(after[1].status, 0, "nothing reached the slot");
  }, { limits: { maxFirmwareBytes: 1_000_000, maxChunkBytes: 65_536 } });
});

Deno.test("dashboard firmware: commit switches slots and rollback switches back", async () => {
  await withDashboard(async (dashboard, device) => {
    assertEquals(await post(dashboard, "/api/firmware/commit"), false, "nothing to commit");
    assertEquals(await post(dashboard, "/api/firmware/rollback"), false, "nothing to roll back to");
    const first = testBytes(10_000, 1);
    await uploadAll(dashboard, first, 4096, "v1.bin");
    assertEquals(await post(dashboard, "/api/firmware/commit"), true);
    let s = await status(dashboard);
    assertEquals([s[0].slot, s[0].status, s[0].name, s[0].active], ["b", 3, "v1.bin", true]);
    assertEquals(await post(dashboard, "/api/firmware/commit"), false, "already committed");
    assertEquals(await post(dashboard, "/api/firmware/rollback"), false, "slot A is empty");

    const second = testBytes(20_000, 2);
    await uploadAll(dashboard, second, 8192, "v2.bin");
    s = await status(dashboard);
    assertEquals([s[1].slot, s[1].state], ["a", "uploaded"]);
    assertEquals(await post(dashboard, "/api/firmware/rollback"), false, "v2 is not committed");
    assertEquals(await post(dashboard, "/api/firmware/commit"), true);
    s = await status(dashboard);
    assertEquals([s[0].slot, s[0].name, s[1].slot, s[1].name], ["a", "v2.bin", "b", "v1.bin"]);
    assertEquals(s[0].crc32, referenceCrc32(second).toString(16).padStart(8, "0"));

    assertEquals(await post(dashboard, "/api/firmware/rollback"), true);
    s = await status(dashboard);
    assertEquals([s[0].slot, s[0].name, s[0].status], ["b", "v1.bin", 3]);
    assertEquals(s[0].crc32, referenceCrc32(first).toString(16).padStart(8, "0"));
    const texts = device.events.list().filter((e) => e.type === "firmware").map((e) => e.text);
    assertEquals(texts.filter((t) => t.startsWith("Committed")).length, 2);
    assertEquals(texts.at(-1), "Rolled back to slot B");
    const get = await call(dashboard, "/api/firmware/commit", { headers: ADMIN });
    assertEquals(get.status, 405);
    await get.body?.cancel();
  });
});

Deno.test("dashboard firmware: slots and an abandoned upload across a restart", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
  try {
    const image = testBytes(5000, 9);
    const first = await createDashboard(new FakeDevice().deps(stateDir));
    try {
      await uploadAll(first, image, 2048, "keep.bin");
      assertEquals(await post(first, "/api/firmware/commit"), true);
      const res = await upload(first, { offset: 0, total: 4000 }, testBytes(1000));
      await res.body?.cancel();
    } finally {
      await first.close();
    }
    const second = await createDashboard(new FakeDevice().deps(stateDir));
    try {
      const s = await status(second);
      assertEquals([s[0].slot, s[0].name, s[0].size], ["b", "keep.bin", 5000]);
      assertEquals(s[0].crc32, referenceCrc32(image).toString(16).padStart(8, "0"));
      const names = [];
      for await (const entry of Deno.readDir(`${stateDir}/firmware`)) names.push(entry.name);
      assert(!names.some((n) => n.endsWith(".part")), "the partial upload is gone");
      const res = await upload(second, { offset: 1000, total: 4000 }, testBytes(10));
      assertEquals(res.status, 400, "the abandoned upload cannot be continued");
      await res.body?.cancel();
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
