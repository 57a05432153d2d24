/**
 * A Hono app's `app.fetch` served by our HTTP server on the user-space stack (two stacks on an
 * in-memory cable) and by Deno.serve on loopback gives the same answers: the handler runs
 * unchanged on both.
 */

import { assertEquals } from "@std/assert";
import { Hono } from "hono";
import { serve } from "../../http/mod.ts";
import { NetApi } from "../../stack/api.ts";
import { B_IP, makePair } from "../stack/pair.ts";

function app(): Hono {
  const hono = new Hono();
  hono.get("/hello/:name", (c) => c.json({ hello: c.req.param("name") }));
  hono.post("/echo", async (c) => c.text(await c.req.text()));
  hono.get("/stream", () =>
    new Response(
      new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode(`part${i};`));
          controller.close();
        },
      }),
    ));
  return hono;
}

const REQUESTS = [
  "GET /hello/mip HTTP/1.1\r\nHost: device\r\n\r\n",
  "POST /echo HTTP/1.1\r\nHost: device\r\nContent-Length: 11\r\n\r\nhello stack",
  "GET /stream HTTP/1.1\r\nHost: device\r\n\r\n",
  "GET /missing HTTP/1.1\r\nHost: device\r\nConnection: close\r\n\r\n",
];

/** Status line and body of each response in a keep-alive exchange (chunked bodies decoded). */
function parseResponses(text: string): [string, string][] {
  const out: [string, string][] = [];
  let rest = text;
  while (rest.length > 0) {
    const headEnd = rest.indexOf("\r\n\r\n");
    const head = rest.slice(0, headEnd);
    rest = rest.slice(headEnd + 4);
    const status = head.split("\r\n")[0]!;
    const length = /content-length: *(\d+)/i.exec(head);
    let body = "";
    if (length) {
      body = rest.slice(0, Number(length[1]));
      rest = rest.slice(Number(length[1]));
    } else if (/transfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const lineEnd = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    }
    out.push([status, body]);
  }
  return out;
}

/** Sends every request over one connection and reads until the server closes it. */
async function exchange(conn: {
  write(p: Uint8Array): Promise<number>;
  read(p: Uint8Array): Promise<number | null>;
}): Promise<string> {
  const bytes = new TextEncoder().encode(REQUESTS.join(""));
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  let text = "";
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text;
}

Deno.test("a Hono app runs unchanged on the user-space stack and on Deno.serve", async () => {
  // On the user-space stack.
  const pair = makePair();
  const server = serve(
    { listener: new NetApi(pair.b).listen({ port: 80 }), onListen: () => {} },
    app().fetch,
  );
  const viaStack = await pair.settle((async () => {
    const conn = await new NetApi(pair.a).connect({ hostname: B_IP, port: 80 });
    const text = await exchange(conn);
    conn.close();
    return text;
  })());
  await pair.settle(server.shutdown());

  // On Deno's own server, loopback only.
  const controller = new AbortController();
  const deno = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
  }, app().fetch);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: deno.addr.port });
  const viaDeno = await exchange(conn);
  conn.close();
  controller.abort();
  await deno.finished;

  const ours = parseResponses(viaStack);
  const theirs = parseResponses(viaDeno);
  assertEquals(ours.map(([s]) => s), [
    "HTTP/1.1 200 OK",
    "HTTP/1.1 200 OK",
    "HTTP/1.1 200 OK",
    "HTTP/1.1 404 Not Found",
  ]);
  assertEquals(ours, theirs);
  assertEquals(ours[0]![1], JSON.stringify({ hello: "mip" }));
  assertEquals(ours[1]![1], "hello stack");
  assertEquals(ours[2]![1], "part0;part1;part2;part3;part4;");
});
