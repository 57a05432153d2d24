/**
 * `--web-root` over the appliance's own TCP, fetched with curl from the kernel side: a 50 MB
 * file arrives intact (sha256sum of both copies), byte ranges (206, suffix, 416), conditional
 * requests (304), the API still under /api, and path traversal refused: `..` as written
 * (`--path-as-is`), percent-encoded, with encoded slashes and backslashes, NUL, a bare request
 * target, and a symlink that leads out of the root.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { interopTest, type Namespace } from "../helpers/netns.ts";
import { run } from "../helpers/process.ts";
import {
  basicAuth,
  curl,
  curlResponse,
  DEVICE,
  parseCurlOutput,
  rawExchange,
  withWebAppliance,
} from "./fixtures/http_setup.ts";

const BASE = `http://${DEVICE}`;
const BIG_BYTES = 50 * 1024 * 1024;
const SECRET = "outside-the-web-root-7f3a";

/** root/www (the web root) with big.bin, index.html and a symlink to root; root/secret.txt. */
async function makeTree(root: string): Promise<string> {
  const www = `${root}/www`;
  await Deno.mkdir(www);
  await run(["sh", "-c", `head -c ${BIG_BYTES} /dev/urandom > ${www}/big.bin`], { check: true });
  await Deno.writeTextFile(`${www}/index.html`, "<!doctype html><title>web root</title>\n");
  await Deno.writeTextFile(`${root}/secret.txt`, `${SECRET}\n`);
  await Deno.symlink(root, `${www}/escape`);
  return www;
}

/** GET /big.bin with `Range: bytes=<range>` into `file`; the response head parsed. */
async function rangeTo(ns: Namespace, file: string, range: string) {
  const result = await curl(ns, ["-D", "-", "-o", file, "-r", range, `${BASE}/big.bin`]);
  return parseCurlOutput(result.stdout);
}

async function sha256(path: string): Promise<string> {
  const result = await run(["sha256sum", path], { check: true });
  return result.stdout.split(" ")[0]!;
}

async function slice(path: string, start: number, end: number): Promise<Uint8Array> {
  using file = await Deno.open(path);
  await file.seek(start, Deno.SeekMode.Start);
  const out = new Uint8Array(end - start);
  let got = 0;
  while (got < out.length) {
    const n = await file.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

interopTest(
  "--web-root: 50 MB intact, ranges, 304, /api still served, traversal refused",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "mip-www-" });
    try {
      const www = await makeTree(root);
      await withWebAppliance(
        "http-static",
        ["--web-root", www, "--https-port", "0"],
        async (ns) => {
          const index = await curlResponse(ns, [`${BASE}/`]);
          assertEquals([index.status, index.body], [
            200,
            "<!doctype html><title>web root</title>\n",
          ]);
          const api = await curlResponse(ns, [
            "-H",
            `Authorization: ${basicAuth()}`,
            `${BASE}/api/settings/get`,
          ]);
          assertEquals(api.status, 200, "the API stays under /api");
          assertEquals((await curlResponse(ns, [`${BASE}/api/settings/get`])).status, 403);

          const copy = `${root}/download.bin`;
          const download = await curl(ns, [
            "-o",
            copy,
            "-w",
            "%{http_code} %{size_download} %{speed_download} %{time_total}",
            `${BASE}/big.bin`,
          ], 90);
          const [code, size, speed, seconds] = download.stdout.split(" ").map(Number);
          assertEquals([download.code, code, size], [0, 200, BIG_BYTES], download.stderr);
          assertEquals(await sha256(copy), await sha256(`${www}/big.bin`));
          console.log(
            `50 MB download: ${(speed! / 1e6).toFixed(1)} MB/s (${seconds!.toFixed(2)} s)`,
          );
          await Deno.remove(copy);

          const part = `${root}/part.bin`;
          const range = await rangeTo(ns, part, "1000-1999");
          assertEquals(range.status, 206);
          assertEquals(range.headers.get("content-range"), `bytes 1000-1999/${BIG_BYTES}`);
          assertEquals(await Deno.readFile(part), await slice(`${www}/big.bin`, 1000, 2000));
          const suffix = await rangeTo(ns, part, "-500");
          assertEquals(suffix.status, 206);
          assertEquals(
            await Deno.readFile(part),
            await slice(`${www}/big.bin`, BIG_BYTES - 500, BIG_BYTES),
          );
          const beyond = await rangeTo(ns, part, `${BIG_BYTES}-`);
          assertEquals(beyond.status, 416);
          assertEquals(beyond.headers.get("content-range"), `bytes */${BIG_BYTES}`);

          const head = await curlResponse(ns, ["-I", `${BASE}/big.bin`]);
          const etag = head.headers.get("etag");
          assertEquals(Number(head.headers.get("content-length")), BIG_BYTES);
          assert(etag !== null, "an ETag");
          const notModified = await curlResponse(ns, [
            "-H",
            `If-None-Match: ${etag}`,
            `${BASE}/big.bin`,
          ]);
          assertEquals([notModified.status, notModified.body], [304, ""]);
          assertEquals(notModified.headers.get("etag"), etag);
          const modified = await curlResponse(ns, [
            "-I",
            "-H",
            'If-None-Match: "other"',
            `${BASE}/big.bin`,
          ]);
          assertEquals(modified.status, 200);

          const attempts = [
            "/../secret.txt",
            "/../../../../../../etc/passwd",
            "/%2e%2e/secret.txt",
            "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/.%2e/secret.txt",
            "/..%2fsecret.txt",
            "/%2e%2e%2fsecret.txt",
            "/..%5csecret.txt",
            "/index.html%00.txt",
            "/escape/secret.txt",
          ];
          for (const path of attempts) {
            const answer = await curlResponse(ns, ["--path-as-is", `${BASE}${path}`]);
            assert(
              answer.status >= 400 && answer.status < 500,
              `${path}: expected a refusal, got ${answer.status}`,
            );
            assert(
              !answer.body.includes(SECRET) && !/root:.*:0:0:/.test(answer.body),
              `${path} leaked`,
            );
          }
          // A request target that is not an absolute path (RFC 9112 3.2) never reaches the files.
          const bare = await rawExchange(ns, [{
            send: `GET ../secret.txt HTTP/1.1\r\nHost: ${DEVICE}\r\n\r\n`,
          }]);
          assertMatch(bare.response, /^HTTP\/1\.1 400 /);
          assert(!bare.response.includes(SECRET));
        },
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);
