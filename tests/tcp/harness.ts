/**
 * In-memory harness for TCP tests: two TcpLayers whose IP senders hand packets to each other
 * through an ImpairedPath per direction (seeded loss, duplication, reordering, delay,
 * corruption), driven by a VirtualClock that jumps to the next deadline.
 *
 * A "packet" on the path is 8 bytes (source and destination address) followed by the TCP
 * segment; corruption can hit the addresses too, which the TCP pseudo-header checksum catches.
 * No sleeps: the driver drains microtasks so application code (awaiting reads and writes)
 * runs between steps, and jumps virtual time when nothing is due now.
 * @module
 */

import { VirtualClock } from "../../stack/clock.ts";
import { LayerCounters } from "../../stack/counters.ts";
import { ImpairedPath, type ImpairSpec, NO_IMPAIRMENT } from "../../stack/impair.ts";
import { SeededRandom } from "../../stack/random.ts";
import type { IpSender, PayloadWriter, SendOptions } from "../../stack/transport.ts";
import { formatIpv4, parseIpv4, readIpv4, writeIpv4 } from "../../stack/wire/address.ts";
import type { TcpConfig } from "../../stack/tcp/config.ts";
import { type TcpConn, TcpLayer } from "../../stack/tcp/mod.ts";

/** A packet seen on the wire. */
export interface TracedPacket {
  atMs: number;
  from: string;
  to: string;
  segment: Uint8Array;
}

/** Options of one host. */
export interface HostOptions {
  address?: string;
  mtu?: number;
  tcp?: TcpConfig;
}

/** Options of a {@linkcode TestNet}. */
export interface TestNetOptions {
  seed?: number;
  /** Impairment of packets from a to b, and from b to a. */
  aToB?: Partial<ImpairSpec>;
  bToA?: Partial<ImpairSpec>;
  a?: HostOptions;
  b?: HostOptions;
  queueFrames?: number;
  /** Keep every packet in `trace`. */
  trace?: boolean;
  /** Virtual time at the start (default 1 000 000 ms). */
  startMs?: number;
}

class FakeIp implements IpSender {
  readonly localAddress: number;
  readonly mtu: number;
  readonly #net: TestNet;
  sentPackets = 0;

  constructor(net: TestNet, address: number, mtu: number) {
    this.#net = net;
    this.localAddress = address;
    this.mtu = mtu;
  }

  mtuTo(): number {
    return this.mtu;
  }

  send(
    dst: number,
    _protocol: number,
    length: number,
    write: PayloadWriter,
    options?: SendOptions,
  ): boolean {
    if (length + 20 > this.mtu) return false;
    const src = options?.src ?? this.localAddress;
    const frame = new Uint8Array(8 + length);
    writeIpv4(frame, 0, src);
    writeIpv4(frame, 4, dst);
    write(frame.subarray(8), src);
    this.sentPackets++;
    this.#net.transmit(this, frame);
    return true;
  }
}

/** One side of the test network. */
export class TestHost {
  readonly name: string;
  readonly address: number;
  readonly hostname: string;
  readonly ip: FakeIp;
  readonly counters = new LayerCounters();
  readonly layer: TcpLayer;

  constructor(net: TestNet, name: string, options: HostOptions, seed: number) {
    this.name = name;
    this.hostname = options.address ?? (name === "a" ? "10.0.0.1" : "10.0.0.2");
    this.address = parseIpv4(this.hostname);
    this.ip = new FakeIp(net, this.address, options.mtu ?? 1500);
    this.layer = new TcpLayer({
      ip: this.ip,
      counters: this.counters,
      random: new SeededRandom(seed),
      requestPoll: () => net.requestPoll(),
      options: options.tcp,
    });
  }
}

/** Two hosts, two impaired paths, one virtual clock. */
export class TestNet {
  readonly clock: VirtualClock;
  readonly a: TestHost;
  readonly b: TestHost;
  readonly trace: TracedPacket[] = [];
  readonly #paths: Map<FakeIp, { path: ImpairedPath; to: TestHost }>;
  readonly #tracing: boolean;
  #pollRequested = false;
  /** Sees every packet before the path; return false to drop it. */
  tap: ((from: TestHost, segment: Uint8Array) => boolean) | undefined;

  constructor(options: TestNetOptions = {}) {
    const seed = options.seed ?? 1;
    this.clock = new VirtualClock(options.startMs ?? 1_000_000);
    this.#tracing = options.trace ?? false;
    this.a = new TestHost(this, "a", options.a ?? {}, seed * 7 + 1);
    this.b = new TestHost(this, "b", options.b ?? {}, seed * 7 + 2);
    const queue = options.queueFrames ?? 100_000;
    const ab = { ...NO_IMPAIRMENT, ...options.aToB, seed: seed * 7 + 3 };
    const ba = { ...NO_IMPAIRMENT, ...options.bToA, seed: seed * 7 + 4 };
    this.#paths = new Map([
      [this.a.ip, { path: new ImpairedPath(ab, new SeededRandom(ab.seed), queue), to: this.b }],
      [this.b.ip, { path: new ImpairedPath(ba, new SeededRandom(ba.seed), queue), to: this.a }],
    ]);
    // Layers learn the time from poll/input; give them the start time before any API call.
    this.a.layer.poll(this.clock.now());
    this.b.layer.poll(this.clock.now());
  }

  /** Called by the layers' requestPoll. */
  requestPoll(): void {
    this.#pollRequested = true;
  }

  /** Called by a host's IP sender. */
  transmit(from: FakeIp, frame: Uint8Array): void {
    const host = from === this.a.ip ? this.a : this.b;
    const segment = frame.subarray(8);
    if (this.tap && !this.tap(host, segment)) return;
    if (this.#tracing) {
      this.trace.push({
        atMs: this.clock.now(),
        from: host.name,
        to: host === this.a ? "b" : "a",
        segment: segment.slice(),
      });
    }
    this.#paths.get(from)!.path.send(frame, this.clock.now());
  }

  /** Hands a raw segment to `to` as if sent by `fromAddress`. */
  inject(to: TestHost, segment: Uint8Array, fromAddress?: number): void {
    const src = fromAddress ?? (to === this.a ? this.b.address : this.a.address);
    to.layer.input(
      { src, dst: to.address, ttl: 64, tos: 0, nonUnicast: false },
      segment,
      this.clock.now(),
    );
  }

  /** Delivers what is due and polls both layers until nothing more happens at this instant. */
  pump(): void {
    const now = this.clock.now();
    for (let i = 0; i < 1_000_000; i++) {
      let delivered = 0;
      for (const { path, to } of this.#paths.values()) {
        delivered += path.deliver(now, (frame) => {
          to.layer.input(
            {
              src: readIpv4(frame, 0),
              dst: readIpv4(frame, 4),
              ttl: 64,
              tos: 0,
              nonUnicast: false,
            },
            frame.subarray(8),
            now,
          );
        });
      }
      this.#pollRequested = false;
      this.a.layer.poll(now);
      this.b.layer.poll(now);
      if (delivered === 0 && !this.#pollRequested && !this.#dueNow(now)) return;
    }
    throw new Error("pump did not settle");
  }

  #dueNow(now: number): boolean {
    for (const { path } of this.#paths.values()) if (path.nextDueMs() <= now) return true;
    return false;
  }

  /** The next instant anything is due. */
  nextEventMs(): number {
    const now = this.clock.now();
    let next = Math.min(this.a.layer.poll(now), this.b.layer.poll(now));
    for (const { path } of this.#paths.values()) next = Math.min(next, path.nextDueMs());
    return next;
  }

  /**
   * Runs until `done()` is true. Throws when virtual time passes `limitMs` from now or when
   * nothing is scheduled and `done()` is still false (a deadlock).
   */
  async run(done: () => boolean, limitMs = 3_600_000): Promise<void> {
    const deadline = this.clock.now() + limitMs;
    let idleYields = 0;
    for (;;) {
      this.pump();
      await drainMicrotasks();
      if (done()) return;
      if (this.#pollRequested) continue;
      const next = this.nextEventMs();
      if (next <= this.clock.now()) continue;
      if (next === Infinity) {
        // Let application code that crosses a macrotask boundary finish before giving up.
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (++idleYields > 3) {
          throw new Error(`Stalled at ${this.clock.now()} ms: nothing scheduled`);
        }
        continue;
      }
      idleYields = 0;
      if (next > deadline) throw new Error(`Timed out after ${limitMs} ms of virtual time`);
      this.clock.advanceTo(next);
    }
  }

  /** Runs until `promise` settles and returns its value (or throws its error). */
  async settle<T>(promise: Promise<T>, limitMs?: number): Promise<T> {
    let state: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then((value) => state = { ok: true, value }, (error) => state = { ok: false, error });
    await this.run(() => state !== undefined, limitMs);
    if (!state!.ok) throw state!.error;
    return state!.value;
  }

  /** Runs for `ms` of virtual time. */
  async advance(ms: number): Promise<void> {
    const until = this.clock.now() + ms;
    for (;;) {
      this.pump();
      await drainMicrotasks();
      if (this.#pollRequested) continue;
      const next = this.nextEventMs();
      if (next <= this.clock.now()) continue;
      if (next > until) break;
      this.clock.advanceTo(next);
    }
    this.clock.advanceTo(until);
    this.pump();
    await drainMicrotasks();
  }

  /** Connects a to b on `port` and returns both ends. */
  async connectPair(port = 80): Promise<{ client: TcpConn; server: TcpConn }> {
    const listener = this.b.layer.listen({ port });
    const accepted = listener.accept();
    const client = await this.settle(this.a.layer.connect({ hostname: this.b.hostname, port }));
    const server = await this.settle(accepted);
    return { client, server };
  }
}

/** Lets pending promise continuations run. */
export async function drainMicrotasks(): Promise<void> {
  for (let i = 0; i < 64; i++) await null;
}

/** Deterministic pseudo-random bytes. */
export function pattern(length: number, seed: number): Uint8Array {
  const random = new SeededRandom(seed);
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, length >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = random.u32();
  for (let i = words.length * 4; i < length; i++) out[i] = random.u32() & 0xff;
  return out;
}

/** Reads until EOF. */
export async function readAll(conn: TcpConn, chunkBytes = 65536): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(chunkBytes);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
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

/** Writes all of `data` in writes of at most `chunkBytes`. */
export async function writeAll(conn: TcpConn, data: Uint8Array, chunkBytes = 65536) {
  for (let at = 0; at < data.length;) {
    at += await conn.write(data.subarray(at, Math.min(data.length, at + chunkBytes)));
  }
}

/** True when the two arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export { formatIpv4 };
