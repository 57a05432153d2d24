/**
 * Parses and validates an HTTP/1.1 request head (RFC 9112 sections 2-3, 5-7): the request line,
 * the header fields, and from them the message framing (Content-Length or chunked), the
 * keep-alive decision and the Host to build the request URL from.
 *
 * Invariants: input is the complete head including its final CRLF CRLF; every rule violation
 * throws an {@link HttpError} (400, 501 or 505) and nothing else is thrown; a returned head has
 * one unambiguous framing, so request smuggling through conflicting lengths is refused here.
 * @module
 */

import { HttpError } from "./_http_error.ts";

/** How the request body is delimited (RFC 9112 section 6.3). */
export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

/** A validated request head. */
export interface RequestHead {
  readonly method: string;
  /** The request-target as sent (origin-form, absolute-form or `*`). */
  readonly target: string;
  /** Minor version of HTTP/1.x: 0 or 1. */
  readonly minorVersion: 0 | 1;
  /** Header fields in order, names as sent. */
  readonly fields: ReadonlyArray<readonly [string, string]>;
  /** The authority to use in the request URL, or undefined when the request had none. */
  readonly authority: string | undefined;
  /** Path and query (origin-form), `*`, or the path of an absolute-form target. */
  readonly pathAndQuery: string;
  readonly framing: BodyFraming;
  /** Whether the client allows the connection to persist (RFC 9112 section 9.3). */
  readonly keepAlive: boolean;
  /** `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 section 10.1.1). */
  readonly expectContinue: boolean;
  /** Size of the head in bytes. */
  readonly byteLength: number;
}

// RFC 9110 section 5.6.2: token = 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9112 section 3: request-line = method SP request-target SP HTTP-version.
const REQUEST_LINE = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/;
// RFC 9112 section 3.2: visible ASCII only in the request-target.
const TARGET_CHARS = /^[\x21-\x7e]+$/;
// RFC 9110 section 5.5: field-value = *( VCHAR / obs-text / SP / HTAB ), no CTLs, no DEL.
const FIELD_VALUE_CHARS = /^[\t\x20-\x7e\x80-\xff]*$/;
// RFC 9110 section 7.2 / RFC 3986 section 3.2: Host = uri-host [ ":" port ].
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?$/;
const ABSOLUTE_FORM = /^https?:\/\//i;
// Methods that fetch's Request refuses to carry (Fetch standard, forbidden methods).
const UNSUPPORTED_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * Decodes head bytes one byte per char (ISO-8859-1), so obs-text survives unchanged. In JS, in
 * pieces of 4096 (an argument list of that length is safe): cheaper than a TextDecoder call for
 * the short heads that are the rule.
 */
function decodeLatin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

function bad(reason: string, message?: string): HttpError {
  return new HttpError(400, reason, message);
}

/** Parses a complete request head (`bytes` ends with CRLF CRLF). */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  const text = decodeLatin1(bytes);
  const lines = text.slice(0, -4).split("\r\n");
  const requestLine = parseRequestLine(lines[0] ?? "");
  const fields: Array<readonly [string, string]> = [];
  for (let i = 1; i < lines.length; i++) fields.push(parseFieldLine(lines[i]!));
  const info = collectFields(fields);
  const { method, target, minorVersion } = requestLine;
  if (minorVersion === 1 && info.hosts.length === 0) throw bad("missing-host"); // RFC 9112 3.2
  if (info.hosts.length > 1) throw bad("duplicate-host");
  const host = info.hosts[0];
  if (host !== undefined && host !== "" && !HOST_VALUE.test(host)) throw bad("bad-host");
  const { authority, pathAndQuery } = resolveTarget(method, target, host);
  const framing = resolveFraming(info, minorVersion);
  const keepAlive = minorVersion === 1
    ? !info.connection.has("close")
    : info.connection.has("keep-alive") && !info.connection.has("close");
  return {
    method,
    target,
    minorVersion,
    fields,
    authority,
    pathAndQuery,
    framing,
    keepAlive,
    expectContinue: minorVersion === 1 && info.expectContinue,
    byteLength: bytes.length,
  };
}

function parseRequestLine(line: string) {
  const m = REQUEST_LINE.exec(line);
  if (!m) throw bad("bad-request-line");
  const [, method, target, major, minor] = m as unknown as [string, string, string, string, string];
  if (!TOKEN.test(method)) throw bad("bad-method");
  if (!TARGET_CHARS.test(target)) throw bad("bad-target");
  // RFC 9110 section 6.2: only major version 1 is spoken here.
  if (major !== "1") throw new HttpError(505, "bad-version");
  if (UNSUPPORTED_METHODS.has(method.toUpperCase())) throw new HttpError(501, "unsupported-method");
  return { method, target, minorVersion: (minor === "0" ? 0 : 1) as 0 | 1 };
}

function parseFieldLine(line: string): readonly [string, string] {
  const colon = line.indexOf(":");
  // RFC 9112 section 5.2: obs-fold (a line starting with SP or HTAB) is rejected with 400.
  if (colon <= 0) throw bad(line[0] === " " || line[0] === "\t" ? "obs-fold" : "bad-header");
  const name = line.slice(0, colon);
  // RFC 9112 section 5.1: no whitespace between field name and colon.
  if (!TOKEN.test(name)) throw bad("bad-header-name");
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  if (!FIELD_VALUE_CHARS.test(value)) throw bad("bad-header-value");
  return [name, value];
}

interface FieldInfo {
  hosts: string[];
  contentLengths: string[];
  transferEncodings: string[];
  connection: Set<string>;
  expectContinue: boolean;
}

function collectFields(fields: ReadonlyArray<readonly [string, string]>): FieldInfo {
  const info: FieldInfo = {
    hosts: [],
    contentLengths: [],
    transferEncodings: [],
    connection: new Set(),
    expectContinue: false,
  };
  for (const [rawName, value] of fields) {
    switch (rawName.toLowerCase()) {
      case "host":
        info.hosts.push(value);
        break;
      case "content-length":
        info.contentLengths.push(...splitList(value));
        break;
      case "transfer-encoding":
        info.transferEncodings.push(...splitList(value).map((v) => v.toLowerCase()));
        break;
      case "connection":
        for (const token of splitList(value)) info.connection.add(token.toLowerCase());
        break;
      case "expect":
        // RFC 9110 section 10.1.1: 100-continue is the only expectation defined.
        if (value.toLowerCase() !== "100-continue") throw new HttpError(417, "bad-expect");
        info.expectContinue = true;
        break;
    }
  }
  return info;
}

function splitList(value: string): string[] {
  return value.split(",").map((v) => v.trim()).filter((v) => v !== "");
}

/** RFC 9112 section 6.3: decides the body length, refusing anything ambiguous. */
function resolveFraming(info: FieldInfo, minorVersion: 0 | 1): BodyFraming {
  const te = info.transferEncodings;
  if (te.length > 0) {
    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing.
    if (minorVersion === 0) throw bad("te-in-http10");
    // RFC 9112 6.3 (3): Transfer-Encoding with Content-Length may be smuggling: refuse.
    if (info.contentLengths.length > 0) throw bad("te-with-content-length");
    // RFC 9112 6.3 (4): chunked must be the final coding, applied once (6.1).
    if (te[te.length - 1] !== "chunked") throw bad("chunked-not-final");
    if (te.indexOf("chunked") !== te.length - 1) throw bad("chunked-twice");
    // RFC 9112 6.1: a transfer coding not understood gets 501.
    if (te.length > 1) throw new HttpError(501, "unsupported-transfer-coding");
    return { kind: "chunked" };
  }
  if (info.contentLengths.length === 0) return { kind: "none" };
  // RFC 9110 8.6: a list of identical values may be taken as one; different values are invalid.
  const first = info.contentLengths[0]!;
  if (!/^\d{1,15}$/.test(first)) throw bad("bad-content-length");
  if (info.contentLengths.some((v) => v !== first)) throw bad("conflicting-content-length");
  const length = Number(first);
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** RFC 9112 section 3.2: splits the request-target into authority and path. */
function resolveTarget(method: string, target: string, host: string | undefined) {
  if (target.startsWith("/")) return { authority: host || undefined, pathAndQuery: target };
  if (target === "*") {
    if (method !== "OPTIONS") throw bad("bad-asterisk-form"); // RFC 9112 3.2.4
    return { authority: host || undefined, pathAndQuery: "*" };
  }
  if (ABSOLUTE_FORM.test(target)) {
    // RFC 9112 3.2.2: the authority of an absolute-form target replaces the Host field.
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw bad("bad-absolute-form");
    }
    if (url.username !== "" || url.password !== "" || url.host === "") {
      throw bad("bad-absolute-form");
    }
    return { authority: url.host, pathAndQuery: url.pathname + url.search };
  }
  throw bad("bad-target"); // authority-form is only for CONNECT (RFC 9112 3.2.3), refused above
}
