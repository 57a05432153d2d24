/**
 * `deno task demo` as a newcomer runs it: it pings the appliance, serves the dashboard on
 * 127.0.0.1 through its forwards (the page, /api/stats/get with the printed password, HTTPS),
 * and Ctrl-C removes the namespace and closes the forwards.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { REPO_ROOT } from "../helpers/appliance.ts";
import { forwardSkipReason, freePort } from "../helpers/forward.ts";
import { interopTest } from "../helpers/netns.ts";
import { run, spawn } from "../helpers/process.ts";

/** The demo's dashboard block: "Dashboard (user admin, password P):" then one URL per line. */
const DASHBOARD = /Dashboard \(user admin, password (\S+)\):/;
const HTTP_URL = /^ {2}(http:\/\/127\.0\.0\.1:(\d+)\/) {2}-> ([0-9.]+):80/m;
const HTTPS_URL = /^ {2}(https:\/\/127\.0\.0\.1:(\d+)\/) {2}-> [0-9.]+:443/m;

/**
 * The dashboard through the demo's forwards, from the root namespace as a person's browser sees
 * it: the page, /api/stats/get refused without and answered with the printed password (showing
 * the leased address), and HTTPS. Returns the two local ports.
 */
async function checkDashboard(output: string): Promise<number[]> {
  const password = DASHBOARD.exec(output)?.[1];
  const http = HTTP_URL.exec(output);
  const https = HTTPS_URL.exec(output);
  if (password === undefined || http === null || https === null) {
    throw new Error(`No dashboard URLs and password in the demo's output:\n${output}`);
  }
  const [, base, httpPort, device] = http;
  const page = await fetch(base!);
  assertEquals(page.status, 200);
  assertMatch(await page.text(), /id="login-view"/);
  const refused = await fetch(`${base}api/stats/get`);
  assertEquals(refused.status, 403);
  await refused.body?.cancel();
  const stats = await fetch(`${base}api/stats/get`, {
    headers: { authorization: `Basic ${btoa(`admin:${password}`)}` },
  });
  assertEquals(stats.status, 200);
  const body = await stats.json();
  assertEquals([body.ipv4?.address, body.ipv4?.source], [device, "dhcp"]);
  const secure = await run(
    ["curl", "-k", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", https[1]!],
    { timeoutMs: 15_000 },
  );
  assertEquals(secure.stdout, "200", secure.stderr);
  return [Number(httpPort), Number(https[2])];
}

/** Deletes the demo's namespace if a killed demo left it, ending what still runs inside. */
async function removeNamespace(name: string): Promise<void> {
  const list = await run(["ip", "netns", "list"]);
  if (!list.stdout.split("\n").some((line) => line.split(" ")[0] === name)) return;
  const pids = await run(["ip", "netns", "pids", name]);
  for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      Deno.kill(Number(pid), "SIGKILL"); // the demo's own appliance and dnsmasq
    } catch {
      // Gone already.
    }
  }
  await run(["ip", "netns", "del", name]);
}

interopTest(
  "the demo answers ping, serves the dashboard on 127.0.0.1, and Ctrl-C removes it all",
  async () => {
    const demo = spawn([
      Deno.execPath(),
      "run",
      "--cached-only",
      "--allow-all",
      "tests/helpers/demo.ts",
    ], {
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
    });
    let name: string | null = null;
    try {
      const line = await demo.waitForLine(/^namespace (mip-\S+): tap0/, 15_000);
      name = /^namespace (mip-\S+):/.exec(line.text)![1]!;
      await demo.waitForLine(/Press Ctrl-C/, 30_000);
      const output = demo.output();
      assertMatch(output, /3 packets transmitted, 3 received, 0% packet loss/);

      const ports = forwardSkipReason() === null ? await checkDashboard(output) : [];
      if (ports.length === 0) console.log(`demo forwards not checked: ${forwardSkipReason()}`);

      assertEquals(await demo.stop("SIGINT", 15_000), 0, demo.output());
      assertMatch(demo.output(), new RegExp(`namespace ${name} deleted`));
      const list = await run(["ip", "netns", "list"]);
      assertEquals(list.stdout.includes(name), false, `${name} is gone`);
      for (const port of ports) {
        assertEquals(freePort(port), port, `127.0.0.1:${port} is closed again`);
      }
    } finally {
      // After a failed check the demo still runs: Ctrl-C lets it clean up (SIGKILL after 15 s).
      await demo.stop("SIGINT", 15_000);
      if (name !== null) await removeNamespace(name);
    }
  },
);
