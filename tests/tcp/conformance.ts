/**
 * A conformance suite written against Deno's socket API only (Deno.TcpConn, Deno.TcpListener).
 * It runs against our stack in memory (tests/tcp/api_test.ts) and against the real
 * Deno.listen/Deno.connect on loopback inside a private network namespace
 * (tests/tcp/conformance_deno.ts): if both give the same outcomes, the API is Deno-shaped.
 * Each case returns plain data describing what happened (values or error class names).
 * @module
 */

/** How a suite reaches the sockets under test. */
export interface SocketDriver {
  listen(port: number): Deno.TcpListener;
  connect(port: number): Promise<Deno.TcpConn>;
  /** Waits for a promise (in memory, this also runs the virtual network). */
  settle<T>(promise: Promise<T>): Promise<T>;
  /** Lets time pass so that segments in flight arrive. */
  pause(): Promise<void>;
}

const text = new TextEncoder();
const untext = new TextDecoder();

async function outcome<T>(promise: Promise<T>): Promise<T | string> {
  try {
    return await promise;
  } catch (e) {
    return e instanceof Error ? e.constructor.name : String(e);
  }
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

async function pair(d: SocketDriver, port: number) {
  const listener = d.listen(port);
  const accepted = listener.accept();
  const client = await d.settle(d.connect(port));
  const server = await d.settle(accepted);
  return { listener, client, server };
}

/** The cases, by name. */
export const CASES: Record<string, (d: SocketDriver, port: number) => Promise<unknown>> = {
  async echo(d, port) {
    const { listener, client, server } = await pair(d, port);
    await client.write(text.encode("hello"));
    const buf = new Uint8Array(16);
    const n = await d.settle(server.read(buf));
    await server.write(buf.subarray(0, n!));
    const m = await d.settle(client.read(buf));
    client.close();
    server.close();
    listener.close();
    return untext.decode(buf.subarray(0, m!));
  },

  async eofAfterCloseWrite(d, port) {
    const { listener, client, server } = await pair(d, port);
    await client.closeWrite();
    const got = await d.settle(server.read(new Uint8Array(8)));
    const write = await outcome(client.write(new Uint8Array(1)));
    await server.write(text.encode("still open"));
    const buf = new Uint8Array(16);
    const n = await d.settle(client.read(buf));
    client.close();
    server.close();
    listener.close();
    return { got, write, reply: untext.decode(buf.subarray(0, n ?? 0)) };
  },

  async closedConn(d, port) {
    const { listener, client, server } = await pair(d, port);
    const pending = outcome(server.read(new Uint8Array(8)));
    server.close();
    const result = {
      pending: await pending,
      read: await outcome(server.read(new Uint8Array(8))),
      write: await outcome(server.write(new Uint8Array(8))),
    };
    client.close();
    listener.close();
    return result;
  },

  async refused(d, port) {
    return await outcome(d.settle(d.connect(port)));
  },

  async listenerClosed(d, port) {
    const listener = d.listen(port);
    listener.close();
    return await outcome(listener.accept());
  },

  async addresses(d, port) {
    const { listener, client, server } = await pair(d, port);
    const shape = (a: Deno.NetAddr) => [a.transport, typeof a.hostname, typeof a.port];
    const result = {
      listener: shape(listener.addr),
      port: listener.addr.port === port,
      client: shape(client.remoteAddr),
      matches: client.localAddr.port === server.remoteAddr.port &&
        client.remoteAddr.port === server.localAddr.port,
    };
    client.close();
    server.close();
    listener.close();
    return result;
  },

  async streams(d, port) {
    const { listener, client, server } = await pair(d, port);
    const writer = client.writable.getWriter();
    await writer.write(text.encode("streamed"));
    await writer.close(); // closes the connection (as Deno does)
    const reader = server.readable.getReader({ mode: "byob" });
    const chunks: string[] = [];
    for (;;) {
      const { value, done } = await d.settle(reader.read(new Uint8Array(4)));
      if (done) break;
      chunks.push(untext.decode(value));
    }
    const afterClose = await outcome(client.read(new Uint8Array(1)));
    // Deno closes the resource when its readable reaches EOF (ours does not): either way the
    // application is done with it.
    closeQuietly(server);
    listener.close();
    return { text: chunks.join(""), afterClose };
  },

  async peerReset(d, port) {
    const { listener, client, server } = await pair(d, port);
    await client.write(text.encode("unread"));
    await d.pause();
    server.close(); // unread data: the close becomes a reset
    await d.pause();
    const read = await outcome(d.settle(client.read(new Uint8Array(8))));
    client.close();
    listener.close();
    // Linux reports a reset that arrived before the read as end of stream (SOCK_DONE is
    // checked before sk_err); we report ConnectionReset. Both end the stream.
    return read === null || read === "ConnectionReset" ? "ended" : read;
  },
};

/** Runs every case; ports start at `basePort`. */
export async function runSuite(
  d: SocketDriver,
  basePort: number,
): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  let port = basePort;
  for (const [name, run] of Object.entries(CASES)) results[name] = await run(d, port++);
  return results;
}
