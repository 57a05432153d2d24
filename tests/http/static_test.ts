/**
 * Static files in a temporary directory: traversal attempts (a table, sent raw through the
 * server so no client normalises them), MIME types, 304s, ranges, HEAD, directories, and a
 * large file that is streamed, not read whole.
 */

import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { contentType, parseRange, serveStatic, staticHandler } from "../../http/static.ts";
import { RawClient, startServer } from "./_raw_client.ts";

const SECRET = "top secret outside the root";

interface Site {
  base: string;
  root: string;
}

async function withSite(fn: (site: Site) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "mip-static-" });
  const root = `${base}/www`;
  await Deno.mkdir(`${root}/sub/empty`, { recursive: true });
  await Deno.writeTextFile(`${base}/secret.txt`, SECRET);
  await Deno.writeTextFile(`${root}/index.html`, "<h1>home</h1>");
  await Deno.writeTextFile(`${root}/hello.txt`, "0123456789abcdef");
  await Deno.writeTextFile(`${root}/app.js`, "console.log(1)");
  await Deno.writeTextFile(`${root}/style.css`, "body{}");
  await Deno.writeTextFile(`${root}/data.bin`, "\x00\x01");
  await Deno.writeTextFile(`${root}/.env`, "PASSWORD=x");
  await Deno.writeTextFile(`${root}/sub/index.html`, "<p>sub</p>");
  await Deno.writeTextFile(`${root}/a b.txt`, "spaced");
  await Deno.symlink(base, `${root}/escape`);
  await Deno.symlink(`${base}/secret.txt`, `${root}/secret-link.txt`);
  await Deno.symlink(`${root}/hello.txt`, `${root}/inside-link.txt`);
  try {
    await fn({ base, root });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

const TRAVERSALS = [
  "/../secret.txt",
  "/%2e%2e/secret.txt",
  "/%2E%2E/secret.txt",
  "/.%2e/secret.txt",
  "/sub/../../secret.txt",
  "/..%2fsecret.txt",
  "/sub%2f..%2f..%2fsecret.txt",
  "/..%5csecret.txt",
  "/..\\secret.txt",
  "/hello.txt%00.html",
  "/%00",
  "/escape/secret.txt",
  "/secret-link.txt",
  "//../secret.txt",
  "/%252e%252e/secret.txt",
];

Deno.test("static: traversal attempts never leave the root (403/404), raw through the server", async () => {
  await withSite(async ({ root }) => {
    const { server, port } = startServer(staticHandler(root));
    try {
      for (const path of TRAVERSALS) {
        const client = await RawClient.connect(port);
        await client.send(`GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
        const res = await client.readResponse();
        client.close();
        assert([400, 403, 404].includes(res.status), `${path} -> ${res.status}`);
        assert(!res.text.includes(SECRET), `${path} leaked the secret`);
      }
      // The same through serveStatic directly with an already-parsed URL.
      for (const path of TRAVERSALS) {
        const res = await serveStatic(root, new Request(`http://h${path.replace("\\", "%5c")}`));
        assertNotEquals(res.status, 200, path);
        assert(!(await res.text()).includes(SECRET), path);
      }
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("static: files, MIME types, symlinks inside, dotfiles, directories", async () => {
  await withSite(async ({ root }) => {
    const get = (path: string, init?: RequestInit) =>
      serveStatic(root, new Request(`http://h${path}`, init));
    const cases: Array<[string, number, string | null, string | null]> = [
      ["/", 200, "text/html; charset=utf-8", "<h1>home</h1>"],
      ["/hello.txt", 200, "text/plain; charset=utf-8", "0123456789abcdef"],
      ["/app.js", 200, "text/javascript; charset=utf-8", "console.log(1)"],
      ["/style.css", 200, "text/css; charset=utf-8", "body{}"],
      ["/data.bin", 200, "application/octet-stream", "\x00\x01"],
      ["/a%20b.txt", 200, "text/plain; charset=utf-8", "spaced"],
      ["/inside-link.txt", 200, "text/plain; charset=utf-8", "0123456789abcdef"],
      ["/sub/", 200, "text/html; charset=utf-8", "<p>sub</p>"],
      ["/sub/empty/", 404, null, null],
      ["/.env", 404, null, null],
      ["/missing.txt", 404, null, null],
      ["/hello.txt/more", 404, null, null],
      ["/%zz", 400, null, null],
    ];
    for (const [path, status, type, body] of cases) {
      const res = await get(path);
      assertEquals(res.status, status, path);
      const text = await res.text();
      if (type) assertEquals(res.headers.get("content-type"), type, path);
      if (body !== null) assertEquals(text, body, path);
    }
    const redirect = await get("/sub?x=1");
    assertEquals([redirect.status, redirect.headers.get("location")], [301, "/sub/?x=1"]);
    const post = await get("/hello.txt", { method: "POST", body: "x" });
    assertEquals([post.status, post.headers.get("allow")], [405, "GET, HEAD"]);
    await post.body?.cancel();
    const prefixed = await serveStatic(root, new Request("http://h/static/hello.txt"), {
      urlPrefix: "/static",
    });
    assertEquals(await prefixed.text(), "0123456789abcdef");
    const outside = await serveStatic(root, new Request("http://h/other/hello.txt"), {
      urlPrefix: "/static",
    });
    assertEquals(outside.status, 404);
    await outside.body?.cancel();
    assertEquals(contentType("x.WOFF2"), "font/woff2");
  });
});

Deno.test("static: ETag and Last-Modified give 304s; stale validators give 200", async () => {
  await withSite(async ({ root }) => {
    const get = (headers: HeadersInit) =>
      serveStatic(root, new Request("http://h/hello.txt", { headers }));
    const first = await get({});
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    const lastModified = first.headers.get("last-modified")!;
    assert(etag.startsWith('"'));
    const mtime = (await Deno.stat(`${root}/hello.txt`)).mtime!;
    assertEquals(Date.parse(lastModified), Math.floor(mtime.getTime() / 1000) * 1000);
    const cases: Array<[HeadersInit, number]> = [
      [{ "if-none-match": etag }, 304],
      [{ "if-none-match": `W/${etag}` }, 304],
      [{ "if-none-match": `"other", ${etag}` }, 304],
      [{ "if-none-match": "*" }, 304],
      [{ "if-none-match": '"other"' }, 200],
      [{ "if-modified-since": lastModified }, 304],
      [{ "if-modified-since": new Date(mtime.getTime() + 60_000).toUTCString() }, 304],
      [{ "if-modified-since": new Date(mtime.getTime() - 60_000).toUTCString() }, 200],
      [{ "if-modified-since": "not a date" }, 200],
      // If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3).
      [{ "if-none-match": '"other"', "if-modified-since": lastModified }, 200],
    ];
    for (const [headers, status] of cases) {
      const res = await get(headers);
      const text = await res.text();
      assertEquals(res.status, status, JSON.stringify(headers));
      if (status === 304) {
        assertEquals(text, "");
        assertEquals(res.headers.get("etag"), etag);
      }
    }
  });
});

Deno.test("static: byte ranges give 206, 416, or the whole file", async () => {
  await withSite(async ({ root }) => {
    const size = 16;
    const get = (headers: HeadersInit) =>
      serveStatic(root, new Request("http://h/hello.txt", { headers }));
    const cases: Array<[string, number, string, string | null]> = [
      ["bytes=0-4", 206, "01234", "bytes 0-4/16"],
      ["bytes=10-", 206, "abcdef", "bytes 10-15/16"],
      ["bytes=-3", 206, "def", "bytes 13-15/16"],
      ["bytes=14-99", 206, "ef", "bytes 14-15/16"],
      ["bytes=-99", 200, "0123456789abcdef", null],
      ["bytes=16-", 416, "", `bytes */${size}`],
      ["bytes=-0", 416, "", `bytes */${size}`],
      ["bytes=0-1,4-5", 200, "0123456789abcdef", null],
      ["bytes=5-2", 200, "0123456789abcdef", null],
      ["lines=1-2", 200, "0123456789abcdef", null],
    ];
    for (const [range, status, body, contentRange] of cases) {
      const res = await get({ range });
      const text = await res.text();
      assertEquals(res.status, status, range);
      if (status !== 416) assertEquals(text, body, range);
      assertEquals(res.headers.get("content-range"), contentRange, range);
      if (status !== 416) {
        assertEquals(res.headers.get("content-length"), String(body.length), range);
      }
    }
    const etag = (await get({})).headers.get("etag")!;
    const matching = await get({ range: "bytes=0-1", "if-range": etag });
    assertEquals([matching.status, await matching.text()], [206, "01"]);
    const stale = await get({ range: "bytes=0-1", "if-range": '"stale"' });
    assertEquals([stale.status, (await stale.text()).length], [200, size]);
    assertEquals(parseRange("bytes=0-0", 1), { start: 0, end: 0 });
    assertEquals(parseRange("bytes=0-", 0), "unsatisfiable");
  });
});

Deno.test("static: HEAD through the server has the length and no body", async () => {
  await withSite(async ({ root }) => {
    const { server, port } = startServer(staticHandler(root));
    const client = await RawClient.connect(port);
    try {
      await client.send(
        "HEAD /hello.txt HTTP/1.1\r\nHost: h\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\n\r\n",
      );
      const head = await client.readResponse({ head: true });
      assertEquals([head.status, head.headers.get("content-length")], [200, "16"]);
      assertEquals(head.headers.get("accept-ranges"), "bytes");
      const ranged = await client.readResponse();
      assertEquals([ranged.status, ranged.text], [206, "12"]);
    } finally {
      client.close();
      await server.shutdown();
    }
  });
});

Deno.test("static: a large file is streamed in pieces, and served whole over the socket", async () => {
  await withSite(async ({ root }) => {
    const size = 48 * 1024 * 1024;
    const file = await Deno.open(`${root}/big.bin`, { create: true, write: true });
    await file.truncate(size);
    await file.seek(size - 4, Deno.SeekMode.Start);
    await file.write(new Uint8Array([1, 2, 3, 4]));
    file.close();
    // Direct: the first piece is small and the rest is never read.
    const res = await serveStatic(root, new Request("http://h/big.bin"));
    assertEquals(res.headers.get("content-length"), String(size));
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert(first.value!.length <= 64 * 1024);
    await reader.cancel();
    // Through the server: every byte arrives, the tail is right.
    const { server, url } = startServer(staticHandler(root));
    try {
      const got = await fetch(`${url}/big.bin`);
      let total = 0;
      let tail = new Uint8Array(0);
      for await (const chunk of got.body!) {
        total += chunk.length;
        tail = chunk.length >= 4 ? chunk.slice(-4) : tail;
      }
      assertEquals(total, size);
      assertEquals(tail, new Uint8Array([1, 2, 3, 4]));
    } finally {
      await server.shutdown();
    }
  });
});
