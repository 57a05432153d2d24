/**
 * Two stacks on an in-memory cable with a virtual clock: the harness of the in-memory tests.
 * `run` delivers due frames, polls both stacks, lets promise continuations run, and jumps the
 * clock to the next deadline, so timeouts of minutes take microseconds.
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
import type { FrameSink } from "../../stack/link.ts";
import { parseIpv4, parseMac } from "../../stack/wire/address.ts";

export const A_IP = "10.0.0.1";
export const B_IP = "10.0.0.2";
export const A_MAC = "02:00:00:00:00:0a";
export const B_MAC = "02:00:00:00:00:0b";

/** Options of {@linkcode makePair}. */
export interface PairOptions {
  aToB?: Partial<ImpairSpec>;
  bToA?: Partial<ImpairSpec>;
  mtu?: number;
  seed?: number;
  /** How the cable treats offloaded frames (default "none": plain frames only). */
  offload?: MemoryLinkOffload;
  tcp?: TcpConfig;
}

/** Lets pending promise continuations run (they settle inside input/poll). */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** Two connected stacks, A (10.0.0.1) and B (10.0.0.2), on a /24. */
export function makePair(options: PairOptions = {}) {
  const clock = new VirtualClock();
  const [linkA, linkB] = MemoryLink.pair({
    clock,
    mtu: options.mtu,
    offload: options.offload,
    aToB: options.aToB,
    bToA: options.bToA,
  });
  const seed = options.seed ?? 7;
  const make = (link: MemoryLink, mac: string, ip: string, s: number) =>
    new Stack({
      link,
      mac: parseMac(mac),
      ipv4: { address: parseIpv4(ip), prefixLength: 24, gateway: 0 },
      random: new SeededRandom(s),
      tcp: options.tcp,
    });
  const a = make(linkA, A_MAC, A_IP, seed);
  const b = make(linkB, B_MAC, B_IP, seed + 1);

  /** Delivers what is due and polls both; returns the next deadline. */
  function step(): number {
    const now = clock.now();
    linkA.receive(now, (f, meta) => a.input(f, now, meta));
    linkB.receive(now, (f, meta) => b.input(f, now, meta));
    return Math.min(a.poll(now), b.poll(now), linkA.nextDueMs(), linkB.nextDueMs());
  }

  /**
   * Runs until `done()` is true or `limitMs` of virtual time pass; returns whether done.
   * Each turn also yields to promise continuations.
   */
  async function run(done: () => boolean, limitMs = 60_000): Promise<boolean> {
    const end = clock.now() + limitMs;
    for (let turns = 0; turns < 1_000_000; turns++) {
      const next = step();
      await flushMicrotasks();
      if (done()) return true;
      // Work queued by continuations (or frames now in flight) may be due at once.
      const again = Math.min(next, step(), linkA.nextDueMs(), linkB.nextDueMs());
      await flushMicrotasks();
      if (done()) return true;
      if (again > end) return false;
      clock.advanceTo(Math.max(again, clock.now()));
    }
    return false;
  }

  /** Awaits `promise` while running the pair; throws if it does not settle in `limitMs`. */
  async function settle<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let state: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    promise.then(
      (value) => (state = { ok: true, value }),
      (error) => (state = { ok: false, error }),
    );
    await run(() => state !== null, limitMs);
    const s = state as { ok: true; value: T } | { ok: false; error: unknown } | null;
    if (s === null) throw new Error(`Promise did not settle within ${limitMs} ms of virtual time`);
    if (!s.ok) throw s.error;
    return s.value;
  }

  return { clock, a, b, linkA, linkB, step, run, settle };
}

/** A pair as {@linkcode makePair} returns it. */
export type Pair = ReturnType<typeof makePair>;

/** Writes all of `data` (a Deno-shaped `write` may take fewer bytes than offered). */
export async function writeAll(conn: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at, at + 100_000));
}

/** Reads a Deno-shaped conn to EOF. */
export async function readAll(
  conn: { read(p: Uint8Array): Promise<number | null> },
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  let total = 0;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
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

/**
 * A connects to B on `port`, sends `upload` and half-closes; B reads it to EOF, sends `download`
 * and closes. Returns what each side received.
 */
export async function exchange(
  pair: Pair,
  upload: Uint8Array,
  download: Uint8Array,
  port = 9000,
): Promise<{ atB: Uint8Array; atA: Uint8Array }> {
  const listener = new NetApi(pair.b).listen({ port });
  const server = (async () => {
    const conn = await listener.accept();
    const received = await readAll(conn);
    await writeAll(conn, download);
    conn.close();
    return received;
  })();
  const client = (async () => {
    const conn = await new NetApi(pair.a).connect({ hostname: B_IP, port });
    await writeAll(conn, upload);
    await conn.closeWrite();
    const received = await readAll(conn);
    conn.close();
    return received;
  })();
  const [atB, atA] = await pair.settle(Promise.all([server, client]), 600_000);
  listener.close();
  return { atB, atA };
}

/** A sink that keeps a copy of every frame; for tests that inspect what a stack sends. */
export class RecordingSink implements FrameSink {
  readonly mtu: number;
  readonly frames: Uint8Array[] = [];
  #buffer = new Uint8Array(70_000);

  constructor(mtu = 1500) {
    this.mtu = mtu;
  }

  acquire(length: number): Uint8Array | null {
    return length <= this.#buffer.length ? this.#buffer : null;
  }

  commit(length: number): void {
    this.frames.push(this.#buffer.slice(0, length));
  }

  /** Removes and returns everything recorded so far. */
  take(): Uint8Array[] {
    return this.frames.splice(0);
  }
}
