/**
 * tap/libc.ts on local file descriptors only (eventfd, epoll, a temp file): no network.
 */

import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import * as libc from "../../tap/libc.ts";
import { Errno, TapError } from "../../tap/libc.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const MOD = new URL("../../tap/mod.ts", import.meta.url).href;

Deno.test("importing tap/mod.ts needs no permissions (libc opens on first use)", async () => {
  const script = await Deno.makeTempFile({ prefix: "mip-import-", suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import * as tap from "${MOD}"; console.log(typeof tap.TapDevice.open);`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--config", CONFIG, script], // no --allow-* at all
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  assertEquals(new TextDecoder().decode(out.stderr), "");
  assertEquals(new TextDecoder().decode(out.stdout).trim(), "function");
  assertEquals(out.code, 0);
});

Deno.test("TapError carries errno, code, syscall and a hint in a one-line message", () => {
  const error = new TapError("Cannot attach to tap0", {
    errno: 16,
    syscall: "ioctl(TUNSETIFF)",
    hint: "stop the other process",
  });
  assertInstanceOf(error, Error);
  assertEquals([error.name, error.errno, error.code], ["TapError", 16, "EBUSY"]);
  assertEquals(error.syscall, "ioctl(TUNSETIFF)");
  assertEquals(
    error.message,
    "Cannot attach to tap0: EBUSY from ioctl(TUNSETIFF). Hint: stop the other process",
  );
  const unknown = new TapError("Cannot frobnicate", { errno: 1234, syscall: "frob" });
  assertEquals([unknown.code, unknown.hint], ["E1234", "see man 2 frob"]);
  assertEquals(new TapError("x", { errno: 1, syscall: "open" }).hint.includes("root"), true);
});

Deno.test("errno names follow asm-generic/errno-base.h", () => {
  assertEquals(libc.errnoName(1), "EPERM");
  assertEquals(libc.errnoName(2), "ENOENT");
  assertEquals(libc.errnoName(11), "EAGAIN");
  assertEquals(libc.errnoName(13), "EACCES");
  assertEquals(libc.errnoName(22), "EINVAL");
});

Deno.test("close of a bad fd throws TapError EBADF; read reports -errno", () => {
  const error = assertThrows(() => libc.close(1_000_000), TapError);
  assertEquals([error.code, error.errno, error.syscall], ["EBADF", 9, "close"]);
  assertEquals(libc.read(1_000_000, new Uint8Array(8)), -Errno.EBADF);
  libc.close(-1); // ignored
});

Deno.test("eventfd + epoll: sync wait sees nothing, then the write; async wait resolves", async () => {
  const efd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
  const epfd = libc.epollCreate();
  try {
    libc.epollCtl(epfd, libc.EPOLL_CTL_ADD, efd, libc.EPOLLIN | libc.EPOLLET, 77);
    const events = new Uint8Array(4 * libc.EPOLL_EVENT_BYTES);
    const view = new DataView(events.buffer);
    assertEquals(libc.epollWait(epfd, events, 0), 0);
    assertEquals(libc.read(efd, new Uint8Array(8)), -Errno.EAGAIN);

    const pending = libc.epollWaitAsync(epfd, events, 5000);
    const started = performance.now();
    assertEquals(libc.write(efd, new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0])), 8);
    assertEquals(await pending, 1);
    assert(performance.now() - started < 1000, "the write woke the wait");
    assertEquals(libc.epollEventTag(view, 0), 77);
    assertEquals(libc.epollEventBits(view, 0) & libc.EPOLLIN, libc.EPOLLIN);
    const counter = new Uint8Array(8);
    assertEquals(libc.read(efd, counter), 8);
    assertEquals(counter[0], 3);

    const timedOutAfter = performance.now();
    assertEquals(await libc.epollWaitAsync(epfd, events, 30), 0);
    assert(performance.now() - timedOutAfter >= 25, "the async wait honours its timeout");
  } finally {
    libc.close(epfd);
    libc.close(efd);
  }
});

Deno.test("writev and readv move bytes through IoVecs built from views", () => {
  const path = Deno.makeTempFileSync({ prefix: "mip-iovec-" });
  const fd = libc.open(path, libc.O_RDWR | libc.O_CLOEXEC);
  assert(fd >= 0, `open: ${libc.errnoName(-fd)}`);
  try {
    const arena = new Uint8Array(256);
    arena.set([1, 2, 3], 10);
    arena.set([4, 5], 100);
    const iov = new libc.IoVecs(2);
    iov.set(0, arena.subarray(10, 13));
    iov.set(1, arena.subarray(100, 102));
    assertEquals(libc.writev(fd, iov, 2), 5);
    assertEquals(Array.from(Deno.readFileSync(path)), [1, 2, 3, 4, 5]);

    const again = libc.open(path, libc.O_RDWR | libc.O_CLOEXEC);
    try {
      const into = new Uint8Array(256);
      const readIov = new libc.IoVecs(2);
      readIov.set(0, into.subarray(0, 2));
      readIov.set(1, into.subarray(200, 210));
      assertEquals(libc.readv(again, readIov, 2), 5);
      assertEquals(Array.from(into.subarray(0, 2)), [1, 2]);
      assertEquals(Array.from(into.subarray(200, 203)), [3, 4, 5]);
    } finally {
      libc.close(again);
    }
    assertThrows(() => iov.set(2, arena), RangeError);
  } finally {
    libc.close(fd);
    Deno.removeSync(path);
  }
});

Deno.test("open reports -ENOENT for a missing path", () => {
  assertEquals(libc.open("/nonexistent/mip-tap", libc.O_RDWR), -Errno.ENOENT);
});
