/**
 * TapDevice, Pump and PcapLink against the Linux kernel. Every test makes its own network
 * namespace (`mip-<pid>-<n>`) and deletes it in `finally`; the TAP is opened by a Deno
 * subprocess started with `ip netns exec` (fixtures/tap_fixture.ts), because a TAP belongs to
 * the namespace of the process that creates it. Needs root and /dev/net/tun, else skipped.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { Namespace } from "../helpers/netns.ts";

const FIXTURE = new URL("./fixtures/tap_fixture.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const STEP_TIMEOUT_MS = 15_000;

function skipReason(): string | null {
  if (Deno.build.os !== "linux") return "Linux only";
  if (Deno.uid() !== 0) return "needs root (network namespaces and TAP devices)";
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "/dev/net/tun is missing (modprobe tun)";
  }
  return null;
}

const SKIP = skipReason();
if (SKIP !== null) console.log(`tap_device_test: skipped: ${SKIP}`);

/** Resolves `promise`, or rejects after `ms` saying what it was waiting for. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion; returns its exit code and output. */
async function run(cmd: string, args: string[]) {
  const out = await within(
    STEP_TIMEOUT_MS,
    `${cmd} ${args.join(" ")}`,
    new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output(),
  );
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a command that must succeed. */
async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await run(cmd, args);
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${out.stderr.trim()}`);
  return out.stdout;
}

/**
 * Runs `fn` in a fresh network namespace (the shared harness picks a free `mip-<pid>-<n>` name:
 * test modules run in parallel in one process), deleted afterwards whatever happens.
 */
async function withNamespace(fn: (ns: string) => Promise<void>): Promise<void> {
  const ns = await Namespace.create("tap_device");
  try {
    await fn(ns.name);
  } finally {
    await ns.destroy();
  }
}

type Json = Record<string, unknown>;

/** The fixture subprocess in a namespace: JSON lines out, stdin EOF means stop. */
class Fixture {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;
  #stdinClosed = false;

  constructor(ns: string, args: string[], prefix: string[] = []) {
    const deno = [Deno.execPath(), "run", "--allow-all", "--config", CONFIG, FIXTURE];
    this.#child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, ...prefix, ...deno, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      splitLines(),
    ).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** The next JSON line the fixture prints. */
  async next(): Promise<Json> {
    const { value, done } = await within(
      STEP_TIMEOUT_MS,
      "a line from the fixture",
      this.#lines.read(),
    );
    if (done) throw new Error(`The fixture exited early: ${await this.#stderr}`);
    return JSON.parse(value);
  }

  /** Closes stdin (the fixture's cue to finish). */
  async closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#child.stdin.close();
  }

  /** Waits for exit (killing the fixture after the step timeout); returns the exit code. */
  async exit(): Promise<number> {
    await this.closeStdin();
    try {
      return (await within(STEP_TIMEOUT_MS, "the fixture to exit", this.#child.status)).code;
    } catch (error) {
      this.#child.kill("SIGKILL");
      throw error;
    }
  }

  /** Kills the fixture if it still runs and releases its pipes; safe after `exit`. */
  async dispose(): Promise<void> {
    await this.closeStdin().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.#child.status;
    await this.#lines.cancel();
    await this.#stderr;
  }
}

function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) if (line.trim() !== "") controller.enqueue(line);
    },
    flush(controller) {
      if (rest.trim() !== "") controller.enqueue(rest);
    },
  });
}

/** Starts a fixture, runs `fn`, and always disposes of it. */
async function withFixture(
  ns: string,
  args: string[],
  fn: (fixture: Fixture) => Promise<void>,
  prefix: string[] = [],
): Promise<void> {
  const fixture = new Fixture(ns, args, prefix);
  try {
    await fn(fixture);
  } finally {
    await fixture.dispose();
  }
}

/** `ip -j link show` of `name` in `ns`, or null when it does not exist. */
async function linkInfo(ns: string, name: string): Promise<Json | null> {
  const out = await run("ip", ["-n", ns, "-j", "link", "show", "dev", name]);
  if (out.code !== 0) return null;
  return (JSON.parse(out.stdout) as Json[])[0] ?? null;
}

function formatMac(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

const ignore = SKIP !== null;
const opts = { ignore, sanitizeResources: true, sanitizeOps: true };

Deno.test(
  "TapDevice creates a missing TAP, brings it up, and it vanishes on exit",
  opts,
  () =>
    withNamespace(async (ns) => {
      await withFixture(ns, ["open", "tap0", "attach"], async (fixture) => {
        const refused = await fixture.next();
        assertEquals(refused.ok, false);
        const error = refused.error as Json;
        assertEquals([error.name, error.code], ["TapError", "ENODEV"]);
        assertStringIncludes(String(error.hint), "ip tuntap add dev tap0 mode tap user $USER");
        assertEquals(await fixture.exit(), 0);
      });
      assertEquals(await linkInfo(ns, "tap0"), null, "create: false must not create tap0");

      await withFixture(ns, ["open", "tap0"], async (fixture) => {
        const opened = await fixture.next();
        assertEquals(opened.ok, true, JSON.stringify(opened));
        assertEquals([opened.name, opened.created, opened.mtu], ["tap0", true, 1500]);
        assertEquals(opened.nonblocking, true);
        const link = await linkInfo(ns, "tap0");
        if (link === null) throw new Error("tap0 must exist while the fixture holds it");
        assert((link.flags as string[]).includes("UP"), `tap0 is up: ${JSON.stringify(link)}`);
        assertEquals(link.address, formatMac(opened.kernelMac as number[]));
        await fixture.closeStdin();
        assertEquals(await fixture.next(), { closed: true });
        assertEquals(await fixture.exit(), 0);
      });
      assertEquals(await linkInfo(ns, "tap0"), null, "a TAP we created is not persistent");
    }),
);

Deno.test(
  "TapDevice attaches to an existing TAP, leaves it as it was, refuses a 2nd",
  opts,
  () =>
    withNamespace(async (ns) => {
      await sh("ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap");
      await withFixture(ns, ["open", "tap0", "attach"], async (first) => {
        const opened = await first.next();
        assertEquals([opened.ok, opened.created], [true, false], JSON.stringify(opened));
        const link = await linkInfo(ns, "tap0");
        assert(!(link!.flags as string[]).includes("UP"), "an existing TAP is not brought up");

        await withFixture(ns, ["open", "tap0", "attach"], async (second) => {
          const refused = await second.next();
          const error = refused.error as Json;
          assertEquals([refused.ok, error.code, error.syscall], [
            false,
            "EBUSY",
            "ioctl(TUNSETIFF)",
          ]);
          assertStringIncludes(String(error.hint), "in use by another process");
          assertEquals(await second.exit(), 0);
        });
        assertEquals(await first.exit(), 0);
      });
      assert(await linkInfo(ns, "tap0") !== null, "an existing TAP stays after we close it");
    }),
);

Deno.test("TapDevice explains a TUN with the same name", opts, () =>
  withNamespace(async (ns) => {
    await sh("ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tun");
    await withFixture(ns, ["open", "tap0"], async (fixture) => {
      const refused = await fixture.next();
      const error = refused.error as Json;
      assertEquals([refused.ok, error.name, error.code], [false, "TapError", "EINVAL"]);
      assertStringIncludes(String(error.hint), "TUN (layer 3) device, not a TAP");
      assertStringIncludes(String(error.hint), "ip tuntap add dev tap0 mode tap");
      assert(!String(error.message).includes("\n"), "the message is one line");
      assertEquals(await fixture.exit(), 0);
    });
  }));

Deno.test(
  "TapDevice explains EPERM when creating without CAP_NET_ADMIN",
  opts,
  () =>
    withNamespace(async (ns) => {
      const noNetAdmin = ["setpriv", "--bounding-set", "-net_admin"];
      await withFixture(ns, ["open", "tap0"], async (fixture) => {
        const refused = await fixture.next();
        const error = refused.error as Json;
        assertEquals([refused.ok, error.code], [false, "EPERM"], JSON.stringify(refused));
        assertStringIncludes(String(error.hint), "run as root");
        assertStringIncludes(String(error.hint), "ip tuntap add dev tap0 mode tap user $USER");
        assertEquals(await fixture.exit(), 0);
      }, noNetAdmin);
      assertEquals(await linkInfo(ns, "tap0"), null);
    }),
);

Deno.test(
  "frames flow both ways: arping gets ARP replies, tcpdump reads the capture",
  opts,
  () =>
    withNamespace(async (ns) => {
      const pcap = await Deno.makeTempFile({ prefix: "mip-tap-", suffix: ".pcap" });
      const startSeconds = Date.now() / 1000;
      const mac = "02:00:5e:00:53:02";
      try {
        let stats: Json = {};
        await withFixture(ns, ["arp", "tap0", "10.99.0.2", mac, pcap, "20000"], async (fixture) => {
          assertEquals((await fixture.next()).ready, true);
          await sh("ip", "-n", ns, "addr", "add", "10.99.0.1/24", "dev", "tap0");
          await sh("ip", "-n", ns, "link", "set", "tap0", "up");
          const arping = await run("ip", [
            "netns",
            "exec",
            ns,
            "arping",
            "-c",
            "3",
            "-W",
            "0.2",
            "-i",
            "tap0",
            "10.99.0.2",
          ]);
          const replies = arping.stdout.split("\n").filter((line) =>
            line.includes(`from ${mac} (10.99.0.2)`)
          );
          assertEquals(replies.length, 3, arping.stdout + arping.stderr);
          assertEquals(arping.code, 0);
          await fixture.closeStdin();
          stats = await fixture.next();
          assertEquals(await fixture.exit(), 0);
        });
        const device = stats.device as Json;
        assertEquals(stats.error, null);
        assert((stats.requests as number) >= 3, JSON.stringify(stats));
        assertEquals(stats.replies, stats.requests);
        assertEquals(device.txFrames, stats.replies);
        assertEquals([device.txDropped, device.rxDropped], [0, 0]);
        assertEquals(stats.captured, (device.rxFrames as number) + (device.txFrames as number));

        const dump = await run("tcpdump", ["-r", pcap, "-nn", "-e", "-tt"]);
        assertEquals(dump.code, 0, dump.stderr);
        assertStringIncludes(dump.stderr, "link-type EN10MB (Ethernet)");
        const lines = dump.stdout.trim().split("\n");
        assertEquals(lines.length, stats.captured);
        const asked = lines.filter((l) => l.includes("Request who-has 10.99.0.2 tell 10.99.0.1"));
        const told = lines.filter((l) => l.includes(`Reply 10.99.0.2 is-at ${mac}`));
        assertEquals([asked.length, told.length], [stats.requests, stats.replies]);
        for (const line of lines) {
          assertMatch(line, /^\d+\.\d{6} /);
          const seconds = Number(line.split(" ")[0]);
          assert(seconds >= startSeconds - 1 && seconds <= Date.now() / 1000 + 1, line);
        }
      } finally {
        await Deno.remove(pcap).catch(() => {});
      }
    }),
);

Deno.test(
  "deleting the TAP under a running pump ends it with EBADFD",
  opts,
  () =>
    withNamespace(async (ns) => {
      const args = ["arp", "tap0", "10.99.0.2", "02:00:5e:00:53:02", "/dev/null", "20000"];
      await withFixture(ns, args, async (fixture) => {
        assertEquals((await fixture.next()).ready, true);
        await sh("ip", "-n", ns, "link", "del", "tap0");
        const stats = await fixture.next();
        const error = stats.error as Json;
        assertEquals([error.name, error.code, error.syscall], ["TapError", "EBADFD", "read"]);
        assertStringIncludes(String(error.hint), "deleted");
        assertEquals(await fixture.exit(), 0);
      });
    }),
);

Deno.test(
  "the pump idles below 1% CPU and wakes for its timers",
  opts,
  () =>
    withNamespace(async (ns) => {
      await withFixture(ns, ["idle", "tap0", "3000"], async (fixture) => {
        const idle = await fixture.next();
        const cpuPercent = 100 * (idle.cpuMs as number) / (idle.elapsedMs as number);
        console.log(`pump idle: ${cpuPercent.toFixed(3)}% CPU over ${idle.elapsedMs} ms`, idle);
        assert(cpuPercent < 1, `idle CPU ${cpuPercent}% >= 1%`);
        // A 200 ms timer over 3 s: ~15 polls, plus a few for frames the kernel sends.
        const polls = idle.polls as number;
        assert(polls >= 12 && polls <= 60, `expected ~15 timer-driven polls, got ${polls}`);
        assertEquals(await fixture.exit(), 0);
      });
    }),
);
