/**
 * parseRequestHead reads head bytes as ISO-8859-1: obs-text in a field value (RFC 9110 5.5)
 * comes through one char per byte, also in heads longer than one 4096-byte decoding piece.
 */

import { assertEquals } from "@std/assert";
import { parseRequestHead } from "../../http/_request_head.ts";

function bytes(...parts: (string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "string") { for (const c of part) out.push(c.charCodeAt(0)); }
    else out.push(...part);
  }
  return new Uint8Array(out);
}

Deno.test("request head: obs-text bytes become the same Latin-1 chars", () => {
  const head = parseRequestHead(
    bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf", [0xe9, 0x20, 0xff, 0x80], "\r\n\r\n"),
  );
  assertEquals(head.fields[1], ["X-Name", "caf\u00e9 \u00ff\u0080"]);
});

Deno.test("request head: a head over 4096 bytes keeps every byte in order", () => {
  const filler = "a".repeat(5000);
  const head = parseRequestHead(
    bytes("GET /x HTTP/1.1\r\nHost: h\r\nX-Long: ", filler, [0xe9], "\r\nX-After: 1\r\n\r\n"),
  );
  assertEquals(head.fields[1], ["X-Long", `${filler}\u00e9`]);
  assertEquals(head.fields[2], ["X-After", "1"]);
  assertEquals(head.pathAndQuery, "/x");
});
