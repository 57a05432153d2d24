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
 * Cost per request (measured with wrk on the appliance): every request stats the file (one
 * syscall), so a change is seen by the next request. Beyond that, what a request would
 * otherwise repeat is remembered:
 * - the root's real path, for `ROOT_REALPATH_TTL_MS` (a re-linked root is seen within that);
 * - a file's checked real path, for the same time and only while the stat reports the same
 *   device, inode, size, mtime and ctime (a renamed, re-linked or rewritten file is checked again
 *   at once);
 * - the bytes of files up to `SMALL_FILE_BYTES`, reused while the stat reports the same file
 *   and for at most `BYTES_TTL_MS`, and only kept once the mtime is `RACY_MS` older than the
 *   read (a rewrite within the mtime's granularity could otherwise keep the same size and
 *   mtime: such files are read on every request). Bounded by `ASSET_CACHE_ENTRIES` and
 *   `ASSET_CACHE_BYTES` (oldest entries go first).
 * realpath, stat, open and each piece's read are synchronous: on a local file system they cost
 * microseconds, less than the thread-pool round trip of the async ops, at the price of blocking
 * the event loop while a slow disk answers.
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
    let asset = findAsset(rootReal, segments);
    if (asset === DIRECTORY) {
      if (!url.pathname.endsWith("/")) {
        return new Response(null, {
          status: 301,
          headers: { location: `${url.pathname}/${url.search}` },
        });
      }
      asset = findAsset(rootReal, [...segments, options.index ?? "index.html"]);
      if (asset === DIRECTORY) throw new HttpError(404, "not-a-file");
    }
    return fileResponse(asset, request, options);
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

/** Files up to this size are kept in memory between requests. */
export const SMALL_FILE_BYTES = 64 * 1024;
/** At most this many files are remembered. */
export const ASSET_CACHE_ENTRIES = 512;
/** At most this many file bytes are kept in memory. */
export const ASSET_CACHE_BYTES = 8 * 1024 * 1024;
/** Bytes are kept only once the file's mtime is this much older than their read. */
export const RACY_MS = 2000;
/**
 * Kept bytes are read again after this long: bounds how long a rewrite that keeps inode, size,
 * mtime and the ctime's second (`cp -p` onto the file within a second) goes unseen.
 */
export const BYTES_TTL_MS = 1000;

/** A regular file below the root, as the last stat saw it. */
interface Asset {
  /** Its real path, checked to lie inside the real root. */
  readonly path: string;
  readonly info: Deno.FileInfo;
  /** When `path` was last resolved and checked. */
  readonly checkedAtMs: number;
  readonly etag: string;
  readonly mtimeMs: number | undefined;
  readonly lastModified: string | undefined;
  /** The whole content, when small and settled; null otherwise. */
  bytes: Uint8Array<ArrayBuffer> | null;
  /** When `bytes` were read: they are read again `BYTES_TTL_MS` later. */
  bytesReadAtMs: number;
}

const DIRECTORY = Symbol("directory");
/** Keyed by the joined (unresolved) path; insertion order is age. */
const assets = new Map<string, Asset>();
let assetBytes = 0;

/** Whether two stats describe the same, unchanged file. */
function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size &&
    a.mtime?.getTime() === b.mtime?.getTime() && a.ctime?.getTime() === b.ctime?.getTime();
}

/**
 * Stats the file at `segments` below the real root and returns its asset (resolving and
 * checking its real path unless a remembered check still holds); DIRECTORY for a directory.
 * Throws NotFound, 403 (outside the root) or 404 (not a regular file).
 */
function findAsset(rootReal: string, segments: string[]): Asset | typeof DIRECTORY {
  const joined = segments.length === 0 ? rootReal : `${rootReal}/${segments.join("/")}`;
  const info = Deno.statSync(joined);
  const nowMs = Date.now();
  const known = assets.get(joined);
  if (
    known !== undefined && sameFile(known.info, info) &&
    nowMs - known.checkedAtMs < ROOT_REALPATH_TTL_MS && nowMs >= known.checkedAtMs
  ) return known;
  const path = resolveInside(rootReal, joined);
  if (info.isDirectory) return DIRECTORY;
  if (!info.isFile) throw new HttpError(404, "not-a-file");
  const mtimeMs = info.mtime?.getTime();
  const asset: Asset = {
    path,
    info,
    checkedAtMs: nowMs,
    etag: `"${info.size.toString(16)}-${(mtimeMs ?? 0).toString(16)}"`,
    mtimeMs,
    lastModified: mtimeMs === undefined ? undefined : new Date(mtimeMs).toUTCString(),
    bytes: null,
    bytesReadAtMs: 0,
  };
  if (known?.path === path && sameFile(known.info, info)) {
    // Re-checked path, same file: the kept content still holds.
    asset.bytes = known.bytes;
    asset.bytesReadAtMs = known.bytesReadAtMs;
  }
  remember(joined, asset);
  return asset;
}

/** Stores `asset` under `key`, evicting the oldest entries past the bounds. */
function remember(key: string, asset: Asset): void {
  forget(key);
  assets.set(key, asset);
  assetBytes += asset.bytes?.length ?? 0;
  evict();
}

function forget(key: string): void {
  const old = assets.get(key);
  if (old === undefined) return;
  assetBytes -= old.bytes?.length ?? 0;
  assets.delete(key);
}

function evict(): void {
  for (const key of assets.keys()) {
    if (assets.size <= ASSET_CACHE_ENTRIES && assetBytes <= ASSET_CACHE_BYTES) return;
    forget(key);
  }
}

/**
 * The whole content of a small file: the kept bytes, or read now (and kept once settled).
 * Null for a large file or one that became shorter while read: it is streamed instead.
 */
function smallContent(asset: Asset): Uint8Array<ArrayBuffer> | null {
  const nowMs = Date.now();
  const kept = asset.bytes;
  if (kept !== null) {
    const age = nowMs - asset.bytesReadAtMs;
    if (age < BYTES_TTL_MS && age >= 0) return kept;
    asset.bytes = null;
    assetBytes -= kept.length;
  }
  const size = asset.info.size;
  if (size > SMALL_FILE_BYTES) return null;
  const bytes = new Uint8Array(size);
  {
    using file = Deno.openSync(asset.path, { read: true });
    for (let offset = 0; offset < size;) {
      const n = file.readSync(bytes.subarray(offset));
      if (n === null) return null;
      offset += n;
    }
  }
  // Kept only when settled: a rewrite within the mtime's granularity would go unseen.
  if (asset.mtimeMs !== undefined && nowMs - asset.mtimeMs >= RACY_MS) {
    asset.bytes = bytes;
    asset.bytesReadAtMs = nowMs;
    assetBytes += size;
    evict();
  }
  return bytes;
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

/** Resolves `joined` (below the real root) to its real path; throws 403 if it leaves the root. */
function resolveInside(rootReal: string, joined: string): string {
  const real = Deno.realPathSync(joined);
  if (real !== rootReal && !real.startsWith(rootReal.endsWith("/") ? rootReal : `${rootReal}/`)) {
    throw new HttpError(403, "outside-root");
  }
  return real;
}

function fileResponse(asset: Asset, request: Request, options: StaticOptions): Response {
  const { etag, mtimeMs, path } = asset;
  const size = asset.info.size;
  const headers: [string, string][] = [["etag", etag], ["accept-ranges", "bytes"]];
  if (asset.lastModified !== undefined) headers.push(["last-modified", asset.lastModified]);
  if (options.cacheControl) headers.push(["cache-control", options.cacheControl]);
  if (notModified(request.headers, etag, mtimeMs)) {
    return new Response(null, { status: 304, headers });
  }
  headers.push(["content-type", contentType(path)], ["x-content-type-options", "nosniff"]);
  let range = request.method === "GET" && rangeApplies(request.headers, etag, mtimeMs)
    ? parseRange(request.headers.get("range"), size)
    : undefined;
  if (range === "unsatisfiable") {
    headers.push(["content-range", `bytes */${size}`]);
    return new Response("Range Not Satisfiable\n", { status: 416, headers });
  }
  if (range && range.start === 0 && range.end === size - 1) range = undefined;
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : size;
  headers.push(["content-length", String(length)]);
  if (range) headers.push(["content-range", `bytes ${range.start}-${range.end}/${size}`]);
  const status = range ? 206 : 200;
  if (request.method === "HEAD" || length === 0) return new Response(null, { status, headers });
  const bytes = smallContent(asset);
  const body = bytes !== null
    ? bytes.subarray(start, start + length) // the Response copies it
    : fileStream(Deno.openSync(path, { read: true }), start, length);
  // Headers appended after construction: Deno's constructor given both a body and a header
  // list costs several times more (bodies of bytes and streams get no Content-Type of their own).
  const response = new Response(body, { status });
  const target = response.headers;
  for (const [name, value] of headers) target.append(name, value);
  return response;
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
