import { assertEquals } from "@std/assert";
import { SackScoreboard } from "../../stack/tcp/scoreboard.ts";

const UNA = 0xfffff000; // near the wrap on purpose
const at = (n: number) => (UNA + n) >>> 0;

Deno.test("scoreboard: blocks merge and count new bytes once", () => {
  const s = new SackScoreboard();
  const nxt = at(10000);
  assertEquals(s.add(at(2000), at(3000), UNA, nxt), 1000);
  assertEquals(s.add(at(2500), at(3500), UNA, nxt), 500);
  assertEquals(s.add(at(5000), at(6000), UNA, nxt), 1000);
  assertEquals(s.add(at(3500), at(5000), UNA, nxt), 1500); // bridges both
  assertEquals([s.size, s.sackedBytes], [1, 4000]);
  assertEquals(s.add(at(2000), at(6000), UNA, nxt), 0);
});

Deno.test("scoreboard: the lowest newly SACKed byte of each block", () => {
  const s = new SackScoreboard();
  const nxt = at(10000);
  s.add(at(2000), at(3000), UNA, nxt);
  assertEquals(s.lowestAdded, at(2000));
  s.add(at(2000), at(4000), UNA, nxt); // a block that grew at the top
  assertEquals(s.lowestAdded, at(3000));
  s.add(at(6000), at(7000), UNA, nxt);
  s.add(at(1000), at(7000), UNA, nxt); // fills below, then the gap between the ranges
  assertEquals(s.lowestAdded, at(1000));
  s.add(at(8000), at(9000), UNA, nxt);
  s.add(at(1000), at(9000), UNA, nxt); // only the gap 7000-8000 is new
  assertEquals([s.lowestAdded, s.sackedBytes], [at(7000), 8000]);
});

Deno.test("scoreboard: invalid or stale blocks are ignored", () => {
  const s = new SackScoreboard();
  const nxt = at(10000);
  assertEquals(s.add(at(3000), at(2000), UNA, nxt), 0); // reversed
  assertEquals(s.add(at(-500), at(0), UNA, nxt), 0); // below SND.UNA (D-SACK)
  assertEquals(s.add(at(9000), at(11000), UNA, nxt), 0); // beyond SND.NXT
  assertEquals(s.add(at(-100), at(100), UNA, nxt), 100); // clipped to SND.UNA
});

Deno.test("scoreboard: advancing SND.UNA trims and drops ranges", () => {
  const s = new SackScoreboard();
  const nxt = at(10000);
  s.add(at(1000), at(2000), UNA, nxt);
  s.add(at(3000), at(4000), UNA, nxt);
  s.advance(at(1500));
  assertEquals(s.sackedBytes, 1500);
  s.advance(at(3500));
  assertEquals([s.size, s.sackedBytes], [1, 500]);
});

Deno.test("scoreboard: holes, next unsacked and the lost boundary (RFC 6675 IsLost)", () => {
  const s = new SackScoreboard();
  const nxt = at(10000);
  const mss = 1000;
  s.add(at(1000), at(2000), UNA, nxt);
  assertEquals(s.lostBoundary(UNA, mss), UNA); // one segment SACKed above: nothing lost
  s.add(at(3000), at(4000), UNA, nxt);
  s.add(at(5000), at(6000), UNA, nxt); // 3 blocks above at(1000): the first hole is lost
  assertEquals(s.lostBoundary(UNA, mss), at(1000));
  assertEquals(s.nextUnsacked(at(1500)), at(2000));
  assertEquals(s.nextUnsacked(at(2500)), at(2500));
  assertEquals(s.nextSackedAfter(at(2000)), at(3000));
  assertEquals(s.sackedWithin(at(1500), at(3500)), 1000);
  s.clear();
  assertEquals([s.size, s.sackedBytes], [0, 0]);
});

Deno.test("scoreboard: more than (DupThresh-1)*MSS bytes above also means lost", () => {
  const s = new SackScoreboard();
  s.add(at(1000), at(3500), UNA, at(10000)); // one block of 2.5 MSS
  assertEquals(s.lostBoundary(UNA, 1000), at(1000));
});

Deno.test("scoreboard: bounded number of ranges", () => {
  const s = new SackScoreboard(3);
  const nxt = at(100000);
  for (let i = 1; i <= 3; i++) s.add(at(i * 1000), at(i * 1000 + 10), UNA, nxt);
  assertEquals(s.add(at(9000), at(9010), UNA, nxt), 0);
  assertEquals(s.add(at(3010), at(3020), UNA, nxt), 10); // extends an existing range
  assertEquals(s.size, 3);
});
