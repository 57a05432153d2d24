/**
 * mip-tap's entry point: flags -> config (app/config.ts), logging (app/logging.ts), signals,
 * the appliance (app/appliance.ts), exit codes.
 *
 * `main` prints a usage problem as exactly one stderr line and returns 2, a runtime error that
 * carries a `hint` (TapError) as one line and returns 1, and returns 0 after SIGINT/SIGTERM.
 * Exit codes: 0 clean shutdown, 1 runtime error, 2 bad usage.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import denoJson from "./deno.json" with { type: "json" };
import { describeConfig, HELP, parseConfig, UsageError } from "./app/config.ts";
import type { Config } from "./app/config.ts";
import { configureLogging, formatFatalError } from "./app/logging.ts";
import { runAppliance } from "./app/appliance.ts";

export * from "./app/config.ts";
export { configureLogging, formatFatalError, formatLogLine } from "./app/logging.ts";
export { runAppliance } from "./app/appliance.ts";

/** SIGINT/SIGTERM -> abort (reason: the signal's name); a second signal exits at once. */
function trapSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((name) => {
    const handler = () => {
      if (controller.signal.aborted) {
        console.error(`mip-tap: second ${name} during shutdown, exiting now`);
        Deno.exit(1);
      }
      controller.abort(name);
    };
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    dispose: () => handlers.forEach(([name, handler]) => Deno.removeSignalListener(name, handler)),
  };
}

/** Parses `args`, configures logging, runs until a signal; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let config: Config;
  try {
    config = parseConfig(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`mip-tap: ${err.message} (see --help)`);
    return 2;
  }
  if (config.help) {
    console.log(HELP);
    return 0;
  }
  const shutdown = trapSignals(); // before the first log line, which tests take as "running"
  await configureLogging(config.logLevel);
  getLogger(["mip", "main"]).info("mip-tap {version} starting: {config}", {
    version: denoJson.version,
    config: describeConfig(config),
  });
  try {
    return await runAppliance(config, shutdown.signal);
  } catch (err) {
    console.error(formatFatalError(err));
    return 1;
  } finally {
    shutdown.dispose();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
