/**
 * The real appliance's dashboard in headless Chromium: the appliance serves on its own TCP in a
 * private namespace, a socat forward (tests/helpers/forward.ts) makes it reachable on
 * 127.0.0.1:<free port>, and the browser logs in, sees live stats over the WebSocket, changes a
 * setting and sees it after a reload, and uploads a small firmware file whose CRC-32 the device
 * then reports (checked against Python's zlib). Screenshots go to out/ (git-ignored).
 * Skipped, with a message, when /usr/bin/chromium is missing (CI installs it).
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals } from "@std/assert";
import { forwardSkipReason, startForward } from "../helpers/forward.ts";
import { interopTest } from "../helpers/netns.ts";
import { run } from "../helpers/process.ts";
import {
  basicAuth,
  curlResponse,
  DEVICE,
  PASSWORD,
  withWebAppliance,
} from "./fixtures/http_setup.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUT = new URL("../../out/", import.meta.url).pathname;
const skipReason = await Deno.stat(CHROMIUM).then(
  () => forwardSkipReason(),
  () => `${CHROMIUM} not found (apt-get install chromium)`,
);
if (skipReason !== null) console.log(`browser interop test skipped: ${skipReason}`);

/** Polls `check` every 100 ms until it holds; throws after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function zlibCrc32(bytes: Uint8Array): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "mip-fw-" });
  try {
    await Deno.writeFile(file, bytes);
    const result = await run([
      "python3",
      "-c",
      "import sys, zlib; print('%08x' % zlib.crc32(open(sys.argv[1], 'rb').read()))",
      file,
    ], { check: true });
    return result.stdout.trim();
  } finally {
    await Deno.remove(file);
  }
}

interopTest("browser: the appliance's dashboard through a 127.0.0.1 forward", async () => {
  await withWebAppliance("browser", ["--https-port", "0"], async (ns) => {
    const { chromium } = await import("playwright-core");
    await Deno.mkdir(OUT, { recursive: true });
    await using forward = await startForward(ns, { hostname: DEVICE, port: 80 });
    const base = forward.url("http");
    const profile = await Deno.makeTempDir({ prefix: "mip-chromium-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
      viewport: { width: 1280, height: 900 },
    });
    const errors: string[] = [];
    const page = context.pages()[0] ?? await context.newPage();
    // What the page fetched and when, shown when the test fails.
    const t0 = Date.now();
    const trace: string[] = [];
    const note = (text: string) => trace.push(`${String(Date.now() - t0).padStart(6)} ms ${text}`);
    page.on("request", (r) => note(`> ${r.method()} ${r.url()}`));
    page.on("response", (r) => note(`< ${r.status()} ${r.url()}`));
    // A body the page never reads (the UI's session probe) shows up as ERR_ABORTED at reload.
    page.on("requestfailed", (r) => note(`! ${r.url()}: ${r.failure()?.errorText}`));
    page.on("console", (m) => {
      note(`console.${m.type()}: ${m.text()}`);
      if (m.type() === "error" && !m.text().includes("403")) errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.setDefaultTimeout(15_000);
    try {
      await page.goto(base);
      await page.waitForSelector("#login-view:not([hidden])");
      await page.fill("#login-password", PASSWORD);
      await page.click("#login-submit");
      await page.waitForSelector("#app-view:not([hidden])");
      const cookie = (await context.cookies(base)).find((c) => c.name === "access_token");
      assertEquals([cookie?.httpOnly, cookie?.sameSite], [true, "Lax"]);
      // Live stats arrive over the WebSocket, through the forward, from the real stack.
      await until("live stats", async () => await page.textContent("#live-text") === "live");
      await until("the link state", async () => await page.textContent("#st-link") === "Up");
      await page.screenshot({ path: `${OUT}interop_overview.png`, fullPage: true });

      await page.click('a[data-tab="settings"]');
      await until(
        "the settings form",
        async () => await page.inputValue("#set-device-name") !== "",
      );
      // A settings load that fails says so (the page used to keep a blank form, silently).
      const errorsBefore = errors.length;
      await page.route("**/api/settings/get", (route) => route.abort());
      await page.click('a[data-tab="overview"]');
      await page.click('a[data-tab="settings"]');
      await until(
        "the load error notice",
        async () =>
          /Cannot load the settings/.test(await page.textContent("#settings-notice") ?? ""),
      );
      await page.unroute("**/api/settings/get");
      errors.splice(errorsBefore); // Chromium logs the aborted fetch as a console error.
      // A load still under way while the user types must not undo the typing (under CI load
      // one did, and the form saved the old name).
      let release = () => {};
      const held = new Promise<void>((resolve) => release = resolve);
      await page.route("**/api/settings/get", async (route) => {
        await held;
        await route.continue();
      });
      await page.click('a[data-tab="overview"]');
      await page.click('a[data-tab="settings"]');
      await page.fill("#set-device-name", "Interop Browser 5");
      const late = page.waitForResponse("**/api/settings/get");
      release();
      await (await late).finished();
      await page.waitForTimeout(300); // the page's own .then() runs after the body arrives
      await page.unroute("**/api/settings/get");
      assertEquals(await page.inputValue("#set-device-name"), "Interop Browser 5");
      await page.click('#settings-form button[type="submit"]');
      await page.waitForSelector("#settings-notice:not([hidden])");
      await page.reload();
      await page.waitForSelector("#app-view:not([hidden])");
      await until(
        "the saved name after a reload",
        async () => await page.inputValue("#set-device-name") === "Interop Browser 5",
      );
      await page.screenshot({ path: `${OUT}interop_settings.png` });
      const stored = await curlResponse(ns, [
        "-H",
        `Authorization: ${basicAuth()}`,
        `http://${DEVICE}/api/settings/get`,
      ]);
      assertEquals(JSON.parse(stored.body).device_name, "Interop Browser 5");

      await page.click('a[data-tab="firmware"]');
      const image = new Uint8Array(40_000).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
      await page.setInputFiles("#fw-file", {
        name: "browser-fw.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(image),
      });
      await page.click("#fw-upload");
      await until(
        "the upload notice",
        async () => /Uploaded/.test(await page.textContent("#fw-notice") ?? ""),
      );
      await page.screenshot({ path: `${OUT}interop_firmware.png` });
      const status = await curlResponse(ns, [
        "-H",
        `Authorization: ${basicAuth()}`,
        `http://${DEVICE}/api/firmware/status`,
      ]);
      const slot = (JSON.parse(status.body) as Record<string, unknown>[]).find((s) =>
        s.name === "browser-fw.bin"
      );
      assertEquals([slot?.size, slot?.crc32], [image.length, await zlibCrc32(image)]);
      assertEquals(errors, []);
    } catch (err) {
      await page.screenshot({ path: `${OUT}interop_failure.png` }).catch(() => {});
      const socat = forward.output().split("\n").filter((l) => / [EW] /.test(l)).slice(-20);
      throw new Error(
        `${err instanceof Error ? err.message : err}\npage errors: ${errors.join("; ")}` +
          `\nforward warnings:\n  ${socat.join("\n  ")}\npage trace:\n  ${trace.join("\n  ")}`,
        { cause: err },
      );
    } finally {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    }
    assert(/accepting connection/.test(forward.output()), "the browser came through the forward");
  });
}, { ignore: skipReason !== null, timeoutMs: 90_000 });
