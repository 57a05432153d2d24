/**
 * HTTPS for any listener of the Deno socket shape: each accepted connection is wrapped in a
 * `node:stream` Duplex and handed to `node:tls` as the transport of a server `TLSSocket`; the
 * decrypted side is exposed again as a {@link Conn}, so `serve` runs on it unchanged. This is
 * what gives the user-space stack TLS 1.3 without kernel sockets.
 *
 * Invariants: plaintext is buffered up to `BUFFER_HIGH_BYTES` per connection before the TLS
 * socket is paused (backpressure reaches the raw connection); every TLSSocket has an `error`
 * listener, so a failed handshake ends that connection only; `close` destroys the TLS socket
 * and closes the raw connection.
 * @module
 */

import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { closeQuietly, type Conn, type Listener, type NetAddr, noDelay, writeAll } from "./conn.ts";
import { type HttpServer, serve, type ServeHandler, type ServeOptions } from "./server.ts";

export {
  type CertificatePair,
  ensureSelfSignedCertificate,
  loadCertificate,
  type SelfSignedOptions,
  type StoredCertificate,
} from "./_certificate.ts";

/** TLS settings of {@link tlsListener}. */
export interface TlsOptions {
  /** PEM certificate chain. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** ALPN protocols offered, most preferred first. Default `["http/1.1"]`. */
  readonly alpnProtocols?: string[];
  /** Lowest TLS version accepted. Default "TLSv1.2". */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3";
}

/** Plaintext buffered per connection before reading from the TLS socket pauses. */
const BUFFER_HIGH_BYTES = 64 * 1024;
const RAW_READ_BYTES = 16 * 1024;

/**
 * Wraps `listener` so that it yields decrypted connections.
 *
 * @example
 * ```ts ignore
 * const listener = tlsListener(Deno.listen({ port: 8443 }), { cert, key });
 * serve({ listener }, () => new Response("secure"));
 * ```
 */
export function tlsListener(listener: Listener, options: TlsOptions): Listener {
  return new TlsListener(listener, options);
}

/** Serves HTTPS: {@link serve} over `tlsListener(options.listener, options)`. */
export function serveTls(options: ServeOptions & TlsOptions, handler: ServeHandler): HttpServer {
  return serve({ ...options, listener: tlsListener(options.listener, options) }, handler);
}

class TlsListener implements Listener {
  readonly secure = true;
  readonly #inner: Listener;
  readonly #context: SecureContext;
  readonly #alpn: string[];

  constructor(inner: Listener, options: TlsOptions) {
    this.#inner = inner;
    this.#context = createSecureContext({
      cert: options.cert,
      key: options.key,
      minVersion: options.minVersion ?? "TLSv1.2",
    });
    this.#alpn = options.alpnProtocols ?? ["http/1.1"];
  }

  get addr(): NetAddr {
    return this.#inner.addr;
  }

  async accept(): Promise<Conn> {
    const raw = await this.#inner.accept();
    noDelay(raw); // TLS records of the head and body go out at once, as on plain HTTP
    return new TlsConn(raw, this.#context, this.#alpn);
  }

  close(): void {
    this.#inner.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Conn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
    }
  }
}

/** A node Duplex over a Conn: the ciphertext transport of a TLSSocket. */
function duplexOf(conn: Conn): Duplex {
  let reading = false;
  return new Duplex({
    read() {
      if (reading) return;
      reading = true;
      const buf = new Uint8Array(RAW_READ_BYTES);
      conn.read(buf).then((n) => {
        reading = false;
        this.push(n === null ? null : buf.subarray(0, n));
      }, (error) => {
        reading = false;
        this.destroy(error);
      });
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(conn, chunk).then(() => callback(), callback);
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(error, callback) {
      closeQuietly(conn);
      callback(error);
    },
  });
}

/** The negotiated parameters of a TLS connection. */
export interface TlsHandshakeInfo {
  /** e.g. "TLSv1.3". */
  readonly protocol: string | null;
  readonly alpnProtocol: string | null;
}

/** A decrypted TLS connection, shaped like Deno.TlsConn. */
export class TlsConn implements Conn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly #raw: Conn;
  readonly #socket: TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  readonly #secure = Promise.withResolvers<TlsHandshakeInfo>();
  #queuedBytes = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;

  constructor(raw: Conn, secureContext: SecureContext, alpn: string[]) {
    this.#raw = raw;
    this.localAddr = raw.localAddr;
    this.remoteAddr = raw.remoteAddr;
    this.#secure.promise.catch(() => {});
    const socket = new TLSSocket(duplexOf(raw), {
      isServer: true,
      secureContext,
      ALPNProtocols: alpn,
    });
    this.#socket = socket;
    socket.on("secure", () => {
      this.#secure.resolve({
        protocol: socket.getProtocol() ?? null,
        alpnProtocol: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null,
      });
    });
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queuedBytes += chunk.length;
      if (this.#queuedBytes > BUFFER_HIGH_BYTES) socket.pause();
      this.#notify();
    });
    socket.on("end", () => this.#stop(undefined));
    socket.on("close", () => this.#stop(undefined));
    socket.on("error", (error: Error) => this.#stop(error));
  }

  /** Resolves once the handshake completed (rejects if it failed). */
  handshake(): Promise<TlsHandshakeInfo> {
    return this.#secure.promise;
  }

  #stop(error: Error | undefined): void {
    this.#ended = true;
    this.#error ??= error;
    this.#secure.reject(error ?? new Deno.errors.ConnectionReset("TLS connection closed"));
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const first = this.#chunks[0]!;
    const n = Math.min(first.length, p.length);
    p.set(first.subarray(0, n));
    if (n === first.length) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#queuedBytes -= n;
    if (this.#queuedBytes <= BUFFER_HIGH_BYTES / 2 && this.#socket.isPaused()) {
      this.#socket.resume();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#socket.destroyed) {
      return Promise.reject(new Deno.errors.BrokenPipe("TLS connection is closed"));
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(p, (error) => error ? reject(error) : resolve(p.length));
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  close(): void {
    this.#socket.destroy();
    closeQuietly(this.#raw);
    this.#stop(undefined);
  }

  get readable(): ReadableStream<Uint8Array> {
    this.#readable ??= new ReadableStream({
      pull: async (controller) => {
        const buf = new Uint8Array(RAW_READ_BYTES);
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.subarray(0, n));
      },
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  get writable(): WritableStream<Uint8Array> {
    this.#writable ??= new WritableStream({
      write: async (chunk) => await writeAll(this, chunk),
      close: () => this.closeWrite(),
    });
    return this.#writable;
  }
}
