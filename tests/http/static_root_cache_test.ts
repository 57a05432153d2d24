/**
 * serveStatic remembers each root's real path for a moment: different roots never share an
 * entry, files below a remembered root are still looked up (and checked) on every request, and
 * a root that disappears is answered with 404 rather than from the memory.
 */

import { assertEquals } from "@std/assert";
import { serveStatic } from "../../http/static.ts";

async function get(root: string, path: string): Promise<{ status: number; text: string }> {
  const res = await serveStatic(root, new Request(`http://h${path}`));
  return { status: res.status, text: await res.text() };
}

Deno.test("static root cache: two roots, changed files and a removed root", async () => {
  const a = await Deno.makeTempDir({ prefix: "mip-static-a-" });
  const b = await Deno.makeTempDir({ prefix: "mip-static-b-" });
  try {
    await Deno.writeTextFile(`${a}/f.txt`, "from a");
    await Deno.writeTextFile(`${b}/f.txt`, "from b");
    assertEquals(await get(a, "/f.txt"), { status: 200, text: "from a" });
    assertEquals(await get(b, "/f.txt"), { status: 200, text: "from b" });
    await Deno.writeTextFile(`${a}/f.txt`, "changed");
    assertEquals(await get(a, "/f.txt"), { status: 200, text: "changed" });
    assertEquals((await get(a, "/missing.txt")).status, 404);
    await Deno.symlink(`${b}/f.txt`, `${a}/out.txt`);
    assertEquals((await get(a, "/out.txt")).status, 403); // still checked against the real root
    await Deno.remove(a, { recursive: true });
    assertEquals((await get(a, "/f.txt")).status, 404);
  } finally {
    await Deno.remove(a, { recursive: true }).catch(() => {});
    await Deno.remove(b, { recursive: true }).catch(() => {});
  }
});

Deno.test("static: a ranged read from the middle and a whole read give the right bytes", async () => {
  const root = await Deno.makeTempDir({ prefix: "mip-static-r-" });
  try {
    await Deno.writeTextFile(`${root}/d.txt`, "0123456789");
    const ranged = await serveStatic(
      root,
      new Request("http://h/d.txt", { headers: { range: "bytes=3-6" } }),
    );
    assertEquals([ranged.status, await ranged.text()], [206, "3456"]);
    assertEquals(await get(root, "/d.txt"), { status: 200, text: "0123456789" });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
