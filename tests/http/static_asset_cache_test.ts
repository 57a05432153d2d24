/**
 * serveStatic remembers small files between requests (see the cost notes in http/static.ts):
 * what it serves must still be what the file system holds. A rewrite that keeps the size and
 * the mtime of a fresh file, a replaced file, a file that became a symlink out of the root, a
 * removed file and one replaced by a directory are all seen by the very next request; ranges,
 * HEAD and 304 answer from a remembered file as from disk; more files than the cache holds are
 * still served right; a consumer writing into a body does not change the next one.
 */

import { assert, assertEquals } from "@std/assert";
import { ASSET_CACHE_ENTRIES, serveStatic } from "../../http/static.ts";

/** An hour ago: a file this old is "settled", so its bytes are kept between requests. */
const OLD = new Date(Date.now() - 3_600_000);

async function get(
  root: string,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await serveStatic(root, new Request(`http://h${path}`, { headers, method }));
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function withRoots(fn: (root: string, outside: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "mip-static-cache-" });
  const outside = await Deno.makeTempDir({ prefix: "mip-static-outside-" });
  try {
    await fn(root, outside);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
}

/** Writes `text` to `path` and dates it an hour back. */
async function writeSettled(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text);
  await Deno.utime(path, OLD, OLD);
}

Deno.test("static cache: a fresh file rewritten with the same size and mtime is served new", async () => {
  await withRoots(async (root) => {
    const path = `${root}/f.txt`;
    await Deno.writeTextFile(path, "aaaa");
    const first = await Deno.stat(path);
    assertEquals((await get(root, "/f.txt")).text, "aaaa");
    await Deno.writeTextFile(path, "bbbb");
    await Deno.utime(path, first.atime!, first.mtime!); // same size, same mtime
    assertEquals((await get(root, "/f.txt")).text, "bbbb");
  });
});

Deno.test("static cache: a settled file replaced by another of the same size and mtime", async () => {
  await withRoots(async (root, outside) => {
    await writeSettled(`${root}/f.txt`, "old!");
    assertEquals((await get(root, "/f.txt")).text, "old!");
    assertEquals((await get(root, "/f.txt")).text, "old!"); // now from memory
    await writeSettled(`${outside}/new.txt`, "new!");
    await Deno.rename(`${outside}/new.txt`, `${root}/f.txt`); // a new inode in its place
    assertEquals((await get(root, "/f.txt")).text, "new!");
  });
});

Deno.test("static cache: a settled file that becomes a symlink out of the root gets 403", async () => {
  await withRoots(async (root, outside) => {
    await writeSettled(`${root}/f.txt`, "mine");
    await writeSettled(`${outside}/secret.txt`, "SECR");
    assertEquals((await get(root, "/f.txt")).text, "mine");
    await Deno.remove(`${root}/f.txt`);
    await Deno.symlink(`${outside}/secret.txt`, `${root}/f.txt`);
    const res = await get(root, "/f.txt");
    assertEquals(res.status, 403);
    assert(!res.text.includes("SECR"));
  });
});

Deno.test("static cache: a removed file gets 404, one replaced by a directory a redirect", async () => {
  await withRoots(async (root) => {
    await writeSettled(`${root}/f`, "file");
    assertEquals((await get(root, "/f")).status, 200);
    await Deno.remove(`${root}/f`);
    assertEquals((await get(root, "/f")).status, 404);
    await Deno.mkdir(`${root}/f`);
    await writeSettled(`${root}/f/index.html`, "<p>index</p>");
    const moved = await get(root, "/f");
    assertEquals([moved.status, moved.headers.get("location")], [301, "/f/"]);
    assertEquals((await get(root, "/f/")).text, "<p>index</p>");
  });
});

Deno.test("static cache: ranges, HEAD and 304 from a remembered file", async () => {
  await withRoots(async (root) => {
    await writeSettled(`${root}/d.txt`, "0123456789");
    const whole = await get(root, "/d.txt");
    assertEquals([whole.status, whole.text], [200, "0123456789"]);
    const etag = whole.headers.get("etag")!;
    assertEquals(whole.headers.get("last-modified"), new Date(OLD.getTime()).toUTCString());
    assertEquals(whole.headers.get("content-type"), "text/plain; charset=utf-8");
    const part = await get(root, "/d.txt", { range: "bytes=2-4" });
    assertEquals([part.status, part.text], [206, "234"]);
    assertEquals(part.headers.get("content-range"), "bytes 2-4/10");
    assertEquals(part.headers.get("etag"), etag);
    const suffix = await get(root, "/d.txt", { range: "bytes=-3" });
    assertEquals([suffix.status, suffix.text], [206, "789"]);
    const head = await get(root, "/d.txt", {}, "HEAD");
    assertEquals([head.status, head.text, head.headers.get("content-length")], [200, "", "10"]);
    const cached = await get(root, "/d.txt", { "if-none-match": etag });
    assertEquals([cached.status, cached.text], [304, ""]);
    const far = await get(root, "/d.txt", { range: "bytes=20-" });
    assertEquals([far.status, far.headers.get("content-range")], [416, "bytes */10"]);
  });
});

Deno.test("static cache: more files than it holds are all served right, twice", async () => {
  await withRoots(async (root) => {
    const count = ASSET_CACHE_ENTRIES + 20;
    for (let i = 0; i < count; i++) await writeSettled(`${root}/${i}.txt`, `file ${i}`);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < count; i++) {
        assertEquals((await get(root, `/${i}.txt`)).text, `file ${i}`);
      }
    }
  });
});

Deno.test("static cache: writing into a served body does not change the next one", async () => {
  await withRoots(async (root) => {
    await writeSettled(`${root}/b.bin`, "abcd");
    for (let i = 0; i < 2; i++) {
      const res = await serveStatic(root, new Request("http://h/b.bin"));
      const bytes = new Uint8Array(await res.arrayBuffer());
      assertEquals(new TextDecoder().decode(bytes), "abcd");
      bytes.fill(0x7a);
    }
    const reader = (await serveStatic(root, new Request("http://h/b.bin"))).body!.getReader();
    const { value } = await reader.read();
    value!.fill(0x7a);
    await reader.cancel();
    assertEquals((await get(root, "/b.bin")).text, "abcd");
  });
});
