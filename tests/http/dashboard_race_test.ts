import { assert, assertEquals } from "@std/assert";
import { basic, call, PASSWORD, withDashboard } from "./dashboard_helpers.ts";
import { DEFAULT_AUTH_OPTIONS } from "../../http/dashboard/mod.ts";

Deno.test("login rate limit: guesses sent together are limited like guesses sent in turn", async () => {
  await withDashboard(async (dashboard) => {
    const guesses = Array.from(
      { length: 20 },
      (_, i) =>
        call(dashboard, "/api/settings/get", {
          headers: { authorization: basic("admin", `guess-${i}`) },
        }),
    );
    const statuses = (await Promise.all(guesses)).map((r) => r.status);
    const checked = statuses.filter((s) => s === 403).length;
    assertEquals(checked + statuses.filter((s) => s === 429).length, 20);
    assert(checked <= DEFAULT_AUTH_OPTIONS.maxFailuresPerClient, `${checked} password checks`);
  });
});

Deno.test("a correct login is not counted against the total failure budget", async () => {
  await withDashboard(async (dashboard) => {
    for (let i = 0; i < DEFAULT_AUTH_OPTIONS.maxFailuresTotal + 5; i++) {
      const ok = await call(dashboard, "/api/settings/get", {
        headers: { authorization: basic("admin", PASSWORD) },
      });
      assertEquals(ok.status, 200);
      await ok.body?.cancel();
    }
  });
});

Deno.test("concurrent correct logins at a cold start all succeed (one password check)", async () => {
  await withDashboard(async (dashboard) => {
    const logins = Array.from(
      { length: 20 },
      () =>
        call(dashboard, "/api/settings/get", {
          headers: { authorization: basic("admin", PASSWORD) },
        }),
    );
    const responses = await Promise.all(logins);
    for (const r of responses) await r.body?.cancel();
    assertEquals(responses.map((r) => r.status), new Array(20).fill(200));
  });
});
