/**
 * The first step of `deno task test`: makes sure the tools the interop tests use are installed,
 * so that on a fresh Debian or Ubuntu machine `sudo deno task test` is the only command needed.
 *
 * The package list is the `APT_PACKAGES=(...)` line of `.ci/run` (one list for CI and for
 * people). As root with apt-get, missing packages are installed (no service is started while
 * installing: policy-rc.d, as in `.ci/run`); otherwise the missing ones are named and the interop
 * tests that need them skip or fail with that reason. Then the npm dependencies are cached,
 * because processes inside a test namespace have no network.
 * @module
 */

import { run } from "./process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The packages named on `.ci/run`'s APT_PACKAGES line. */
export async function aptPackages(): Promise<string[]> {
  const script = await Deno.readTextFile(`${ROOT}.ci/run`);
  const match = /^APT_PACKAGES=\(([^)]*)\)/m.exec(script);
  if (match === null) throw new Error("Cannot find APT_PACKAGES=(...) in .ci/run");
  return match[1]!.trim().split(/\s+/).filter((p) => p !== "");
}

async function installed(pkg: string): Promise<boolean> {
  const result = await run(["dpkg-query", "-W", "-f=${Status}", pkg]).catch(() => null);
  return result !== null && result.success && result.stdout.includes("install ok installed");
}

/**
 * Installs whichever of `packages` are missing, when running as root on a system with apt-get
 * (no service is started while installing: policy-rc.d); otherwise says what is missing.
 * Returns the packages still missing afterwards.
 */
export async function ensurePackages(packages: string[]): Promise<string[]> {
  if (Deno.build.os !== "linux") return [];
  const hasApt = (await run(["sh", "-c", "command -v dpkg-query && command -v apt-get"])).success;
  if (!hasApt) {
    console.error(`prepare: not a Debian-like system; install ${packages.join(" ")} yourself`);
    return packages;
  }
  const missing: string[] = [];
  for (const pkg of packages) if (!await installed(pkg)) missing.push(pkg);
  if (missing.length === 0) return [];
  if (Deno.uid() !== 0) {
    console.error(`prepare: missing ${missing.join(" ")}; run as root to install them`);
    return missing;
  }
  console.error(`prepare: installing ${missing.join(" ")}`);
  const policy = "/usr/sbin/policy-rc.d";
  const added = await Deno.stat(policy).then(() => false, () => true);
  if (added) await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await run(["apt-get", "update"], { timeoutMs: 600_000, env });
    const result = await run(
      ["apt-get", "install", "-y", "--no-install-recommends", ...missing],
      { timeoutMs: 1_200_000, env },
    );
    if (!result.success) console.error(`prepare: apt-get install failed:\n${result.stderr}`);
  } finally {
    if (added) await Deno.remove(policy).catch(() => {});
  }
  const still: string[] = [];
  for (const pkg of missing) if (!await installed(pkg)) still.push(pkg);
  return still;
}

/**
 * Caches the npm dependencies (`deno install`): the appliance runs `--cached-only` inside
 * namespaces, which have no network.
 */
export async function cacheDependencies(): Promise<void> {
  const cached = await run([Deno.execPath(), "install"], { cwd: ROOT, timeoutMs: 600_000 });
  if (!cached.success) console.error(`prepare: deno install failed:\n${cached.stderr}`);
}

async function prepare(): Promise<number> {
  await ensurePackages(await aptPackages());
  await cacheDependencies();
  return 0;
}

if (import.meta.main) Deno.exit(await prepare());
