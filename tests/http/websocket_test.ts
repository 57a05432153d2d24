/**
 * WebSocket endpoint: echo with Deno's own WebSocket client (text, binary, large, close codes),
 * and a raw-socket client for the protocol rules (masking, fragmentation, control frames,
 * UTF-8, size limit, close handshake, pings), plus shutdown and Deno.serve delegation.
 */

import { assert, assertEquals } from "@std/assert";
import { Hono } from "hono";
import { upgradeWebSocket, type UpgradeWebSocketOptions } from "../../http/websocket.ts";
import { concat, RawClient, startServer, type TestServer } from "./_raw_client.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** An echo server; `closes` collects the server-side close events. */
function echoServer(options: UpgradeWebSocketOptions = {}) {
  const closes: CloseEvent[] = [];
  const closed = Promise.withResolvers<CloseEvent>();
  const test: TestServer = startServer((request) => {
    const { socket, response } = upgradeWebSocket(request, options);
    socket.onmessage = (event) => {
      if (event.data === "close-me") socket.close(4000, "asked to");
      else if (event.data === "going-away") socket.close(1001);
      else if (event.data === "bad-code") {
        try {
          socket.close(1005);
        } catch (error) {
          socket.send(`refused ${(error as DOMException).name}`);
        }
      } else socket.send(event.data);
    };
    socket.addEventListener("close", (event) => {
      closes.push(event);
      closed.resolve(event);
    });
    return response;
  });
  return { ...test, closes, closed: closed.promise };
}

function nextEvent<T extends Event>(ws: WebSocket, type: string): Promise<T> {
  return new Promise((resolve) =>
    ws.addEventListener(type, (e) => resolve(e as T), { once: true })
  );
}

Deno.test("websocket: Deno's client echoes text, binary and a large message, then closes 4001", async () => {
  const { server, port, closed } = echoServer({ maxMessageBytes: 4 * 1024 * 1024 });
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
  ws.binaryType = "arraybuffer";
  try {
    await nextEvent(ws, "open");
    ws.send("héllo ✓");
    assertEquals((await nextEvent<MessageEvent>(ws, "message")).data, "héllo ✓");
    ws.send(new Uint8Array([0, 1, 2, 255]));
    const binary = (await nextEvent<MessageEvent>(ws, "message")).data as ArrayBuffer;
    assertEquals(new Uint8Array(binary), new Uint8Array([0, 1, 2, 255]));
    const large = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    ws.send(large);
    const echoed = new Uint8Array((await nextEvent<MessageEvent>(ws, "message")).data);
    assertEquals(echoed.length, large.length);
    assertEquals(echoed, large);
    ws.close(4001, "done here");
    const clientClose = await nextEvent<CloseEvent>(ws, "close");
    assertEquals(clientClose.code, 4001);
    assert(clientClose.wasClean);
    const serverClose = await closed;
    assertEquals([serverClose.code, serverClose.reason, serverClose.wasClean], [
      4001,
      "done here",
      true,
    ]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: server-initiated closes (4000, 1001) reach Deno's client", async () => {
  const { server, port, closed } = echoServer();
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  try {
    await nextEvent(ws, "open");
    ws.send("close-me");
    const event = await nextEvent<CloseEvent>(ws, "close");
    assertEquals([event.code, event.reason], [4000, "asked to"]);
    assertEquals((await closed).code, 4000);
    // Server side, 1001 may be sent (as with Deno's socket); codes reserved off the wire not.
    const second = new WebSocket(`ws://127.0.0.1:${port}/`);
    await nextEvent(second, "open");
    second.send("bad-code");
    assertEquals(
      (await nextEvent<MessageEvent>(second, "message")).data,
      "refused InvalidAccessError",
    );
    second.send("going-away");
    assertEquals((await nextEvent<CloseEvent>(second, "close")).code, 1001);
  } finally {
    await server.shutdown();
  }
});

/** A raw WebSocket client: handshake and frames by hand. */
class RawWs {
  constructor(readonly client: RawClient) {}

  static async open(port: number, key = "dGhlIHNhbXBsZSBub25jZQ=="): Promise<[RawWs, string]> {
    const client = await RawClient.connect(port);
    await client.send(
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const res = await client.readResponse({ head: true });
    assertEquals(res.status, 101);
    return [new RawWs(client), res.headers.get("sec-websocket-accept")!];
  }

  /** Sends one frame; masked unless `mask` is false. `first` overrides the first byte. */
  async frame(
    opcode: number,
    payload: Uint8Array,
    opts: { fin?: boolean; mask?: boolean; first?: number } = {},
  ) {
    const { fin = true, mask = true } = opts;
    const len = payload.length;
    const header = [opts.first ?? ((fin ? 0x80 : 0) | opcode)];
    const m = mask ? 0x80 : 0;
    if (len < 126) header.push(m | len);
    else if (len < 65536) header.push(m | 126, len >> 8, len & 0xff);
    else {header.push(
        m | 127,
        0,
        0,
        0,
        0,
        (len >>> 24) & 0xff,
        (len >> 16) & 0xff,
        (len >> 8) & 0xff,
        len & 0xff,
      );}
    const key = [0x37, 0xfa, 0x21, 0x3d];
    const body = mask ? payload.map((b, i) => b ^ key[i & 3]!) : payload;
    await this.client.send(
      concat([new Uint8Array(header), ...(mask ? [new Uint8Array(key)] : []), body]),
    );
  }

  async read(): Promise<{ fin: boolean; opcode: number; payload: Uint8Array }> {
    const [b0, b1] = await this.client.readBytes(2);
    assertEquals(b1! & 0x80, 0, "server frames are not masked");
    let len = b1! & 0x7f;
    if (len === 126) {
      const ext = await this.client.readBytes(2);
      len = (ext[0]! << 8) | ext[1]!;
    } else if (len === 127) {
      const ext = await this.client.readBytes(8);
      len = new DataView(ext.buffer).getUint32(4);
    }
    return {
      fin: (b0! & 0x80) !== 0,
      opcode: b0! & 0x0f,
      payload: await this.client.readBytes(len),
    };
  }

  /** Reads frames until a close frame; returns its code (1005 if none). */
  async readClose(): Promise<number> {
    for (;;) {
      const frame = await this.read();
      if (frame.opcode !== 0x8) continue;
      return frame.payload.length >= 2 ? (frame.payload[0]! << 8) | frame.payload[1]! : 1005;
    }
  }
}

const text = (s: string) => encoder.encode(s);
const closePayload = (code: number, reason = "") =>
  concat([new Uint8Array([code >> 8, code & 0xff]), text(reason)]);

Deno.test("websocket: the handshake answers the RFC 6455 sample key", async () => {
  const { server, port } = echoServer();
  try {
    const [ws, accept] = await RawWs.open(port);
    // RFC 6455 section 1.3: key "dGhlIHNhbXBsZSBub25jZQ==" -> "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
    assertEquals(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ws.client.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: fragments are reassembled, pings between them are answered", async () => {
  const { server, port } = echoServer();
  try {
    const [ws] = await RawWs.open(port);
    await ws.frame(0x1, text("frag"), { fin: false });
    await ws.frame(0x9, text("ping!"));
    await ws.frame(0x0, text("ment"), { fin: false });
    await ws.frame(0x0, text("ed ✓"));
    const pong = await ws.read();
    assertEquals([pong.opcode, decoder.decode(pong.payload)], [0xa, "ping!"]);
    const message = await ws.read();
    assertEquals([message.opcode, message.fin, decoder.decode(message.payload)], [
      0x1,
      true,
      "fragmented ✓",
    ]);
    // A 70000-byte binary message uses the 64-bit length form.
    const big = new Uint8Array(70000).fill(9);
    await ws.frame(0x2, big);
    const echoed = await ws.read();
    assertEquals([echoed.opcode, echoed.payload.length], [0x2, 70000]);
    // Clean close: our close is echoed, then the server closes TCP.
    await ws.frame(0x8, closePayload(1000, "bye"));
    assertEquals(await ws.readClose(), 1000);
    assert(await ws.client.isClosed());
  } finally {
    await server.shutdown();
  }
});

const VIOLATIONS: Array<[string, (ws: RawWs) => Promise<void>, number]> = [
  ["unmasked frame", (ws) => ws.frame(0x1, text("x"), { mask: false }), 1002],
  ["reserved bit set", (ws) => ws.frame(0x1, text("x"), { first: 0x80 | 0x40 | 0x1 }), 1002],
  ["unknown opcode", (ws) => ws.frame(0x3, text("x")), 1002],
  ["fragmented ping", (ws) => ws.frame(0x9, text("x"), { fin: false }), 1002],
  ["ping over 125 bytes", (ws) => ws.frame(0x9, new Uint8Array(126)), 1002],
  ["continuation first", (ws) => ws.frame(0x0, text("x")), 1002],
  ["new message inside a fragmented one", async (ws) => {
    await ws.frame(0x1, text("a"), { fin: false });
    await ws.frame(0x1, text("b"));
  }, 1002],
  ["invalid UTF-8 text", (ws) => ws.frame(0x1, new Uint8Array([0x68, 0xc3, 0x28])), 1007],
  ["invalid UTF-8 across fragments", async (ws) => {
    await ws.frame(0x1, new Uint8Array([0xe2, 0x82]), { fin: false });
    await ws.frame(0x0, new Uint8Array([0x41]));
  }, 1007],
  ["message over the limit", (ws) => ws.frame(0x2, new Uint8Array(2000)), 1009],
  ["fragments over the limit", async (ws) => {
    await ws.frame(0x2, new Uint8Array(800), { fin: false });
    await ws.frame(0x0, new Uint8Array(800));
  }, 1009],
  ["close with a 1-byte body", (ws) => ws.frame(0x8, new Uint8Array([3])), 1002],
  ["close with reserved code 1005", (ws) => ws.frame(0x8, closePayload(1005)), 1002],
  ["close with code 999", (ws) => ws.frame(0x8, closePayload(999)), 1002],
  [
    "close with invalid UTF-8 reason",
    (ws) => ws.frame(0x8, concat([closePayload(1000), new Uint8Array([0xff])])),
    1007,
  ],
];

Deno.test("websocket: protocol violations close with 1002, 1007 or 1009", async () => {
  const { server, port, closes } = echoServer({ maxMessageBytes: 1024 });
  try {
    for (const [name, violate, code] of VIOLATIONS) {
      const [ws] = await RawWs.open(port);
      await violate(ws);
      assertEquals(await ws.readClose(), code, name);
      assert(await ws.client.isClosed(), `${name}: TCP closed`);
      ws.client.close();
    }
    for (let i = 0; i < 100 && closes.length < VIOLATIONS.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(closes.map((e) => e.wasClean), VIOLATIONS.map(() => false));
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: an idle connection is pinged, and closed when no answer comes", async () => {
  const { server, port, closed } = echoServer({ idleTimeout: 0.1 });
  try {
    const [ws] = await RawWs.open(port);
    const ping = await ws.read();
    assertEquals(ping.opcode, 0x9);
    // No pong: the server gives up after another idle period.
    assert(await ws.client.isClosed());
    assertEquals((await closed).code, 1006);
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: shutdown closes open sockets with 1001", async () => {
  const { server, port } = echoServer();
  const [ws] = await RawWs.open(port);
  assertEquals(server.connections, 1);
  const shutdown = server.shutdown();
  assertEquals(await ws.readClose(), 1001);
  await ws.frame(0x8, closePayload(1001));
  await shutdown;
  assertEquals(server.connections, 0);
  ws.client.close();
});

Deno.test("websocket: a non-upgrade request makes upgradeWebSocket throw (handler gets 500)", async () => {
  const { server, port } = echoServer();
  try {
    const client = await RawClient.connect(port);
    await client.send("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n");
    assertEquals((await client.readResponse()).status, 500);
    client.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: under Deno.serve, upgradeWebSocket delegates to Deno's", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(`deno:${event.data}`);
    return response;
  });
  const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  try {
    await nextEvent(ws, "open");
    ws.send("x");
    assertEquals((await nextEvent<MessageEvent>(ws, "message")).data, "deno:x");
    ws.close();
    await nextEvent(ws, "close");
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: a Hono app with header-setting middleware still upgrades", async () => {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    c.header("x-after", "1"); // makes Hono rebuild the Response object
  });
  app.get("/ws", (c) => {
    const { socket, response } = upgradeWebSocket(c.req.raw);
    socket.onmessage = (event) => socket.send(`hono:${event.data}`);
    return response;
  });
  const { server, port } = startServer(app.fetch);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  try {
    await nextEvent(ws, "open");
    ws.send("x");
    assertEquals((await nextEvent<MessageEvent>(ws, "message")).data, "hono:x");
    ws.close();
    await nextEvent(ws, "close");
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocket: a handler that upgrades but answers otherwise aborts the socket", async () => {
  const serverClose = Promise.withResolvers<CloseEvent>();
  const { server, port } = startServer((request) => {
    const { socket } = upgradeWebSocket(request);
    socket.onclose = (event) => serverClose.resolve(event);
    return new Response("not you", { status: 403 });
  });
  try {
    const [ws] = await RawWs.open(port).catch(() => [undefined]);
    assertEquals(ws, undefined, "no 101");
    assertEquals((await serverClose.promise).code, 1006);
  } finally {
    await server.shutdown();
  }
});
