/**
 * TcpLayer: the TCP transport of one stack. Checks and demultiplexes segments by 4-tuple,
 * runs listeners (backlog, SYN cookies), answers segments for no socket with RST (RFC 9293
 * 3.10.7.1), owns ports and the connection table, and drives timers from a TimerHeap.
 *
 * Invariants: at most `maxConnections` connections outside TIME-WAIT and `maxTimeWait` inside
 * it; a segment that fails validation (length, checksum, ports) creates no state; every
 * connection with a finite deadline has a heap entry at `scheduledAtMs` (stale entries are
 * skipped when popped and compacted away); the application's calls mark connections dirty and
 * request a poll, and all output and promise settlement happen inside `input`/`poll`.
 * @module
 */

import type { LayerCounters } from "../counters.ts";
import { type Random, randomInt } from "../random.ts";
import { TimerHeap } from "../timers.ts";
import type { IcmpErrorInfo, IpSender, PacketInfo, Transport } from "../transport.ts";
import { formatIpv4, parseIpv4 } from "../wire/address.ts";
import {
  newTcpOptions,
  parseTcpOptions,
  TCP_PROTOCOL,
  TcpFlag,
  TcpHeaderView,
  verifyTcpChecksum,
} from "../wire/tcp.ts";
import { type ResolvedTcpConfig, resolveTcpConfig, type TcpConfig } from "./config.ts";
import { TcpConn, TcpListener } from "./conn.ts";
import {
  type ConnectionHost,
  type ConnectionInit,
  type InSegment,
  TcpConnection,
} from "./connection.ts";
import type { ReceivedInfo } from "../ipv4.ts";
import type { TcpOffload } from "./types.ts";
import { IsnGenerator } from "./isn.ts";
import { ListenerCore } from "./listener.ts";
import { seqAdd } from "./seq.ts";
import type { SenderStats } from "./sender.ts";
import { StatelessReplies } from "./stateless.ts";

/** What {@linkcode TcpLayer} is built from. */
export interface TcpLayerInit {
  ip: IpSender;
  counters: LayerCounters;
  random: Random;
  /** Asks the host to call `poll` soon (after an application call changed something). */
  requestPoll: () => void;
  options?: TcpConfig;
  /** What the link offloads (absent: complete checksums, MSS-sized segments). */
  offload?: TcpOffload;
}

/** Options of {@linkcode TcpLayer.listen}, as Deno.listen. */
export interface ListenOptions {
  port: number;
  /** Dotted-quad address to bind; default 0.0.0.0 (every address). */
  hostname?: string;
}

/** Options of {@linkcode TcpLayer.connect}, as Deno.connect (hostname is an IPv4 literal). */
export interface ConnectOptions {
  hostname: string;
  port: number;
  /** Local port to use instead of a random ephemeral one (e.g. for a simultaneous open). */
  localPort?: number;
}

/** One row of {@linkcode TcpLayer.connections}. */
export interface ConnectionInfo {
  state: string;
  local: string;
  remote: string;
  srttMs: number;
  rtoMs: number;
  cwndBytes: number;
  sendQueued: number;
  receiveQueued: number;
  /** Loss recovery so far (retransmissions, fast recoveries, timeouts, undos). */
  recovery: Readonly<SenderStats>;
}

const COOKIE_ACK_WINDOW_MS = 130_000; // cookies are valid for 2-3 64-second periods

/** The TCP transport. */
export class TcpLayer implements Transport {
  readonly protocol = TCP_PROTOCOL;
  readonly config: ResolvedTcpConfig;
  readonly #ip: IpSender;
  readonly #counters: LayerCounters;
  readonly #random: Random;
  readonly #requestPoll: () => void;
  readonly #isn: IsnGenerator;
  readonly #stateless: StatelessReplies;
  readonly #conns = new Map<number, TcpConnection[]>();
  readonly #listeners = new Map<number, ListenerCore<TcpConn>[]>();
  readonly #ports = new Map<number, number>();
  readonly #timeWait = new Set<TcpConnection>();
  #active = 0;
  readonly #timers = new TimerHeap<TcpConnection>();
  #dirty = new Set<TcpConnection>();
  #lastNowMs = 0;
  readonly #seg: InSegment = {
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    payload: new Uint8Array(0),
    options: newTcpOptions(),
    gsoSize: 0,
  };
  readonly #host: ConnectionHost;

  constructor(init: TcpLayerInit) {
    this.config = resolveTcpConfig(init.options);
    this.#ip = init.ip;
    this.#counters = init.counters;
    this.#random = init.random;
    this.#requestPoll = init.requestPoll;
    this.#isn = new IsnGenerator(init.random);
    this.#stateless = new StatelessReplies(
      { ip: this.#ip, counters: this.#counters, config: this.config, isn: this.#isn },
      init.random,
    );
    this.#host = {
      ip: this.#ip,
      counters: this.#counters,
      config: this.config,
      offload: init.offload,
      schedule: (c) => this.#schedule(c),
      markDirty: (c) => {
        this.#dirty.add(c);
        this.#requestPoll();
      },
      established: (c) => this.#onEstablished(c),
      enteredTimeWait: (c) => this.#onTimeWait(c),
      released: (c) => this.#release(c),
    };
  }

  /** Connections outside TIME-WAIT (half-open included). */
  get activeConnections(): number {
    return this.#active;
  }

  /** Connections in TIME-WAIT. */
  get timeWaitConnections(): number {
    return this.#timeWait.size;
  }

  // ---------------------------------------------------------------- Transport

  /** One received segment (RFC 9293 3.10.7). Never throws. */
  input(info: PacketInfo, payload: Uint8Array, nowMs: number): void {
    this.#lastNowMs = nowMs;
    this.#counters.received(payload.length);
    if (info.nonUnicast) return this.#counters.drop("non-unicast"); // RFC 1122 4.2.3.10
    const view = TcpHeaderView.parse(payload);
    if (typeof view === "string") return this.#counters.drop(view);
    // An offloading link vouches for some checksums (verified, or partial from a local sender).
    const rx = info as Partial<ReceivedInfo>;
    if (rx.checksumVerified !== true && !verifyTcpChecksum(payload, info.src, info.dst)) {
      return this.#counters.drop("bad-checksum");
    }
    if (view.srcPort === 0 || view.dstPort === 0) return this.#counters.drop("bad-port");
    const seg = this.#seg;
    seg.seq = view.seq;
    seg.ack = view.ack;
    seg.flags = view.flags;
    seg.window = view.window;
    seg.payload = view.payload;
    seg.gsoSize = rx.gsoSize ?? 0;
    parseTcpOptions(view.options, seg.options);
    const conn = this.#find(info.dst, view.dstPort, info.src, view.srcPort);
    if (conn) {
      if (conn.input(seg, nowMs) !== "reopen") return;
      const isnFloor = seqAdd(conn.sender.sndNxt, 65535 + 2); // as Linux after TIME-WAIT
      conn.terminate();
      return this.#toListener(info, view.srcPort, view.dstPort, seg, nowMs, isnFloor);
    }
    this.#toListener(info, view.srcPort, view.dstPort, seg, nowMs, undefined);
  }

  /** Sends pending output, runs due timers; returns the next deadline. */
  poll(nowMs: number): number {
    this.#lastNowMs = nowMs;
    if (this.#dirty.size > 0) {
      const dirty = this.#dirty;
      this.#dirty = new Set();
      for (const conn of dirty) if (!conn.closed) conn.flush(nowMs);
    }
    for (let conn = this.#timers.popDue(nowMs); conn; conn = this.#timers.popDue(nowMs)) {
      if (conn.closed || conn.scheduledAtMs > nowMs) continue; // stale entry
      conn.scheduledAtMs = Infinity;
      conn.onTimers(nowMs);
      this.#schedule(conn);
    }
    if (this.#timers.size > 2 * (this.#active + this.#timeWait.size) + 64) {
      this.#timers.retain((atMs, c) => !c.closed && c.scheduledAtMs === atMs);
    }
    return this.#dirty.size > 0 ? nowMs : this.#timers.nextMs();
  }

  /** ICMP errors about our segments (RFC 5927 checks, RFC 1122 4.2.3.9 reactions). */
  icmpError(error: IcmpErrorInfo, nowMs: number): void {
    this.#lastNowMs = nowMs;
    const q = error.quoted;
    if (q.length < 8) return this.#counters.drop("icmp-short");
    const srcPort = (q[0]! << 8) | q[1]!;
    const dstPort = (q[2]! << 8) | q[3]!;
    const seq = ((q[4]! << 24) | (q[5]! << 16) | (q[6]! << 8) | q[7]!) >>> 0;
    const conn = this.#find(error.src, srcPort, error.dst, dstPort);
    if (!conn || !conn.icmpSeqPlausible(seq)) return this.#counters.drop("icmp-no-match");
    if (error.type === 3 && error.code === 4 && error.nextHopMtu > 0) {
      conn.onPathMtu(error.nextHopMtu, nowMs);
    } else if (error.type === 3 && (error.code === 2 || error.code === 3)) {
      // Linux treats port/protocol unreachable as a hard error only before the handshake.
      if (conn.state === "SYN-SENT") conn.refuse();
    }
    this.#schedule(conn);
  }

  // ---------------------------------------------------------------- API

  /** Starts listening; throws AddrInUse when another listener has the port. */
  listen(options: ListenOptions): TcpListener {
    const localAddr = options.hostname ? parseIpv4(options.hostname) : 0;
    let port = options.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`Cannot listen on port ${port}: expected 0-65535`);
    }
    if (port === 0) port = this.#pickPort();
    const list = this.#listeners.get(port) ?? [];
    if (list.some((l) => l.localAddr === 0 || localAddr === 0 || l.localAddr === localAddr)) {
      throw new Deno.errors.AddrInUse(`Cannot listen on port ${port}: address already in use`);
    }
    const c = this.config;
    const core = new ListenerCore<TcpConn>(localAddr, port, c.synBacklog, c.acceptBacklog);
    list.push(core);
    this.#listeners.set(port, list);
    return new TcpListener(core, () => this.#closeListener(core));
  }

  /** Opens a connection; resolves once ESTABLISHED. */
  connect(options: ConnectOptions): Promise<TcpConn> {
    try {
      const remoteAddr = parseIpv4(options.hostname);
      const remotePort = options.port;
      if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
        throw new RangeError(`Cannot connect to port ${remotePort}: expected 1-65535`);
      }
      const localAddr = this.#ip.localAddress;
      if (localAddr === 0) {
        throw new Deno.errors.AddrNotAvailable("Cannot connect: the interface has no address");
      }
      if (this.#active >= this.config.maxConnections) {
        throw new Deno.errors.AddrNotAvailable(
          `Cannot connect: ${this.#active} connections are open (maxConnections)`,
        );
      }
      const localPort = options.localPort ?? this.#pickPort();
      if (this.#ports.has(localPort) && options.localPort !== undefined) {
        const taken = this.#find(localAddr, localPort, remoteAddr, remotePort);
        if (taken) throw new Deno.errors.AddrInUse(`Cannot connect from port ${localPort}: in use`);
      }
      const conn = TcpConnection.connect(
        this.#host,
        this.#init(localAddr, localPort, remoteAddr, remotePort, this.#lastNowMs, undefined),
        this.#lastNowMs,
      );
      this.#add(conn);
      return new TcpConn(conn).established();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Closes every listener and resets every connection (for a stack shutdown). */
  closeAll(): void {
    for (const list of [...this.#listeners.values()]) {
      for (const core of [...list]) this.#closeListener(core);
    }
    for (const bucket of [...this.#conns.values()]) {
      for (const conn of [...bucket]) conn.abort();
    }
  }

  /** A snapshot of every connection (for statistics pages). */
  connections(): ConnectionInfo[] {
    const rows: ConnectionInfo[] = [];
    for (const bucket of this.#conns.values()) {
      for (const c of bucket) {
        rows.push({
          state: c.state,
          local: `${formatIpv4(c.localAddr)}:${c.localPort}`,
          remote: `${formatIpv4(c.remoteAddr)}:${c.remotePort}`,
          srttMs: c.sender.rto.srttMs,
          rtoMs: c.sender.rto.rtoMs,
          cwndBytes: c.sender.cc.cwndBytes,
          sendQueued: c.sender.buffer.length,
          receiveQueued: c.readableBytes,
          recovery: { ...c.sender.stats },
        });
      }
    }
    return rows;
  }

  // ---------------------------------------------------------------- internals

  #init(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
    isnFloor: number | undefined,
  ): ConnectionInit {
    let iss = this.#isn.isn(localAddr, localPort, remoteAddr, remotePort, nowMs);
    if (isnFloor !== undefined && ((iss - isnFloor) | 0) < 0) iss = isnFloor;
    return {
      localAddr,
      localPort,
      remoteAddr,
      remotePort,
      iss,
      tsOffset: this.#isn.tsOffset(localAddr, remoteAddr),
    };
  }

  #find(localAddr: number, localPort: number, remoteAddr: number, remotePort: number) {
    const bucket = this.#conns.get(remoteAddr * 65536 + remotePort);
    if (!bucket) return undefined;
    for (const c of bucket) {
      if (c.localPort === localPort && c.localAddr === localAddr) return c;
    }
    return undefined;
  }

  #add(conn: TcpConnection): void {
    const key = conn.remoteAddr * 65536 + conn.remotePort;
    const bucket = this.#conns.get(key);
    if (bucket) bucket.push(conn);
    else this.#conns.set(key, [conn]);
    this.#ports.set(conn.localPort, (this.#ports.get(conn.localPort) ?? 0) + 1);
    this.#active++;
  }

  #release(conn: TcpConnection): void {
    const key = conn.remoteAddr * 65536 + conn.remotePort;
    const bucket = this.#conns.get(key);
    const i = bucket ? bucket.indexOf(conn) : -1;
    if (i < 0) return;
    bucket!.splice(i, 1);
    if (bucket!.length === 0) this.#conns.delete(key);
    const refs = (this.#ports.get(conn.localPort) ?? 1) - 1;
    if (refs > 0) this.#ports.set(conn.localPort, refs);
    else this.#ports.delete(conn.localPort);
    if (!this.#timeWait.delete(conn)) this.#active--;
    this.#dirty.delete(conn);
    if (conn.owner instanceof ListenerCore) conn.owner.halfOpen.delete(conn);
  }

  #schedule(conn: TcpConnection): void {
    const at = conn.nextDeadline();
    if (at < conn.scheduledAtMs) {
      conn.scheduledAtMs = at;
      this.#timers.push(at, conn);
    }
  }

  #onTimeWait(conn: TcpConnection): boolean {
    if (this.#timeWait.size >= this.config.maxTimeWait) return false;
    this.#timeWait.add(conn);
    this.#active--;
    return true;
  }

  #onEstablished(conn: TcpConnection): void {
    const core = conn.owner;
    if (!(core instanceof ListenerCore)) return;
    const reserved = core.halfOpen.delete(conn);
    const api = new TcpConn(conn);
    if (!core.enqueue(api, reserved)) {
      this.#counters.drop("accept-queue-full");
      conn.abort();
    }
  }

  #pickPort(): number {
    const { ephemeralPortMin: min, ephemeralPortMax: max } = this.config;
    const span = max - min + 1;
    const start = randomInt(this.#random, 0, span - 1); // RFC 6056 3.3.1
    for (let i = 0; i < span; i++) {
      const port = min + ((start + i) % span);
      if (!this.#ports.has(port) && !this.#listeners.has(port)) return port;
    }
    throw new Deno.errors.AddrNotAvailable(
      "Cannot pick a local port: every ephemeral port is used",
    );
  }

  #closeListener(core: ListenerCore<TcpConn>): void {
    core.closed = true;
    const list = this.#listeners.get(core.localPort) ?? [];
    const rest = list.filter((l) => l !== core);
    if (rest.length > 0) this.#listeners.set(core.localPort, rest);
    else this.#listeners.delete(core.localPort);
    for (const c of [...core.halfOpen]) c.abort();
    for (const api of core.queue.splice(0)) api.connection.abort();
    this.#requestPoll();
  }

  #findListener(localAddr: number, localPort: number): ListenerCore<TcpConn> | undefined {
    const list = this.#listeners.get(localPort);
    if (!list) return undefined;
    return list.find((l) => l.localAddr === localAddr) ?? list.find((l) => l.localAddr === 0);
  }

  /** RFC 9293 3.10.7.1: a segment for no socket. */
  #replyReset(
    info: PacketInfo,
    srcPort: number,
    dstPort: number,
    seg: InSegment,
    nowMs: number,
  ): void {
    this.#counters.drop("no-socket");
    this.#stateless.reset(info, srcPort, dstPort, seg, nowMs);
  }

  /** A segment for no connection: LISTEN processing or a RST (RFC 9293 3.10.7.1-2). */
  #toListener(
    info: PacketInfo,
    srcPort: number,
    dstPort: number,
    seg: InSegment,
    nowMs: number,
    isnFloor: number | undefined,
  ): void {
    const listener = this.#findListener(info.dst, dstPort);
    const f = seg.flags;
    if (!listener) return this.#replyReset(info, srcPort, dstPort, seg, nowMs);
    if (f & TcpFlag.RST) return this.#counters.drop("rst-to-listener");
    if (f & TcpFlag.ACK) {
      if (this.#tryCookie(listener, info, srcPort, seg, nowMs)) return;
      return this.#replyReset(info, srcPort, dstPort, seg, nowMs);
    }
    if (!(f & TcpFlag.SYN)) return this.#counters.drop("no-syn");
    this.#onSyn(listener, info, srcPort, seg, nowMs, isnFloor);
  }

  #onSyn(
    listener: ListenerCore<TcpConn>,
    info: PacketInfo,
    srcPort: number,
    seg: InSegment,
    nowMs: number,
    isnFloor: number | undefined,
  ): void {
    if (!listener.acceptRoom) return this.#counters.drop("accept-queue-full");
    if (this.#active >= this.config.maxConnections) return this.#counters.drop("connection-limit");
    if (!listener.synRoom) {
      if (!this.config.synCookies) return this.#counters.drop("syn-backlog-full");
      listener.lastCookieMs = nowMs;
      return this.#stateless.cookieSynAck(listener.localPort, info, srcPort, seg, nowMs);
    }
    const init = this.#init(info.dst, listener.localPort, info.src, srcPort, nowMs, isnFloor);
    const conn = TcpConnection.accept(this.#host, init, seg, nowMs);
    conn.owner = listener;
    this.#add(conn);
    listener.halfOpen.add(conn);
  }

  /** An ACK to a listener may complete a SYN-cookie handshake (RFC 4987 3.6). */
  #tryCookie(
    listener: ListenerCore<TcpConn>,
    info: PacketInfo,
    srcPort: number,
    seg: InSegment,
    nowMs: number,
  ): boolean {
    if (!this.config.synCookies || nowMs - listener.lastCookieMs > COOKIE_ACK_WINDOW_MS) {
      return false;
    }
    const cookie = this.#stateless.checkCookie(listener.localPort, info, srcPort, seg, nowMs);
    if (!cookie) return false;
    if (!listener.acceptRoom || this.#active >= this.config.maxConnections) {
      // As Linux: drop the ACK; the peer's next segment may find room.
      this.#counters.drop("accept-queue-full");
      return true;
    }
    const init = this.#init(info.dst, listener.localPort, info.src, srcPort, nowMs, undefined);
    init.iss = cookie.iss;
    const conn = TcpConnection.fromCookie(this.#host, init, cookie, seg, nowMs, (c) => {
      c.owner = listener;
      this.#add(c);
    });
    this.#schedule(conn);
    return true;
  }
}
