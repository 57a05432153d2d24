/**
 * Load from wrk on the kernel side, bounded (`timeout 20 wrk -t1 -d5s`, 1 and 50 connections),
 * against a small static file and an /api endpoint with Basic auth, over HTTP and HTTPS: every
 * request must get a 2xx answer and no socket error may occur. Requests/sec are printed as
 * figures, not asserted (machines differ).
 */

import { assert, assertEquals } from "@std/assert";
import { interopTest, type Namespace } from "../helpers/netns.ts";
import { basicAuth, curlResponse, DEVICE, withWebAppliance } from "./fixtures/http_setup.ts";

/** What one wrk run reported. */
interface WrkFigures {
  requests: number;
  requestsPerSecond: number;
  output: string;
}

/** `timeout 20 wrk -t1 -c<connections> -d5s ...` inside `ns`; fails on errors or non-2xx. */
async function wrk(ns: Namespace, url: string, connections: number, headers: string[] = []) {
  const args = ["timeout", "20", "wrk", "-t1", `-c${connections}`, "-d5s", "--timeout", "5s"];
  for (const header of headers) args.push("-H", header);
  const result = await ns.exec([...args, url], { timeoutMs: 30_000 });
  const output = result.stdout;
  const figures: WrkFigures = {
    requests: Number(/(\d+) requests in/.exec(output)?.[1] ?? 0),
    requestsPerSecond: Number(/Requests\/sec:\s+([0-9.]+)/.exec(output)?.[1] ?? 0),
    output,
  };
  assert(figures.requests > 0, output);
  assert(!/Socket errors/.test(output), `socket errors against ${url}:\n${output}`);
  assert(!/Non-2xx or 3xx responses/.test(output), `non-2xx answers from ${url}:\n${output}`);
  return figures;
}

interopTest(
  "wrk: 1 and 50 connections, static file and /api with Basic, HTTP and HTTPS",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "mip-www-" });
    try {
      await Deno.writeTextFile(`${root}/small.txt`, "mip-tap ".repeat(128)); // 1 KiB
      await withWebAppliance("http-wrk", ["--web-root", root], async (ns, app) => {
        const auth = [`Authorization: ${basicAuth()}`];
        // One Basic request first: the password's PBKDF2 check (600k rounds) then is cached, and
        // the figures show the steady state, not 50 cold checks at once (see http_auth_test.ts).
        const warm = await curlResponse(ns, ["-H", auth[0]!, `http://${DEVICE}/api/stats/get`]);
        assertEquals(warm.status, 200);
        const runs: [string, string, number, string[]][] = [
          ["HTTP  static", `http://${DEVICE}/small.txt`, 1, []],
          ["HTTP  static", `http://${DEVICE}/small.txt`, 50, []],
          ["HTTP  /api", `http://${DEVICE}/api/stats/get`, 1, auth],
          ["HTTP  /api", `http://${DEVICE}/api/stats/get`, 50, auth],
          ["HTTPS static", `https://${DEVICE}/small.txt`, 1, []],
          ["HTTPS static", `https://${DEVICE}/small.txt`, 50, []],
          ["HTTPS /api", `https://${DEVICE}/api/stats/get`, 1, auth],
          ["HTTPS /api", `https://${DEVICE}/api/stats/get`, 50, auth],
        ];
        const lines: string[] = [];
        for (const [label, url, connections, headers] of runs) {
          const figures = await wrk(ns, url, connections, headers);
          lines.push(
            `${label.padEnd(12)} -c${String(connections).padEnd(2)}: ` +
              `${
                figures.requestsPerSecond.toFixed(0).padStart(6)
              } req/s (${figures.requests} requests)`,
          );
        }
        console.log(`wrk -t1 -d5s against the appliance:\n  ${lines.join("\n  ")}`);
        const after = await curlResponse(ns, [`http://${DEVICE}/small.txt`]);
        assertEquals(after.status, 200, "still serving after the load");
        assertEquals(app.child.status, null, "the appliance is still running");
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);
