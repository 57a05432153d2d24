/**
 * Dashboard authentication at the handler level (no network): 403 without valid credentials on
 * every /api/* route, Basic and cookie logins, token expiry, logout, failed-login rate limiting,
 * cross-origin refusal, and the admin password file (generated once, stored hashed).
 */

import { assert, assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import { createDashboard } from "../../http/dashboard/mod.ts";
import { PASSWORD_FILE, verifyPassword } from "../../http/dashboard/password.ts";
import {
  ADMIN,
  basic,
  call,
  CLIENT,
  FakeDevice,
  login,
  PASSWORD,
  postJson,
  withDashboard,
} from "./dashboard_helpers.ts";

const API_ROUTES: [string, string][] = [
  ["GET", "/api/login"],
  ["POST", "/api/logout"],
  ["POST", "/api/debug"],
  ["GET", "/api/stats/get"],
  ["POST", "/api/events/get"],
  ["GET", "/api/settings/get"],
  ["POST", "/api/settings/set"],
  ["POST", "/api/firmware/upload?name=a&offset=0&total=1"],
  ["GET", "/api/firmware/status"],
  ["POST", "/api/firmware/commit"],
  ["POST", "/api/firmware/rollback"],
  ["POST", "/api/device/reset"],
  ["GET", "/api/ws"],
  ["GET", "/api/no-such-thing"],
];

Deno.test("dashboard auth: every /api route answers 403 without credentials", async () => {
  await withDashboard(async (dashboard, device) => {
    for (const [method, path] of API_ROUTES) {
      const res = await call(dashboard, path, { method, body: method === "POST" ? "{}" : null });
      assertEquals(res.status, 403, `${method} ${path}`);
      assertEquals(await res.json(), { error: "Not Authorised" });
    }
    assertEquals(device.logLevels, []);
    assertEquals(device.resets, 0);
  });
});

Deno.test("dashboard auth: bad Basic credentials are refused and logged", async () => {
  await withDashboard(async (dashboard, device) => {
    const bad = [
      basic("admin", "wrong"),
      basic("root", PASSWORD),
      basic("admin", ""),
      "Basic !!!notbase64",
      "Bearer " + PASSWORD,
    ];
    for (const authorization of bad) {
      const res = await call(dashboard, "/api/stats/get", { headers: { authorization } });
      await res.body?.cancel();
      assertEquals(res.status, 403, authorization);
    }
    const failed = device.events.list().filter((e) => e.text.startsWith("Failed login"));
    assertEquals(failed.length, 3); // the three well-formed Basic attempts
    assertEquals(failed[0]!.priority, "warning");
  });
});

Deno.test("dashboard auth: Basic login sets an HttpOnly SameSite=Lax cookie that works", async () => {
  await withDashboard(async (dashboard, device) => {
    const res = await call(dashboard, "/api/login", { headers: ADMIN });
    assertEquals(res.status, 200);
    assertEquals(await res.json(), { user: "admin" });
    const cookie = res.headers.get("set-cookie")!;
    assertMatch(cookie, /^access_token=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=86400; /);
    assertMatch(cookie, /; HttpOnly/);
    assertMatch(cookie, /; SameSite=Lax/);
    assert(!cookie.includes("Secure"), "no Secure over plain HTTP");
    const pair = cookie.split(";")[0]!;
    const stats = await call(dashboard, "/api/stats/get", { headers: { cookie: pair } });
    assertEquals(stats.status, 200);
    await stats.body?.cancel();
    const again = await call(dashboard, "/api/login", { headers: { cookie: pair } });
    assertEquals(await again.json(), { user: "admin" });
    assertEquals(again.headers.get("set-cookie"), null);
    assert(device.events.list().some((e) => e.type === "login" && e.text.includes("192.0.2.10")));
  });
});

Deno.test("dashboard auth: the cookie gets Secure over HTTPS", async () => {
  await withDashboard(async (dashboard) => {
    const res = await call(dashboard, "https://x/api/login", { headers: ADMIN });
    await res.body?.cancel();
    assertMatch(res.headers.get("set-cookie")!, /; Secure$/);
  });
  await withDashboard(async (dashboard) => {
    const res = await call(dashboard, "http://x/api/login", { headers: ADMIN });
    await res.body?.cancel();
    assertMatch(res.headers.get("set-cookie")!, /; Secure$/);
  }, { secure: true });
});

Deno.test("dashboard auth: tokens are random and expire", async () => {
  await withDashboard(async (dashboard, device) => {
    const first = await login(dashboard);
    const second = await login(dashboard);
    assertNotEquals(first, second);
    device.clock.advance(3_600_000 - 1);
    let res = await call(dashboard, "/api/settings/get", { headers: { cookie: first } });
    await res.body?.cancel();
    assertEquals(res.status, 200);
    device.clock.advance(1);
    res = await call(dashboard, "/api/settings/get", { headers: { cookie: first } });
    await res.body?.cancel();
    assertEquals(res.status, 403);
    res = await call(dashboard, "/api/settings/get", {
      headers: { cookie: "access_token=" + "A".repeat(43) },
    });
    await res.body?.cancel();
    assertEquals(res.status, 403);
  }, { auth: { ttlMs: 3_600_000 } });
});

Deno.test("dashboard auth: logout ends the session and clears the cookie", async () => {
  await withDashboard(async (dashboard) => {
    const cookie = await login(dashboard);
    const res = await call(dashboard, "/api/logout", { method: "POST", headers: { cookie } });
    assertEquals(res.status, 200);
    assertEquals(await res.json(), true);
    assertMatch(res.headers.get("set-cookie")!, /^access_token=; .*Max-Age=0/);
    const after = await call(dashboard, "/api/stats/get", { headers: { cookie } });
    await after.body?.cancel();
    assertEquals(after.status, 403);
  });
});

Deno.test("dashboard auth: failed logins are rate limited per client", async () => {
  await withDashboard(async (dashboard, device) => {
    const wrong = { authorization: basic("admin", "guess") };
    for (let i = 0; i < 3; i++) {
      const res = await call(dashboard, "/api/login", { headers: wrong });
      await res.body?.cancel();
      assertEquals(res.status, 403);
    }
    device.clock.advance(10_000);
    const limited = await call(dashboard, "/api/login", { headers: ADMIN });
    assertEquals(limited.status, 429, "even the right password is refused while limited");
    assertEquals(limited.headers.get("retry-after"), "50");
    await limited.body?.cancel();
    const other = await call(dashboard, "/api/login", { headers: ADMIN }, {
      remoteAddr: { hostname: "192.0.2.99" },
    });
    await other.body?.cancel();
    assertEquals(other.status, 200, "another client is not limited");
    const cookie = await login(dashboard).catch(() => null);
    assertEquals(cookie, null);
    device.clock.advance(50_000);
    const ok = await call(dashboard, "/api/login", { headers: ADMIN });
    await ok.body?.cancel();
    assertEquals(ok.status, 200);
    assert(device.events.list().some((e) => e.priority === "error" && /blocked/.test(e.text)));
  }, { auth: { maxFailuresPerClient: 3, failureWindowMs: 60_000 } });
});

Deno.test("dashboard auth: the total failure limit covers many clients", async () => {
  await withDashboard(async (dashboard) => {
    for (let i = 0; i < 4; i++) {
      const res = await call(dashboard, "/api/login", {
        headers: { authorization: basic("admin", "x") },
      }, { remoteAddr: { hostname: `198.51.100.${i}` } });
      await res.body?.cancel();
      assertEquals(res.status, 403);
    }
    const res = await call(dashboard, "/api/login", { headers: ADMIN }, {
      remoteAddr: { hostname: "198.51.100.200" },
    });
    await res.body?.cancel();
    assertEquals(res.status, 429);
  }, { auth: { maxFailuresTotal: 4 } });
});

Deno.test("dashboard auth: a cookie request from another origin is refused", async () => {
  await withDashboard(async (dashboard) => {
    const cookie = await login(dashboard);
    const evil = await postJson(dashboard, "/api/device/reset", {}, {
      cookie,
      origin: "http://evil.example",
    });
    await evil.body?.cancel();
    assertEquals(evil.status, 403);
    const same = await postJson(dashboard, "/api/settings/set", { brightness: 10 }, {
      cookie,
      origin: "http://x",
    });
    assertEquals((await same.json()).status, true);
  });
});

Deno.test("dashboard auth: a password is generated once, stored hashed, and works", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
  try {
    const device = new FakeDevice();
    const first = await createDashboard(device.deps(stateDir, { adminPassword: null }));
    await first.close();
    const generated = first.generatedPassword ?? "";
    assert(generated.length >= 12, "a password was generated");
    const text = await Deno.readTextFile(`${stateDir}/${PASSWORD_FILE}`);
    assert(!text.includes(generated), "the plaintext is not stored");
    const stored = JSON.parse(text);
    assertEquals(stored.algorithm, "PBKDF2-SHA-256");
    assert(await verifyPassword(generated, stored));
    assert(!await verifyPassword(generated + "x", stored));
    const mode = (await Deno.stat(`${stateDir}/${PASSWORD_FILE}`)).mode! & 0o777;
    assertEquals(mode, 0o600);

    const second = await createDashboard(device.deps(stateDir, { adminPassword: null }));
    try {
      assertEquals(second.generatedPassword, null);
      assertEquals(await Deno.readTextFile(`${stateDir}/${PASSWORD_FILE}`), text);
      const res = await second.fetch(
        new Request("http://x/api/login", {
          headers: { authorization: basic("admin", generated) },
        }),
        CLIENT,
      );
      await res.body?.cancel();
      assertEquals(res.status, 200);
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("dashboard auth: a given password is used and not stored", async () => {
  await withDashboard(async (dashboard, _device, stateDir) => {
    assertEquals(dashboard.generatedPassword, null);
    const files = [];
    for await (const entry of Deno.readDir(stateDir)) files.push(entry.name);
    assert(!files.includes(PASSWORD_FILE));
    const res = await call(dashboard, "/api/login", { headers: ADMIN });
    await res.body?.cancel();
    assertEquals(res.status, 200);
  });
});

Deno.test("dashboard auth: PBKDF2-HMAC-SHA-256 matches the published vector", async () => {
  // P="password", S="salt", c=4096, dkLen=32 (the widely published SHA-256 variant of RFC 6070).
  const stored = {
    algorithm: "PBKDF2-SHA-256" as const,
    iterations: 4096,
    salt: btoa("salt"),
    hash: btoa(String.fromCharCode(
      ..."c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        .match(/../g)!.map((h) => parseInt(h, 16)),
    )),
  };
  assert(await verifyPassword("password", stored));
  assert(!await verifyPassword("Password", stored));
});
