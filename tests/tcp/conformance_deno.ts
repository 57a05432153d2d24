/**
 * Runs the conformance suite against the real Deno.listen/Deno.connect on 127.0.0.1 and
 * prints the outcomes as JSON. tests/tcp/api_test.ts runs it inside a private network
 * namespace it creates (never in the root namespace).
 * @module
 */

import { runSuite, type SocketDriver } from "./conformance.ts";

const driver: SocketDriver = {
  listen: (port) => Deno.listen({ hostname: "127.0.0.1", port }),
  connect: (port) => Deno.connect({ hostname: "127.0.0.1", port }),
  settle: (promise) => promise,
  pause: () => new Promise((resolve) => setTimeout(resolve, 50)), // the kernel moves real packets
};

console.log(JSON.stringify(await runSuite(driver, 17000)));
