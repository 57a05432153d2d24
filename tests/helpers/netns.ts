/**
 * Private network namespaces for tests that touch the kernel network (TAP devices, veth pairs,
 * kernel peers such as ping, curl or dnsmasq).
 *
 * Invariants (the project's network safety rule):
 * - Every address, route, TAP, veth and bridge is created inside a namespace made here
 *   (`ip netns add mip-<pid>-<n>`); nothing is ever added to the root namespace. A veth pair is
 *   created with both ends inside our namespaces.
 * - `destroy()` stops the processes spawned through the namespace, kills whatever else still runs
 *   inside it (only our own children can be there: the namespace is private), then deletes it.
 *   It is idempotent; `withNamespace` calls it on success and on failure.
 * - Every command is bounded in time (see process.ts).
 * @module
 */

import { ChildHandle, run, type RunOptions, type RunResult, type SpawnOptions } from "./process.ts";

/** Attempts at a free `mip-<pid>-<n>` name (test modules share a pid under `--parallel`). */
const CREATE_ATTEMPTS = 64;
/** How long `destroy` lets a spawned process exit after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 3_000;
/** Rounds of "kill what is left inside, look again" in `destroy`. */
const KILL_ROUNDS = 20;

let counter = 0;
const live = new Set<Namespace>();

/** True when this process runs as root. */
export function isRoot(): boolean {
  return Deno.build.os === "linux" && Deno.uid() === 0;
}

let skipReason: string | null | undefined;

/**
 * Why kernel interop tests cannot run here (not Linux, not root, no /dev/net/tun, no `ip`, or
 * namespaces cannot be created), or null when they can. Probed once, synchronously.
 */
export function interopSkipReason(): string | null {
  if (skipReason === undefined) skipReason = probe();
  return skipReason;
}

function probe(): string | null {
  if (Deno.build.os !== "linux") return `needs Linux, this is ${Deno.build.os}`;
  if (!isRoot()) return "not running as root (namespaces and TAP devices need it)";
  if (!exists("/dev/net/tun")) return "no /dev/net/tun (try: modprobe tun)";
  if (!onPath("ip")) return "no 'ip' binary on PATH (install iproute2)";
  const name = `mip-${Deno.pid}-p${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16)}`;
  const add = new Deno.Command("ip", { args: ["netns", "add", name], stdout: "null" }).outputSync();
  if (!add.success) {
    return `cannot create a network namespace: ${new TextDecoder().decode(add.stderr).trim()}`;
  }
  new Deno.Command("ip", { args: ["netns", "del", name], stderr: "null" }).outputSync();
  return null;
}

/** One private network namespace, named `mip-<pid>-<n>`. */
export class Namespace {
  /** The namespace name as `ip netns` knows it. */
  readonly name: string;
  /** What the test called it, for messages. */
  readonly tag: string;
  readonly #children: ChildHandle[] = [];
  #destroying: Promise<void> | null = null;

  private constructor(name: string, tag: string) {
    this.name = name;
    this.tag = tag;
  }

  /** Creates a namespace with its loopback up. `tag` only labels messages. */
  static async create(tag = "test"): Promise<Namespace> {
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const name = `mip-${Deno.pid}-${++counter}`;
      const result = await run(["ip", "netns", "add", name], { timeoutMs: 10_000 });
      if (result.success) {
        const ns = new Namespace(name, tag);
        live.add(ns);
        try {
          await ns.ip(["link", "set", "lo", "up"]);
        } catch (err) {
          await ns.destroy();
          throw err;
        }
        return ns;
      }
      if (!/File exists/i.test(result.stderr)) {
        throw new Error(
          `Cannot create network namespace ${name} (${tag}): ${result.stderr.trim()}`,
        );
      }
    }
    throw new Error(`Cannot create network namespace (${tag}): no free name after retries`);
  }

  /** True once `destroy` has been called. */
  get destroyed(): boolean {
    return this.#destroying !== null;
  }

  /**
   * Runs `cmd` inside the namespace (`ip netns exec`) to completion.
   * Unlike `run`, throws on a non-zero exit unless `check: false` is given.
   */
  exec(cmd: string[], options: RunOptions = {}): Promise<RunResult> {
    this.#assertAlive();
    return run(["ip", "netns", "exec", this.name, ...cmd], { check: true, ...options });
  }

  /** Runs `ip -n <ns> ...args` (throws on failure). */
  ip(args: string[], options: RunOptions = {}): Promise<RunResult> {
    this.#assertAlive();
    return run(["ip", "-n", this.name, ...args], { check: true, timeoutMs: 10_000, ...options });
  }

  /** Starts a long-lived `cmd` inside the namespace; `destroy` stops it. */
  spawn(cmd: string[], options: SpawnOptions = {}): ChildHandle {
    this.#assertAlive();
    const child = new ChildHandle(["ip", "netns", "exec", this.name, ...cmd], options);
    this.#children.push(child);
    return child;
  }

  /**
   * Creates a persistent TAP device `name` in the namespace (the kernel's side of the wire),
   * gives it `cidr` (e.g. "192.168.0.1/24"; null = no address) and brings it and lo up.
   */
  async addTap(name: string, cidr: string | null, options: TapOptions = {}): Promise<void> {
    const flags = [
      ...(options.vnetHdr ? ["vnet_hdr"] : []),
      ...(options.multiQueue ? ["multi_queue"] : []),
    ];
    await this.ip(["tuntap", "add", "dev", name, "mode", "tap", ...flags]);
    if (options.mac) await this.ip(["link", "set", name, "address", options.mac]);
    if (options.mtu) await this.ip(["link", "set", name, "mtu", String(options.mtu)]);
    if (cidr !== null) await this.ip(["addr", "add", cidr, "dev", name]);
    await this.ip(["link", "set", name, "up"]);
    await this.ip(["link", "set", "lo", "up"]);
  }

  /**
   * Creates a veth pair: `name` here, `peerName` in `other`, with optional addresses, both up.
   * Both ends live in our namespaces; nothing touches the root namespace.
   */
  async addVethPeer(other: Namespace, options: VethOptions): Promise<void> {
    other.#assertAlive();
    await this.ip([
      "link",
      "add",
      options.name,
      "type",
      "veth",
      "peer",
      "name",
      options.peerName,
      "netns",
      other.name,
    ]);
    if (options.cidr) await this.ip(["addr", "add", options.cidr, "dev", options.name]);
    if (options.peerCidr) {
      await other.ip(["addr", "add", options.peerCidr, "dev", options.peerName]);
    }
    await this.ip(["link", "set", options.name, "up"]);
    await other.ip(["link", "set", options.peerName, "up"]);
  }

  /** Creates bridge `name` over `members` (interfaces in this namespace), optionally addressed. */
  async addBridge(name: string, members: string[], cidr: string | null = null): Promise<void> {
    await this.ip(["link", "add", name, "type", "bridge"]);
    for (const member of members) await this.ip(["link", "set", member, "master", name]);
    if (cidr !== null) await this.ip(["addr", "add", cidr, "dev", name]);
    await this.ip(["link", "set", name, "up"]);
  }

  /**
   * Stops the spawned processes (SIGTERM, then SIGKILL), kills anything else left inside, and
   * deletes the namespace. Idempotent: later calls return the first call's promise.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#teardown();
    return this.#destroying;
  }

  async #teardown(): Promise<void> {
    await Promise.all(this.#children.map((child) => child.stop("SIGTERM", STOP_TIMEOUT_MS)));
    await this.#killLeftovers();
    const del = await run(["ip", "netns", "del", this.name], { timeoutMs: 10_000 });
    if (!del.success && !/No such file/i.test(del.stderr)) {
      throw new Error(`Cannot delete network namespace ${this.name}: ${del.stderr.trim()}`);
    }
    live.delete(this);
  }

  /** SIGKILLs processes still inside (daemons that forked away from our child). */
  async #killLeftovers(): Promise<void> {
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const pids = await run(["ip", "netns", "pids", this.name], { timeoutMs: 10_000 });
      const list = pids.stdout.split(/\s+/).filter((p) => /^[0-9]+$/.test(p)).map(Number);
      if (!pids.success || list.length === 0) return;
      for (const pid of list) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  #assertAlive(): void {
    if (this.#destroying) throw new Error(`Namespace ${this.name} (${this.tag}) is destroyed`);
  }
}

/** Options of `addTap`. */
export interface TapOptions {
  /** MAC of the kernel's side, e.g. "02:00:00:00:00:01". */
  mac?: string;
  mtu?: number;
  /** Create with IFF_VNET_HDR (`vnet_hdr`). */
  vnetHdr?: boolean;
  /** Create with IFF_MULTI_QUEUE (`multi_queue`). */
  multiQueue?: boolean;
}

/** Options of `addVethPeer`. */
export interface VethOptions {
  /** This end's name. */
  name: string;
  /** This end's address, e.g. "10.9.0.1/24". */
  cidr?: string | null;
  /** The other end's name (in the other namespace). */
  peerName: string;
  peerCidr?: string | null;
}

/**
 * Runs `fn` with a fresh namespace and always destroys it, also when `fn` throws.
 *
 * @example
 * ```ts
 * await withNamespace(async (ns) => {
 *   await ns.addTap("tap0", "192.168.0.1/24");
 * });
 * ```
 */
export async function withNamespace<T>(
  fn: (ns: Namespace) => T | Promise<T>,
  tag = "test",
): Promise<T> {
  return await withNamespaces(1, (list) => fn(list[0]!), tag);
}

/** Like `withNamespace`, with `count` namespaces (e.g. a client and a server host). */
export async function withNamespaces<T>(
  count: number,
  fn: (namespaces: Namespace[]) => T | Promise<T>,
  tag = "test",
): Promise<T> {
  const namespaces: Namespace[] = [];
  let result: T;
  try {
    for (let i = 0; i < count; i++) namespaces.push(await Namespace.create(`${tag}#${i}`));
    result = await fn(namespaces);
  } catch (err) {
    const settled = await Promise.allSettled(namespaces.map((ns) => ns.destroy()));
    for (const outcome of settled) {
      // The test's own error is the one to throw; a cleanup failure is still worth seeing.
      if (outcome.status === "rejected") console.error(`cleanup failed: ${outcome.reason}`);
    }
    throw err;
  }
  await Promise.all(namespaces.map((ns) => ns.destroy()));
  return result;
}

/** Options of `interopTest`: Deno.test's, plus an overall time bound. */
export interface InteropTestOptions extends Omit<Deno.TestDefinition, "name" | "fn"> {
  /** Fail the test when `fn` has not settled by then (default 120 s). */
  timeoutMs?: number;
}

/**
 * `Deno.test` for tests that need root, TAP and namespaces: ignored (with one line
 * "interop tests skipped: <reason>") where `interopSkipReason()` is not null, except that with
 * MIP_REQUIRE_INTEROP=1 (set by CI) such an environment fails instead of skipping.
 */
export function interopTest(
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
  options: InteropTestOptions = {},
): void {
  const { timeoutMs = 120_000, ...definition } = options;
  const reason = interopSkipReason();
  if (reason !== null && envFlag("MIP_REQUIRE_INTEROP") === "1") {
    Deno.test({
      ...definition,
      name,
      fn: () => {
        throw new Error(`interop tests required (MIP_REQUIRE_INTEROP=1) but cannot run: ${reason}`);
      },
    });
    return;
  }
  if (reason !== null) announceSkip(reason);
  Deno.test({
    ...definition,
    name,
    ignore: reason !== null || definition.ignore === true,
    fn: (t) => withTimeout(name, Promise.resolve(fn(t)), timeoutMs),
  });
}

async function withTimeout(name: string, work: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`interop test '${name}' did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Prints the skip line once per process (test modules share the environment, not globals). */
function announceSkip(reason: string): void {
  const key = "MIP_INTEROP_SKIP_ANNOUNCED";
  if (envFlag(key) === String(Deno.pid)) return;
  try {
    Deno.env.set(key, String(Deno.pid));
  } catch {
    // No env permission: print once per module instead.
  }
  console.log(`interop tests skipped: ${reason}`);
}

function envFlag(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function onPath(program: string): boolean {
  const dirs = (envFlag("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  return dirs.some((dir) => dir !== "" && exists(`${dir}/${program}`));
}

// Safety net: a namespace still alive when the module unloads (a test forgot destroy) is deleted.
globalThis.addEventListener("unload", () => {
  for (const ns of live) {
    try {
      new Deno.Command("ip", { args: ["netns", "del", ns.name], stderr: "null" }).outputSync();
    } catch {
      // Best effort only.
    }
  }
});
