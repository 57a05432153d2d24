/**
 * TapDevice: a Linux TAP interface as a {@linkcode Link}. Frames are Ethernet II without
 * preamble or FCS; the fd is non-blocking and the pump (`tap/loop.ts`) waits for it with epoll.
 *
 * Invariants:
 * - Options are validated (RangeError) before any syscall; OS failures are `TapError`s whose
 *   one-line message says what to do.
 * - `receive` drains with synchronous reads into the rx ring until EAGAIN or `rxSlots` frames,
 *   then hands each frame to `onFrame` in place (a view valid only during the call). When it
 *   stops at the budget, `rxPending` is true: the fd is edge-triggered in the pump, so the pump
 *   must come back without waiting.
 * - `acquire` hands out a tx ring slot; `commit` queues it and writes at once. EAGAIN keeps the
 *   frame queued for `flush`; a full queue or a failed write drops the frame and counts it.
 *   Nothing here throws into the stack while it builds frames.
 * - An interface this process created is not persistent: it vanishes when `close` closes the fd.
 * - Offloads (IFF_VNET_HDR, TUNSETOFFLOAD, TUNSETVNETHDRSZ) are not implemented yet; the places
 *   they go are marked "vnet header".
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ETHERNET_OVERHEAD, type Link } from "../stack/link.ts";
import { FrameRing } from "../stack/ring.ts";
import * as libc from "./libc.ts";
import { Errno, TapError } from "./libc.ts";

const log = getLogger(["mip", "tap"]);

/** linux/if_tun.h */
export const TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;

const TUN_PATH = "/dev/net/tun";
/** Room for one 802.1Q tag beyond the Ethernet header. */
const VLAN_TAG_BYTES = 4;

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
  /** Rx ring slots, which is also the most frames one `receive` drains. Default 256. */
  rxSlots?: number;
  /** Tx ring slots: frames queued while the fd would block. Default 256. */
  txSlots?: number;
}

/** Frame counters of a {@linkcode TapDevice}. */
export interface TapDeviceStats {
  rxFrames: number;
  txFrames: number;
  /** Frames read but not delivered: longer than a ring slot (truncated by read). */
  rxDropped: number;
  /** Frames not written: too big, tx queue full, device closed, or write failed. */
  txDropped: number;
}

/**
 * A TAP interface opened through /dev/net/tun (IFF_TAP | IFF_NO_PI).
 *
 * @example
 * ```ts
 * using tap = TapDevice.open({ name: "tap0" });
 * tap.receive(clock.now(), (frame) => stack.input(frame, clock.now()));
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
  readonly stats: TapDeviceStats = { rxFrames: 0, txFrames: 0, rxDropped: 0, txDropped: 0 };
  #fd: number;
  readonly #rx: FrameRing;
  readonly #tx: FrameRing;
  #rxPending = false;
  readonly #loggedTxErrors = new Set<number>();

  private constructor(fd: number, info: OpenedInfo, options: TapDeviceOptions) {
    this.#fd = fd;
    this.name = info.name;
    this.created = info.created;
    this.mtu = info.mtu;
    this.kernelMac = info.mac;
    // vnet header: slots would grow by the header size, or the header goes in its own iovec.
    const slotBytes = Math.max(2048, roundUp(info.mtu + ETHERNET_OVERHEAD + VLAN_TAG_BYTES, 64));
    this.#rx = new FrameRing({ slotCount: options.rxSlots ?? 256, slotBytes });
    this.#tx = new FrameRing({ slotCount: options.txSlots ?? 256, slotBytes });
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
    const fd = libc.open(TUN_PATH, libc.O_RDWR | libc.O_NONBLOCK | libc.O_CLOEXEC);
    if (fd < 0) throw explainOpenError(TUN_PATH, name, -fd);
    try {
      attach(fd, name, existed);
      const created = !existed;
      if (options.mtu !== undefined && options.mtu !== libc.getInterfaceMtu(name)) {
        libc.setInterfaceMtu(name, options.mtu);
      }
      if (created && options.up !== false) {
        libc.setInterfaceFlags(name, libc.getInterfaceFlags(name) | libc.IFF_UP);
      }
      const mtu = orDefault(() => libc.getInterfaceMtu(name), 1500, name);
      const mac = orDefault(() => libc.getInterfaceMac(name), new Uint8Array(6), name);
      log.info("Opened {name} (created: {created}, mtu {mtu})", { name, created, mtu });
      return new TapDevice(fd, { name, created, mtu, mac }, options);
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

  /** Frames queued for `flush` because the fd would block. */
  get txPending(): number {
    return this.#tx.size;
  }

  receive(_nowMs: number, onFrame: (frame: Uint8Array) => void): number {
    if (this.#fd < 0) return 0;
    this.#fill();
    let delivered = 0;
    try {
      for (let frame = this.#rx.peek(); frame !== null; frame = this.#rx.peek()) {
        this.#rx.shift();
        delivered++;
        onFrame(frame);
      }
    } finally {
      this.stats.rxFrames += delivered;
      this.stats.rxDropped += this.#rx.size;
      this.#rx.clear();
    }
    return delivered;
  }

  nextDueMs(): number {
    return Infinity;
  }

  acquire(length: number): Uint8Array | null {
    if (this.#fd < 0 || length > this.#tx.slotBytes) {
      this.stats.txDropped++;
      return null;
    }
    let slot = this.#tx.reserve();
    if (slot === null) {
      this.flush();
      slot = this.#tx.reserve();
      if (slot === null) this.stats.txDropped++;
    }
    return slot;
  }

  commit(length: number): void {
    if (this.#fd < 0 || !(length >= 0 && length <= this.#tx.slotBytes) || this.#tx.free === 0) {
      this.stats.txDropped++;
      return;
    }
    this.#tx.push(length);
    this.flush();
  }

  /** Writes queued frames; returns true when the queue is empty (false: the fd would block). */
  flush(): boolean {
    for (let frame = this.#tx.peek(); frame !== null; frame = this.#tx.peek()) {
      // vnet header: writev([header, frame]) instead.
      const n = libc.write(this.#fd, frame as Uint8Array<ArrayBuffer>);
      if (n === -Errno.EAGAIN) return false;
      if (n === -Errno.EINTR) continue;
      if (n < 0) this.#txFailed(-n);
      else this.stats.txFrames++;
      this.#tx.shift();
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
    this.#rx.clear();
    libc.close(fd);
    log.info("Closed {name}", { name: this.name });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Reads frames into free rx slots until EAGAIN or the ring is full. */
  #fill(): void {
    this.#rxPending = false;
    for (let slot = this.#rx.reserve(); slot !== null; slot = this.#rx.reserve()) {
      // vnet header: readv([header, slot]) instead.
      const n = libc.read(this.#fd, slot as Uint8Array<ArrayBuffer>);
      if (n === -Errno.EAGAIN) return;
      if (n === -Errno.EINTR) continue;
      if (n < 0) throw this.#readError(-n);
      // read truncates a frame longer than the slot to the slot's size; slots are longer than
      // mtu + 18, so a full slot means the kernel MTU was raised after open: drop it.
      if (n >= slot.length) this.stats.rxDropped++;
      else this.#rx.push(n);
    }
    this.#rxPending = true;
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
}

/** TUNSETIFF: binds `fd` to the TAP `name`, creating it when missing. */
function attach(fd: number, name: string, existed: boolean): void {
  const request = new Uint8Array(40); // struct ifreq: char ifr_name[16]; short ifr_flags; ...
  request.set(new TextEncoder().encode(name));
  // vnet header: | IFF_VNET_HDR here, then TUNSETVNETHDRSZ and TUNSETOFFLOAD.
  new DataView(request.buffer).setUint16(16, IFF_TAP | IFF_NO_PI, true);
  const result = libc.ioctl(fd, TUNSETIFF, request);
  if (result < 0) throw explainAttachError(name, -result, existed);
}

/**
 * The kernel's rule for names (dev_valid_name): 1-15 bytes (IFNAMSIZ 16 with the NUL), not
 * "." or "..", no "/", ":" or whitespace. "%" (kernel-chosen names) is refused too: the caller
 * must know the name to check whether it already exists.
 */
export function checkInterfaceName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > 15) {
    throw new RangeError(
      `Cannot use interface name '${name}': expected 1-15 bytes, got ${bytes} (IFNAMSIZ is 16)`,
    );
  }
  if (name === "." || name === ".." || /[\/:%\s]/.test(name)) {
    throw new RangeError(
      `Cannot use interface name '${name}': "/", ":", "%" and whitespace are not allowed`,
    );
  }
}

/** Whether an interface `name` exists in this network namespace (/sys/class/net). */
function interfaceExists(name: string): boolean {
  return libc.readSmallFile(`/sys/class/net/${name}/ifindex`) !== null;
}

/** The TUN/TAP flags of `name` (/sys/class/net/NAME/tun_flags), or null: not a TUN/TAP. */
function tunFlags(name: string): number | null {
  const text = libc.readSmallFile(`/sys/class/net/${name}/tun_flags`);
  return text === null ? null : Number.parseInt(text.trim(), 16);
}

/** A TapError for a failed open(/dev/net/tun). */
function explainOpenError(path: string, name: string, errno: number): TapError {
  const what = `Cannot open ${path}`;
  const syscall = "open";
  switch (errno) {
    case Errno.ENOENT:
    case Errno.ENODEV:
    case Errno.ENXIO:
      return new TapError(what, {
        errno,
        syscall,
        hint: "load the tun module: modprobe tun (in a container, pass --device /dev/net/tun)",
      });
    case Errno.EPERM:
    case Errno.EACCES:
      return new TapError(what, {
        errno,
        syscall,
        hint: `run as root, or create the interface with \`ip tuntap add dev ${name} mode tap ` +
          `user $USER\` (and make ${path} readable and writable for that user)`,
      });
    default:
      return new TapError(what, { errno, syscall });
  }
}

/** A TapError for a failed TUNSETIFF, precise about why (tun_flags tells TUN from TAP). */
function explainAttachError(name: string, errno: number, existed: boolean): TapError {
  const what = existed ? `Cannot attach to ${name}` : `Cannot create TAP ${name}`;
  const syscall = "ioctl(TUNSETIFF)";
  let hint: string | undefined;
  if (errno === Errno.EPERM || errno === Errno.EACCES) {
    hint = existed
      ? `${name} belongs to another user or group: run as that user or root, or recreate it ` +
        `with \`ip tuntap add dev ${name} mode tap user $USER\``
      : `creating an interface needs CAP_NET_ADMIN: run as root, or create the interface with ` +
        `\`ip tuntap add dev ${name} mode tap user $USER\``;
  } else if (errno === Errno.EBUSY) {
    hint = `${name} is in use by another process (a single-queue TAP has one reader): stop ` +
      `that process or use another name`;
  } else if (errno === Errno.EINVAL) {
    const flags = tunFlags(name);
    if (flags === null) {
      hint = `${name} exists but is not a TUN/TAP device: use another name`;
    } else if (flags & IFF_TUN) {
      hint = `${name} is a TUN (layer 3) device, not a TAP: delete it with ` +
        `\`ip link del ${name}\` and create a TAP: \`ip tuntap add dev ${name} mode tap\``;
    } else if (flags & IFF_MULTI_QUEUE) {
      hint = `${name} is a multi-queue TAP: recreate it without multi_queue`;
    }
  }
  return new TapError(what, { errno, syscall, hint });
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
