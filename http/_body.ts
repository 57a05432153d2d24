/**
 * The request body as a pull-driven `ReadableStream`: bytes are read from the connection only
 * when the handler asks for them (highWaterMark 0), so a slow consumer stops the socket reads
 * and TCP flow control pushes back on the client. Decodes chunked transfer coding (RFC 9112
 * section 7.1) and enforces the body size limit.
 *
 * Invariants: never reads past the end of this message (the next pipelined request stays in
 * the ConnReader); reads are serialised through one promise chain, shared by the stream and
 * `drain`; a framing error or the size limit fails the stream with an {@link HttpError} kept in
 * `error`, and the connection must then be closed.
 * @module
 */

import type { ConnReader } from "./_conn_reader.ts";
import { HttpError } from "./_http_error.ts";
import type { BodyFraming } from "./_request_head.ts";

/** Longest chunk-size line (with extensions) accepted; RFC 9112 7.1.1 sets no bound. */
const MAX_CHUNK_LINE_BYTES = 4096;
/** Most trailer field lines accepted after the last chunk (RFC 9112 section 7.1.2). */
const MAX_TRAILER_LINES = 64;
/** Largest piece handed to the consumer at once. */
const PIECE_BYTES = 64 * 1024;
const HEX_SIZE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/;

/** Options of a {@link RequestBody}. */
export interface RequestBodyOptions {
  /** Body size limit in bytes (413 beyond). */
  readonly maxBodyBytes: number;
  /** Called once before the first read: sends `100 Continue` when the client expects it. */
  readonly beforeFirstRead?: () => Promise<void>;
}

/** A request body being read from a connection. */
export class RequestBody {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #reader: ConnReader;
  readonly #framing: BodyFraming;
  readonly #options: RequestBodyOptions;
  #chain: Promise<unknown> = Promise.resolve();
  #started = false;
  #done = false;
  #detached = false;
  #error: HttpError | undefined;
  #received = 0;
  /** Bytes left in the current chunk (chunked) or in the body (length). */
  #remaining: number;
  #needChunkCrlf = false;

  constructor(reader: ConnReader, framing: BodyFraming, options: RequestBodyOptions) {
    this.#reader = reader;
    this.#framing = framing;
    this.#options = options;
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#done = framing.kind === "none";
    this.stream = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#detached = true;
      },
    }, { highWaterMark: 0 });
  }

  /** True once reading has begun (by the handler or by `drain`). */
  get started(): boolean {
    return this.#started;
  }

  /** True once the whole body has been read off the connection. */
  get done(): boolean {
    return this.#done;
  }

  /** The framing or limit error that failed the body, if any. */
  get error(): HttpError | undefined {
    return this.#error;
  }

  /**
   * Detaches the body from the handler and reads the rest of it off the connection, so the
   * next request can be parsed. Resolves false (close the connection) if more than `maxBytes`
   * remain, or on any error.
   */
  async drain(maxBytes: number): Promise<boolean> {
    this.#detached = true;
    const result = this.#enqueue(async () => {
      let discarded = 0;
      while (!this.#done) {
        const piece = await this.#next();
        if (piece === null) break;
        discarded += piece.length;
        if (discarded > maxBytes) return false;
      }
      return true;
    });
    try {
      return await result;
    } catch {
      return false;
    }
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      const piece = await this.#enqueue(async () => {
        if (this.#detached) throw new TypeError("The request body is no longer available");
        return await this.#next();
      });
      if (piece === null) controller.close();
      else controller.enqueue(piece);
    } catch (error) {
      controller.error(error);
    }
  }

  /** The next decoded piece of body, or null at its end. Must run inside the chain. */
  async #next(): Promise<Uint8Array | null> {
    if (this.#error) throw this.#error;
    if (this.#done) return null;
    if (!this.#started) {
      this.#started = true;
      await this.#options.beforeFirstRead?.();
    }
    try {
      const piece = this.#framing.kind === "chunked"
        ? await this.#nextChunked()
        : await this.#nextFixed();
      if (piece !== null) {
        this.#received += piece.length;
        if (this.#received > this.#options.maxBodyBytes) {
          throw new HttpError(413, "body-too-large");
        }
      }
      return piece;
    } catch (error) {
      this.#error = error instanceof HttpError
        ? error
        : new HttpError(400, "body-read-failed", String(error));
      throw this.#error;
    }
  }

  async #nextFixed(): Promise<Uint8Array | null> {
    if (this.#remaining === 0) {
      this.#done = true;
      return null;
    }
    const piece = await this.#reader.readChunk(Math.min(this.#remaining, PIECE_BYTES));
    if (piece === null) throw new HttpError(400, "truncated-body");
    this.#remaining -= piece.length;
    if (this.#remaining === 0) this.#done = true;
    return piece;
  }

  async #nextChunked(): Promise<Uint8Array | null> {
    if (this.#remaining === 0) {
      if (this.#needChunkCrlf) {
        // RFC 9112 7.1: chunk-data is followed by CRLF.
        if ((await this.#readLine()) !== "") throw new HttpError(400, "bad-chunk-terminator");
        this.#needChunkCrlf = false;
      }
      const sizeLine = await this.#readLine();
      const m = HEX_SIZE.exec(sizeLine);
      if (!m) throw new HttpError(400, "bad-chunk-size");
      const size = parseInt(m[1]!, 16);
      if (size === 0) {
        await this.#skipTrailers();
        this.#done = true;
        return null;
      }
      if (this.#received + size > this.#options.maxBodyBytes) {
        throw new HttpError(413, "body-too-large");
      }
      this.#remaining = size;
      this.#needChunkCrlf = true;
    }
    const piece = await this.#reader.readChunk(Math.min(this.#remaining, PIECE_BYTES));
    if (piece === null) throw new HttpError(400, "truncated-body");
    this.#remaining -= piece.length;
    return piece;
  }

  /** RFC 9112 section 7.1.2: trailer fields end with an empty line; they are discarded. */
  async #skipTrailers(): Promise<void> {
    for (let i = 0; i <= MAX_TRAILER_LINES; i++) {
      const line = await this.#readLine();
      if (line === "") return;
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) {
        throw new HttpError(400, "bad-trailer");
      }
    }
    throw new HttpError(431, "too-many-trailers");
  }

  /** Reads one CRLF-terminated line (ASCII), bounded in length. */
  async #readLine(): Promise<string> {
    const limit = Math.min(MAX_CHUNK_LINE_BYTES, this.#reader.capacity);
    for (;;) {
      const end = this.#reader.findLineEnd();
      if (end >= 0) {
        const line = String.fromCharCode(...this.#reader.peek().subarray(0, end));
        this.#reader.consume(end + 2);
        return line;
      }
      if (this.#reader.buffered >= limit) throw new HttpError(400, "chunk-line-too-long");
      if ((await this.#reader.fill()) === null) throw new HttpError(400, "truncated-body");
    }
  }
}
