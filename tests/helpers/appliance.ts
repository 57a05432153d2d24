/**
 * Runs the real appliance (`deno run <permissions> main.ts ...`) inside a test namespace.
 *
 * Invariants: the permissions are read from the `compile` task in deno.json, so tests run the
 * appliance with exactly the rights the compiled binary has (they cannot drift apart); the
 * appliance runs only inside a namespace (`ns.spawn`), with `--cached-only` (a namespace has no
 * route to the registries: deps must be cached first, e.g. by `deno install`); a state directory
 * that the helper created is removed by `stop()`.
 * @module
 */

import type { Namespace } from "./netns.ts";
import type { ChildHandle } from "./process.ts";

/** The repository root (two levels above this file). */
export const REPO_ROOT: string = decodeURIComponent(new URL("../../", import.meta.url).pathname);
/** The entry point the appliance runs. */
export const MAIN_PATH: string = `${REPO_ROOT}main.ts`;

/**
 * The permission flags of a `deno compile ...` task line, in order.
 *
 * @example
 * ```ts
 * permissionsFromTask("deno compile --allow-net --output x main.ts"); // ["--allow-net"]
 * ```
 */
export function permissionsFromTask(task: string): string[] {
  const words = task.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "compile") {
    throw new TypeError(`Cannot read permissions from '${task}': expected a 'deno compile' task`);
  }
  const flags = words.filter((w) => /^(-A|--allow-all|--(allow|deny)-[a-z-]+(=\S+)?)$/.test(w));
  if (flags.length === 0) {
    throw new TypeError(`Cannot read permissions from '${task}': no --allow-* flags`);
  }
  return flags;
}

/** The permission flags of deno.json's `compile` task (what the shipped binary is allowed). */
export async function compilePermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}deno.json`));
  const task = config?.tasks?.compile;
  const command = typeof task === "string" ? task : task?.command;
  if (typeof command !== "string") throw new TypeError("deno.json has no 'compile' task");
  return permissionsFromTask(command);
}

/** The command line that runs main.ts as the compiled binary would (outside any namespace). */
export async function applianceCommand(args: string[]): Promise<string[]> {
  return [Deno.execPath(), "run", ...await compilePermissions(), MAIN_PATH, ...args];
}

/** Options of `startAppliance`. */
export interface ApplianceOptions {
  /** Added to the environment (NO_COLOR=1 is always set). */
  env?: Record<string, string>;
  /** Wait for a log line matching this before returning. */
  ready?: RegExp;
  /** Bound on the `ready` wait (default 15 s). */
  readyTimeoutMs?: number;
}

/** A running appliance. */
export class Appliance {
  /** The process (`ip netns exec <ns> deno run ...`). */
  readonly child: ChildHandle;
  /** The --state-dir in use. */
  readonly stateDir: string;
  readonly #ownsStateDir: boolean;

  constructor(child: ChildHandle, stateDir: string, ownsStateDir: boolean) {
    this.child = child;
    this.stateDir = stateDir;
    this.#ownsStateDir = ownsStateDir;
  }

  /** The first log line (stdout or stderr, earlier lines included) matching `regex`. */
  async waitForLog(regex: RegExp, timeoutMs = 10_000): Promise<string> {
    return (await this.child.waitForLine(regex, timeoutMs)).text;
  }

  /** SIGTERM, SIGKILL after `timeoutMs`; resolves with the exit code. Idempotent. */
  async stop(timeoutMs = 10_000): Promise<number> {
    const code = await this.child.stop("SIGTERM", timeoutMs);
    if (this.#ownsStateDir) await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
    return code;
  }

  /** All output so far, stdout and stderr interleaved by arrival. */
  output(): string {
    return this.child.output();
  }
}

/**
 * Starts `main.ts ...args` inside `ns` with the compile task's permissions. When `args` has no
 * `--state-dir`, a fresh temporary one is added (and removed by `stop`).
 *
 * @example
 * ```ts
 * await withNamespace(async (ns) => {
 *   await ns.addTap("tap0", "192.168.0.1/24");
 *   const app = await startAppliance(ns, ["--ip", "192.168.0.2/24"]);
 *   await app.waitForLog(/starting/);
 *   assertEquals(await app.stop(), 0);
 * });
 * ```
 */
export async function startAppliance(
  ns: Namespace,
  args: string[],
  options: ApplianceOptions = {},
): Promise<Appliance> {
  const given = flagValue(args, "--state-dir");
  const hasStateDir = given !== null;
  const stateDir = given ?? await Deno.makeTempDir({ prefix: "mip-state-" });
  const fullArgs = hasStateDir ? args : [...args, "--state-dir", stateDir];
  const [deno, runWord, ...rest] = await applianceCommand(fullArgs);
  const child = ns.spawn([deno!, runWord!, "--cached-only", ...rest], {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...options.env },
  });
  const appliance = new Appliance(child, stateDir, !hasStateDir);
  if (options.ready) {
    try {
      await appliance.waitForLog(options.ready, options.readyTimeoutMs ?? 15_000);
    } catch (err) {
      await appliance.stop(2_000);
      throw err;
    }
  }
  return appliance;
}

/** The value of `--name VALUE` or `--name=VALUE` in `args`, or null. */
function flagValue(args: string[], name: string): string | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === name) return args[i + 1] ?? "";
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return null;
}
