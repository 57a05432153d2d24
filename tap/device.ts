/**
 * TapDevice: a Linux TAP interface as a {@linkcode Link}. Frames are Ethernet II without
 * preamble or FCS; the fd is non-blocking and the pump (`tap/loop.ts`) waits for it with epoll.
 *
 * Invariants:
 * - Options are validated (RangeError) before any syscall; OS failures are `TapError`s whose
 *   one-line message says what to do.
 * - Offload mode (the default unless `offload: false` or MIP_NO_OFFLOAD=1, and only when the
 *   kernel accepts IFF_VNET_HDR, TUNSETVNETHDRSZ and TUNSETOFFLOAD): every frame carries a
 *   12-byte virtio-net header (tap/vnet.ts). Received frames come with an {@linkcode RxMeta}
 *   (partial or verified checksums, TCP super-frames up to 64 KB); committed frames may be TSO
 *   super-frames or carry partial checksums ({@linkcode TxOffload}). Otherwise frames are plain
 *   and the offloads are explicitly switched off (a persistent TAP keeps them across readers).
 * - Both rings are preallocated: slots of one ArrayBuffer each, the header in front of the
 *   frame inside the slot, so a frame is read or written with one syscall and no copy. Reads
 *   and writes pass the slot itself (no view per syscall); the only per-frame allocation is
 *   the length-exact view handed to `onFrame`.
 * - `receive` drains with synchronous reads into the rx slots until EAGAIN or `rxSlots`
 *   frames, then hands each frame to `onFrame` in place (a view valid only during the call).
 *   When it stops at the budget, `rxPending` is true: the fd is edge-triggered in the pump, so
 *   the pump must come back without waiting.
 * - Writes are batched: `commit` queues the frame in its tx slot; `flush` (the pump calls it
 *   once per turn, `acquire` when the ring is full) writes the queue in order. EAGAIN keeps
 *   frames queued for the next flush; a failed write drops the frame and counts it. Nothing
 *   here throws into the stack while it builds frames.
 * - An interface this process created is not persistent: it vanishes when `close` closes the fd.
 * @module
 */

import { FrameRing } from "../stack/ring.ts";
import { getLogger } from "@logtape/logtape";
import {
  ETHERNET_OVERHEAD,
  type FrameHandler,
  type Link,
  type LinkCapabilities,
  MAX_IPV4_PACKET,
  newRxMeta,
  plainCapabilities,
  type TxOffload,
} from "../stack/link.ts";
import { completeFrameChecksum } from "../stack/tcp/tso.ts";
import { checkInterfaceName, interfaceExists, openAttached } from "./attach.ts";
import * as libc from "./libc.ts";
import { Errno, TapError } from "./libc.ts";
import {
  offloadDisabledByEnv,
  type OffloadState,
  readVnetHeader,
  writeVnetHeader,
} from "./vnet.ts";

export {
  checkInterfaceName,
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN,
  IFF_VNET_HDR,
  TUNSETIFF,
} from "./attach.ts";

const log = getLogger(["mip", "tap"]);

/** Room for one 802.1Q tag beyond the Ethernet header. */
const VLAN_TAG_BYTES = 4;
/** Default ring sizes: plain frames are small, offload slots hold 64 KB each. */
const PLAIN_SLOTS = 256;
const OFFLOAD_SLOTS = 64;

/** Options for {@linkcode TapDevice.open}. */
export interface TapDeviceOptions {
  /** Interface name, 1-15 bytes. Default "tap0". */
  name?: string;
  /** Create the TAP when it does not exist (needs CAP_NET_ADMIN). Default true. */
  create?: boolean;
  /** Set the interface MTU (SIOCSIFMTU) when it differs; default: keep the kernel's. */
  mtu?: number;
  /** Bring an interface this call created up (IFF_UP). Default true. */
  up?: boolean;
  /** Rx slots, which is also the most frames one `receive` drains. Default 256 (64 offloaded). */
  rxSlots?: number;
  /** Tx slots: frames queued until the next flush. Default 256 (64 offloaded). */
  txSlots?: number;
  /**
   * Use the vnet header with checksum and segmentation offloads when the kernel accepts them.
   * Default true; the environment variable MIP_NO_OFFLOAD=1 turns it off whatever is given.
   */
  offload?: boolean;
}

/** Frame counters of a {@linkcode TapDevice}. */
export interface TapDeviceStats {
  rxFrames: number;
  txFrames: number;
  /** Frames read but not delivered: longer than a ring slot (truncated by read). */
  rxDropped: number;
  /** Frames not written: too big, tx queue full, device closed, or write failed. */
  txDropped: number;
  /** Received TCP super-frames (several segments coalesced by the kernel). */
  rxSuperFrames: number;
  /** Sent TSO super-frames (the kernel cut them into segments). */
  txSuperFrames: number;
}

/**
 * A TAP interface opened through /dev/net/tun (IFF_TAP | IFF_NO_PI, and IFF_VNET_HDR when
 * offloading).
 *
 * @example
 * ```ts
 * using tap = TapDevice.open({ name: "tap0" });
 * tap.receive(clock.now(), (frame, meta) => stack.input(frame, clock.now(), meta));
 * ```
 */
export class TapDevice implements Link {
  /** The interface name the kernel uses. */
  readonly name: string;
  /** True when this call created the interface (it disappears on close). */
  readonly created: boolean;
  /** L3 MTU of the interface (SIOCGIFMTU) when opened. */
  readonly mtu: number;
  /** The kernel side's MAC address (SIOCGIFHWADDR): the stack must use a different one. */
  readonly kernelMac: Uint8Array;
  /** True when frames carry the vnet header and the kernel offloads checksums and TSO. */
  readonly offload: boolean;
  readonly capabilities: LinkCapabilities;
  readonly stats: TapDeviceStats = {
    rxFrames: 0,
    txFrames: 0,
    rxDropped: 0,
    txDropped: 0,
    rxSuperFrames: 0,
    txSuperFrames: 0,
  };
  #fd: number;
  readonly #vnetBytes: number;
  readonly #slotBytes: number;
  readonly #rx: FrameRing;
  readonly #tx: FrameRing;
  #rxPending = false;
  readonly #rxMeta = newRxMeta();
  readonly #loggedTxErrors = new Set<number>();

  private constructor(fd: number, info: OpenedInfo, options: TapDeviceOptions) {
    this.#fd = fd;
    this.name = info.name;
    this.created = info.created;
    this.mtu = info.mtu;
    this.kernelMac = info.mac;
    this.#vnetBytes = info.offload.vnetBytes;
    this.offload = info.offload.vnetBytes > 0 && info.offload.flags !== 0;
    const largest = this.offload
      ? ETHERNET_OVERHEAD + MAX_IPV4_PACKET
      : info.mtu + ETHERNET_OVERHEAD + VLAN_TAG_BYTES;
    this.#slotBytes = Math.max(2048, roundUp(this.#vnetBytes + largest, 64));
    this.capabilities = this.offload
      ? { txChecksum: true, tso: true, maxFrameBytes: largest, rxOffload: true }
      : plainCapabilities(info.mtu);
    const slots = this.offload ? OFFLOAD_SLOTS : PLAIN_SLOTS;
    const ring = (slotCount: number) =>
      new FrameRing({ slotCount, slotBytes: this.#slotBytes, headerBytes: this.#vnetBytes });
    this.#rx = ring(options.rxSlots ?? slots);
    this.#tx = ring(options.txSlots ?? slots);
  }

  /**
   * Attaches to the TAP `name`, creating it first when it is missing (unless `create: false`).
   * Throws RangeError for a bad name or option, TapError when the OS refuses.
   */
  static open(options: TapDeviceOptions = {}): TapDevice {
    const name = options.name ?? "tap0";
    checkInterfaceName(name);
    checkOptions(options);
    const existed = interfaceExists(name);
    if (!existed && options.create === false) {
      throw new TapError(`Cannot attach to ${name}`, {
        errno: Errno.ENODEV,
        syscall: `stat(/sys/class/net/${name})`,
        hint: `no interface ${name} exists: create it with ` +
          `\`ip tuntap add dev ${name} mode tap user $USER\`, or open it with create: true`,
      });
    }
    let wantOffload = options.offload !== false;
    if (wantOffload && offloadDisabledByEnv()) {
      log.info("MIP_NO_OFFLOAD is set: {name} runs without offloads", { name });
      wantOffload = false;
    }
    const { fd, offload } = openAttached(name, existed, wantOffload);
    try {
      const created = !existed;
      if (options.mtu !== undefined && options.mtu !== libc.getInterfaceMtu(name)) {
        libc.setInterfaceMtu(name, options.mtu);
      }
      if (created && options.up !== false) {
        libc.setInterfaceFlags(name, libc.getInterfaceFlags(name) | libc.IFF_UP);
      }
      const mtu = orDefault(() => libc.getInterfaceMtu(name), 1500, name);
      const mac = orDefault(() => libc.getInterfaceMac(name), new Uint8Array(6), name);
      const how = offload.vnetBytes > 0 ? "on" : "off";
      log.info("Opened {name} (created: {created}, mtu {mtu}, offload {how})", {
        name,
        created,
        mtu,
        how,
      });
      return new TapDevice(fd, { name, created, mtu, mac, offload }, options);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
  }

  /** The /dev/net/tun file descriptor (for epoll), or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** True when the last `receive` stopped at its budget: more frames may be waiting. */
  get rxPending(): boolean {
    return this.#rxPending;
  }

  /** Frames queued for `flush`. */
  get txPending(): number {
    return this.#tx.size;
  }

  receive(_nowMs: number, onFrame: FrameHandler): number {
    if (this.#fd < 0) return 0;
    const count = this.#fill();
    const rx = this.#rx;
    const hdr = this.#vnetBytes;
    let delivered = 0;
    try {
      // Nothing refills the ring during onFrame, so a shifted slot stays intact for the call.
      for (let slot = rx.peekSlot(); slot !== null; slot = rx.peekSlot()) {
        const n = rx.peekBytes;
        rx.shift();
        delivered++;
        if (hdr === 0) {
          onFrame(slot.subarray(0, n));
          continue;
        }
        const meta = this.#rxMeta;
        readVnetHeader(slot, meta);
        if (meta.gsoSize > 0) this.stats.rxSuperFrames++;
        onFrame(slot.subarray(hdr, n), meta);
      }
    } finally {
      this.stats.rxFrames += delivered;
      this.stats.rxDropped += count - delivered;
      rx.clear();
    }
    return delivered;
  }

  nextDueMs(): number {
    return Infinity;
  }

  acquire(length: number): Uint8Array | null {
    if (this.#fd < 0 || length > this.#slotBytes - this.#vnetBytes) {
      this.stats.txDropped++;
      return null;
    }
    if (this.#tx.free === 0) this.flush();
    const frame = this.#tx.reserve();
    if (frame === null) this.stats.txDropped++;
    return frame;
  }

  commit(length: number, offload?: TxOffload): void {
    const max = this.#slotBytes - this.#vnetBytes;
    const slot = this.#fd < 0 || !(length >= 0 && length <= max) ? null : this.#tx.reserveSlot();
    if (slot === null || !this.#prepare(slot, length, offload)) {
      this.stats.txDropped++;
      return;
    }
    this.#tx.push(length);
  }

  /** Writes queued frames; returns true when the queue is empty (false: the fd would block). */
  flush(): boolean {
    const tx = this.#tx;
    for (let slot = tx.peekSlot(); slot !== null; slot = tx.peekSlot()) {
      const n = libc.writePrefix(this.#fd, slot, tx.peekBytes);
      if (n === -Errno.EAGAIN) return false;
      if (n === -Errno.EINTR) continue;
      if (n < 0) this.#txFailed(-n);
      else this.stats.txFrames++;
      tx.shift();
    }
    return true;
  }

  /** Closes the fd (idempotent). An interface this process created disappears with it. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.stats.txDropped += this.#tx.size;
    this.#tx.clear();
    libc.close(fd);
    log.info("Closed {name}", { name: this.name });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Writes the vnet header at the start of tx `slot`, or without one finishes a partial checksum
   * in software. False when the frame cannot go: a super-frame on a device without offloads.
   */
  #prepare(slot: Uint8Array, length: number, offload: TxOffload | undefined): boolean {
    if (this.#vnetBytes > 0) {
      if (offload !== undefined && offload.gsoSize > 0) this.stats.txSuperFrames++;
      writeVnetHeader(slot, this.offload ? offload : undefined);
      if (this.offload || offload === undefined) return true;
    } else if (offload === undefined) {
      return true;
    }
    if (offload.gsoSize > 0) return false;
    const frame = slot.subarray(this.#vnetBytes, this.#vnetBytes + length);
    return completeFrameChecksum(frame, ETHERNET_OVERHEAD, offload.csumStart, offload.csumOffset);
  }

  /** Reads frames into the rx ring until EAGAIN or it is full; returns how many. */
  #fill(): number {
    this.#rxPending = false;
    const rx = this.#rx;
    for (let slot = rx.reserveSlot(); slot !== null; slot = rx.reserveSlot()) {
      const n = libc.read(this.#fd, slot);
      if (n === -Errno.EAGAIN) return rx.size;
      if (n === -Errno.EINTR) continue;
      if (n < 0) throw this.#readError(-n);
      // read truncates a frame longer than the slot to the slot's size; slots are longer than
      // the largest frame, so a full slot means the kernel MTU was raised after open: drop it.
      if (n >= slot.length || n < this.#vnetBytes) this.stats.rxDropped++;
      else rx.pushSlot(n);
    }
    this.#rxPending = true;
    return rx.size;
  }

  #readError(errno: number): TapError {
    const hint = errno === Errno.EBADFD || errno === Errno.EBADF
      ? `${this.name} was deleted or detached while open: recreate it and restart`
      : undefined;
    return new TapError(`Cannot read a frame from ${this.name}`, { errno, syscall: "read", hint });
  }

  #txFailed(errno: number): void {
    this.stats.txDropped++;
    if (this.#loggedTxErrors.has(errno)) return;
    this.#loggedTxErrors.add(errno);
    log.warn("Writing a frame to {name} failed with {code}; dropping such frames", {
      name: this.name,
      code: libc.errnoName(errno),
    });
  }
}

interface OpenedInfo {
  name: string;
  created: boolean;
  mtu: number;
  mac: Uint8Array;
  offload: OffloadState;
}

function checkOptions(options: TapDeviceOptions): void {
  const { mtu, rxSlots, txSlots } = options;
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) {
    throw new RangeError(`Cannot use MTU ${mtu}: expected an integer in 68..65535`); // RFC 791
  }
  for (const [key, value] of [["rxSlots", rxSlots], ["txSlots", txSlots]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= 65536)) {
      throw new RangeError(`Cannot use ${key} ${value}: expected an integer in 1..65536`);
    }
  }
}

/** `read()`, or `fallback` (with a warning) when the interface ioctl fails. */
function orDefault<T>(read: () => T, fallback: T, name: string): T {
  try {
    return read();
  } catch (error) {
    log.warn("Cannot query {name}, assuming {fallback}: {error}", { name, fallback, error });
    return fallback;
  }
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
