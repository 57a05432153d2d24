/**
 * writeResponse with a declared Content-Length and a streamed body: the head and the first
 * piece leave in one write (one segment, so Nagle never holds a lone body behind the peer's
 * delayed ACK); the rest follows; a short body still fails; a failing body still throws.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { writeResponse } from "../../http/_response_writer.ts";

const CTX = { method: "GET", minorVersion: 1, keepAlive: true, date: "D" } as const;
const text = new TextDecoder();

function recorder(): { writes: string[]; write(p: Uint8Array): Promise<number> } {
  const writes: string[] = [];
  return {
    writes,
    write(p: Uint8Array) {
      writes.push(text.decode(p));
      return Promise.resolve(p.length);
    },
  };
}

function streamOf(pieces: string[], fail = false): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < pieces.length) controller.enqueue(new TextEncoder().encode(pieces[i++]));
      else if (fail) controller.error(new Error("disk"));
      else controller.close();
    },
  }, { highWaterMark: 0 });
}

Deno.test("writer: head and first piece of a declared-length stream go in one write", async () => {
  const conn = recorder();
  const response = new Response(streamOf(["hello ", "world"]), {
    headers: { "content-length": "11" },
  });
  const result = await writeResponse(conn, response, CTX);
  assertEquals(result, { keepAlive: true, bodyBytes: 11 });
  assertEquals(conn.writes.length, 2);
  const [first, second] = conn.writes;
  assertEquals(first!.startsWith("HTTP/1.1 200 OK\r\n"), true);
  assertEquals(first!.endsWith("\r\n\r\nhello "), true);
  assertEquals(first!.includes("content-length: 11\r\n"), true);
  assertEquals(second, "world");
});

Deno.test("writer: a declared-length stream that ends short or fails still throws", async () => {
  const short = new Response(streamOf(["abc"]), { headers: { "content-length": "10" } });
  await assertRejects(() => writeResponse(recorder(), short, CTX), RangeError);
  const empty = new Response(streamOf([]), { headers: { "content-length": "4" } });
  await assertRejects(() => writeResponse(recorder(), empty, CTX), RangeError);
  const failing = new Response(streamOf([], true), { headers: { "content-length": "4" } });
  await assertRejects(() => writeResponse(recorder(), failing, CTX), Error, "disk");
});
