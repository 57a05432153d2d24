/**
 * The socket shape the HTTP layer is written against: the subset of `Deno.Conn` and
 * `Deno.Listener` that it uses. `Deno.listen()` satisfies it, and so do the user-space stack's
 * TCP sockets (`stack/api.ts`) and the decrypted connections of `tlsListener` (`http/tls.ts`),
 * so one server runs on all three.
 *
 * Invariants: `read` resolves `null` exactly once at end of stream and never returns 0 for a
 * non-empty buffer; `write` may write fewer bytes than asked (use {@link writeAll}); `close` is
 * idempotent in effect (a second call may throw `Deno.errors.BadResource`, callers ignore it).
 * @module
 */

/** A transport address, as `Deno.NetAddr`. */
export interface NetAddr {
  readonly transport: "tcp" | "udp";
  readonly hostname: string;
  readonly port: number;
}

/** A byte stream connection (`Deno.Conn` satisfies it). */
export interface Conn {
  /** Reads into `p`; resolves the count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`; resolves the count written (maybe fewer than `p.length`). */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions and releases the resource. */
  close(): void;
  /** Sends end of stream (TCP FIN) and keeps reading. */
  closeWrite(): Promise<void>;
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** A listening socket (`Deno.Listener` satisfies it). */
export interface Listener extends AsyncIterable<Conn> {
  /** Waits for the next connection; rejects once the listener is closed. */
  accept(): Promise<Conn>;
  /** Stops listening; pending `accept()` calls reject. */
  close(): void;
  readonly addr: NetAddr;
  /** True when accepted connections are already decrypted TLS (`tlsListener`). */
  readonly secure?: boolean;
}

/**
 * Writes all of `bytes` to `conn`, looping over short writes.
 *
 * @example
 * ```ts ignore
 * await writeAll(conn, new TextEncoder().encode("hello"));
 * ```
 */
export async function writeAll(conn: Pick<Conn, "write">, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(offset === 0 ? bytes : bytes.subarray(offset));
  }
}

/** Closes `conn`, ignoring the error of an already closed resource. */
export function closeQuietly(conn: Pick<Conn, "close">): void {
  try {
    conn.close();
  } catch {
    // Already closed: nothing to release.
  }
}

/**
 * Turns Nagle's algorithm off where the connection supports it (Deno.TcpConn and the stack's
 * TcpConn do), as Deno.serve does: a response head and a streamed body then never wait for the
 * client's delayed ACK (40 ms on Linux) between them.
 */
export function noDelay(conn: unknown): void {
  (conn as { setNoDelay?: (noDelay?: boolean) => void }).setNoDelay?.(true);
}
