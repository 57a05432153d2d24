/**
 * TapDevice argument checks that happen before any syscall. Opening real devices is covered
 * by tests/interop/tap_device_test.ts (root, network namespaces).
 */

import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { checkInterfaceName, TapDevice } from "../../tap/mod.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const MOD = new URL("../../tap/mod.ts", import.meta.url).href;

Deno.test("interface names follow the kernel's dev_valid_name (IFNAMSIZ 16)", () => {
  for (const ok of ["tap0", "a", "x".repeat(15), "mip-tap.1"]) checkInterfaceName(ok);
  const tooLong = assertThrows(() => checkInterfaceName("x".repeat(16)), RangeError);
  assertStringIncludes(tooLong.message, "expected 1-15 bytes, got 16");
  // Bytes, not characters: 8 two-byte characters are 16 bytes.
  assertThrows(() => checkInterfaceName("é".repeat(8)), RangeError);
  for (const bad of ["", ".", "..", "tap/0", "tap 0", "tap:0", "tap%d", "tap\t"]) {
    assertThrows(() => checkInterfaceName(bad), RangeError, undefined, JSON.stringify(bad));
  }
});

Deno.test("TapDevice.open rejects bad options with RangeError", () => {
  assertThrows(() => TapDevice.open({ name: "tap-name-too-long" }), RangeError, "1-15 bytes");
  assertThrows(() => TapDevice.open({ name: "tap0", mtu: 40 }), RangeError, "68..65535");
  assertThrows(() => TapDevice.open({ name: "tap0", rxSlots: 0 }), RangeError, "rxSlots");
  assertThrows(() => TapDevice.open({ name: "tap0", txSlots: 1.5 }), RangeError, "txSlots");
});

Deno.test("a too-long name fails before any syscall (no permissions granted at all)", async () => {
  const script = await Deno.makeTempFile({ prefix: "mip-name-", suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { TapDevice } from "${MOD}";
     try { TapDevice.open({ name: "this-name-is-too-long" }); }
     catch (e) { console.log(e.constructor.name + ": " + e.message); }`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--config", CONFIG, script], // FFI or a file read would throw
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  assertEquals(
    new TextDecoder().decode(out.stdout).trim(),
    "RangeError: Cannot use interface name 'this-name-is-too-long': expected 1-15 bytes, got 21 " +
      "(IFNAMSIZ is 16)",
  );
  assertEquals(out.code, 0);
});
