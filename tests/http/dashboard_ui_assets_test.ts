/**
 * The UI assets are encoded once at startup and shared by every response: each GET returns the
 * asset's full UTF-8 text (the same on every request, including ones with non-ASCII text), HEAD
 * none, and the length header matches the bytes.
 */

import { assertEquals } from "@std/assert";
import { APP_CSS } from "../../http/dashboard/assets/app_css.ts";
import { APP_JS } from "../../http/dashboard/assets/app_js.ts";
import { call, withDashboard } from "./dashboard_helpers.ts";

Deno.test("dashboard ui: assets are whole and identical on repeated requests", async () => {
  await withDashboard(async (dashboard) => {
    for (const [path, source] of [["/app.css", APP_CSS], ["/app.js", APP_JS]] as const) {
      for (let i = 0; i < 3; i++) {
        const res = await call(dashboard, path);
        assertEquals(res.status, 200);
        const bytes = new Uint8Array(await res.arrayBuffer());
        assertEquals(new TextDecoder().decode(bytes), source, path);
      }
      const head = await call(dashboard, path, { method: "HEAD" });
      assertEquals(head.status, 200);
      assertEquals((await head.arrayBuffer()).byteLength, 0);
    }
  });
});
