/**
 * The FFI boundary to libc: one symbol table, opened lazily, and thin typed wrappers.
 *
 * Invariants:
 * - This is the only module that calls `Deno.dlopen`. The library opens on first use, so
 *   importing it (or `tap/mod.ts`) without `--allow-ffi` never throws.
 * - Setup wrappers throw {@linkcode TapError} (errno, code, syscall and a hint saying what to do).
 *   Calls whose failures the caller explains itself (`open`, `ioctl`) and the hot-path calls
 *   (`read`, `write`, `readv`, `writev`) never throw and never allocate: they return the result,
 *   or `-errno` on failure (the kernel's own convention).
 * - `ssize_t` results are declared `"i32"`: a 64-bit FFI result is always a BigInt. Both x86_64
 *   (`rax`/`eax`) and aarch64 (`x0`/`w0`) hold the low 32 bits in the narrow register, which is
 *   exact for frame-sized counts and for -1. `size_t` parameters stay `"usize"` (passed as
 *   BigInt, which the fast call path takes as cheaply as a u32).
 * - errno is thread-local: `errno()` reads the JS thread's errno through a cached
 *   `__errno_location` pointer, so it is only meaningful right after a *synchronous* call.
 *   The `nonblocking` epoll_wait runs on a worker thread; its errno cannot be read (see
 *   {@linkcode epollWaitAsync}).
 * - Buffers passed to a nonblocking call must not be touched until its promise settles.
 * @module
 */

/** open(2) flags (Linux, x86_64 and aarch64). */
export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x800;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0x80000;
/** fcntl(2) commands. */
export const F_GETFL = 3;
export const F_SETFL = 4;
/** epoll(7) constants. */
export const EPOLL_CLOEXEC = 0x80000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLET = 0x80000000;
/** eventfd(2) flags. */
export const EFD_NONBLOCK = 0x800;
export const EFD_CLOEXEC = 0x80000;
/** socket(2) arguments for the control socket the SIOC* ioctls need. */
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0x80000;

/**
 * `struct epoll_event` size: `__attribute__((packed))` on x86_64 (u32 events + u64 data = 12
 * bytes), naturally aligned elsewhere (16 bytes). The u64 `data` follows `events`.
 */
export const EPOLL_EVENT_BYTES = Deno.build.arch === "x86_64" ? 12 : 16;
/** Offset of `data` inside one `struct epoll_event`. */
export const EPOLL_DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

/** Linux errno values used by the tap code (asm-generic/errno-base.h, errno.h). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  EBADFD: 77,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ENETDOWN: 100,
  ENOBUFS: 105,
} as const;

const ERRNO_NAMES = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

/** The symbolic name of an errno value ("EPERM"), or "E<number>" when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/** What to do about an errno when the caller has nothing more specific to say. */
export function defaultHint(errno: number, syscall: string): string {
  switch (errno) {
    case Errno.EPERM:
    case Errno.EACCES:
      return "run as root, or give deno CAP_NET_ADMIN (setcap cap_net_admin+ep $(which deno))";
    case Errno.EBUSY:
      return "another process holds it: stop that process or use another name";
    case Errno.EMFILE:
    case Errno.ENFILE:
      return "too many open files: raise the limit (ulimit -n)";
    case Errno.ENOMEM:
    case Errno.ENOBUFS:
      return "the kernel is out of memory for this request: free memory or lower the ring sizes";
    case Errno.EBADF:
    case Errno.EBADFD:
      return "the file descriptor is closed or detached: reopen the device";
    default:
      return `see man 2 ${syscall}`;
  }
}

/** Options for {@linkcode TapError}. */
export interface TapErrorOptions {
  /** The errno the kernel returned (0 when the failure was found without a syscall). */
  errno: number;
  /** The failing call, e.g. "ioctl(TUNSETIFF)". */
  syscall: string;
  /** One sentence saying what to do; defaults to {@linkcode defaultHint}. */
  hint?: string;
  cause?: unknown;
}

/**
 * A failed OS call at the TAP boundary. The message is one line: what failed, the errno code,
 * and what to do about it.
 *
 * @example
 * ```ts
 * try { TapDevice.open({ name: "tap0" }); } catch (e) {
 *   if (e instanceof TapError && e.code === "EPERM") console.error(e.hint);
 * }
 * ```
 */
export class TapError extends Error {
  override name = "TapError";
  readonly errno: number;
  /** Symbolic errno: "EPERM", "EBUSY", ... */
  readonly code: string;
  readonly syscall: string;
  readonly hint: string;

  constructor(what: string, options: TapErrorOptions) {
    const code = errnoName(options.errno);
    const hint = options.hint ?? defaultHint(options.errno, options.syscall);
    super(`${what}: ${code} from ${options.syscall}. Hint: ${hint}`, { cause: options.cause });
    this.errno = options.errno;
    this.code = code;
    this.syscall = options.syscall;
    this.hint = hint;
  }
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  ioctl_value: { name: "ioctl", parameters: ["i32", "usize", "usize"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  readv: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  writev: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  epoll_wait_blocking: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The raw libc symbols (for code in `tap/` that needs a call the wrappers lack). */
export type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let symbols: LibcSymbols | null = null;
let errnoView: Deno.UnsafePointerView | null = null;

/** The libc symbol table, opened on first use. Throws NotCapable without `--allow-ffi`. */
export function libc(): LibcSymbols {
  if (symbols === null) symbols = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return symbols;
}

/** The calling (JS) thread's errno; read it right after a failed synchronous call. */
export function errno(): number {
  if (errnoView === null) {
    const pointer = libc().__errno_location();
    if (pointer === null) throw new Error("Cannot read errno: __errno_location returned NULL");
    errnoView = new Deno.UnsafePointerView(pointer);
  }
  return errnoView.getInt32(0);
}

/** Throws a TapError for the errno of the call that just failed. */
function fail(what: string, syscall: string, hint?: string): never {
  throw new TapError(what, { errno: errno(), syscall, hint });
}

const encoder = new TextEncoder();

/** A NUL-terminated copy of `text` for C. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** open(2): the fd, or `-errno` when it failed. */
export function open(path: string, flags: number, mode = 0): number {
  const fd = libc().open(cString(path), flags, mode);
  return fd < 0 ? -errno() : fd;
}

/**
 * Reads a small file (up to 4 KiB) through libc, or returns null when it cannot be opened.
 * Used for /sys/class/net, which Deno's own file APIs treat as needing --allow-all: the TAP
 * layer already holds --allow-ffi, so this keeps the appliance's permissions narrow.
 */
export function readSmallFile(path: string): string | null {
  const fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return null;
  try {
    const buffer = new Uint8Array(4096);
    const n = read(fd, buffer);
    return n < 0 ? null : new TextDecoder().decode(buffer.subarray(0, n));
  } finally {
    close(fd);
  }
}

/** close(2); a negative fd is ignored. */
export function close(fd: number): void {
  if (fd < 0) return;
  if (libc().close(fd) < 0) fail(`Cannot close fd ${fd}`, "close");
}

/** ioctl(2) with a pointer argument; returns the result, or `-errno` when it failed. */
export function ioctl(fd: number, request: number, arg: Uint8Array<ArrayBuffer>): number {
  const result = libc().ioctl(fd, BigInt(request), arg);
  return result < 0 ? -errno() : result;
}

/**
 * ioctl(2) whose argument is a plain integer rather than a pointer (TUNSETOFFLOAD); returns the
 * result, or `-errno` when it failed.
 */
export function ioctlValue(fd: number, request: number, value: number): number {
  const result = libc().ioctl_value(fd, BigInt(request), BigInt(value));
  return result < 0 ? -errno() : result;
}

/** read(2) into `buffer`: the byte count, or `-errno` (e.g. `-Errno.EAGAIN`). Never throws. */
export function read(fd: number, buffer: Uint8Array<ArrayBuffer>): number {
  const n = libc().read(fd, buffer, BigInt(buffer.length));
  return n < 0 ? -errno() : n;
}

/** write(2) of all of `buffer`: the byte count, or `-errno`. Never throws. */
export function write(fd: number, buffer: Uint8Array<ArrayBuffer>): number {
  const n = libc().write(fd, buffer, BigInt(buffer.length));
  return n < 0 ? -errno() : n;
}

/**
 * write(2) of the first `length` bytes of `buffer` (a long-lived slot: no view is made per
 * call): the byte count, or `-errno`. Never throws.
 */
export function writePrefix(fd: number, buffer: Uint8Array<ArrayBuffer>, length: number): number {
  const n = libc().write(fd, buffer, BigInt(length));
  return n < 0 ? -errno() : n;
}

/** readv(2) into the first `count` entries of `iov`: the byte count, or `-errno`. */
export function readv(fd: number, iov: IoVecs, count: number): number {
  const n = libc().readv(fd, iov.bytes, count);
  return n < 0 ? -errno() : n;
}

/** writev(2) of the first `count` entries of `iov`: the byte count, or `-errno`. */
export function writev(fd: number, iov: IoVecs, count: number): number {
  const n = libc().writev(fd, iov.bytes, count);
  return n < 0 ? -errno() : n;
}

/** fcntl(2) with an int argument; returns the result. */
export function fcntl(fd: number, command: number, arg = 0): number {
  const result = libc().fcntl(fd, command, arg);
  if (result < 0) fail(`Cannot fcntl fd ${fd}`, "fcntl");
  return result;
}

/** socket(2); returns the fd. */
export function socket(domain: number, type: number, protocol = 0): number {
  const fd = libc().socket(domain, type, protocol);
  if (fd < 0) fail("Cannot create a control socket", "socket");
  return fd;
}

/** eventfd(2); returns the fd. */
export function eventfd(initialValue: number, flags: number): number {
  const fd = libc().eventfd(initialValue, flags);
  if (fd < 0) fail("Cannot create an eventfd", "eventfd");
  return fd;
}

/** epoll_create1(2); returns the epoll fd. */
export function epollCreate(flags = EPOLL_CLOEXEC): number {
  const fd = libc().epoll_create1(flags);
  if (fd < 0) fail("Cannot create an epoll instance", "epoll_create1");
  return fd;
}

const ctlEvent = new Uint8Array(16);
const ctlView = new DataView(ctlEvent.buffer);

/** epoll_ctl(2): registers (`op` = EPOLL_CTL_ADD/MOD/DEL) `fd` with `events`, tagged `tag`. */
export function epollCtl(epfd: number, op: number, fd: number, events: number, tag: number): void {
  ctlView.setUint32(0, events >>> 0, true);
  ctlView.setUint32(EPOLL_DATA_OFFSET, tag >>> 0, true);
  ctlView.setUint32(EPOLL_DATA_OFFSET + 4, 0, true);
  if (libc().epoll_ctl(epfd, op, fd, ctlEvent) < 0) {
    fail(`Cannot register fd ${fd} with epoll`, "epoll_ctl");
  }
}

/**
 * epoll_wait(2) on the JS thread (use a timeout of 0: it blocks the event loop otherwise).
 * Returns the number of ready events in `events`; EINTR counts as none.
 */
export function epollWait(
  epfd: number,
  events: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
): number {
  const max = Math.floor(events.length / EPOLL_EVENT_BYTES);
  const n = libc().epoll_wait(epfd, events, max, timeoutMs);
  if (n >= 0) return n;
  if (errno() === Errno.EINTR) return 0;
  return fail(`Cannot wait on epoll fd ${epfd}`, "epoll_wait");
}

/**
 * epoll_wait(2) on a worker thread: the promise settles when an event arrives or the timeout
 * passes. Resolves to the count, or -1 on failure (errno lives on the worker thread and is lost:
 * call {@linkcode epollWait} with timeout 0 to learn it). `events` must stay untouched until the
 * promise settles, and `epfd` open.
 */
export function epollWaitAsync(
  epfd: number,
  events: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
): Promise<number> {
  const max = Math.floor(events.length / EPOLL_EVENT_BYTES);
  return libc().epoll_wait_blocking(epfd, events, max, timeoutMs);
}

/** The `data` tag (low 32 bits) of ready event `index` in an epoll events buffer. */
export function epollEventTag(events: DataView, index: number): number {
  return events.getUint32(index * EPOLL_EVENT_BYTES + EPOLL_DATA_OFFSET, true);
}

/** The event bits of ready event `index` in an epoll events buffer. */
export function epollEventBits(events: DataView, index: number): number {
  return events.getUint32(index * EPOLL_EVENT_BYTES, true);
}

/**
 * An array of `struct iovec` (u64 base, u64 length) for readv/writev, filled from views into
 * long-lived, off-heap buffers: the base pointer of each ArrayBuffer is looked up once
 * (`Deno.UnsafePointer.of` costs about a microsecond) and cached.
 */
export class IoVecs {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly #view: DataView;
  readonly #bases = new WeakMap<ArrayBuffer, number>();

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity * 16);
    this.#view = new DataView(this.bytes.buffer);
  }

  /** Points entry `index` at `data` (its bytes stay where they are). */
  set(index: number, data: Uint8Array<ArrayBuffer>): void {
    if (index < 0 || (index + 1) * 16 > this.bytes.length) {
      throw new RangeError(`Cannot set iovec ${index}: capacity is ${this.bytes.length / 16}`);
    }
    let base = this.#bases.get(data.buffer);
    if (base === undefined) {
      const whole = new Uint8Array(data.buffer);
      base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(whole)));
      this.#bases.set(data.buffer, base);
    }
    const address = base + data.byteOffset;
    this.#view.setUint32(index * 16, address % 0x1_0000_0000, true);
    this.#view.setUint32(index * 16 + 4, Math.floor(address / 0x1_0000_0000), true);
    this.#view.setUint32(index * 16 + 8, data.length, true);
    this.#view.setUint32(index * 16 + 12, 0, true);
  }
}

/** linux/sockios.h: interface ioctls on a control socket (struct ifreq, 40 bytes). */
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCGIFMTU = 0x8921;
export const SIOCSIFMTU = 0x8922;
export const SIOCGIFHWADDR = 0x8927;
/** linux/if.h `IFF_UP` in `ifr_flags`. */
export const IFF_UP = 0x1;
const IFREQ_BYTES = 40; // char ifr_name[16]; then a 24-byte union
const IFR_DATA = 16;
const SIOC_NAMES: Record<number, string> = {
  [SIOCGIFFLAGS]: "SIOCGIFFLAGS",
  [SIOCSIFFLAGS]: "SIOCSIFFLAGS",
  [SIOCGIFMTU]: "SIOCGIFMTU",
  [SIOCSIFMTU]: "SIOCSIFMTU",
  [SIOCGIFHWADDR]: "SIOCGIFHWADDR",
};

/**
 * One SIOC* ioctl on interface `name` through a short-lived AF_INET datagram socket (in this
 * process's network namespace). `fill` writes the request's union; returns the ifreq's view.
 */
export function interfaceIoctl(
  name: string,
  request: number,
  fill?: (data: DataView) => void,
): DataView {
  const bytes = new Uint8Array(IFREQ_BYTES);
  bytes.set(encoder.encode(name).subarray(0, 15));
  fill?.(new DataView(bytes.buffer, IFR_DATA));
  const sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
  try {
    const result = ioctl(sock, request, bytes);
    if (result < 0) {
      const syscall = `ioctl(${SIOC_NAMES[request] ?? request})`;
      throw new TapError(`Cannot configure interface ${name}`, { errno: -result, syscall });
    }
  } finally {
    close(sock);
  }
  return new DataView(bytes.buffer, IFR_DATA);
}

/** The interface flags (`IFF_UP`, ...) of `name`. */
export function getInterfaceFlags(name: string): number {
  return interfaceIoctl(name, SIOCGIFFLAGS).getUint16(0, true);
}

/** Sets the interface flags of `name` (needs CAP_NET_ADMIN). */
export function setInterfaceFlags(name: string, flags: number): void {
  interfaceIoctl(name, SIOCSIFFLAGS, (data) => data.setUint16(0, flags, true));
}

/** The MTU of `name`. */
export function getInterfaceMtu(name: string): number {
  return interfaceIoctl(name, SIOCGIFMTU).getInt32(0, true);
}

/** Sets the MTU of `name` (needs CAP_NET_ADMIN). */
export function setInterfaceMtu(name: string, mtu: number): void {
  interfaceIoctl(name, SIOCSIFMTU, (data) => data.setInt32(0, mtu, true));
}

/** The hardware (MAC) address of `name`: `struct sockaddr` sa_data[0..6]. */
export function getInterfaceMac(name: string): Uint8Array {
  const data = interfaceIoctl(name, SIOCGIFHWADDR);
  return new Uint8Array(data.buffer.slice(IFR_DATA + 2, IFR_DATA + 8));
}
