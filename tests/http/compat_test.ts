/**
 * One handler under Deno.serve and under our server gives the same answers, seen by fetch and
 * by curl; a Hono app's `fetch` runs unchanged on our server.
 */

import { assert, assertEquals } from "@std/assert";
import { Hono } from "hono";
import { run, startServer } from "./_raw_client.ts";

/** A small application touching the common Response shapes. */
async function app(request: Request): Promise<Response> {
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/":
      return new Response("hello world\n", { headers: { "content-type": "text/plain" } });
    case "/json":
      return Response.json({ path: url.pathname, query: url.searchParams.get("q") });
    case "/echo":
      return new Response(await request.text(), {
        status: 201,
        headers: { "content-type": request.headers.get("content-type") ?? "text/plain" },
      });
    case "/stream": {
      const parts = ["alpha ", "beta ", "gamma"];
      return new Response(
        new ReadableStream<string>({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            const part = parts.shift();
            if (part === undefined) controller.close();
            else controller.enqueue(part);
          },
        }).pipeThrough(new TextEncoderStream()),
      );
    }
    case "/cookies": {
      const headers = new Headers();
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Path=/");
      return new Response(null, { status: 204, headers });
    }
    case "/redirect":
      return Response.redirect(new URL("/json?q=moved", request.url), 302);
    default:
      return new Response("not found\n", { status: 404 });
  }
}

interface Seen {
  status: number;
  body: string;
  contentType: string | null;
  contentLength: string | null;
  cookies: string[];
  location: string | null;
}

async function fetchSeen(base: string, path: string, init?: RequestInit): Promise<Seen> {
  const res = await fetch(base + path, { redirect: "manual", ...init });
  const body = await res.text();
  const location = res.headers.get("location");
  return {
    status: res.status,
    body: body.replaceAll(base, "<base>"),
    contentType: res.headers.get("content-type"),
    contentLength: res.headers.get("content-length"),
    cookies: res.headers.getSetCookie(),
    location: location?.replace(base, "<base>") ?? null,
  };
}

const CASES: Array<[string, RequestInit | undefined]> = [
  ["/", undefined],
  ["/", { method: "HEAD" }],
  ["/json?q=x", undefined],
  ["/echo", { method: "POST", body: "payload", headers: { "content-type": "text/x-demo" } }],
  ["/stream", undefined],
  ["/cookies", undefined],
  ["/redirect", undefined],
  ["/nowhere", undefined],
];

Deno.test("compat: the same handler answers alike under Deno.serve and under serve()", async () => {
  const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app);
  const ours = startServer(app);
  const denoBase = `http://127.0.0.1:${deno.addr.port}`;
  try {
    for (const [path, init] of CASES) {
      const expected = await fetchSeen(denoBase, path, init);
      const actual = await fetchSeen(ours.url, path, init);
      // Deno.serve streams unknown lengths chunked; so do we, unless the body is complete at once.
      if (path === "/stream") expected.contentLength = actual.contentLength = null;
      assertEquals(actual, expected, `${init?.method ?? "GET"} ${path}`);
    }
  } finally {
    await deno.shutdown();
    await ours.server.shutdown();
  }
});

Deno.test("compat: curl sees the same status and body from both servers, with keep-alive", async () => {
  const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app);
  const ours = startServer(app);
  try {
    const results: Array<{ code: number; stdout: string; stderr: string }> = [];
    for (const base of [`http://127.0.0.1:${deno.addr.port}`, ours.url]) {
      results.push(
        await run("curl", [
          "-sv",
          "-w",
          "|%{http_code}\n",
          `${base}/`,
          `${base}/json?q=curl`,
          `${base}/stream`,
          "--data-binary",
          "x",
          "-X",
          "POST",
          "--url",
          `${base}/echo`,
        ]),
      );
    }
    const [fromDeno, fromOurs] = results as [typeof results[0], typeof results[0]];
    assertEquals(fromOurs.code, 0);
    assertEquals(fromOurs.stdout, fromDeno.stdout);
    assert(fromOurs.stdout.includes("hello world\n|200"));
    assert(fromOurs.stderr.includes("Re-using existing connection"), "curl kept the connection");
  } finally {
    await deno.shutdown();
    await ours.server.shutdown();
  }
});

Deno.test("compat: a Hono app's fetch runs unchanged on serve()", async () => {
  const hono = new Hono();
  hono.get("/hi/:name", (c) => c.text(`hi ${c.req.param("name")}`));
  hono.post("/sum", async (c) => {
    const { a, b } = await c.req.json<{ a: number; b: number }>();
    return c.json({ sum: a + b });
  });
  const ours = startServer(hono.fetch);
  try {
    const hi = await fetch(`${ours.url}/hi/there`);
    assertEquals(await hi.text(), "hi there");
    const sum = await fetch(`${ours.url}/sum`, {
      method: "POST",
      body: JSON.stringify({ a: 2, b: 40 }),
      headers: { "content-type": "application/json" },
    });
    assertEquals(await sum.json(), { sum: 42 });
    const missing = await fetch(`${ours.url}/nope`);
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await ours.server.shutdown();
  }
});
