/**
 * A session keeps all its deadlines on one timer (http/_session_deadlines.ts): the keep-alive
 * limit starts again with every request, and the I/O limit counts time without progress, not
 * the length of a whole upload or download. Over loopback sockets, with limits far below the
 * total time each connection lives.
 */

import { assertEquals } from "@std/assert";
import { delay, RawClient, startServer } from "./_raw_client.ts";

Deno.test("deadlines: requests 40 ms apart keep a 100 ms keep-alive connection open", async () => {
  const { server, port } = startServer(() => new Response("ok"), {
    limits: { keepAliveTimeoutMs: 100 },
  });
  const client = await RawClient.connect(port);
  try {
    for (let i = 0; i < 6; i++) {
      await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      const res = await client.readResponse();
      assertEquals([res.status, res.text], [200, "ok"], `request ${i}`);
      await delay(40);
    }
    assertEquals(server.counters.rxPackets, 6);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("deadlines: a slow upload and a slow download that keep moving are not cut", async () => {
  const { server, port } = startServer(async (request) => {
    if (request.method === "POST") return new Response(String((await request.bytes()).length));
    let sent = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          await delay(40);
          controller.enqueue(new Uint8Array(100));
          if (++sent === 6) controller.close();
        },
      }),
    );
  }, { limits: { ioTimeoutMs: 120 } });
  const client = await RawClient.connect(port);
  try {
    await client.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 600\r\n\r\n");
    for (let i = 0; i < 6; i++) {
      await delay(40); // 240 ms in all, never 120 ms without a byte
      await client.send("x".repeat(100));
    }
    const upload = await client.readResponse();
    assertEquals([upload.status, upload.text], [200, "600"]);
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const download = await client.readResponse();
    assertEquals([download.status, download.body.length], [200, 600]);
    assertEquals(server.counters.drops["io-timeout"] ?? 0, 0);
  } finally {
    client.close();
    await server.shutdown();
  }
});
