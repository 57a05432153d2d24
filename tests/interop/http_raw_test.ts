/**
 * The appliance's HTTP/1.1 server against a raw TCP client on the kernel side (Python, run in
 * the namespace): pipelined requests answered in order, malformed requests answered with 400
 * and a close (RFC 9112), an over-long header block with 431 (RFC 6585 5), a slowloris client
 * (headers never finished) with 408 and a close after the 10 s head timeout; after each abuse the
 * server still answers a normal request.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { interopTest, type Namespace } from "../helpers/netns.ts";
import {
  basicAuth,
  DEVICE,
  parseResponses,
  rawExchange,
  type RawStep,
  withWebAppliance,
} from "./fixtures/http_setup.ts";

const HOST_LINE = `Host: ${DEVICE}\r\n`;
/** http/server.ts DEFAULT_LIMITS.headersTimeoutMs. */
const HEADERS_TIMEOUT_MS = 10_000;

/** A normal request on a fresh connection gets a 200: the server survived what came before. */
async function assertStillServing(ns: Namespace, after: string): Promise<void> {
  const ok = await rawExchange(ns, [{
    send: `GET /app.css HTTP/1.1\r\n${HOST_LINE}Connection: close\r\n\r\n`,
  }]);
  assertMatch(ok.response, /^HTTP\/1\.1 200 OK\r\n/, `no answer after ${after}`);
}

interopTest("raw client: pipelined requests in one write are answered in order", async () => {
  await withWebAppliance("http-pipeline", ["--https-port", "0"], async (ns) => {
    const auth = `Authorization: ${basicAuth()}\r\n`;
    const body = '{"brightness":11}';
    const requests = [
      `GET /app.css HTTP/1.1\r\n${HOST_LINE}\r\n`,
      `POST /api/settings/set HTTP/1.1\r\n${HOST_LINE}${auth}Content-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
      `GET /api/settings/get HTTP/1.1\r\n${HOST_LINE}${auth}\r\n`,
      `GET / HTTP/1.1\r\n${HOST_LINE}Connection: close\r\n\r\n`,
    ];
    const result = await rawExchange(ns, [{ send: requests.join("") }]);
    assert(result.closed, "Connection: close on the last request closes the connection");
    const responses = parseResponses(result.response);
    assertEquals(responses.map((r) => r.status), [200, 200, 200, 200]);
    assertMatch(responses[0]!.headers.get("content-type")!, /^text\/css/);
    assertEquals(JSON.parse(responses[1]!.body), { status: true, message: "Success" });
    assertEquals(JSON.parse(responses[2]!.body).brightness, 11, "the POST before it took effect");
    assertMatch(responses[3]!.headers.get("content-type")!, /^text\/html/);
    assertEquals(responses[3]!.headers.get("connection"), "close");
  });
});

/** Requests a server must refuse with 400 (RFC 9112 unless noted), each on its own connection. */
const MALFORMED: [string, string][] = [
  ["bad request line (3)", "GARBAGE\r\n\r\n"],
  ["request line without a version (3)", "GET /\r\n\r\n"],
  ["request target that is not a path (3.2)", `GET app.css HTTP/1.1\r\n${HOST_LINE}\r\n`],
  [
    "conflicting Content-Length (6.3)",
    `POST /api/login HTTP/1.1\r\n${HOST_LINE}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  ],
  [
    "Content-Length not a number (6.3)",
    `POST /api/login HTTP/1.1\r\n${HOST_LINE}Content-Length: 5x\r\n\r\n`,
  ],
  ["header line without a colon (5)", `GET / HTTP/1.1\r\n${HOST_LINE}NoColonHere\r\n\r\n`],
  ["NUL in a field value (RFC 9110 5.5)", `GET / HTTP/1.1\r\n${HOST_LINE}X-A: a\x00b\r\n\r\n`],
  ["NUL in the request target (3.2)", `GET /a\x00b HTTP/1.1\r\n${HOST_LINE}\r\n`],
  ["whitespace before the colon (5.1)", `GET / HTTP/1.1\r\nHost : ${DEVICE}\r\n\r\n`],
  ["no Host in HTTP/1.1 (3.2)", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"],
  ["two Host fields (3.2)", `GET / HTTP/1.1\r\n${HOST_LINE}${HOST_LINE}\r\n`],
  ["obs-fold (5.2)", `GET / HTTP/1.1\r\n${HOST_LINE}X-A: a\r\n  folded\r\n\r\n`],
];

interopTest("raw client: malformed requests get 400 and a close; 431 for a huge head", async () => {
  await withWebAppliance("http-malformed", ["--https-port", "0"], async (ns) => {
    for (const [what, bytes] of MALFORMED) {
      const result = await rawExchange(ns, [{ send: bytes }]);
      assertMatch(result.response, /^HTTP\/1\.1 400 Bad Request\r\n/, what);
      assert(result.closed, `${what}: the connection is closed`);
      assertMatch(result.response, /\r\nconnection: close\r\n/i, what);
    }
    await assertStillServing(ns, "the malformed requests");

    const longField = `GET / HTTP/1.1\r\n${HOST_LINE}X-Big: ${"a".repeat(20_000)}\r\n\r\n`;
    const manyFields = `GET / HTTP/1.1\r\n${HOST_LINE}${
      "X-Many: 0123456789\r\n".repeat(1_000)
    }\r\n`;
    for (const [what, bytes] of [["one 20 kB field", longField], ["1000 fields", manyFields]]) {
      const result = await rawExchange(ns, [{ send: bytes! }]);
      assertMatch(result.response, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, what);
      assert(result.closed, `${what}: the connection is closed`);
    }
    await assertStillServing(ns, "the over-long heads");
  });
});

interopTest(
  "raw client: slowloris (headers never finished) gets 408 and a close after ~10 s",
  async () => {
    await withWebAppliance("http-slowloris", ["--https-port", "0"], async (ns) => {
      // A header line every second, never the blank line that ends the head.
      const steps: RawStep[] = [{ send: `GET / HTTP/1.1\r\n${HOST_LINE}` }];
      for (let i = 0; i < 15; i++) steps.push({ send: `X-Slow-${i}: ${i}\r\n`, delayMs: 1_000 });
      const result = await rawExchange(ns, steps, { timeoutMs: 30_000 });
      assertMatch(result.response, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert(result.closed, "the connection is closed");
      const closedMs = result.closedAfterMs!;
      console.log(
        `slowloris: 408 after ${result.firstByteAfterMs} ms, closed after ${closedMs} ms`,
      );
      assert(
        closedMs >= HEADERS_TIMEOUT_MS - 500 && closedMs <= HEADERS_TIMEOUT_MS + 3_000,
        `closed after ${closedMs} ms`,
      );
      await assertStillServing(ns, "the slowloris client");
    });
  },
);
