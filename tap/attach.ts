/**
 * Opening a TAP: /dev/net/tun, TUNSETIFF with the right flags, the offload negotiation
 * (tap/vnet.ts), and TapErrors precise about why the kernel refused (tun_flags tells a TUN from
 * a TAP, a multi-queue TAP from a single-queue one).
 *
 * Invariants: no fd leaks (every failure path closes it); a fd is returned either with the
 * vnet header and the offloads both in force, or with neither (offloads explicitly cleared).
 * @module
 */

import { getLogger } from "@logtape/logtape";
import * as libc from "./libc.ts";
import { Errno, TapError } from "./libc.ts";
import { disableOffloads, enableOffloads, type OffloadState } from "./vnet.ts";

const log = getLogger(["mip", "tap"]);

const TUN_PATH = "/dev/net/tun";

/** linux/if_tun.h */
export const TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;

/** What {@linkcode openAttached} returns. */
export interface Attached {
  fd: number;
  offload: OffloadState;
}

/**
 * Opens /dev/net/tun and attaches it to `name` (creating the TAP when missing). With
 * `offload`, asks for the vnet header and the offloads; when the kernel refuses either, starts
 * over on a plain fd (so no header is ever left that nobody wants). Without, or after such a
 * refusal, switches offloads off explicitly: a persistent TAP keeps a previous reader's.
 * Throws TapError; never leaks the fd.
 */
export function openAttached(name: string, existed: boolean, offload: boolean): Attached {
  const fd = libc.open(TUN_PATH, libc.O_RDWR | libc.O_NONBLOCK | libc.O_CLOEXEC);
  if (fd < 0) throw explainOpenError(TUN_PATH, name, -fd);
  let keep = false;
  try {
    if (offload && tryAttach(fd, name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) === 0) {
      const result = enableOffloads(fd);
      if ("vnetBytes" in result) {
        keep = true;
        return { fd, offload: result };
      }
      log.warn("{name}: {syscall} failed with {code}; running without offloads", {
        name,
        syscall: result.syscall,
        code: libc.errnoName(result.errno),
      });
    } else {
      const result = tryAttach(fd, name, IFF_TAP | IFF_NO_PI);
      if (result < 0) throw explainAttachError(name, -result, existed);
      clearOffloads(fd, name);
      keep = true;
      return { fd, offload: { vnetBytes: 0, flags: 0 } };
    }
  } finally {
    if (!keep) libc.close(fd);
  }
  // The header is on but the offloads were refused: start over without the header.
  return openAttached(name, interfaceExists(name), false);
}

function clearOffloads(fd: number, name: string): void {
  const cleared = disableOffloads(fd);
  if (cleared < 0) {
    log.warn("{name}: clearing offloads (TUNSETOFFLOAD 0) failed with {code}", {
      name,
      code: libc.errnoName(-cleared),
    });
  }
}

/** TUNSETIFF: binds `fd` to the TAP `name` with `flags`, creating it when missing. */
function tryAttach(fd: number, name: string, flags: number): number {
  const request = new Uint8Array(40); // struct ifreq: char ifr_name[16]; short ifr_flags; ...
  request.set(new TextEncoder().encode(name));
  new DataView(request.buffer).setUint16(16, flags, true);
  return libc.ioctl(fd, TUNSETIFF, request);
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
export function interfaceExists(name: string): boolean {
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
