import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { parseWrk } from "./http_rps.ts";

// wrk 4.1's output layout with --latency (numbers written by hand).
const OUTPUT = `Running 2s test @ http://10.77.0.2:8080/1k.bin
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   790.12us  300.50us   5.10ms   90.00%
    Req/Sec    12.60k   500.00    13.00k    70.00%
  Latency Distribution
     50%  750.00us
     75%  900.00us
     90%    1.10ms
     99%    2.91ms
  25000 requests in 2.00s, 28.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 4
Requests/sec:  12500.50
Transfer/sec:     14.00MB
`;

Deno.test("parseWrk reads req/s, the 99% latency in ms and the error counts", () => {
  const result = parseWrk(OUTPUT);
  assertEquals(result.requestsPerSecond, 12500.5);
  assertAlmostEquals(result.p99Ms, 2.91);
  assertEquals(result.errors, 7);
});

Deno.test("parseWrk converts microsecond and second latencies", () => {
  assertAlmostEquals(parseWrk(OUTPUT.replace("2.91ms", "950.00us")).p99Ms, 0.95);
  assertAlmostEquals(parseWrk(OUTPUT.replace("2.91ms", "1.50s")).p99Ms, 1500);
});

Deno.test("parseWrk rejects output without a latency distribution", () => {
  assertThrows(() => parseWrk("Requests/sec: 10\n"), Error, "Cannot read wrk's output");
});
