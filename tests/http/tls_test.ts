/**
 * HTTPS through node:tls over a Deno.listen loopback listener: the self-signed certificate
 * store, then curl, openssl s_client and Deno's fetch against serveTls / tlsListener.
 */

import { assert, assertEquals, assertMatch, assertNotEquals, assertRejects } from "@std/assert";
import { serve } from "../../http/server.ts";
import {
  ensureSelfSignedCertificate,
  loadCertificate,
  serveTls,
  type TlsConn,
  tlsListener,
} from "../../http/tls.ts";
import { upgradeWebSocket } from "../../http/websocket.ts";
import { run } from "./_raw_client.ts";

async function withCertificate<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "mip-tls-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tls: a self-signed certificate is made once, kept, and names host and IP", async () => {
  await withCertificate(async (dir) => {
    const first = await ensureSelfSignedCertificate(dir, "mip.test", { ip: "127.0.0.1" });
    assert(first.created);
    assertEquals((await Deno.stat(first.keyFile)).mode! & 0o777, 0o600);
    const again = await ensureSelfSignedCertificate(dir, "mip.test", { ip: "127.0.0.1" });
    assertEquals(again.created, false);
    assertEquals(again.cert, first.cert);
    assertEquals(again.key, first.key);
    // Read independently with openssl: ECDSA P-256, SAN with both names, not a CA.
    const text = await run("openssl", ["x509", "-in", first.certFile, "-noout", "-text"]);
    assertEquals(text.code, 0, text.stderr);
    assertMatch(text.stdout, /DNS:mip\.test, IP Address:127\.0\.0\.1/);
    assertMatch(text.stdout, /prime256v1/);
    assertMatch(text.stdout, /ecdsa-with-SHA256/);
    assertMatch(text.stdout, /CA:FALSE/);
    const check = await run("openssl", ["pkey", "-in", first.keyFile, "-noout", "-check"]);
    assertEquals(check.code, 0, check.stderr);
    // Another hostname replaces it.
    const other = await ensureSelfSignedCertificate(dir, "other.test");
    assert(other.created);
    assertNotEquals(other.cert, first.cert);
    const loaded = await loadCertificate(other.certFile, other.keyFile);
    assertEquals(loaded.cert, other.cert);
  });
});

Deno.test("tls: bad hostnames and non-PEM files are refused", async () => {
  await withCertificate(async (dir) => {
    await assertRejects(() => ensureSelfSignedCertificate(dir, "bad host/"), RangeError);
    await Deno.writeTextFile(`${dir}/c.pem`, "not a certificate");
    await Deno.writeTextFile(`${dir}/k.pem`, "not a key");
    await assertRejects(() => loadCertificate(`${dir}/c.pem`, `${dir}/k.pem`), TypeError);
  });
});

const handler = async (request: Request) =>
  new Response(`${request.method} ${request.url} ${(await request.text()).length}\n`);

Deno.test("tls: curl -k gets HTTP/1.1 over TLS 1.3 with keep-alive; --cacert verifies the name", async () => {
  await withCertificate(async (dir) => {
    const { cert, key, certFile } = await ensureSelfSignedCertificate(dir, "localhost", {
      ip: "127.0.0.1",
    });
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const server = serveTls({ listener, cert, key, onListen() {} }, handler);
    const base = `https://127.0.0.1:${listener.addr.port}`;
    try {
      const res = await run("curl", [
        "-skv",
        `${base}/a`,
        `${base}/b`,
        "--data-binary",
        "x".repeat(70000),
      ]);
      assertEquals(res.code, 0, res.stderr);
      assertEquals(res.stdout, `POST ${base}/a 70000\nPOST ${base}/b 70000\n`);
      assertMatch(res.stderr, /SSL connection using TLSv1\.3/);
      assertMatch(res.stderr, /ALPN: server accepted http\/1\.1/);
      assertMatch(res.stderr, /Re-using existing connection/);
      const verified = await run("curl", [
        "-s",
        "--cacert",
        certFile,
        "--resolve",
        `localhost:${listener.addr.port}:127.0.0.1`,
        `https://localhost:${listener.addr.port}/v`,
      ]);
      assertEquals(verified.code, 0, verified.stderr);
      assertEquals(verified.stdout, `GET https://localhost:${listener.addr.port}/v 0\n`);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("tls: openssl s_client negotiates TLS 1.3 and speaks HTTP/1.1 over it", async () => {
  await withCertificate(async (dir) => {
    const { cert, key } = await ensureSelfSignedCertificate(dir, "localhost");
    const listener = tlsListener(Deno.listen({ hostname: "127.0.0.1", port: 0 }), { cert, key });
    const server = serve({ listener, onListen() {} }, handler);
    try {
      const child = new Deno.Command("openssl", {
        args: ["s_client", "-connect", `127.0.0.1:${listener.addr.port}`, "-tls1_3", "-ign_eof"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(
        "GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      ));
      await writer.close();
      const out = await child.output();
      const stdout = new TextDecoder().decode(out.stdout);
      assertMatch(stdout, /(Protocol *: TLSv1\.3|New, TLSv1\.3)/);
      assertMatch(stdout, /HTTP\/1\.1 200 OK[\s\S]*GET https:\/\/h\/one 0/);
      assertMatch(stdout, /GET https:\/\/h\/two 0/);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("tls: Deno's fetch and TLS client (wss) work with the certificate as CA", async () => {
  await withCertificate(async (dir) => {
    const { cert, key } = await ensureSelfSignedCertificate(dir, "localhost");
    const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let negotiated = "";
    const listener = tlsListener(raw, { cert, key });
    const server = serve({ listener, onListen() {} }, async (request, info) => {
      if (request.headers.get("upgrade") === "websocket") {
        const { socket, response } = upgradeWebSocket(request);
        socket.onmessage = (event) => socket.send(`tls:${event.data}`);
        return response;
      }
      negotiated = info.remoteAddr.hostname;
      return await handler(request);
    });
    const client = Deno.createHttpClient({ caCerts: [cert] });
    const port = raw.addr.port;
    const tls = await Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] });
    try {
      const res = await fetch(`https://localhost:${port}/f`, {
        client,
        method: "POST",
        body: "abc",
      });
      assertEquals(await res.text(), `POST https://localhost:${port}/f 3\n`);
      assertEquals(negotiated, "127.0.0.1");
      // wss: a raw handshake and one masked text frame over Deno's TLS client.
      const enc = new TextEncoder();
      await tls.write(enc.encode(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ));
      const mask = [1, 2, 3, 4];
      await tls.write(new Uint8Array([0x81, 0x81, ...mask, "x".charCodeAt(0) ^ 1]));
      let received = new Uint8Array(0);
      const buf = new Uint8Array(4096);
      while (!new TextDecoder().decode(received).includes("tls:x")) {
        const n = await tls.read(buf);
        if (n === null) break;
        received = new Uint8Array([...received, ...buf.subarray(0, n)]);
      }
      const textSeen = new TextDecoder().decode(received);
      assertMatch(textSeen, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assertEquals(received.slice(-7), new Uint8Array([0x81, 5, ...enc.encode("tls:x")]));
    } finally {
      tls.close();
      client.close();
      await server.shutdown();
    }
  });
});

Deno.test("tls: a handshake failure ends only that connection", async () => {
  await withCertificate(async (dir) => {
    const { cert, key } = await ensureSelfSignedCertificate(dir, "localhost");
    const listener = tlsListener(Deno.listen({ hostname: "127.0.0.1", port: 0 }), { cert, key });
    const server = serve({ listener, onListen() {} }, handler);
    try {
      // Plain HTTP to the TLS port is dropped (maybe after a TLS alert), never answered in clear.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
      const buf = new Uint8Array(100);
      const n = await conn.read(buf).catch(() => null);
      conn.close();
      assert(n === null || !new TextDecoder().decode(buf.subarray(0, n)).startsWith("HTTP/"));
      // curl without -k rejects the self-signed certificate.
      const rejected = await run("curl", ["-s", `https://127.0.0.1:${listener.addr.port}/`]);
      assertNotEquals(rejected.code, 0);
      const ok = await run("curl", ["-sk", `https://127.0.0.1:${listener.addr.port}/after`]);
      assertEquals(ok.stdout, `GET https://127.0.0.1:${listener.addr.port}/after 0\n`);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("tls: TlsConn reports the negotiated protocol", async () => {
  await withCertificate(async (dir) => {
    const { cert, key } = await ensureSelfSignedCertificate(dir, "localhost");
    const listener = tlsListener(Deno.listen({ hostname: "127.0.0.1", port: 0 }), { cert, key });
    const curl = run("curl", [
      "-sk",
      "--max-time",
      "5",
      `https://127.0.0.1:${listener.addr.port}/`,
    ]);
    const conn = await listener.accept() as TlsConn;
    const info = await conn.handshake();
    assertEquals(info.protocol, "TLSv1.3");
    assertEquals(info.alpnProtocol, "http/1.1");
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assertMatch(new TextDecoder().decode(buf.subarray(0, n!)), /^GET \/ HTTP\/1\.1\r\n/);
    await conn.write(
      new TextEncoder().encode("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"),
    );
    await conn.closeWrite();
    await curl;
    conn.close();
    listener.close();
  });
});
