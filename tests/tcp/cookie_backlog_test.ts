import { assert, assertEquals } from "@std/assert";
import { ListenerCore } from "../../stack/tcp/listener.ts";
import { decodeCookieTimestamp, encodeCookieTimestamp } from "../../stack/tcp/syn_cookie.ts";
import { SeededRandom } from "../../stack/random.ts";

Deno.test("SYN-cookie timestamps are never ahead of the clock and still decode (PAWS-safe)", () => {
  const random = new SeededRandom(31);
  for (let i = 0; i < 20_000; i++) {
    const tsVal = random.u32();
    const options = { windowScale: random.u32() % 16 - 1, sack: (random.u32() & 1) === 1 };
    const encoded = encodeCookieTimestamp(tsVal, options);
    const ahead = (encoded - tsVal) | 0;
    assert(ahead <= 0 && ahead > -128, `tsVal ${tsVal} encoded ${encoded}`);
    const decoded = decodeCookieTimestamp(encoded);
    const ws = options.windowScale >= 0 && options.windowScale <= 14 ? options.windowScale : -1;
    assertEquals(decoded, { windowScale: ws, sack: options.sack });
  }
});

Deno.test("a half-open connection completes into the queue even after a cookie took the last slot", () => {
  const core = new ListenerCore<string>(0, 80, 4, 2);
  assert(core.enqueue("cookie-1"));
  assert(core.enqueue("cookie-2"));
  assertEquals(core.enqueue("cookie-3"), false, "ordinary arrivals stop at the accept backlog");
  // Up to the SYN backlog more, for connections admitted with a reserved slot.
  for (let i = 0; i < 4; i++) assert(core.enqueue(`half-open-${i}`, true));
  assertEquals(core.enqueue("half-open-5", true), false, "still bounded");
  assertEquals(core.queue.length, 6);
});
