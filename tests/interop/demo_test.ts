/** `deno task demo` as a newcomer runs it: it pings the appliance, and Ctrl-C cleans up. */

import { assertEquals, assertMatch } from "@std/assert";
import { REPO_ROOT } from "../helpers/appliance.ts";
import { interopTest } from "../helpers/netns.ts";
import { run, spawn } from "../helpers/process.ts";

interopTest("the demo answers ping in its own namespace and removes it on Ctrl-C", async () => {
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
  try {
    const line = await demo.waitForLine(/^namespace (mip-\S+): tap0/, 15_000);
    const name = /^namespace (mip-\S+):/.exec(line.text)![1]!;
    await demo.waitForLine(/Press Ctrl-C/, 30_000);
    assertMatch(demo.output(), /3 packets transmitted, 3 received, 0% packet loss/);
    assertEquals(await demo.stop("SIGINT", 15_000), 0, demo.output());
    assertMatch(demo.output(), new RegExp(`namespace ${name} deleted`));
    const list = await run(["ip", "netns", "list"]);
    assertEquals(list.stdout.includes(name), false, `${name} is gone`);
  } finally {
    await demo.stop("SIGKILL", 2_000);
  }
});
