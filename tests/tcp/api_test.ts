/**
 * The socket API is Deno's: our TcpConn/TcpListener type-check as Deno.TcpConn and
 * Deno.TcpListener, and one conformance suite (tests/tcp/conformance.ts) gives the outcomes
 * below both on our stack (in memory) and on Deno's own sockets (on loopback inside a private
 * network namespace this test creates and deletes).
 */

import { assertEquals } from "@std/assert";
import { runSuite, type SocketDriver } from "./conformance.ts";
import { TestNet } from "./harness.ts";

/** What Deno 2.9 does (observed on Linux loopback). */
const EXPECTED = {
  echo: "hello",
  eofAfterCloseWrite: { got: null, write: "BrokenPipe", reply: "still open" },
  closedConn: { pending: "Interrupted", read: "BadResource", write: "BadResource" },
  refused: "ConnectionRefused",
  listenerClosed: "BadResource",
  addresses: {
    listener: ["tcp", "string", "number"],
    port: true,
    client: ["tcp", "string", "number"],
    matches: true,
  },
  streams: { text: "streamed", afterClose: "BadResource" },
  peerReset: "ended",
};

Deno.test("api: TcpConn and TcpListener are Deno.TcpConn and Deno.TcpListener", async () => {
  const net = new TestNet();
  const listener: Deno.TcpListener = net.b.layer.listen({ port: 80 });
  const accepted: Promise<Deno.TcpConn> = listener.accept();
  const client: Deno.TcpConn = await net.settle(
    net.a.layer.connect({ hostname: "10.0.0.2", port: 80 }),
  );
  const server = await net.settle(accepted);
  assertEquals(server.remoteAddr, client.localAddr);
  client.setNoDelay();
  client.setKeepAlive();
  client.unref();
  client.ref();
  using _disposed = server; // [Symbol.dispose] closes it
});

Deno.test("api: the conformance suite on our stack", async () => {
  const net = new TestNet();
  const driver: SocketDriver = {
    listen: (port) => net.b.layer.listen({ port }),
    connect: (port) => net.a.layer.connect({ hostname: net.b.hostname, port }),
    settle: (promise) => net.settle(promise),
    pause: () => net.advance(50),
  };
  assertEquals(await runSuite(driver, 17000), EXPECTED);
});

async function run(cmd: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

const canNetns = Deno.uid?.() === 0 &&
  (await run(["ip", "-V"]).catch(() => ({ code: 1 }))).code === 0;

Deno.test({
  name: "api: the same suite on Deno's sockets (loopback in a private netns)",
  ignore: !canNetns,
  async fn() {
    const ns = `mip-${Deno.pid}-conformance`;
    assertEquals((await run(["ip", "netns", "add", ns])).code, 0);
    try {
      assertEquals(
        (await run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])).code,
        0,
      );
      const script = new URL("./conformance_deno.ts", import.meta.url).pathname;
      const result = await run([
        "ip",
        "netns",
        "exec",
        ns,
        "timeout",
        "60",
        Deno.execPath(),
        "run",
        "--allow-net",
        script,
      ]);
      assertEquals(result.code, 0, result.err);
      assertEquals(JSON.parse(result.out), EXPECTED);
    } finally {
      await run(["ip", "netns", "del", ns]);
    }
  },
});
