/**
 * Two stacks on an offloading in-memory cable (MemoryLink "segment" or "gso" mode) with a
 * virtual clock, for the offload tests: like pair.ts, but every frame is handed to the stack
 * with the `RxMeta` the link delivered, and a bulk transfer helper that checks the bytes.
 * @module
 */

import { NetApi } from "../../stack/api.ts";
import {
  type ImpairSpec,
  MemoryLink,
  type MemoryLinkOffload,
  SeededRandom,
  Stack,
  VirtualClock,
} from "../../stack/mod.ts";
import type { TcpConfig } from "../../stack/tcp/mod.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";
import { flushMicrotasks } from "./pair.ts";

export const A_IP = "10.0.0.1";
export const B_IP = "10.0.0.2";

/** Options of {@linkcode makeOffloadPair}. */
export interface OffloadPairOptions {
  offload: MemoryLinkOffload;
  aToB?: Partial<ImpairSpec>;
  bToA?: Partial<ImpairSpec>;
  tcp?: TcpConfig;
}

/** Two connected stacks, A (10.0.0.1) and B (10.0.0.2), offloads as `options.offload`. */
export function makeOffloadPair(options: OffloadPairOptions) {
  const clock = new VirtualClock();
  const [linkA, linkB] = MemoryLink.pair({
    clock,
    offload: options.offload,
    aToB: options.aToB,
    bToA: options.bToA,
  });
  const make = (link: MemoryLink, mac: string, ip: string, seed: number) =>
    new Stack({
      link,
      mac: parseMac(mac),
      ipv4: { address: parseIpv4(ip), prefixLength: 24, gateway: 0 },
      random: new SeededRandom(seed),
      tcp: options.tcp,
    });
  const a = make(linkA, "02:00:00:00:00:0a", A_IP, 7);
  const b = make(linkB, "02:00:00:00:00:0b", B_IP, 8);

  function step(): number {
    const now = clock.now();
    linkA.receive(now, (f, meta) => a.input(f, now, meta));
    linkB.receive(now, (f, meta) => b.input(f, now, meta));
    return Math.min(a.poll(now), b.poll(now), linkA.nextDueMs(), linkB.nextDueMs());
  }

  /** Runs until `done()` or `limitMs` of virtual time; returns whether done. */
  async function run(done: () => boolean, limitMs = 60_000): Promise<boolean> {
    const end = clock.now() + limitMs;
    for (let turns = 0; turns < 1_000_000; turns++) {
      const next = step();
      await flushMicrotasks();
      if (done()) return true;
      const again = Math.min(next, step(), linkA.nextDueMs(), linkB.nextDueMs());
      await flushMicrotasks();
      if (done()) return true;
      if (again > end) return false;
      clock.advanceTo(Math.max(again, clock.now()));
    }
    return false;
  }

  /** Awaits `promise` while running the pair; throws if it does not settle in `limitMs`. */
  async function settle<T>(promise: Promise<T>, limitMs = 600_000): Promise<T> {
    let outcome: { value: T } | { error: unknown } | null = null;
    promise.then((value) => (outcome = { value }), (error) => (outcome = { error }));
    await run(() => outcome !== null, limitMs);
    const o = outcome as { value: T } | { error: unknown } | null;
    if (o === null) throw new Error(`Promise did not settle within ${limitMs} ms of virtual time`);
    if ("error" in o) throw o.error;
    return o.value;
  }

  return { clock, a, b, linkA, linkB, run, settle };
}

/** An offload pair as {@linkcode makeOffloadPair} returns it. */
export type OffloadPair = ReturnType<typeof makeOffloadPair>;

/**
 * A connects to B, sends `upload` and half-closes; B reads it to EOF, sends `download` and
 * closes. Returns what each side received.
 */
export async function exchange(
  pair: OffloadPair,
  upload: Uint8Array,
  download: Uint8Array,
): Promise<{ atB: Uint8Array; atA: Uint8Array }> {
  const listener = new NetApi(pair.b).listen({ port: 9000 });
  const server = (async () => {
    const conn = await listener.accept();
    const received = await readAll(conn);
    await writeAll(conn, download);
    conn.close();
    return received;
  })();
  const client = (async () => {
    const conn = await new NetApi(pair.a).connect({ hostname: B_IP, port: 9000 });
    await writeAll(conn, upload);
    await conn.closeWrite();
    const received = await readAll(conn);
    conn.close();
    return received;
  })();
  const [atB, atA] = await pair.settle(Promise.all([server, client]));
  listener.close();
  return { atB, atA };
}

async function writeAll(conn: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at, at + 100_000));
}

async function readAll(conn: { read(p: Uint8Array): Promise<number | null> }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  let total = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
