/**
 * Static files from a directory: GET and HEAD with MIME types, validators (ETag,
 * Last-Modified) and conditional requests answered with 304 (RFC 9110 section 13), single byte
 * ranges answered with 206 or 416 (RFC 9110 section 14; several ranges get the whole file with
 * 200, which 14.2 allows), and `index.html` for directories.
 *
 * Invariants: no response ever reads outside `root`: every path segment is percent-decoded and
 * refused (403) if it is `.` or `..` or holds a slash, a backslash or NUL, and the real path
 * (symlinks resolved) must lie inside the real root; files are streamed from disk in pieces,
 * never read whole; a file stream closes its file on end, error and cancel.
 *
 * Cost per request (measured with wrk on the appliance): the root's real path is remembered for
 * `ROOT_REALPATH_TTL_MS` (a re-linked root is seen within that; the file's own real path is
 * resolved and checked every time), and realpath, stat, open and each piece's read are
 * synchronous: on a local file system they cost microseconds, less than the thread-pool round
 * trip of the async ops, at the price of blocking the event loop while a slow disk answers.
 * @module
 */

import { HttpError } from "./_http_error.ts";

/** Options of {@link serveStatic}. */
export interface StaticOptions {
  /** File served for a directory path ending in `/`. Default "index.html". */
  readonly index?: string;
  /** Value of `Cache-Control` on files (none by default). */
  readonly cacheControl?: string;
  /** Serve names starting with a dot. Default false (404). */
  readonly dotfiles?: boolean;
  /** URL path prefix removed before mapping to files, e.g. "/static". */
  readonly urlPrefix?: string;
}

const PIECE_BYTES = 64 * 1024;

const MIME_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  wasm: "application/wasm",
  pdf: "application/pdf",
  mp4: "video/mp4",
  webm: "video/webm",
  mp3: "audio/mpeg",
  gz: "application/gzip",
  zip: "application/zip",
  pcap: "application/vnd.tcpdump.pcap",
};

/** The Content-Type for a file name, by extension (`application/octet-stream` if unknown). */
export function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  const ext = dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  return MIME_TYPES[ext] ?? "application/octet-stream";
}

/**
 * Returns a handler serving files under `root`.
 *
 * @example
 * ```ts ignore
 * const files = staticHandler("./public", { urlPrefix: "/static" });
 * serve({ listener }, (request) => files(request));
 * ```
 */
export function staticHandler(
  root: string,
  options: StaticOptions = {},
): (request: Request) => Promise<Response> {
  return (request) => serveStatic(root, request, options);
}

/** Answers `request` from the files under `root`. */
export async function serveStatic(
  root: string,
  request: Request,
  options: StaticOptions = {},
): Promise<Response> {
  try {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const url = new URL(request.url);
    const segments = pathSegments(url.pathname, options);
    const rootReal = await realRoot(root);
    let file = resolveInside(rootReal, segments);
    let info = Deno.statSync(file);
    if (info.isDirectory) {
      if (!url.pathname.endsWith("/")) {
        return new Response(null, {
          status: 301,
          headers: { location: `${url.pathname}/${url.search}` },
        });
      }
      file = resolveInside(rootReal, [...segments, options.index ?? "index.html"]);
      info = Deno.statSync(file);
    }
    if (!info.isFile) throw new HttpError(404, "not-a-file");
    return fileResponse(file, info, request, options);
  } catch (error) {
    if (error instanceof HttpError) return error.toResponse();
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return new HttpError(404, "not-found").toResponse();
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return new HttpError(403, "permission-denied").toResponse();
    }
    throw error;
  }
}

/** How long a root's real path is reused: a moved or re-linked root is seen within this. */
export const ROOT_REALPATH_TTL_MS = 1000;
const ROOT_CACHE_MAX = 16;
const rootCache = new Map<string, { real: string; atMs: number }>();

/** `Deno.realPath(root)`, remembered for `ROOT_REALPATH_TTL_MS` (one syscall less a request). */
async function realRoot(root: string): Promise<string> {
  const nowMs = Date.now();
  const hit = rootCache.get(root);
  if (hit && nowMs - hit.atMs < ROOT_REALPATH_TTL_MS && nowMs >= hit.atMs) return hit.real;
  const real = await Deno.realPath(root);
  if (rootCache.size >= ROOT_CACHE_MAX) rootCache.clear(); // bounded
  rootCache.set(root, { real, atMs: nowMs });
  return real;
}

/** Decodes and checks the path segments below the prefix; throws 400, 403 or 404. */
function pathSegments(pathname: string, options: StaticOptions): string[] {
  let path = pathname;
  const prefix = options.urlPrefix?.replace(/\/+$/, "");
  if (prefix) {
    if (path !== prefix && !path.startsWith(`${prefix}/`)) {
      throw new HttpError(404, "outside-prefix");
    }
    path = path.slice(prefix.length);
  }
  const out: string[] = [];
  for (const raw of path.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, "bad-percent-encoding");
    }
    if (segment === "." || segment === ".." || /[/\\\0]/.test(segment)) {
      throw new HttpError(403, "path-traversal");
    }
    if (segment.startsWith(".") && !options.dotfiles) throw new HttpError(404, "dotfile");
    out.push(segment);
  }
  return out;
}

/** Joins `segments` to the real root and resolves symlinks; throws 403 if it leaves the root. */
function resolveInside(rootReal: string, segments: string[]): string {
  const joined = segments.length === 0 ? rootReal : `${rootReal}/${segments.join("/")}`;
  const real = Deno.realPathSync(joined);
  if (real !== rootReal && !real.startsWith(rootReal.endsWith("/") ? rootReal : `${rootReal}/`)) {
    throw new HttpError(403, "outside-root");
  }
  return real;
}

function fileResponse(
  path: string,
  info: Deno.FileInfo,
  request: Request,
  options: StaticOptions,
): Response {
  const size = info.size;
  const mtimeMs = info.mtime?.getTime();
  const etag = `"${size.toString(16)}-${(mtimeMs ?? 0).toString(16)}"`;
  const headers = new Headers({ etag, "accept-ranges": "bytes" });
  if (mtimeMs !== undefined) headers.set("last-modified", new Date(mtimeMs).toUTCString());
  if (options.cacheControl) headers.set("cache-control", options.cacheControl);
  if (notModified(request.headers, etag, mtimeMs)) {
    return new Response(null, { status: 304, headers });
  }
  headers.set("content-type", contentType(path));
  headers.set("x-content-type-options", "nosniff");
  let range = request.method === "GET" && rangeApplies(request.headers, etag, mtimeMs)
    ? parseRange(request.headers.get("range"), size)
    : undefined;
  if (range === "unsatisfiable") {
    headers.set("content-range", `bytes */${size}`);
    return new Response("Range Not Satisfiable\n", { status: 416, headers });
  }
  if (range && range.start === 0 && range.end === size - 1) range = undefined;
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : size;
  headers.set("content-length", String(length));
  if (range) headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
  const status = range ? 206 : 200;
  if (request.method === "HEAD" || length === 0) return new Response(null, { status, headers });
  const file = Deno.openSync(path, { read: true });
  return new Response(fileStream(file, start, length), { status, headers });
}

/** RFC 9110 13.1.2 and 13.1.3: If-None-Match takes precedence over If-Modified-Since. */
function notModified(headers: Headers, etag: string, mtimeMs: number | undefined): boolean {
  const inm = headers.get("if-none-match");
  if (inm !== null) {
    const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
    return inm.trim() === "*" || inm.split(",").some((tag) => opaque(tag) === etag); // weak compare
  }
  const ims = headers.get("if-modified-since");
  if (ims === null || mtimeMs === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/** RFC 9110 13.1.5: If-Range must match strongly (ETag) or exactly (date) for Range to apply. */
function rangeApplies(headers: Headers, etag: string, mtimeMs: number | undefined): boolean {
  const ifRange = headers.get("if-range");
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith("W/")) return value === etag;
  return mtimeMs !== undefined && Date.parse(value) === Math.floor(mtimeMs / 1000) * 1000;
}

/**
 * Parses a single byte range (RFC 9110 14.1.2). Returns undefined when the header is absent,
 * malformed or asks for several ranges (the whole file is sent), "unsatisfiable" for 416.
 */
export function parseRange(
  value: string | null,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (value === null) return undefined;
  const m = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(value.trim());
  if (!m) return undefined;
  const [, first = "", last = ""] = m;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined; // invalid range-spec: ignored
  if (start >= size) return "unsatisfiable";
  return { start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}

/** Streams `length` bytes of `file` from `start`, on demand; closes the file when done. */
function fileStream(file: Deno.FsFile, start: number, length: number): ReadableStream<Uint8Array> {
  let remaining = length;
  let positioned = false;
  const release = () => {
    try {
      file.close();
    } catch {
      // Already closed.
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!positioned) {
          if (start > 0) await file.seek(start, Deno.SeekMode.Start); // a new fd reads from 0
          positioned = true;
        }
        const buf = new Uint8Array(Math.min(PIECE_BYTES, remaining));
        // Synchronous, like the open and stat before it: one piece from the page cache costs
        // less than the thread-pool round trip of an async read (measured with wrk).
        const n = file.readSync(buf);
        if (n === null) throw new RangeError("Cannot stream the file: it became shorter");
        remaining -= n;
        controller.enqueue(buf.subarray(0, n));
        if (remaining === 0) {
          release();
          controller.close();
        }
      } catch (error) {
        release();
        controller.error(error);
      }
    },
    cancel: release,
  }, { highWaterMark: 0 });
}
