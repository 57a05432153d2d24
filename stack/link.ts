/**
 * The link layer boundary: what the stack needs from a device, and an in-memory pair of links.
 *
 * A {@linkcode Link} hands the stack a buffer to build each outgoing frame in (`acquire`), takes
 * it (`commit`), and delivers incoming frames through `receive`. Frames passed to `onFrame` are
 * views valid only during the call: whoever keeps bytes copies them. `TapDevice`, `MemoryLink`,
 * the pcap recorder and the fault-injecting `ImpairedLink` all fit this shape, so `--pcap` and
 * `--impair` are just decorators.
 *
 * Offloads (the virtio-net header's semantics, as a TAP with IFF_VNET_HDR speaks them): a link
 * whose {@linkcode LinkCapabilities} say so takes frames whose TCP checksum is partial (only the
 * pseudo-header sum filled in) and TSO super-frames of up to `maxFrameBytes`, described by the
 * {@linkcode TxOffload} given to `commit`; it may deliver frames with an {@linkcode RxMeta} that
 * says the checksum is already verified or partial (trusted: the bytes never crossed a wire) and
 * that a frame is several coalesced segments. A sink without `capabilities` offloads nothing,
 * and a frame committed without an offload is an ordinary, complete frame.
 *
 * Decorators: `PcapLink` passes offloads through both ways (the capture shows frames as the
 * stack built them: partial checksums, super-frames cut at the snap length). `ImpairedLink`
 * offers no offload and turns received super-frames and partial checksums into ordinary
 * frames first (with the reference segmenter), so loss, reordering and corruption act on wire
 * frames and every checksum is verified in software after the faults.
 * @module
 */

import type { Clock } from "./clock.ts";
import { ImpairedPath, type ImpairSpec, NO_IMPAIRMENT } from "./impair.ts";
import { SeededRandom } from "./random.ts";
import { completeFrameChecksum, segmentTcp } from "./tcp/tso.ts";

/** Ethernet II header length (dst, src, type); frames carry no FCS. */
export const ETHERNET_OVERHEAD = 14;
/** The largest IPv4 packet (total length is 16 bits, RFC 791). */
export const MAX_IPV4_PACKET = 65535;

/** What a link can do beyond carrying complete frames of at most `mtu + 14` bytes. */
export interface LinkCapabilities {
  /** `commit` takes a {@linkcode TxOffload} with a partial TCP checksum. */
  readonly txChecksum: boolean;
  /** `commit` takes TCP/IPv4 super-frames (`gsoSize > 0`) of up to `maxFrameBytes` and cuts them. */
  readonly tso: boolean;
  /** The largest frame `acquire` gives out (Ethernet header included). */
  readonly maxFrameBytes: number;
  /** Frames may arrive with an {@linkcode RxMeta} (checksum verified or partial, coalesced). */
  readonly rxOffload: boolean;
}

/** Capabilities of a link that offloads nothing. */
export function plainCapabilities(mtu: number): LinkCapabilities {
  return {
    txChecksum: false,
    tso: false,
    maxFrameBytes: mtu + ETHERNET_OVERHEAD,
    rxOffload: false,
  };
}

/**
 * How the link must finish an outgoing frame (virtio-net `VIRTIO_NET_HDR_F_NEEDS_CSUM` and
 * `GSO_TCPV4`). Offsets count from the start of the frame.
 */
export interface TxOffload {
  /** Where the checksummed bytes start (the TCP header). */
  csumStart: number;
  /** The checksum field's offset from `csumStart` (16 for TCP). */
  csumOffset: number;
  /** Payload bytes per segment of a TSO super-frame; 0 for a frame that goes out as it is. */
  gsoSize: number;
  /** Ethernet + IP + TCP header bytes, which every segment repeats. */
  headerBytes: number;
}

/** What the link knows about a received frame (valid only during the `onFrame` call). */
export interface RxMeta {
  /**
   * "verified": the transport checksum was checked (VIRTIO_NET_HDR_F_DATA_VALID); "partial":
   * the sender left it partial at `csumStart`/`csumOffset` (NEEDS_CSUM) and the bytes never
   * crossed a wire; "unknown": verify it in software.
   */
  checksum: "unknown" | "verified" | "partial";
  /** From the start of the frame; meaningful for "partial". */
  csumStart: number;
  csumOffset: number;
  /** Payload bytes per original segment when the frame is a coalesced super-frame, else 0. */
  gsoSize: number;
}

/** A fresh {@linkcode RxMeta} saying nothing (links reuse one per delivery). */
export function newRxMeta(): RxMeta {
  return { checksum: "unknown", csumStart: 0, csumOffset: 0, gsoSize: 0 };
}

/** Where the stack writes outgoing frames. */
export interface FrameSink {
  /** Largest IP packet the link carries (the L3 MTU, 1500 on Ethernet). */
  readonly mtu: number;
  /** Offloads the link takes and gives; absent means none ({@linkcode plainCapabilities}). */
  readonly capabilities?: LinkCapabilities;
  /**
   * A buffer of at least `length` bytes to build one frame in, or null when the transmit queue
   * is full (the caller drops the frame and counts it). Valid until the next `acquire`.
   */
  acquire(length: number): Uint8Array | null;
  /**
   * Queues the first `length` bytes of the buffer the last `acquire` returned; `offload` (only
   * as the capabilities allow) says how the link must finish it.
   */
  commit(length: number, offload?: TxOffload): void;
}

/** Called for each received frame; `meta` only from links with `rxOffload`. */
export type FrameHandler = (frame: Uint8Array, meta?: RxMeta) => void;

/** A device the stack runs on. */
export interface Link extends FrameSink {
  /**
   * Calls `onFrame` for every frame that has arrived by `nowMs` and returns how many. Links with
   * time-based behaviour (delay, pacing) also move their queues here, so the pump calls it on
   * every turn.
   */
  receive(nowMs: number, onFrame: FrameHandler): number;
  /** The earliest time this link has work due (a delayed frame), or Infinity. */
  nextDueMs(): number;
}

/**
 * Turns an offloaded frame into complete wire frames, as a NIC would: a super-frame is cut by
 * the reference segmenter, a partial checksum is completed in place. Calls `emit` for each
 * frame and returns how many (0: the frame did not match its offload and was dropped).
 */
export function finishOffload(
  frame: Uint8Array,
  offload: TxOffload | RxMeta | undefined,
  emit: (frame: Uint8Array) => void,
): number {
  if (offload === undefined) {
    emit(frame);
    return 1;
  }
  if (offload.gsoSize > 0) return segmentTcp(frame, ETHERNET_OVERHEAD, offload.gsoSize, emit);
  const partial = "headerBytes" in offload || offload.checksum === "partial";
  if (
    partial &&
    !completeFrameChecksum(frame, ETHERNET_OVERHEAD, offload.csumStart, offload.csumOffset)
  ) {
    return 0;
  }
  emit(frame);
  return 1;
}

/** Frame counts a link keeps about itself. */
export interface LinkStats {
  txFrames: number;
  rxFrames: number;
  /** Frames the link refused: over the MTU, or a full queue. */
  dropped: number;
}

/**
 * How a {@linkcode MemoryLink} pair treats offloads. "none": it offers none. "segment": each end
 * takes partial checksums and TSO super-frames and the wire carries finished frames, as a NIC
 * with TSO would. "gso": frames cross whole with their offload and arrive with an
 * {@linkcode RxMeta}, as through a TAP with a vnet header: the receiving stack sees TCP
 * super-frames with partial checksums.
 */
export type MemoryLinkOffload = "none" | "segment" | "gso";

/** Options for {@linkcode MemoryLink.pair}. */
export interface MemoryLinkOptions {
  /** The shared clock both stacks run on. */
  clock: Clock;
  /** L3 MTU; frames over `mtu + 14` bytes are dropped (TSO super-frames excepted). Default 1500. */
  mtu?: number;
  /** Faults applied to frames from end A to end B. */
  aToB?: Partial<ImpairSpec>;
  /** Faults applied to frames from end B to end A. */
  bToA?: Partial<ImpairSpec>;
  /** Frames either direction holds in flight before dropping. Default 4096. */
  queueFrames?: number;
  /** Offloads both ends offer. Default "none". "gso" cannot be combined with corruption. */
  offload?: MemoryLinkOffload;
}

/** Bytes in front of each frame on a "gso" path: the offload it travels with. */
const GSO_PREFIX = 8;
const PREFIX_NONE = 0;
const PREFIX_PARTIAL = 1;

/**
 * One end of an in-memory cable. Two ends made by {@linkcode MemoryLink.pair} carry frames to
 * each other, through seeded loss, duplication, reordering, delay and corruption.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock();
 * const [a, b] = MemoryLink.pair({ clock, aToB: { lossPercent: 5, seed: 1 } });
 * ```
 */
export class MemoryLink implements Link {
  readonly mtu: number;
  readonly capabilities: LinkCapabilities;
  readonly stats: LinkStats = { txFrames: 0, rxFrames: 0, dropped: 0 };
  readonly #clock: Clock;
  readonly #out: ImpairedPath;
  readonly #mode: MemoryLinkOffload;
  #in: ImpairedPath | null = null;
  #scratch = new Uint8Array(2048);
  #frame = this.#scratch;
  readonly #rxMeta = newRxMeta();
  #onFrame: FrameHandler = () => {};
  readonly #send = (frame: Uint8Array): void => {
    if (this.#out.send(frame, this.#clock.now())) this.stats.txFrames++;
    else this.stats.dropped++;
  };
  readonly #unwrap = (bytes: Uint8Array): void => {
    const m = this.#rxMeta;
    const partial = bytes[0] === PREFIX_PARTIAL;
    m.checksum = partial ? "partial" : "unknown";
    m.csumStart = (bytes[2]! << 8) | bytes[3]!;
    m.csumOffset = (bytes[4]! << 8) | bytes[5]!;
    m.gsoSize = (bytes[6]! << 8) | bytes[7]!;
    this.#onFrame(bytes.subarray(GSO_PREFIX), partial || m.gsoSize > 0 ? m : undefined);
  };

  private constructor(clock: Clock, mtu: number, out: ImpairedPath, mode: MemoryLinkOffload) {
    this.#clock = clock;
    this.mtu = mtu;
    this.#out = out;
    this.#mode = mode;
    this.capabilities = mode === "none" ? plainCapabilities(mtu) : {
      txChecksum: true,
      tso: true,
      maxFrameBytes: ETHERNET_OVERHEAD + MAX_IPV4_PACKET,
      rxOffload: mode === "gso",
    };
    if (mode === "gso") this.#frame = this.#scratch.subarray(GSO_PREFIX);
  }

  /** Two connected ends, A and B. */
  static pair(options: MemoryLinkOptions): [MemoryLink, MemoryLink] {
    const mtu = options.mtu ?? 1500;
    const queueFrames = options.queueFrames ?? 4096;
    const mode = options.offload ?? "none";
    if (
      mode === "gso" &&
      ((options.aToB?.corruptPercent ?? 0) > 0 || (options.bToA?.corruptPercent ?? 0) > 0)
    ) {
      throw new RangeError(
        'Cannot corrupt frames on a "gso" MemoryLink: trusted checksums would accept them',
      );
    }
    const path = (spec: Partial<ImpairSpec> | undefined, defaultSeed: number) => {
      const full = { ...NO_IMPAIRMENT, seed: defaultSeed, ...spec };
      return new ImpairedPath(full, new SeededRandom(full.seed), queueFrames);
    };
    const ab = path(options.aToB, 1);
    const ba = path(options.bToA, 2);
    const a = new MemoryLink(options.clock, mtu, ab, mode);
    const b = new MemoryLink(options.clock, mtu, ba, mode);
    a.#in = ba;
    b.#in = ab;
    return [a, b];
  }

  acquire(length: number): Uint8Array | null {
    const prefix = this.#mode === "gso" ? GSO_PREFIX : 0;
    if (length + prefix > this.#scratch.length) {
      this.#scratch = new Uint8Array(Math.max(length + prefix, 2048));
      this.#frame = prefix > 0 ? this.#scratch.subarray(prefix) : this.#scratch;
    }
    return this.#frame;
  }

  commit(length: number, offload?: TxOffload): void {
    const wire = this.mtu + ETHERNET_OVERHEAD;
    const superFrame = offload !== undefined && offload.gsoSize > 0 && this.capabilities.tso;
    if (
      length > (superFrame ? this.capabilities.maxFrameBytes : wire) || length > this.#frame.length
    ) {
      this.stats.dropped++;
      return;
    }
    if (this.#mode !== "gso") {
      if (finishOffload(this.#frame.subarray(0, length), offload, this.#send) === 0) {
        this.stats.dropped++;
      }
      return;
    }
    const b = this.#scratch;
    b.fill(0, 0, GSO_PREFIX);
    if (offload !== undefined) {
      b[0] = PREFIX_PARTIAL;
      b[2] = offload.csumStart >>> 8;
      b[3] = offload.csumStart & 0xff;
      b[4] = offload.csumOffset >>> 8;
      b[5] = offload.csumOffset & 0xff;
      b[6] = offload.gsoSize >>> 8;
      b[7] = offload.gsoSize & 0xff;
    } else {
      b[0] = PREFIX_NONE;
    }
    this.#send(b.subarray(0, GSO_PREFIX + length));
  }

  receive(nowMs: number, onFrame: FrameHandler): number {
    let n: number;
    if (this.#mode !== "gso") {
      n = this.#in!.deliver(nowMs, onFrame);
    } else {
      this.#onFrame = onFrame;
      n = this.#in!.deliver(nowMs, this.#unwrap);
    }
    this.stats.rxFrames += n;
    return n;
  }

  nextDueMs(): number {
    return this.#in!.nextDueMs();
  }

  /** Frames in flight towards this end. */
  get inFlight(): number {
    return this.#in!.size;
  }
}

/** Options for {@linkcode ImpairedLink}. */
export interface ImpairedLinkOptions {
  clock: Clock;
  /** Faults on frames the stack sends (towards the wire). */
  outbound: ImpairSpec;
  /** Faults on frames the stack receives (from the wire). */
  inbound: ImpairSpec;
  queueFrames?: number;
}

/**
 * A decorator that injects faults into both directions of another link: how `--impair` makes a
 * real TAP lossy when the kernel has no netem qdisc. It offers no offload: received
 * super-frames are cut and partial checksums completed before the faults, so the stack
 * verifies every checksum in software and a corrupted frame is caught.
 */
export class ImpairedLink implements Link {
  /** Frames the decorator itself lost: its queues full, or the inner link refusing a frame. */
  readonly stats = { dropped: 0 };
  readonly #inner: Link;
  readonly #clock: Clock;
  readonly #out: ImpairedPath;
  readonly #in: ImpairedPath;
  #scratch = new Uint8Array(2048);
  #nowMs = 0;
  readonly #toOut = (frame: Uint8Array): void => {
    if (!this.#out.send(frame, this.#nowMs)) this.stats.dropped++;
  };
  readonly #toIn = (frame: Uint8Array): void => {
    if (!this.#in.send(frame, this.#nowMs)) this.stats.dropped++;
  };
  readonly #fromInner = (frame: Uint8Array, meta?: RxMeta): void => {
    const offload = meta !== undefined && (meta.gsoSize > 0 || meta.checksum === "partial")
      ? meta
      : undefined;
    if (finishOffload(frame, offload, this.#toIn) === 0) this.stats.dropped++;
  };

  constructor(inner: Link, options: ImpairedLinkOptions) {
    this.#inner = inner;
    this.#clock = options.clock;
    const queueFrames = options.queueFrames ?? 4096;
    this.#out = new ImpairedPath(
      options.outbound,
      new SeededRandom(options.outbound.seed),
      queueFrames,
    );
    this.#in = new ImpairedPath(
      options.inbound,
      new SeededRandom(options.inbound.seed ^ 0x5bd1e995),
      queueFrames,
    );
  }

  get mtu(): number {
    return this.#inner.mtu;
  }

  get capabilities(): LinkCapabilities {
    return plainCapabilities(this.#inner.mtu);
  }

  acquire(length: number): Uint8Array | null {
    if (length > this.#scratch.length) this.#scratch = new Uint8Array(Math.max(length, 2048));
    return this.#scratch;
  }

  commit(length: number, offload?: TxOffload): void {
    this.#nowMs = this.#clock.now();
    if (finishOffload(this.#scratch.subarray(0, length), offload, this.#toOut) === 0) {
      this.stats.dropped++;
    }
    this.#flushOut(this.#nowMs);
  }

  receive(nowMs: number, onFrame: FrameHandler): number {
    this.#flushOut(nowMs);
    this.#nowMs = nowMs;
    this.#inner.receive(nowMs, this.#fromInner);
    return this.#in.deliver(nowMs, onFrame);
  }

  nextDueMs(): number {
    return Math.min(this.#inner.nextDueMs(), this.#in.nextDueMs(), this.#out.nextDueMs());
  }

  #flushOut(nowMs: number): void {
    this.#out.deliver(nowMs, (frame) => {
      const buffer = this.#inner.acquire(frame.length);
      if (buffer === null) {
        this.stats.dropped++;
        return;
      }
      buffer.set(frame);
      this.#inner.commit(frame.length);
    });
  }
}
