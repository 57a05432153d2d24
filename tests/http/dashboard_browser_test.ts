/**
 * The web UI in headless Chromium (skipped when /usr/bin/chromium is missing): log in, watch
 * live stats, change a setting and see it after a reload, upload a small firmware file, page the
 * events, on a desktop and a 390 px wide viewport. Screenshots go to out/ (not committed).
 * The dashboard runs under Deno.serve on 127.0.0.1; the browser reaches nothing else.
 */

import { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch } from "@std/assert";
import { createDashboard } from "../../http/dashboard/mod.ts";
import { FakeDevice, PASSWORD } from "./dashboard_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
const OUT = new URL("../../out/", import.meta.url).pathname;

/** Polls `check` every 100 ms until it holds; fails after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A device whose counters move at every sample, with events to page through. */
function liveDevice(): FakeDevice {
  const device = new FakeDevice();
  device.snapshot.dhcp!.expiresUnixMs = Date.now() + 2 * 3600_000 + 123_000;
  for (let i = 0; i < 27; i++) {
    const kinds = [["link", "Link tap0 up"], ["dhcp", "DHCP lease 10.0.0.2 bound"], [
      "login",
      "admin logged in",
    ]];
    const [type, text] = kinds[i % 3]!;
    device.events.add(i * 90_000, type!, `${text} (#${i})`, i % 7 === 0 ? "warning" : "info");
  }
  return device;
}

Deno.test({
  name: "dashboard ui in Chromium: login, live stats, settings, firmware, phone layout",
  ignore: !hasChromium,
  async fn() {
    const { chromium } = await import("playwright-core");
    await Deno.mkdir(OUT, { recursive: true });
    const stateDir = await Deno.makeTempDir({ prefix: "mip-dashboard-" });
    const profile = await Deno.makeTempDir({ prefix: "mip-chromium-" });
    const device = liveDevice();
    let tick = 0;
    const dashboard = await createDashboard(device.deps(stateDir, {
      upgradeWebSocket: Deno.upgradeWebSocket,
      now: Date.now,
      eventNowMs: () => Date.now() - device.clock.now(),
      wallTimeMs: (t) => device.clock.now() - 3_000_000 + t,
      sampleIntervalMs: 250,
      stats: () => {
        const eth = device.snapshot.layers.ethernet!;
        tick++;
        eth.rxBytes += 40_000 + 30_000 * Math.sin(tick / 3);
        eth.txBytes += 15_000 + 10_000 * Math.cos(tick / 4);
        eth.rxPackets += 30;
        eth.txPackets += 12;
        return device.snapshot;
      },
    }));
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => dashboard.fetch(request, info),
    );
    const base = `http://127.0.0.1:${server.addr.port}/`;
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
    try {
      const page = context.pages()[0] ?? await context.newPage();
      page.on("console", (m) => {
        if (m.type() === "error" && !m.text().includes("403")) errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(base);
      await page.waitForSelector("#login-view:not([hidden])");
      await page.screenshot({ path: `${OUT}dashboard_login.png` });

      await page.fill("#login-password", "wrong");
      await page.click("#login-submit");
      await page.waitForSelector("#login-error:not([hidden])");
      assertMatch(await page.textContent("#login-error") ?? "", /Wrong/);
      await page.fill("#login-password", PASSWORD);
      await page.click("#login-submit");
      await page.waitForSelector("#app-view:not([hidden])");
      await until(async () => await page.textContent("#live-text") === "live");
      await page.waitForTimeout(3000); // a few samples for the chart
      assertEquals(await page.textContent("#st-tcp"), "4");
      assertEquals(await page.textContent("#st-link"), "Up");
      await page.screenshot({ path: `${OUT}dashboard_overview.png`, fullPage: true });

      await page.click('a[data-tab="settings"]');
      await until(async () => await page.inputValue("#set-device-name") !== "");
      await page.fill("#set-device-name", "Lab Switch 7");
      await page.fill("#set-brightness", "30");
      await page.click('#settings-form button[type="submit"]');
      await page.waitForSelector("#settings-notice:not([hidden])");
      assertEquals(await page.textContent("#settings-notice"), "Settings saved.");
      await page.reload();
      await page.waitForSelector("#app-view:not([hidden])");
      await until(async () => await page.inputValue("#set-device-name") === "Lab Switch 7");
      assertEquals(await page.textContent("#device-name"), "Lab Switch 7");
      assertEquals(await page.inputValue("#set-brightness"), "30");
      await page.waitForTimeout(300); // let the switch finish its transition
      await page.screenshot({ path: `${OUT}dashboard_settings.png` });

      await page.click('a[data-tab="firmware"]');
      const image = new Uint8Array(150_000).map((_, i) => (i * 31) & 0xff);
      await page.setInputFiles("#fw-file", {
        name: "fw-1.2.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(image),
      });
      await page.click("#fw-upload");
      await until(async () => /Uploaded/.test(await page.textContent("#fw-notice") ?? ""));
      await until(async () => /Not committed/.test(await page.textContent("#fw1-badge") ?? ""));
      await page.screenshot({ path: `${OUT}dashboard_firmware.png` });

      await page.click('a[data-tab="events"]');
      await page.waitForSelector("#tb-events tr td:nth-child(4)");
      assertMatch(await page.textContent("#ev-page") ?? "", /Page 1 of 2/);
      await page.screenshot({ path: `${OUT}dashboard_events.png` });

      await page.setViewportSize({ width: 390, height: 844 });
      await page.click('a[data-tab="overview"]');
      await page.waitForTimeout(600);
      await page.screenshot({ path: `${OUT}dashboard_phone_overview.png`, fullPage: true });
      await page.click('a[data-tab="settings"]');
      await page.screenshot({ path: `${OUT}dashboard_phone_settings.png`, fullPage: true });
      await page.click('a[data-tab="device"]');
      await page.click("#reset-open");
      await page.screenshot({ path: `${OUT}dashboard_phone_reset.png` });
      const reset = device.nextReset();
      await page.click("#reset-confirm");
      await reset;
      const overflow = await page.locator("body").evaluate((body) =>
        body.ownerDocument.documentElement.scrollWidth >
          body.ownerDocument.documentElement.clientWidth
      );
      assert(!overflow, "no horizontal scrolling at 390 px");
      assertEquals(errors, []);
    } finally {
      await context.close();
      await dashboard.close();
      await server.shutdown();
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(profile, { recursive: true });
    }
  },
});
