/**
 * Limits and hostile input over real loopback sockets: oversized heads and bodies, slow heads,
 * idle keep-alive, the connection cap, malformed requests (a table), backpressure both ways, and
 * graceful shutdown.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { delay, RawClient, startServer } from "./_raw_client.ts";

const hello = () => new Response("hello");

/** Asserts that `raw` gets `status`, then that the server still answers a fresh connection. */
async function expectRefused(port: number, raw: string, status: number): Promise<void> {
  const client = await RawClient.connect(port);
  try {
    await client.send(raw);
    const res = await client.readResponse();
    assertEquals(res.status, status, `for ${JSON.stringify(raw)}`);
    assertEquals(res.headers.get("connection"), "close", `for ${JSON.stringify(raw)}`);
    assert(await client.isClosed(), `connection left open after ${JSON.stringify(raw)}`);
  } finally {
    client.close();
  }
  const check = await RawClient.connect(port);
  try {
    await check.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await check.readResponse()).status, 200);
  } finally {
    check.close();
  }
}

const MALFORMED: Array<[string, string, number]> = [
  ["garbage request line", "HELLO\r\n\r\n", 400],
  ["double space in request line", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["missing version", "GET /\r\nHost: h\r\n\r\n", 400],
  ["lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400],
  ["HTTP/2.0 in HTTP/1 framing", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505],
  ["bad method token", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["control char in target", "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["non-ASCII target", "GET /\xe9 HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["relative target", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["CONNECT authority-form", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501],
  ["missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400],
  ["two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  ["Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
  ["Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400],
  ["space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400],
  ["no colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400],
  ["obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", 400],
  ["NUL in header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400],
  ["bare CR in header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400],
  ["bare LF in header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nb: c\r\n\r\n", 400],
  ["DEL in header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n", 400],
  ["non-numeric Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400],
  ["negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400],
  [
    "conflicting Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    400,
  ],
  [
    "conflicting Content-Length list",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n",
    400,
  ],
  [
    "Content-Length with Transfer-Encoding (smuggling)",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "chunked not final",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    400,
  ],
  [
    "chunked twice",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
    400,
  ],
  ["unknown coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
  [
    "Transfer-Encoding in 1.0",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  ["bad chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
  [
    "chunk size overflow",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
    400,
  ],
  [
    "chunk without CRLF",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
    400,
  ],
  ["unknown expectation", "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417],
];

Deno.test("limits: malformed requests get 400 (or 417/501/505), a close, and no crash", async () => {
  // The handler reads the body, so chunked framing errors surface through it.
  const { server, port } = startServer(async (request) => {
    if (request.body) await request.text();
    return hello();
  });
  try {
    for (const [name, raw, status] of MALFORMED) {
      await expectRefused(port, raw, status).catch((error) => {
        throw new Error(`${name}: ${error.message}`);
      });
    }
    assert(Object.keys(server.counters.drops).length >= 10);
  } finally {
    await server.shutdown();
  }
});

Deno.test("limits: a head over maxHeaderBytes gets 431", async () => {
  const { server, port } = startServer(hello);
  try {
    const big = `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`;
    await expectRefused(port, big, 431);
    // Just under the default 16 KiB limit passes.
    const fits = `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(15 * 1024)}\r\n\r\n`;
    const client = await RawClient.connect(port);
    await client.send(fits);
    assertEquals((await client.readResponse()).status, 200);
    client.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("limits: a body over maxBodyBytes gets 413, by length and by chunks", async () => {
  const { server, port } = startServer(async (request) => new Response(await request.text()), {
    limits: { maxBodyBytes: 1000 },
  });
  try {
    await expectRefused(port, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n", 413);
    const chunks = "200\r\n" + "x".repeat(512) + "\r\n";
    await expectRefused(
      port,
      `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}${chunks}${chunks}`,
      413,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("limits: a head that does not complete in time gets 408 (slowloris)", async () => {
  const { server, port } = startServer(hello, { limits: { headersTimeoutMs: 150 } });
  const client = await RawClient.connect(port);
  try {
    const started = Date.now();
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n");
    await delay(60);
    await client.send("X-Slow: 1\r\n"); // trickling bytes does not extend the deadline
    const res = await client.readResponse();
    assertEquals(res.status, 408);
    assert(Date.now() - started >= 140);
    assert(await client.isClosed());
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("limits: an idle keep-alive connection is closed after keepAliveTimeoutMs", async () => {
  const { server, port } = startServer(hello, { limits: { keepAliveTimeoutMs: 100 } });
  const client = await RawClient.connect(port);
  try {
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await client.readResponse()).status, 200);
    const started = Date.now();
    assert(await client.isClosed(), "closed without sending anything");
    assert(Date.now() - started >= 90);
    assertEquals(server.connections, 0);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("limits: connections over maxConnections get 503 and are closed", async () => {
  const { server, port } = startServer(hello, { limits: { maxConnections: 2 } });
  const held: RawClient[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const client = await RawClient.connect(port);
      await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assertEquals((await client.readResponse()).status, 200);
      held.push(client);
    }
    assertEquals(server.connections, 2);
    const extra = await RawClient.connect(port);
    held.push(extra);
    const res = await extra.readResponse();
    assertEquals(res.status, 503);
    assert(await extra.isClosed());
    // After one leaves, a new connection is served again.
    held[0]!.close();
    for (let i = 0; i < 100 && server.connections > 1; i++) await delay(5);
    const again = await RawClient.connect(port);
    held.push(again);
    await again.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await again.readResponse()).status, 200);
  } finally {
    for (const client of held) client.close();
    await server.shutdown();
  }
});

Deno.test("backpressure: a slow client stops the server pulling the response stream", async () => {
  let pulledBytes = 0;
  const piece = new Uint8Array(64 * 1024);
  const { server, port } = startServer(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          pulledBytes += piece.length;
          controller.enqueue(piece.slice());
        },
      }, { highWaterMark: 0 }),
    )
  );
  const client = await RawClient.connect(port);
  try {
    await client.send("GET /endless HTTP/1.1\r\nHost: h\r\n\r\n");
    // The client reads nothing: the server fills the socket buffers and must then stop.
    let previous = -1;
    for (let i = 0; i < 100 && pulledBytes !== previous; i++) {
      previous = pulledBytes;
      await delay(30);
    }
    assertEquals(pulledBytes, previous, "the stream is no longer pulled");
    assert(pulledBytes < 16 * 1024 * 1024, `pulled ${pulledBytes} bytes for a stalled client`);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("backpressure: a handler that stops reading stops the socket reads", async () => {
  const gate = Promise.withResolvers<void>();
  const { server, port } = startServer(async (request) => {
    const reader = request.body!.getReader();
    let total = (await reader.read()).value?.length ?? 0;
    await gate.promise;
    for (let r = await reader.read(); !r.done; r = await reader.read()) total += r.value.length;
    return new Response(String(total));
  }, { limits: { maxBodyBytes: 256 * 1024 * 1024 } });
  const client = await RawClient.connect(port);
  try {
    const size = 128 * 1024 * 1024;
    await client.send(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
    let written = 0;
    const chunk = new Uint8Array(256 * 1024);
    const writer = (async () => {
      while (written < size) {
        await client.send(chunk);
        written += chunk.length;
      }
    })();
    let previous = -1;
    for (let i = 0; i < 100 && written !== previous; i++) {
      previous = written;
      await delay(30);
    }
    assert(
      written < 16 * 1024 * 1024,
      `client could write ${written} bytes into a stalled handler`,
    );
    gate.resolve();
    await writer;
    assertEquals((await client.readResponse()).text, String(size));
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("limits: a stalled upload or a client that stops reading is cut after ioTimeoutMs", async () => {
  const failures: unknown[] = [];
  const { server, port } = startServer(async (request) => {
    if (request.body) {
      try {
        await request.text();
      } catch (error) {
        failures.push(error);
        throw error;
      }
      return hello();
    }
    return new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(65536)) }));
  }, { limits: { ioTimeoutMs: 150 } });
  const upload = await RawClient.connect(port);
  const reader = await RawClient.connect(port);
  try {
    await upload.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly part");
    assert(await upload.isClosed(), "stalled upload closed");
    assertEquals(failures.length, 1);
    await reader.send("GET /endless HTTP/1.1\r\nHost: h\r\n\r\n");
    for (let i = 0; i < 100 && server.connections > 0; i++) await delay(20);
    assertEquals(server.connections, 0, "the non-reading client was dropped");
    assert((server.counters.drops["io-timeout"] ?? 0) >= 2);
  } finally {
    upload.close();
    reader.close();
    await server.shutdown();
  }
});

Deno.test("shutdown: closes idle connections, finishes in-flight requests, stops accepting", async () => {
  const entered = Promise.withResolvers<void>();
  const { server, port } = startServer(async (request) => {
    if (new URL(request.url).pathname === "/slow") {
      entered.resolve();
      await delay(100);
    }
    return new Response("done");
  });
  const idle = await RawClient.connect(port);
  const busy = await RawClient.connect(port);
  try {
    await idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    await idle.readResponse();
    await busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    await entered.promise;
    const shutdown = server.shutdown();
    assert(await idle.isClosed(), "the idle connection is closed");
    const res = await busy.readResponse();
    assertEquals(res.text, "done");
    assertEquals(res.headers.get("connection"), "close");
    await shutdown;
    assertEquals(server.connections, 0);
    await assertRejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
  } finally {
    idle.close();
    busy.close();
  }
});

Deno.test("shutdown: an aborted signal stops the server", async () => {
  const controller = new AbortController();
  const { server, port } = startServer(hello, { signal: controller.signal });
  const client = await RawClient.connect(port);
  await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  assertEquals((await client.readResponse()).status, 200);
  controller.abort();
  await server.finished;
  assert(await client.isClosed());
  client.close();
});
