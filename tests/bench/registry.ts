/**
 * Every benchmark `deno task bench` knows, in the order it runs them. A new benchmark is a module
 * tests/bench/<name>.ts exporting a `Benchmark` whose `name` is <name>, added here.
 * @module
 */

import type { Benchmark } from "./_figure.ts";
import { dhcpLease } from "./dhcp_lease.ts";
import { echoFlood } from "./echo_flood.ts";
import { echoPayload } from "./echo_payload.ts";
import { fragPing } from "./frag_ping.ts";
import { httpDownload } from "./http_download.ts";
import { httpRps } from "./http_rps.ts";
import { idle } from "./idle.ts";
import { idleConnections } from "./idle_connections.ts";
import { pingRtt } from "./ping_rtt.ts";
import { startup } from "./startup.ts";
import { tcpBulk } from "./tcp_bulk.ts";
import { upload } from "./upload.ts";

/** The registry: names are unique and match the file names. */
export const BENCHMARKS: readonly Benchmark[] = [
  pingRtt,
  echoFlood,
  echoPayload,
  fragPing,
  idle,
  startup,
  tcpBulk,
  httpRps,
  httpDownload,
  upload,
  dhcpLease,
  idleConnections,
];
