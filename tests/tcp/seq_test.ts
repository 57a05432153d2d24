import { assert, assertEquals } from "@std/assert";
import {
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqInRange,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
} from "../../stack/tcp/seq.ts";

Deno.test("seq: comparisons across the 2^32 wrap", () => {
  const near = 0xfffffff0;
  const after = seqAdd(near, 0x20); // wrapped to 0x10
  assertEquals(after, 0x10);
  assert(seqLt(near, after) && seqLe(near, after) && !seqGt(near, after));
  assert(seqGt(after, near) && seqGe(after, near));
  assert(seqLe(5, 5) && seqGe(5, 5) && !seqLt(5, 5) && !seqGt(5, 5));
  assertEquals(seqDiff(after, near), 0x20);
  assertEquals(seqDiff(near, after), -0x20);
  assertEquals(seqMax(near, after), after);
  assertEquals(seqMin(near, after), near);
});

Deno.test("seq: add wraps and accepts negatives", () => {
  assertEquals(seqAdd(0, -1), 0xffffffff);
  assertEquals(seqAdd(0xffffffff, 1), 0);
  assertEquals(seqAdd(0x7fffffff, 1), 0x80000000);
});

Deno.test("seq: ranges that straddle the wrap", () => {
  assert(seqInRange(0xffffffff, 0xfffffff0, 0x10));
  assert(seqInRange(0, 0xfffffff0, 0x10));
  assert(!seqInRange(0x10, 0xfffffff0, 0x10));
  assert(!seqInRange(5, 5, 5)); // empty
});

Deno.test("seq: distances just under 2^31 keep their sign", () => {
  const a = 1000;
  assert(seqLt(a, seqAdd(a, 0x7fffffff)));
  assert(seqGt(a, seqAdd(a, 0x80000001)));
});
