/**
 * Logging: LogTape configured to print one readable line per record on stderr,
 * `HH:MM:SS.mmm LEVEL mip.area message`, and the one-line form of fatal errors.
 * @module
 */

import {
  configure,
  getConsoleSink,
  getTextFormatter,
  type LogLevel as LogTapeLevel,
  type TextFormatter,
} from "@logtape/logtape";
import type { LogLevel } from "./config.ts";

/** `HH:MM:SS.mmm LEVEL category message`, one line per record (newlines escaped). */
export const formatLogLine: TextFormatter = getTextFormatter({
  timestamp: "time",
  timeZone: null,
  level: "FULL",
  category: ".",
  value: "bare",
  sanitize: { sgr: "escape", newlines: "escape" },
  format: ({ timestamp, level, category, message }) =>
    `${timestamp} ${level.padEnd(7)} ${category} ${message}`,
});

/**
 * Sends the `["mip", ...]` categories at `level` and above to stderr as `formatLogLine` lines;
 * LogTape's own meta logger at warning. Safe to call again (it resets).
 */
export async function configureLogging(level: LogLevel): Promise<void> {
  const toStderr = "error" as const;
  await configure({
    reset: true,
    sinks: {
      console: getConsoleSink({
        formatter: formatLogLine,
        levelMap: {
          trace: toStderr,
          debug: toStderr,
          info: toStderr,
          warning: toStderr,
          error: toStderr,
          fatal: toStderr,
        },
      }),
    },
    loggers: [
      { category: ["mip"], sinks: ["console"], lowestLevel: level as LogTapeLevel },
      { category: ["logtape", "meta"], sinks: ["console"], lowestLevel: "warning" },
    ],
  });
}

/** One line for a fatal error: `mip-tap: <message> (hint: <hint>)` when it carries a hint. */
export function formatFatalError(err: unknown): string {
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim();
  const message = err instanceof Error ? err.message : String(err);
  const hint = (err as { hint?: unknown } | null)?.hint;
  if (typeof hint === "string" && hint !== "") {
    return `mip-tap: ${oneLine(message)} (hint: ${oneLine(hint)})`;
  }
  const detail = err instanceof Error && err.stack ? err.stack : message;
  return `mip-tap: unexpected error: ${detail}`;
}
