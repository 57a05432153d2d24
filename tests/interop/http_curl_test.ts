/**
 * The dashboard over the appliance's own TCP, driven by curl from the kernel side of a TAP in a
 * private namespace: the UI page, HEAD, keep-alive reuse, authentication (403 without
 * credentials, Basic, the access_token cookie), settings persisted across a restart, a chunked
 * firmware upload checked against an independent CRC-32 (Python's zlib), commit, and a device
 * reset after which the appliance answers again.
 */

import { assert, assertEquals, assertMatch, assertNotMatch } from "@std/assert";
import { startAppliance } from "../helpers/appliance.ts";
import { interopTest, type Namespace, withNamespace } from "../helpers/netns.ts";
import { run } from "../helpers/process.ts";
import {
  basicAuth,
  curl,
  curlResponse,
  DEVICE,
  eventually,
  HOST,
  withWebAppliance,
} from "./fixtures/http_setup.ts";

const BASE = `http://${DEVICE}`;
const AUTH = ["-H", `Authorization: ${basicAuth()}`];
const JSON_POST = ["-X", "POST", "-H", "Content-Type: application/json"];
const READY = { ready: /ready on tap0/, readyTimeoutMs: 30_000 };
/** app/web.ts prints this once when it generates the admin password. */
const GENERATED = /generated dashboard password for user admin: (\S+) \(shown only now/;

/** GET / is the UI page; HEAD / has its headers and no body; curl reuses one connection. */
async function checkUiPage(ns: Namespace): Promise<void> {
  const page = await curlResponse(ns, [`${BASE}/`]);
  assertEquals(page.status, 200, page.stderr);
  assertMatch(page.headers.get("content-type") ?? "", /^text\/html/);
  assertMatch(page.body, /id="login-view"/);
  const bytes = new TextEncoder().encode(page.body).length;
  assertEquals(Number(page.headers.get("content-length")), bytes);

  const head = await curlResponse(ns, ["-I", `${BASE}/`]);
  assertEquals([head.status, head.body], [200, ""]);
  assertEquals(head.headers.get("etag"), page.headers.get("etag"));
  assertEquals(head.headers.get("content-type"), page.headers.get("content-type"));

  // Two URLs in one invocation: curl keeps the first connection and sends the second on it.
  const null2 = ["-o", "/dev/null", "-o", "/dev/null"];
  const twice = await curl(ns, [
    "-v",
    ...null2,
    "-w",
    "%{http_code}\n",
    `${BASE}/`,
    `${BASE}/app.js`,
  ]);
  assertEquals(twice.stdout.trim().split("\n"), ["200", "200"]);
  assertMatch(twice.stderr, /Re-using existing connection/);
}

/** Every /api path, known or not, is refused without credentials or with a wrong password. */
async function checkRefused(ns: Namespace): Promise<void> {
  const paths = ["stats/get", "settings/get", "firmware/status", "events/get", "login", "no-such"];
  for (const path of paths) {
    const refused = await curlResponse(ns, [`${BASE}/api/${path}`]);
    assertEquals(refused.status, 403, `/api/${path} without credentials`);
    assertEquals(JSON.parse(refused.body), { error: "Not Authorised" });
  }
  const wrong = await curlResponse(ns, ["-u", "admin:not-the-password", `${BASE}/api/login`]);
  assertEquals(wrong.status, 403);
  assertEquals(wrong.headers.get("set-cookie"), null);
}

/** Logs in with Basic; checks the cookie's attributes; returns curl's `-b` arguments. */
async function loginCookie(ns: Namespace, password: string): Promise<string[]> {
  const login = await curlResponse(ns, ["-u", `admin:${password}`, `${BASE}/api/login`]);
  assertEquals([login.status, JSON.parse(login.body)], [200, { user: "admin" }]);
  const setCookie = login.headers.get("set-cookie") ?? "";
  const token = /^access_token=([A-Za-z0-9_-]{20,});/.exec(setCookie)?.[1];
  if (token === undefined) throw new Error(`No access_token cookie: ${setCookie}`);
  const attributes = setCookie.split(";").map((a) => a.trim().toLowerCase());
  for (const wanted of ["httponly", "samesite=lax", "path=/"]) {
    assert(attributes.includes(wanted), `${wanted} in ${setCookie}`);
  }
  assert(!attributes.includes("secure"), `no Secure over plain HTTP: ${setCookie}`);
  return ["-b", `access_token=${token}`];
}

/** Sets settings with the cookie, checks a bad value is refused; returns what was set. */
async function changeSettings(ns: Namespace, cookie: string[]) {
  const before = await curlResponse(ns, [...cookie, `${BASE}/api/settings/get`]);
  assertEquals(before.status, 200, before.body);
  const fields = Object.keys(JSON.parse(before.body)).sort();
  assertEquals(fields, ["brightness", "device_name", "log_enabled", "log_level"]);
  const wanted = { device_name: "Interop Lab 3", brightness: 23, log_level: 1, log_enabled: true };
  const body = JSON.stringify(wanted);
  const set = await curlResponse(ns, [
    ...cookie,
    ...JSON_POST,
    "-d",
    body,
    `${BASE}/api/settings/set`,
  ]);
  assertEquals([set.status, JSON.parse(set.body)], [200, { status: true, message: "Success" }]);
  const bad = await curlResponse(ns, [
    ...cookie,
    ...JSON_POST,
    "-d",
    '{"brightness":101}',
    `${BASE}/api/settings/set`,
  ]);
  assertEquals([bad.status, JSON.parse(bad.body).status], [400, false]);
  const after = await curlResponse(ns, [...cookie, `${BASE}/api/settings/get`]);
  assertEquals(JSON.parse(after.body), wanted);
  return wanted;
}

interopTest(
  "curl: UI, HEAD, keep-alive reuse, 403 without credentials, cookie login, settings kept over a restart",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "mip-state-" });
    // No --admin-password: the appliance generates one and prints it once.
    const args = ["--iface", "tap0", "--ip", `${DEVICE}/24`, "--state-dir", stateDir];
    try {
      await withNamespace(async (ns) => {
        await ns.addTap("tap0", `${HOST}/24`);
        const app = await startAppliance(ns, [...args, "--https-port", "0"], READY);
        let password: string;
        let cookie: string[];
        let wanted: Record<string, unknown>;
        try {
          password = GENERATED.exec(app.output())?.[1] ?? "";
          assertMatch(password, /^[A-Za-z0-9]{12,}$/, app.output());
          await checkUiPage(ns);
          await checkRefused(ns);
          cookie = await loginCookie(ns, password);
          wanted = await changeSettings(ns, cookie);
        } finally {
          assertEquals(await app.stop(), 0, app.output());
        }
        const again = await startAppliance(ns, [...args, "--https-port", "0"], READY);
        try {
          // Sessions live in memory: the old cookie is gone. The settings and password are not.
          const stale = await curlResponse(ns, [...cookie, `${BASE}/api/settings/get`]);
          assertEquals(stale.status, 403);
          const basic = ["-u", `admin:${password}`];
          const kept = await curlResponse(ns, [...basic, `${BASE}/api/settings/get`]);
          assertEquals([kept.status, JSON.parse(kept.body)], [200, wanted]);
          assertNotMatch(again.output(), GENERATED, "the password is generated only once");
        } finally {
          await again.stop();
        }
      }, "http-curl");
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
);

interopTest("curl: HEAD announces the Content-Length a GET would (RFC 9110 8.6)", async () => {
  await withWebAppliance("http-head", ["--https-port", "0"], async (ns) => {
    for (const path of ["/", "/app.js", "/app.css"]) {
      const get = await curlResponse(ns, [...AUTH, `${BASE}${path}`]);
      const head = await curlResponse(ns, [...AUTH, "-I", `${BASE}${path}`]);
      assertEquals(get.status, 200);
      assertEquals(head.status, 200);
      const length = new TextEncoder().encode(get.body).length;
      const announced = head.headers.get("content-length");
      // RFC 9110 8.6: a Content-Length in a HEAD response must equal the GET's length (or be absent).
      assert(
        announced === null || Number(announced) === length,
        `HEAD ${path}: content-length ${announced}, GET sends ${length} bytes`,
      );
    }
  });
});

interopTest("curl: chunked firmware upload, CRC-32 equal to zlib's, commit", async () => {
  await withWebAppliance("http-firmware", ["--https-port", "0"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "mip-fw-" });
    try {
      const image = new Uint8Array(300_000);
      for (let i = 0; i < image.length; i += 65_536) {
        crypto.getRandomValues(image.subarray(i, Math.min(i + 65_536, image.length)));
      }
      const file = `${dir}/fw-interop.bin`;
      await Deno.writeFile(file, image);
      const zlib = await run([
        "python3",
        "-c",
        "import sys, zlib; print('%08x' % zlib.crc32(open(sys.argv[1], 'rb').read()))",
        file,
      ], { check: true });
      const expectedCrc = zlib.stdout.trim();

      const upload = (offset: number, body: string) =>
        curlResponse(ns, [
          ...AUTH,
          "-X",
          "POST",
          "-H",
          "Content-Type: application/octet-stream",
          "--data-binary",
          body,
          `${BASE}/api/firmware/upload?name=fw-interop.bin&offset=${offset}&total=${image.length}`,
        ]);
      const CHUNK = 64 * 1024;
      for (let offset = 0; offset < image.length; offset += CHUNK) {
        const part = `${dir}/part`;
        await Deno.writeFile(part, image.subarray(offset, offset + CHUNK));
        const answer = await upload(offset, `@${part}`);
        assertEquals([answer.status, JSON.parse(answer.body)], [200, true], `chunk at ${offset}`);
      }
      const end = await upload(image.length, "");
      assertEquals(
        [end.status, JSON.parse(end.body)],
        [200, true],
        "the empty chunk ends the upload",
      );

      const status = await curlResponse(ns, [...AUTH, `${BASE}/api/firmware/status`]);
      const slots = JSON.parse(status.body) as Record<string, unknown>[];
      const slot = slots.find((s) => s.name === "fw-interop.bin");
      if (slot === undefined) throw new Error(`no slot holds the upload: ${status.body}`);
      assertEquals(
        { crc32: slot.crc32, size: slot.size, state: slot.state, status: slot.status },
        { crc32: expectedCrc, size: image.length, state: "uploaded", status: 2 },
      );
      assertEquals(slot.active, false);

      const commit = await curlResponse(ns, [...AUTH, "-X", "POST", `${BASE}/api/firmware/commit`]);
      assertEquals([commit.status, JSON.parse(commit.body)], [200, true]);
      const committed = JSON.parse(
        (await curlResponse(ns, [...AUTH, `${BASE}/api/firmware/status`])).body,
      )
        .find((s: Record<string, unknown>) => s.name === "fw-interop.bin");
      assertEquals(
        {
          state: committed.state,
          status: committed.status,
          active: committed.active,
          crc32: committed.crc32,
        },
        { state: "committed", status: 3, active: true, crc32: expectedCrc },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

interopTest("device reset: POST /api/device/reset, then ping and HTTP answer again", async () => {
  await withWebAppliance("http-reset", ["--https-port", "0"], async (ns, app) => {
    await ns.exec(["ping", "-c", "1", "-W", "2", DEVICE]);
    const reset = await curlResponse(ns, [...AUTH, "-X", "POST", `${BASE}/api/device/reset`]);
    assertEquals([reset.status, JSON.parse(reset.body)], [200, true]);
    await app.waitForLog(/Device reset: restarting the network stack/, 5_000);
    const pinged = await eventually(async () => {
      const ping = await ns.exec(["ping", "-c", "1", "-W", "1", DEVICE], { check: false });
      return ping.success;
    }, 10_000);
    assert(pinged, `no echo after the reset:\n${app.output()}`);
    let events = "";
    const answered = await eventually(async () => {
      const response = await curlResponse(ns, [...AUTH, `${BASE}/api/events/get`], 3);
      events = response.body;
      return response.status === 200 && /Network stack restarted/.test(events);
    }, 10_000);
    assert(answered, `no HTTP answer with the restart event after the reset: ${events}`);
    const page = await curlResponse(ns, [`${BASE}/`]);
    assertEquals(page.status, 200);
    assert(!app.child.status, "the appliance process stayed up");
  });
});
