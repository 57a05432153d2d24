import { assertEquals } from "@std/assert";
import { initialWindowBytes, NewReno } from "../../stack/tcp/congestion.ts";

const MSS = 1000;
const ack = (bytes: number, flight = 1e9) => ({
  ackedBytes: bytes,
  flightBytes: flight,
  cwndLimited: true,
  rttMs: NaN,
  nowMs: 0,
});

Deno.test("congestion: initial window of RFC 6928", () => {
  assertEquals(initialWindowBytes(1460), 14600);
  assertEquals(initialWindowBytes(536), 5360);
  assertEquals(initialWindowBytes(8960), 17920); // max(2*MSS, 14600) caps it
  assertEquals(new NewReno(MSS).cwndBytes, 10 * MSS);
});

Deno.test("congestion: slow start grows by the bytes acknowledged, at most 2 MSS per ACK", () => {
  const cc = new NewReno(MSS);
  cc.onAck(ack(MSS));
  assertEquals(cc.cwndBytes, 11 * MSS);
  cc.onAck(ack(5 * MSS)); // a stretch ACK: RFC 3465 L = 2 SMSS
  assertEquals(cc.cwndBytes, 13 * MSS);
});

Deno.test("congestion: no growth when the application, not cwnd, limits sending", () => {
  const cc = new NewReno(MSS);
  cc.onAck({ ...ack(MSS), cwndLimited: false });
  assertEquals(cc.cwndBytes, 10 * MSS);
});

Deno.test("congestion: fast recovery halves, RTO collapses to one segment (RFC 5681)", () => {
  const cc = new NewReno(MSS);
  cc.onEnterRecovery(20 * MSS, 0);
  assertEquals([cc.ssthreshBytes, cc.cwndBytes], [10 * MSS, 10 * MSS]);
  cc.onExitRecovery(0);
  assertEquals(cc.cwndBytes, 10 * MSS);
  cc.onRetransmitTimeout(3 * MSS, 0, false);
  assertEquals([cc.ssthreshBytes, cc.cwndBytes], [2 * MSS, MSS]); // max(flight/2, 2 MSS)
  cc.onRetransmitTimeout(100 * MSS, 0, true); // repeated timeout: ssthresh held
  assertEquals(cc.ssthreshBytes, 2 * MSS);
});

Deno.test("congestion: avoidance adds one MSS per cwnd of acknowledged bytes", () => {
  const cc = new NewReno(MSS);
  cc.onEnterRecovery(8 * MSS, 0); // ssthresh = cwnd = 4 MSS
  cc.onExitRecovery(0);
  for (let i = 0; i < 3; i++) cc.onAck(ack(MSS));
  assertEquals(cc.cwndBytes, 4 * MSS);
  cc.onAck(ack(MSS));
  assertEquals(cc.cwndBytes, 5 * MSS);
});

Deno.test("congestion: restart after idle (RFC 5681 4.1)", () => {
  const cc = new NewReno(MSS);
  for (let i = 0; i < 20; i++) cc.onAck(ack(MSS));
  cc.onIdle(0);
  assertEquals(cc.cwndBytes, 10 * MSS);
});

Deno.test("congestion: a loss never raises the window, even when FlightSize / 2 exceeds it", () => {
  const cc = new NewReno(MSS);
  assertEquals(cc.cwndBytes, 10 * MSS);
  // FlightSize (RFC 5681) counts SACKed data: 30 segments outstanding with cwnd at 10.
  cc.onEnterRecovery(30 * MSS, 0);
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [10 * MSS, 10 * MSS]);
  cc.onEnterRecovery(12 * MSS, 0);
  assertEquals([cc.cwndBytes, cc.ssthreshBytes], [6 * MSS, 6 * MSS]);
});
