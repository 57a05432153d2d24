import { assertEquals } from "@std/assert";
import { RtoEstimator } from "../../stack/tcp/rto.ts";

Deno.test("rto: 1 s before any sample (RFC 6298 2.1)", () => {
  const r = new RtoEstimator();
  assertEquals([r.rtoMs, r.timeoutMs, r.hasSample], [1000, 1000, false]);
});

Deno.test("rto: first and later samples follow RFC 6298 2.2-2.3", () => {
  const r = new RtoEstimator();
  r.sample(100); // SRTT = 100, RTTVAR = 50, RTO = 100 + 4*50
  assertEquals([r.srttMs, r.rttvarMs, r.rtoMs], [100, 50, 300]);
  r.sample(200); // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
  assertEquals([r.srttMs, r.rttvarMs, r.rtoMs], [112.5, 62.5, 112.5 + 250]);
});

Deno.test("rto: 200 ms floor and the cap", () => {
  const r = new RtoEstimator();
  r.sample(1);
  assertEquals(r.rtoMs, 200);
  const capped = new RtoEstimator({ maxMs: 5000 });
  capped.sample(4000); // 4000 + 4*2000 = 12000, capped
  assertEquals(capped.rtoMs, 5000);
});

Deno.test("rto: exponential backoff until the next sample (RFC 6298 5.5, 5.7)", () => {
  const r = new RtoEstimator({ maxMs: 60_000 });
  r.sample(100);
  r.backoff();
  r.backoff();
  r.backoff();
  assertEquals([r.backoffs, r.timeoutMs], [3, 2400]);
  for (let i = 0; i < 20; i++) r.backoff();
  assertEquals(r.timeoutMs, 60_000);
  r.sample(100);
  assertEquals([r.backoffs, r.timeoutMs], [0, r.rtoMs]);
});

Deno.test("rto: 3 s after a lost SYN only while there is no sample (RFC 6298 5.7)", () => {
  const r = new RtoEstimator();
  r.backoff();
  r.reinitialize(3000);
  assertEquals([r.rtoMs, r.timeoutMs], [3000, 3000]);
  const s = new RtoEstimator();
  s.sample(50);
  s.reinitialize(3000);
  assertEquals(s.rtoMs, 200); // 50 + 4*25 = 150, floored; unchanged by reinitialize
});
