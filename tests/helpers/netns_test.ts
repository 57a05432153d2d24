/**
 * The test harness itself: the process runner (plain tests, no privileges), and the namespace
 * helper (interop tests: root, /dev/net/tun, iproute2). Namespaces must never leak: every test
 * checks `ip netns list` after destroy, also after a thrown error.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { interopTest, Namespace, withNamespace, withNamespaces } from "./netns.ts";
import { startAppliance } from "./appliance.ts";
import { run, spawn } from "./process.ts";

async function namespaceNames(): Promise<string[]> {
  const list = await run(["ip", "netns", "list"], { check: true });
  return list.stdout.split("\n").map((line) => line.split(" ")[0]!).filter((n) => n !== "");
}

/** True when `pid` is gone or a zombie (exited, not yet reaped by its new parent). */
async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return / Z /.test(stat.slice(stat.lastIndexOf(")")));
  } catch {
    return true;
  }
}

Deno.test("run: captures output and exit code, stdin optional", async () => {
  const result = await run(["sh", "-c", "cat; echo err >&2; exit 3"], { stdin: "in\n" });
  assertEquals(result, { code: 3, signal: null, success: false, stdout: "in\n", stderr: "err\n" });
  await assertRejects(() => run(["false"], { check: true }), Error, "exit code 1");
});

Deno.test("run: a command past its timeout is killed and reported", async () => {
  const started = performance.now();
  await assertRejects(() => run(["sleep", "30"], { timeoutMs: 200 }), Error, "timed out");
  assert(performance.now() - started < 5_000, "did not wait for the command");
});

Deno.test("spawn: waitForLine sees earlier and later lines on both streams", async () => {
  const child = spawn(["sh", "-c", "echo one; echo two >&2; read _ignored; echo never"]);
  const two = await child.waitForLine(/^two$/, 5_000);
  assertEquals(two.stream, "stderr");
  const one = await child.waitForLine(/one/g, 5_000); // printed before the call; g is ignored
  assertEquals([one.index, one.stream], [0, "stdout"]);
  assertEquals(await child.stop(), 0); // stdin is closed: read fails, the script ends by itself
  await assertRejects(() => child.waitForLine(/never-printed/, 5_000), Error, "exited with code");
});

Deno.test("spawn: waitForLine times out with the output tail in the message", async () => {
  const child = spawn(["sh", "-c", "echo hello; exec sleep 30"]);
  await assertRejects(() => child.waitForLine(/absent/, 100), Error, "stdout: hello");
  assertEquals(await child.stop("SIGTERM"), 128 + 15);
});

Deno.test("spawn: stop escalates to SIGKILL when SIGTERM is ignored", async () => {
  const child = spawn(["sh", "-c", "trap '' TERM; echo armed; exec sleep 30"]);
  await child.waitForLine(/armed/, 5_000);
  const started = performance.now();
  assertEquals(await child.stop("SIGTERM", 300), 128 + 9);
  assert(performance.now() - started < 5_000);
  assertEquals(await child.stop(), 128 + 9, "stop is idempotent");
});

Deno.test("spawn: a background grandchild holding the pipes does not hang stop", async () => {
  const child = spawn(["sh", "-c", "sleep 10 & echo $!; exec sleep 30"]);
  const grandchild = Number((await child.waitForLine(/^[0-9]+$/, 5_000)).text);
  assertEquals(await child.stop("SIGKILL"), 128 + 9);
  assert(!(await processGone(grandchild)), "stop returned while the grandchild still ran");
  Deno.kill(grandchild, "SIGKILL"); // ours: started through our sh
});

interopTest("Namespace: create, exec, destroy leaves no namespace behind", async () => {
  const ns = await Namespace.create("harness");
  assertMatch(ns.name, new RegExp(`^mip-${Deno.pid}-[0-9]+$`));
  assert((await namespaceNames()).includes(ns.name));
  const lo = await ns.exec(["ip", "-o", "link", "show", "lo"]);
  assertMatch(lo.stdout, /<[^>]*\bUP\b[^>]*>/, "loopback is up");
  const links = await ns.exec(["ip", "-o", "link", "show"]);
  assertEquals(links.stdout.trim().split("\n").length, 1, "a fresh namespace has only lo");
  await ns.destroy();
  assert(ns.destroyed);
  assert(!(await namespaceNames()).includes(ns.name));
  await ns.destroy(); // idempotent
  assert(
    (() => {
      try {
        ns.spawn(["true"]);
        return false;
      } catch {
        return true;
      }
    })(),
    "a destroyed namespace refuses new processes",
  );
});

interopTest("withNamespace: destroys the namespace when the test body throws", async () => {
  let name = "";
  await assertRejects(
    () =>
      withNamespace(async (ns) => {
        name = ns.name;
        await ns.addTap("miptap0", "10.201.0.1/24");
        throw new Error("boom");
      }),
    Error,
    "boom",
  );
  assert(name !== "");
  assert(!(await namespaceNames()).includes(name));
});

interopTest("destroy: stops spawned processes and daemons that forked away", async () => {
  let names: string[] = [];
  const pids: number[] = [];
  await withNamespaces(2, async (namespaces) => {
    names = namespaces.map((ns) => ns.name);
    const [a, b] = namespaces as [Namespace, Namespace];
    const direct = a.spawn(["sleep", "300"]);
    pids.push(direct.pid);
    const forker = b.spawn(["sh", "-c", "sleep 300 & echo $!"]);
    pids.push(Number((await forker.waitForLine(/^[0-9]+$/, 5_000)).text));
    await forker.exited; // sh is gone; its sleep lives on inside b
    assertEquals((await run(["ip", "netns", "identify", String(pids[1])])).stdout.trim(), b.name);
  });
  const remaining = await namespaceNames();
  for (const name of names) assert(!remaining.includes(name), `${name} deleted`);
  for (const pid of pids) assert(await processGone(pid), `process ${pid} ended`);
});

interopTest("addTap: the TAP exists only inside the namespace, with its address", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("miptap0", "10.202.0.1/24", { mac: "02:00:00:00:02:01", mtu: 1400 });
    const addr = await ns.exec(["ip", "-o", "addr", "show", "dev", "miptap0"]);
    assertMatch(addr.stdout, /inet 10\.202\.0\.1\/24/);
    const link = await ns.exec(["ip", "-d", "-o", "link", "show", "miptap0"]);
    assertMatch(link.stdout, /mtu 1400/);
    assertMatch(link.stdout, /link\/ether 02:00:00:00:02:01/);
    assertMatch(link.stdout, /tun type tap/);
    const root = await run(["ip", "link", "show", "miptap0"]);
    assert(!root.success, "no such device in the root namespace");
  });
});

interopTest("addVethPeer: two namespaces reach each other and nothing else", async () => {
  await withNamespaces(2, async ([a, b]) => {
    await a!.addVethPeer(b!, {
      name: "va",
      cidr: "10.203.0.1/24",
      peerName: "vb",
      peerCidr: "10.203.0.2/24",
    });
    const ping = await a!.exec(["ping", "-c", "1", "-W", "2", "10.203.0.2"], { timeoutMs: 10_000 });
    assertMatch(ping.stdout, /1 received/);
    const routes = await b!.exec(["ip", "route", "show"]);
    assert(!/default/.test(routes.stdout), "no default route: no way out of the namespaces");
  });
});

interopTest("startAppliance: runs main.ts in the namespace and stops on SIGTERM", async () => {
  await withNamespace(async (ns) => {
    await ns.addTap("tap0", "192.168.77.1/24");
    const app = await startAppliance(ns, ["--ip", "192.168.77.2/24", "--https-port", "0"], {
      ready: /starting: .*iface=tap0/,
      readyTimeoutMs: 30_000,
    });
    const line = await app.waitForLog(/starting:/, 1_000);
    assertMatch(line, /^\d\d:\d\d:\d\d\.\d{3} INFO +mip\.main mip-tap \S+ starting: /);
    assertMatch(line, /ip=192\.168\.77\.2\/24/);
    assertMatch(line, new RegExp(`state-dir=${app.stateDir}`));
    assertEquals(await app.stop(), 0);
    assert(app.output().includes("starting:"));
  });
});
