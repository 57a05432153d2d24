/**
 * The Deno-shaped socket API over a {@linkcode TcpConnection}: `TcpConn` (read/write/close,
 * `readable`/`writable` streams) and `TcpListener` (accept, async iteration).
 *
 * Waiting is translated into promises here: an operation that cannot complete now parks a
 * waiter, and the connection's observer callbacks (invoked only from the layer's input/poll)
 * wake it to retry. Operations that can complete at once (data already buffered, room in the
 * send buffer) resolve without waiting. Failures are Deno's error classes: ConnectionReset,
 * ConnectionRefused, TimedOut from the connection; BrokenPipe for writes after closeWrite;
 * BadResource after close(); Interrupted for operations pending when close() is called.
 * @module
 */

import { formatIpv4 } from "../wire/address.ts";
import type { ConnectionObserver, TcpConnection, TcpState } from "./connection.ts";
import type { ListenerCore } from "./listener.ts";

/** A TCP endpoint address, as Deno.NetAddr. */
export interface TcpAddr {
  transport: "tcp";
  hostname: string;
  port: number;
}

const CHUNK_BYTES = 64 * 1024;

/** Builds a {@linkcode TcpAddr}. */
export function tcpAddr(address: number, port: number): TcpAddr {
  return { transport: "tcp", hostname: formatIpv4(address), port };
}

/** A connected TCP socket, shaped like `Deno.TcpConn`. */
export class TcpConn implements ConnectionObserver {
  readonly localAddr: TcpAddr;
  readonly remoteAddr: TcpAddr;
  readonly #conn: TcpConnection;
  #waiters: (() => void)[] = [];
  #closed = false;
  #established: { resolve: (c: TcpConn) => void; reject: (e: Error) => void } | undefined;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;

  constructor(conn: TcpConnection) {
    this.#conn = conn;
    this.localAddr = tcpAddr(conn.localAddr, conn.localPort);
    this.remoteAddr = tcpAddr(conn.remoteAddr, conn.remotePort);
    conn.observer = this;
  }

  /** A promise for the connection once ESTABLISHED (for connect()). */
  established(): Promise<TcpConn> {
    return new Promise((resolve, reject) => {
      this.#established = { resolve, reject };
    });
  }

  /** The RFC 9293 state (not in Deno's API; for tests and the dashboard). */
  get state(): TcpState {
    return this.#conn.state;
  }

  /** The protocol object underneath (for tests and statistics). */
  get connection(): TcpConnection {
    return this.#conn;
  }

  // Observer callbacks: invoked from the layer's input/poll only.
  onEstablished(): void {
    this.#established?.resolve(this);
    this.#established = undefined;
  }
  onReadable(): void {
    this.#wake();
  }
  onWritable(): void {
    this.#wake();
  }
  onClosed(error: Error | undefined): void {
    if (this.#established) {
      this.#established.reject(
        error ?? new Deno.errors.ConnectionAborted("Connection closed before it was established"),
      );
      this.#established = undefined;
    }
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #checkOpen(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Cannot use a closed connection");
  }

  /** Reads into `p`; resolves with the count, or null at end of stream (after the FIN). */
  async read(p: Uint8Array): Promise<number | null> {
    this.#checkOpen();
    if (p.length === 0) return 0;
    for (;;) {
      const conn = this.#conn;
      const n = conn.read(p);
      if (n > 0) return n;
      if (conn.error) throw conn.error; // a reset wins over an earlier FIN (as Linux)
      if (conn.readEof || conn.closed) return null;
      await this.#wait();
      if (this.#closed) throw new Deno.errors.Interrupted("The connection was closed");
    }
  }

  /** Waits for data and returns it in a new buffer of at most `max` bytes, or null at EOF. */
  async #readChunk(max: number): Promise<Uint8Array<ArrayBuffer> | null> {
    for (;;) {
      const conn = this.#conn;
      const n = Math.min(conn.readableBytes, max);
      if (n > 0) {
        const chunk = new Uint8Array(n);
        conn.read(chunk);
        return chunk;
      }
      if (conn.error) throw conn.error;
      if (conn.readEof || conn.closed || this.#closed) return null;
      await this.#wait();
    }
  }

  /** Queues bytes from `p`; resolves with how many were taken (at least 1 unless p is empty). */
  async write(p: Uint8Array): Promise<number> {
    this.#checkOpen();
    for (;;) {
      const conn = this.#conn;
      if (conn.error) throw conn.error;
      if (!conn.canWrite) {
        throw new Deno.errors.BrokenPipe("Cannot write: the connection is closed for writing");
      }
      if (p.length === 0) return 0;
      const n = conn.write(p);
      if (n > 0) return n;
      await this.#wait();
      if (this.#closed) throw new Deno.errors.Interrupted("The connection was closed");
    }
  }

  /** Writes all of `p`. */
  async #writeAll(p: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < p.length) offset += await this.write(p.subarray(offset));
  }

  /** Sends a FIN after the queued data; reading continues. */
  closeWrite(): Promise<void> {
    try {
      this.#checkOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    this.#conn.closeWrite();
    return Promise.resolve();
  }

  /**
   * Closes both directions. Queued data is still delivered before the FIN; unread received
   * data turns this into a reset (RFC 1122 4.2.2.13). Pending operations reject.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
    this.#wake();
  }

  /** Disables (true) or enables Nagle's algorithm. */
  setNoDelay(noDelay = true): void {
    this.#conn.setNoDelay(noDelay);
  }

  /** Enables or disables keepalive probes. */
  setKeepAlive(keepAlive = true): void {
    this.#conn.setKeepAlive(keepAlive);
  }

  /** For Deno API compatibility; the stack's loop is not Deno's event loop. */
  ref(): void {}
  unref(): void {}

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The receiving side as a byte stream (BYOB readers fill their buffer straight from the
   * receive buffer); backpressure is the TCP receive window. Cancelling it discards what
   * arrives later.
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#readable ??= new ReadableStream({
      type: "bytes",
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#conn.readShut = true;
        if (this.#conn.readableBytes > 0) this.#conn.read(new Uint8Array(this.#conn.readableBytes));
      },
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  async #pull(controller: ReadableByteStreamController): Promise<void> {
    const request = controller.byobRequest;
    const view = request?.view;
    if (request && view) {
      const target = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      const n = await this.#readInto(target);
      if (n === null) {
        controller.close();
        request.respond(0);
      } else {
        request.respond(n);
      }
      return;
    }
    const chunk = await this.#readChunk(CHUNK_BYTES);
    if (chunk === null) controller.close();
    else controller.enqueue(chunk);
  }

  /** Waits for data and copies it into `target`; null at EOF. */
  async #readInto(target: Uint8Array): Promise<number | null> {
    for (;;) {
      const conn = this.#conn;
      const n = conn.read(target);
      if (n > 0) return n;
      if (conn.error) throw conn.error;
      if (conn.readEof || conn.closed || this.#closed) return null;
      await this.#wait();
    }
  }

  /**
   * The sending side as a byte stream; a write settles once its bytes are in the send buffer.
   * Closing it closes the connection, as Deno's does (use closeWrite() to half-close).
   */
  get writable(): WritableStream<Uint8Array> {
    this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.#writeAll(chunk),
      close: () => this.close(),
      abort: () => {
        this.#closed = true;
        this.#conn.abort();
        this.#wake();
      },
    }, { highWaterMark: 1 });
    return this.#writable;
  }
}

/** A listening socket, shaped like `Deno.TcpListener`. */
export class TcpListener implements AsyncIterable<TcpConn> {
  readonly addr: TcpAddr;
  readonly #core: ListenerCore<TcpConn>;
  readonly #onClose: () => void;
  #waiters: (() => void)[] = [];

  constructor(core: ListenerCore<TcpConn>, onClose: () => void) {
    this.#core = core;
    this.#onClose = onClose;
    this.addr = tcpAddr(core.localAddr, core.localPort);
    core.onQueued = () => {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    };
  }

  /** Waits for the next established connection. */
  async accept(): Promise<TcpConn> {
    for (;;) {
      if (this.#core.closed) throw new Deno.errors.BadResource("Listener has been closed");
      const conn = this.#core.queue.shift();
      if (conn) return conn;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Stops listening; connections not yet accepted are reset. Pending accepts reject. */
  close(): void {
    if (this.#core.closed) return;
    this.#onClose();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  ref(): void {}
  unref(): void {}

  [Symbol.dispose](): void {
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<TcpConn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) return;
        throw e;
      }
    }
  }
}
