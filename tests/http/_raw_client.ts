/**
 * Test helpers for the HTTP tests: start a server on a loopback port, and a raw TCP client
 * that writes exact bytes and parses responses on its own (independent of the server's code),
 * so framing errors on either side show up.
 * @module
 */

import { type HttpServer, serve, type ServeHandler, type ServeOptions } from "../../http/server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A server on 127.0.0.1 with a random port. */
export interface TestServer {
  readonly server: HttpServer;
  readonly port: number;
  readonly url: string;
}

/** Starts `serve` on a loopback listener; `options` may override anything but the listener. */
export function startServer(
  handler: ServeHandler,
  options: Partial<Omit<ServeOptions, "listener">> = {},
): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = serve({ onListen: () => {}, ...options, listener }, handler);
  const port = listener.addr.port;
  return { server, port, url: `http://127.0.0.1:${port}` };
}

/** A parsed HTTP/1.1 response. */
export interface RawResponse {
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  readonly headers: Map<string, string>;
  readonly body: Uint8Array;
  readonly text: string;
  /** Whether the body used chunked transfer coding. */
  readonly chunked: boolean;
}

/** A client over one TCP connection with its own receive buffer. */
export class RawClient {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes a string (as latin1 bytes when it has chars above 0x7f) or bytes. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? latin1(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) n = null;
      else throw error;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** Reads one CRLF-terminated line (without the CRLF). */
  async readLine(): Promise<string> {
    for (;;) {
      const i = indexOfCrlf(this.#buf);
      if (i >= 0) {
        const line = decoder.decode(this.#take(i));
        this.#take(2);
        return line;
      }
      if (!(await this.#fill())) throw new Error("Connection closed while reading a line");
    }
  }

  /** Reads exactly `n` bytes. */
  async readBytes(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) throw new Error(`Connection closed with ${this.#buf.length}/${n}`);
    }
    return this.#take(n);
  }

  /** Reads until the peer closes. */
  async readToEnd(): Promise<Uint8Array> {
    while (await this.#fill());
    return this.#take(this.#buf.length);
  }

  /** Resolves true if the peer closed (EOF or reset) without sending more bytes. */
  async isClosed(): Promise<boolean> {
    if (this.#buf.length > 0) return false;
    return !(await this.#fill());
  }

  /** Reads one response; `head` true for a response to HEAD (no body). */
  async readResponse(options: { head?: boolean } = {}): Promise<RawResponse> {
    const statusLine = await this.readLine();
    const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(statusLine);
    if (!m) throw new Error(`Bad status line: ${JSON.stringify(statusLine)}`);
    const headers = new Map<string, string>();
    for (let line = await this.readLine(); line !== ""; line = await this.readLine()) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const status = Number(m[2]);
    let body: Uint8Array = new Uint8Array(0);
    const chunked = headers.get("transfer-encoding")?.toLowerCase() === "chunked";
    const noBody = options.head || status < 200 || status === 204 || status === 304;
    if (noBody) {
      // nothing
    } else if (chunked) {
      body = await this.#readChunked();
    } else if (headers.has("content-length")) {
      body = await this.readBytes(Number(headers.get("content-length")));
    } else {
      body = await this.readToEnd();
    }
    return {
      version: m[1]!,
      status,
      reason: m[3]!,
      headers,
      body,
      text: decoder.decode(body),
      chunked,
    };
  }

  async #readChunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (;;) {
      const size = parseInt((await this.readLine()).split(";")[0]!, 16);
      if (size === 0) break;
      parts.push(await this.readBytes(size));
      if ((await this.readLine()) !== "") throw new Error("Missing CRLF after chunk");
    }
    while ((await this.readLine()) !== "");
    return concat(parts);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

function indexOfCrlf(buf: Uint8Array): number {
  for (let i = 0; i + 1 < buf.length; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

/** Encodes a string one byte per char (chars above 0xff are not allowed). */
export function latin1(text: string): Uint8Array {
  if (!/[\u0080-\uffff]/.test(text)) return encoder.encode(text);
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Resolves after `ms` milliseconds (for tests over real sockets only). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a command and returns its exit code and decoded output. */
export async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
