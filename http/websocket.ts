/**
 * WebSocket server endpoint (RFC 6455) for this package's HTTP server, with the signature of
 * `Deno.upgradeWebSocket`: a handler calls {@link upgradeWebSocket}, returns the `response`
 * and uses the browser-style `socket`. Under plain `Deno.serve` the call is delegated to
 * `Deno.upgradeWebSocket`, so one handler runs under both servers. The returned Response says
 * status 200 (fetch cannot build a 1xx Response); the server sends `101 Switching Protocols`.
 *
 * Invariants: frames are written in `send` order through one promise chain; a message is
 * delivered only when complete and valid (fragments reassembled, text checked as UTF-8); a
 * protocol violation closes with 1002/1007/1009; the TCP connection is closed by the server
 * after the close handshake (RFC 6455 7.1.1) or after `closeTimeoutMs` without an answer;
 * `close` fires exactly once, and every timer is cleared by then.
 * @module
 */

import { createHash } from "node:crypto";
import type { ConnReader } from "./_conn_reader.ts";
import { isServed, registerUpgrade, type UpgradeTarget } from "./_upgrade.ts";
import {
  CLOSE_CODE,
  decodeText,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  isValidCloseCode,
  MAX_CONTROL_PAYLOAD,
  OPCODE,
  parseClosePayload,
  readFrame,
  WsCloseError,
} from "./_ws_frame.ts";
import { closeQuietly, type Conn, writeAll } from "./conn.ts";

/** Options of {@link upgradeWebSocket}, as Deno.UpgradeWebSocketOptions plus limits. */
export interface UpgradeWebSocketOptions {
  /** Subprotocol to announce in `Sec-WebSocket-Protocol`. */
  readonly protocol?: string;
  /** Seconds without a frame before a ping; as long again without one closes. 0 disables. */
  readonly idleTimeout?: number;
  /** Largest message accepted, in bytes (1009 beyond). Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** How long to wait for the peer's close frame after ours. Default 5000 ms. */
  readonly closeTimeoutMs?: number;
}

/** The result of {@link upgradeWebSocket}. */
export interface WebSocketUpgrade {
  readonly socket: WebSocket;
  readonly response: Response;
}

const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_IDLE_SECONDS = 120;
const DEFAULT_CLOSE_TIMEOUT_MS = 5000;
/** RFC 6455 section 1.3: the GUID appended to the key for Sec-WebSocket-Accept. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();

/**
 * Answers a WebSocket opening handshake (RFC 6455 section 4.2). Throws a TypeError when
 * `request` is not a valid version-13 upgrade request.
 *
 * @example
 * ```ts ignore
 * serve({ listener }, (request) => {
 *   const { socket, response } = upgradeWebSocket(request);
 *   socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * });
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeWebSocketOptions = {},
): WebSocketUpgrade {
  if (!isServed(request) && typeof Deno.upgradeWebSocket === "function") {
    return Deno.upgradeWebSocket(request, {
      protocol: options.protocol,
      idleTimeout: options.idleTimeout,
    });
  }
  const accept = acceptKey(request);
  const headers = new Headers({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-accept": accept,
  });
  if (options.protocol) headers.set("sec-websocket-protocol", options.protocol);
  // fetch cannot build a Response with a 1xx status: this one says 200, the server sends 101.
  // Middleware may rebuild it; the server recognises the copy by Sec-WebSocket-Accept.
  const response = new Response(null, { status: 200, headers });
  const url = request.url.replace(/^http/, "ws");
  const socket = new ServerWebSocket(url, options);
  registerUpgrade(request, response, socket.target, accept);
  return { socket, response };
}

/** Validates the handshake headers and computes Sec-WebSocket-Accept. */
function acceptKey(request: Request): string {
  const has = (name: string, token: string) =>
    (request.headers.get(name) ?? "").toLowerCase().split(",").some((t) => t.trim() === token);
  if (request.method !== "GET") {
    throw new TypeError("Invalid method: a WebSocket upgrade must be GET");
  }
  if (!has("upgrade", "websocket")) {
    throw new TypeError("Invalid Header: 'upgrade' header must contain 'websocket'");
  }
  if (!has("connection", "upgrade")) {
    throw new TypeError("Invalid Header: 'connection' header must contain 'Upgrade'");
  }
  if (request.headers.get("sec-websocket-version") !== "13") {
    throw new TypeError("Invalid Header: 'sec-websocket-version' header must be '13'");
  }
  const key = request.headers.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    throw new TypeError("Invalid Header: 'sec-websocket-key' must be 16 bytes in base64");
  }
  return createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
}

type Handler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;

/** The server side of one WebSocket, shaped like the browser's WebSocket. */
export class ServerWebSocket extends EventTarget implements WebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readonly url: string;
  readonly protocol: string;
  readonly extensions = "";
  binaryType: BinaryType = "arraybuffer";
  onopen: Handler<Event> = null;
  onmessage: Handler<MessageEvent> = null;
  onclose: Handler<CloseEvent> = null;
  onerror: Handler<Event> = null;
  /** The connection hand-over used by the HTTP server (internal: not for applications). */
  readonly target: UpgradeTarget;

  #readyState = 0;
  #bufferedAmount = 0;
  #conn: Conn | undefined;
  #reader: ConnReader | undefined;
  #writes: Promise<void> = Promise.resolve();
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = -1;
  #fragmentBytes = 0;
  #closeSent = false;
  #pendingClose: { code: number; reason: string } | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastFrameMs = 0;
  #pingSent = false;
  readonly #maxMessageBytes: number;
  readonly #idleMs: number;
  readonly #closeTimeoutMs: number;
  readonly #closed = Promise.withResolvers<void>();

  constructor(url: string, options: UpgradeWebSocketOptions) {
    super();
    this.url = url;
    this.protocol = options.protocol ?? "";
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#idleMs = (options.idleTimeout ?? DEFAULT_IDLE_SECONDS) * 1000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.target = {
      attach: (conn, reader) => this.#attach(conn, reader),
      abort: (error) => this.#abort(error),
      shutdown: () => this.#startClose(CLOSE_CODE.goingAway, "Server shutting down"),
      closed: this.#closed.promise,
    };
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    return this.#readyState;
  }

  /** Bytes queued by `send` and not yet written to the connection. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** Queues a text (string) or binary message. Throws while CONNECTING; ignored once closing. */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.#readyState === 0) {
      throw new DOMException(
        "Cannot send on a WebSocket that is not open yet",
        "InvalidStateError",
      );
    }
    if (this.#readyState !== 1) return;
    if (typeof data === "string") return this.#queue(OPCODE.text, encoder.encode(data));
    if (data instanceof Blob) return this.#queue(OPCODE.binary, data);
    if (ArrayBuffer.isView(data)) {
      return this.#queue(
        OPCODE.binary,
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    }
    this.#queue(OPCODE.binary, new Uint8Array(data));
  }

  /**
   * Starts the closing handshake (RFC 6455 section 7.1.2). Like Deno's server-side socket and
   * unlike a browser, any code valid on the wire is allowed (1000-1003, 1007-1014, 3000-4999),
   * e.g. 1001 "going away" or 1011 "internal error".
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && !isValidCloseCode(code)) {
      throw new DOMException(`Invalid close code ${code}`, "InvalidAccessError");
    }
    if (encoder.encode(reason ?? "").length > MAX_CONTROL_PAYLOAD - 2) {
      throw new DOMException("The close reason is longer than 123 bytes", "SyntaxError");
    }
    this.#startClose(code ?? CLOSE_CODE.noStatus, reason ?? "");
  }

  #startClose(code: number, reason: string): void {
    if (this.#readyState >= 2) return;
    const wasConnecting = this.#readyState === 0;
    this.#readyState = 2;
    this.#pendingClose = { code, reason };
    if (!wasConnecting) this.#sendCloseAndWait();
  }

  #sendCloseAndWait(): void {
    const { code, reason } = this.#pendingClose ?? { code: CLOSE_CODE.noStatus, reason: "" };
    this.#sendClose(code, reason);
    this.#closeTimer = setTimeout(
      () => this.#finish(CLOSE_CODE.abnormal, "", false),
      this.#closeTimeoutMs,
    );
  }

  #attach(conn: Conn, reader: ConnReader): void {
    this.#conn = conn;
    this.#reader = reader;
    if (this.#readyState === 2) {
      this.#sendCloseAndWait();
    } else {
      this.#readyState = 1;
      this.#fire(new Event("open"));
    }
    this.#lastFrameMs = Date.now();
    if (this.#idleMs > 0) this.#idleTimer = setTimeout(() => this.#onIdle(), this.#idleMs);
    this.#readLoop();
  }

  #abort(error: unknown): void {
    this.#fire(new ErrorEvent("error", { error, message: String(error) }));
    this.#finish(CLOSE_CODE.abnormal, "", false);
  }

  #fire(event: Event): void {
    const handler = {
      open: this.onopen,
      message: this.onmessage,
      close: this.onclose,
      error: this.onerror,
    }[event.type] as Handler<Event> | undefined;
    try {
      handler?.call(this, event);
    } catch (error) {
      reportError(error);
    }
    this.dispatchEvent(event);
  }

  #queue(opcode: number, data: Uint8Array | Blob): void {
    const size = data instanceof Blob ? data.size : data.length;
    const frame = data instanceof Blob ? undefined : encodeFrame(opcode, data);
    this.#bufferedAmount += size;
    this.#writes = this.#writes.then(async () => {
      const bytes = frame ??
        encodeFrame(opcode, new Uint8Array(await (data as Blob).arrayBuffer()));
      if (this.#conn && this.#readyState !== 3) await writeAll(this.#conn, bytes);
    }).catch(() => this.#finish(CLOSE_CODE.abnormal, "", false)).finally(() => {
      this.#bufferedAmount -= size;
    });
  }

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    const payload = encodeClosePayload(code, reason);
    const frame = encodeFrame(OPCODE.close, payload);
    this.#writes = this.#writes.then(async () => {
      if (this.#conn) await writeAll(this.#conn, frame);
    }).catch(() => {});
  }

  #onIdle(): void {
    this.#idleTimer = undefined;
    if (this.#readyState === 3) return;
    const quietMs = Date.now() - this.#lastFrameMs;
    if (quietMs < this.#idleMs) {
      this.#idleTimer = setTimeout(() => this.#onIdle(), this.#idleMs - quietMs);
      return;
    }
    if (this.#pingSent) {
      this.#fire(new ErrorEvent("error", { message: "No pong within the idle timeout" }));
      return this.#finish(CLOSE_CODE.abnormal, "", false);
    }
    this.#pingSent = true;
    this.#queueControl(OPCODE.ping, new Uint8Array(0));
    this.#idleTimer = setTimeout(() => this.#onIdle(), this.#idleMs);
  }

  #queueControl(opcode: number, payload: Uint8Array): void {
    const frame = encodeFrame(opcode, payload);
    this.#writes = this.#writes.then(async () => {
      if (this.#conn && !this.#closeSent) await writeAll(this.#conn, frame);
    }).catch(() => {});
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const budget = this.#maxMessageBytes - this.#fragmentBytes;
        const frame = await readFrame(this.#reader!, budget);
        if (frame === null) return this.#finish(CLOSE_CODE.abnormal, "", false);
        this.#lastFrameMs = Date.now();
        this.#pingSent = false;
        if (this.#onFrame(frame)) return;
      }
    } catch (error) {
      if (error instanceof WsCloseError) return this.#fail(error);
      this.#finish(CLOSE_CODE.abnormal, "", false);
    }
  }

  /** Handles one frame; returns true when the connection is done. */
  #onFrame(frame: Frame): boolean {
    switch (frame.opcode) {
      case OPCODE.ping:
        this.#queueControl(OPCODE.pong, frame.payload); // RFC 6455 5.5.2
        return false;
      case OPCODE.pong:
        return false;
      case OPCODE.close:
        this.#onClose(frame.payload);
        return true;
      case OPCODE.continuation:
        if (this.#fragmentOpcode < 0) {
          throw new WsCloseError(CLOSE_CODE.protocolError, "continuation without a message");
        }
        break;
      default:
        if (this.#fragmentOpcode >= 0) {
          throw new WsCloseError(CLOSE_CODE.protocolError, "new message inside a fragmented one");
        }
        this.#fragmentOpcode = frame.opcode;
    }
    this.#fragments.push(frame.payload);
    this.#fragmentBytes += frame.payload.length;
    if (frame.fin) this.#deliver();
    return false;
  }

  #deliver(): void {
    const parts = this.#fragments;
    const opcode = this.#fragmentOpcode;
    const bytes = parts.length === 1 ? parts[0]! : concat(parts, this.#fragmentBytes);
    this.#fragments = [];
    this.#fragmentOpcode = -1;
    this.#fragmentBytes = 0;
    if (this.#readyState !== 1) return; // RFC 6455 7.1.2: data after our close is discarded
    let data: string | ArrayBuffer | Blob;
    if (opcode === OPCODE.text) data = decodeText(bytes);
    else if (this.binaryType === "blob") data = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    else {data = bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer as ArrayBuffer
        : bytes.slice().buffer;}
    this.#fire(new MessageEvent("message", { data, origin: new URL(this.url).origin }));
  }

  /** RFC 6455 5.5.1: answers a close frame with one (unless sent) and closes the TCP side. */
  #onClose(payload: Uint8Array): void {
    const { code, reason } = parseClosePayload(payload);
    this.#sendClose(code, "");
    this.#finish(code, reason, true);
  }

  /** Fails the connection (RFC 6455 section 7.1.7) with the error's close code. */
  #fail(error: WsCloseError): void {
    this.#sendClose(error.code, error.message.slice(0, 100));
    this.#fire(new ErrorEvent("error", { error, message: error.message }));
    this.#finish(error.code, error.message, false);
  }

  /** Closes the connection once the queued writes are out; fires `close` once. */
  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.#readyState === 3) return;
    this.#readyState = 3;
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#idleTimer);
    const conn = this.#conn;
    // A peer that does not read cannot hold the close up: the timer closes the connection,
    // which fails the pending write.
    const timer = conn ? setTimeout(() => closeQuietly(conn), this.#closeTimeoutMs) : undefined;
    this.#writes.catch(() => {}).finally(() => {
      clearTimeout(timer);
      if (conn) closeQuietly(conn);
      this.#fire(new CloseEvent("close", { code, reason, wasClean }));
      this.#closed.resolve();
    });
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
