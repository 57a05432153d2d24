/**
 * HTTP/1.1 server behaviour over real loopback sockets, driven by a raw client: keep-alive,
 * pipelining, chunked bodies both ways, 100-continue, HEAD, Connection: close, HTTP/1.0, URLs,
 * handler errors.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { delay, RawClient, startServer } from "./_raw_client.ts";

const echoHandler = async (request: Request): Promise<Response> => {
  const url = new URL(request.url);
  if (url.pathname === "/slow") await delay(50);
  if (url.pathname === "/throw") throw new Error("handler failure (expected in this test)");
  if (url.pathname === "/stream") {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await delay(5);
        if (i === 3) return controller.close();
        controller.enqueue(new TextEncoder().encode(`part${i++};`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  }
  if (url.pathname === "/close") return new Response("bye", { headers: { connection: "close" } });
  const body = request.body ? await request.text() : "";
  return new Response(`${request.method} ${request.url} ${body.length}:${body}`);
};

Deno.test("server: keep-alive serves several requests on one connection, with Date and length", async () => {
  const { server, port } = startServer(echoHandler);
  const client = await RawClient.connect(port);
  try {
    for (const path of ["/a", "/b?x=1", "/c"]) {
      await client.send(`GET ${path} HTTP/1.1\r\nHost: example.test\r\n\r\n`);
      const res = await client.readResponse();
      assertEquals(res.status, 200);
      assertEquals(res.text, `GET http://example.test${path} 0:`);
      assertEquals(res.headers.get("content-length"), String(res.body.length));
      assertEquals(res.headers.get("connection"), undefined);
      // RFC 9110 5.6.7 IMF-fixdate, close to now.
      const date = res.headers.get("date")!;
      assertMatch(date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      assert(Math.abs(Date.parse(date) - Date.now()) < 5000);
    }
    assertEquals(server.connections, 1);
    assertEquals(server.counters.rxPackets, 3);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: pipelined requests are answered in order, even when the first is slow", async () => {
  const { server, port } = startServer(echoHandler);
  const client = await RawClient.connect(port);
  try {
    await client.send(
      "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n" +
        "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
        "GET /last HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assertEquals((await client.readResponse()).text, "GET http://h/slow 0:");
    assertEquals((await client.readResponse()).text, "POST http://h/p 5:hello");
    assertEquals((await client.readResponse()).text, "GET http://h/last 0:");
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: chunked request body with extensions and trailers is decoded", async () => {
  const { server, port } = startServer(echoHandler);
  const client = await RawClient.connect(port);
  try {
    await client.send(
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;name=value\r\nhello\r\n" + "1\r\n \r\n" + "A\r\n0123456789\r\n" +
        "0\r\nX-Trailer: yes\r\n\r\n" +
        "GET /after HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assertEquals((await client.readResponse()).text, "POST http://h/c 16:hello 0123456789");
    assertEquals((await client.readResponse()).text, "GET http://h/after 0:");
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: a streaming response is chunked on 1.1 and close-delimited on 1.0", async () => {
  const { server, port } = startServer(echoHandler);
  const client = await RawClient.connect(port);
  const client10 = await RawClient.connect(port);
  try {
    await client.send("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    const res = await client.readResponse();
    assert(res.chunked);
    assertEquals(res.headers.get("content-length"), undefined);
    assertEquals(res.text, "part0;part1;part2;");
    // The connection stays usable after the last chunk.
    await client.send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await client.readResponse()).status, 200);

    await client10.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const res10 = await client10.readResponse();
    assertEquals(res10.chunked, false);
    assertEquals(res10.headers.get("connection"), "close");
    assertEquals(res10.text, "part0;part1;part2;");
  } finally {
    client.close();
    client10.close();
    await server.shutdown();
  }
});

Deno.test("server: HTTP/1.0 closes by default and keeps alive on request", async () => {
  const { server, port } = startServer(echoHandler);
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  try {
    await a.send("GET /one HTTP/1.0\r\n\r\n");
    const first = await a.readResponse();
    assertEquals(first.status, 200);
    assertEquals(first.text, `GET http://127.0.0.1:${port}/one 0:`); // no Host: the local address
    assertEquals(first.headers.get("connection"), "close");
    assert(await a.isClosed());

    await b.send("GET /two HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
    const kept = await b.readResponse();
    assertEquals(kept.headers.get("connection"), "keep-alive");
    await b.send("GET /three HTTP/1.0\r\nHost: h\r\n\r\n");
    assertEquals((await b.readResponse()).text, "GET http://h/three 0:");
    assert(await b.isClosed());
  } finally {
    a.close();
    b.close();
    await server.shutdown();
  }
});

Deno.test("server: Connection: close in the request or in the response closes after it", async () => {
  const { server, port } = startServer(echoHandler);
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  try {
    await a.send("GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    const res = await a.readResponse();
    assertEquals(res.headers.get("connection"), "close");
    assert(await a.isClosed());

    await b.send("GET /close HTTP/1.1\r\nHost: h\r\n\r\n");
    const res2 = await b.readResponse();
    assertEquals(res2.text, "bye");
    assertEquals(res2.headers.get("connection"), "close");
    assert(await b.isClosed());
  } finally {
    a.close();
    b.close();
    await server.shutdown();
  }
});

Deno.test("server: Expect 100-continue gets 100 when the body is read, none when refused", async () => {
  const { server, port } = startServer(async (request) => {
    if (request.headers.get("authorization") !== "yes") return new Response("no", { status: 401 });
    return new Response(`got ${(await request.text()).length}`);
  });
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  try {
    await a.send(
      "PUT /u HTTP/1.1\r\nHost: h\r\nAuthorization: yes\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    );
    const interim = await a.readResponse();
    assertEquals(interim.status, 100);
    await a.send("abcd");
    assertEquals((await a.readResponse()).text, "got 4");

    await b.send("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    const refused = await b.readResponse();
    assertEquals(refused.status, 401);
    assertEquals(refused.headers.get("connection"), "close");
  } finally {
    a.close();
    b.close();
    await server.shutdown();
  }
});

Deno.test("server: HEAD gets the GET headers and no body", async () => {
  const { server, port } = startServer(() =>
    new Response("twelve bytes", { headers: { "content-type": "text/x-test" } })
  );
  const client = await RawClient.connect(port);
  try {
    await client.send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /h HTTP/1.1\r\nHost: h\r\n\r\n");
    const head = await client.readResponse({ head: true });
    assertEquals(head.status, 200);
    assertEquals(head.headers.get("content-length"), "12");
    assertEquals(head.headers.get("content-type"), "text/x-test");
    // The next response starts right after the HEAD head: no body bytes were sent.
    const get = await client.readResponse();
    assertEquals(get.text, "twelve bytes");
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: a throwing handler gets a 500 and the server carries on; onError is used", async () => {
  const errors: unknown[] = [];
  const { server, port } = startServer(echoHandler, {
    onError: (error) => {
      errors.push(error);
      return new Response("custom error page", { status: 500 });
    },
  });
  const client = await RawClient.connect(port);
  try {
    await client.send("GET /throw HTTP/1.1\r\nHost: h\r\n\r\n");
    const res = await client.readResponse();
    assertEquals(res.status, 500);
    assertEquals(res.text, "custom error page");
    assertEquals(errors.length, 1);
    await client.send("GET /fine HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await client.readResponse()).status, 200);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: the default onError answers 500", async () => {
  const { server, port } = startServer(() => {
    throw new Error("expected failure in a test");
  });
  const client = await RawClient.connect(port);
  try {
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await client.readResponse()).status, 500);
    assertEquals(server.counters.drops["handler-error"], 1);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: absolute-form targets take their authority; info has the remote address", async () => {
  let seenPort = 0;
  const { server, port } = startServer((request, info) => {
    seenPort = info.remoteAddr.port;
    return new Response(request.url);
  });
  const client = await RawClient.connect(port);
  try {
    await client.send("GET http://other.test:8080/p?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n");
    assertEquals((await client.readResponse()).text, "http://other.test:8080/p?q=1");
    assertEquals(seenPort, (client.conn.localAddr as Deno.NetAddr).port);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: a large request body streams through intact", async () => {
  const size = 3 * 1024 * 1024 + 7;
  const { server, port } = startServer(async (request) => {
    const bytes = new Uint8Array(await request.arrayBuffer());
    let sum = 0;
    for (const b of bytes) sum = (sum + b) % 65521;
    return new Response(`${bytes.length} ${sum}`);
  });
  const client = await RawClient.connect(port);
  try {
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i++) body[i] = (i * 31) & 0xff;
    let expected = 0;
    for (const b of body) expected = (expected + b) % 65521;
    await client.send(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
    await client.send(body);
    assertEquals((await client.readResponse()).text, `${size} ${expected}`);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("server: an unread request body is drained so the connection is reused", async () => {
  const { server, port } = startServer(() => new Response("ignored the body"));
  const client = await RawClient.connect(port);
  try {
    await client.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
    assertEquals((await client.readResponse()).headers.get("connection"), undefined);
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await client.readResponse()).text, "ignored the body");
  } finally {
    client.close();
    await server.shutdown();
  }
});
