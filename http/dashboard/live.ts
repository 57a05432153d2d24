/**
 * Live pushes to dashboard pages over WebSockets (RFC 6455), like Mongoose's `/api/watch`
 * notifications: every message is `{"name": <kind>, "data": <payload>}` as text.
 *
 * Invariants: at most `capacity` sockets are held; a socket whose send buffer is backed up past
 * `maxBufferedBytes` skips pushes instead of growing memory; closed sockets leave the set.
 * @module
 */

/** The WebSocket surface the hub uses (satisfied by Deno's and by http/websocket.ts's). */
export interface LiveSocket {
  readonly readyState: number;
  readonly bufferedAmount?: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "close" | "error", listener: () => void): void;
}

const OPEN = 1; // WebSocket.OPEN
const GOING_AWAY = 1001; // RFC 6455 7.4.1

/** The set of sockets receiving pushes. */
export class LiveHub {
  readonly capacity: number;
  readonly maxBufferedBytes: number;
  readonly #sockets = new Set<LiveSocket>();

  constructor(capacity = 16, maxBufferedBytes = 1 << 20) {
    this.capacity = capacity;
    this.maxBufferedBytes = maxBufferedBytes;
  }

  /** Whether another socket fits. */
  get full(): boolean {
    return this.#sockets.size >= this.capacity;
  }

  get size(): number {
    return this.#sockets.size;
  }

  /** Holds `socket` until it closes; `greeting()` is sent as soon as it opens. */
  add(socket: LiveSocket, greeting: () => string): void {
    this.#sockets.add(socket);
    const drop = () => this.#sockets.delete(socket);
    socket.addEventListener("close", drop);
    socket.addEventListener("error", drop);
    const greet = () => this.#send(socket, greeting());
    if (socket.readyState === OPEN) greet();
    else socket.addEventListener("open", greet);
  }

  /** Sends `{name, data}` to every open socket. */
  push(name: string, data: unknown): void {
    if (this.#sockets.size === 0) return;
    const text = JSON.stringify({ name, data });
    for (const socket of this.#sockets) this.#send(socket, text);
  }

  /** Closes every socket (1001 going away). */
  closeAll(): void {
    for (const socket of this.#sockets) {
      try {
        socket.close(GOING_AWAY, "dashboard closing");
      } catch {
        // Already closing.
      }
    }
    this.#sockets.clear();
  }

  #send(socket: LiveSocket, text: string): void {
    if (socket.readyState !== OPEN) return;
    if ((socket.bufferedAmount ?? 0) > this.maxBufferedBytes) return;
    try {
      socket.send(text);
    } catch {
      this.#sockets.delete(socket);
    }
  }
}
