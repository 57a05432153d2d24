/**
 * The baseline for the process figures: a bare Deno process that prints "ready" and then idles
 * (one pending timer) until it is stopped, or for at most `LIFETIME_MS`. Run as
 * `deno run tests/bench/_bare_deno.ts`; it needs no permissions.
 * @module
 */

/** The longest it stays alive when nobody stops it. */
const LIFETIME_MS = 120_000;

if (import.meta.main) {
  console.log("ready");
  await new Promise((resolve) => setTimeout(resolve, LIFETIME_MS));
}
