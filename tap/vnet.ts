/**
 * The virtio-net header a TAP opened with IFF_VNET_HDR puts in front of every frame, and the
 * ioctls that turn it and the offloads on (linux/if_tun.h, linux/virtio_net.h; virtio 1.2
 * 5.1.6). With it the kernel hands us TCP super-frames of up to 64 KB with partial checksums
 * and takes the same from us, cutting them itself.
 *
 * Invariants:
 * - The header is `VNET_HDR_BYTES` (12: `struct virtio_net_hdr_mrg_rxbuf`, set with
 *   TUNSETVNETHDRSZ) little-endian bytes; `readVnetHeader` never throws and fills a reused
 *   record; `writeVnetHeader` writes all 12 bytes (zeros for an ordinary frame).
 * - A persistent TAP keeps its offload settings after close, so `setOffloads` is always called,
 *   with 0 when offloads are off: the kernel must never send super-frames to a reader that
 *   did not ask for them.
 * - TUNSETOFFLOAD flags say what we accept from the kernel. What we send is described by each
 *   frame's header and needs only IFF_VNET_HDR.
 * @module
 */

import type { RxMeta, TxOffload } from "../stack/link.ts";
import * as libc from "./libc.ts";

/** linux/if_tun.h ioctls: _IOW('T', 208, unsigned int) and _IOW('T', 216, int). */
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
/** TUNSETOFFLOAD flags (linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** What we ask for: partial checksums and TCP super-frames (TSO6 only because the kernel
 * offers TSO as a pair; IPv6 frames are dropped by the stack anyway). */
export const OFFLOAD_FLAGS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

/** `struct virtio_net_hdr_mrg_rxbuf`: the 10-byte header plus `num_buffers`. */
export const VNET_HDR_BYTES = 12;
/** virtio_net_hdr.flags */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** virtio_net_hdr.gso_type */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/**
 * Fills `meta` from the header at the start of `slot`: checksum state, checksum offsets
 * (counted from the start of the Ethernet frame, which follows the header) and the segment size
 * of a super-frame (0 for an ordinary frame).
 */
export function readVnetHeader(slot: Uint8Array, meta: RxMeta): void {
  const flags = slot[0]!;
  const gsoType = slot[1]! & ~VIRTIO_NET_HDR_GSO_ECN;
  meta.checksum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM
    ? "partial"
    : flags & VIRTIO_NET_HDR_F_DATA_VALID
    ? "verified"
    : "unknown";
  meta.csumStart = slot[6]! | (slot[7]! << 8);
  meta.csumOffset = slot[8]! | (slot[9]! << 8);
  meta.gsoSize = gsoType === VIRTIO_NET_HDR_GSO_NONE ? 0 : slot[4]! | (slot[5]! << 8);
}

/** Writes the header for one outgoing frame at the start of `slot`. */
export function writeVnetHeader(slot: Uint8Array, offload: TxOffload | undefined): void {
  if (offload === undefined) {
    slot.fill(0, 0, VNET_HDR_BYTES);
    return;
  }
  const gso = offload.gsoSize > 0;
  slot[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  slot[1] = gso ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_NONE;
  put16(slot, 2, offload.headerBytes);
  put16(slot, 4, gso ? offload.gsoSize : 0);
  put16(slot, 6, offload.csumStart);
  put16(slot, 8, offload.csumOffset);
  put16(slot, 10, 0);
}

function put16(b: Uint8Array, at: number, value: number): void {
  b[at] = value & 0xff;
  b[at + 1] = value >>> 8;
}

/** What the kernel agreed to for one fd. */
export interface OffloadState {
  /** Bytes of vnet header in front of every frame (0: none). */
  vnetBytes: number;
  /** TUNSETOFFLOAD flags in force. */
  flags: number;
}

/**
 * After a TUNSETIFF with IFF_VNET_HDR: sets the header size and asks for `OFFLOAD_FLAGS`.
 * Returns what is in force, or the errno and call the kernel refused (the caller then reopens
 * without the header).
 */
export function enableOffloads(fd: number): OffloadState | { errno: number; syscall: string } {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setInt32(0, VNET_HDR_BYTES, true);
  const sized = libc.ioctl(fd, TUNSETVNETHDRSZ, size);
  if (sized < 0) return { errno: -sized, syscall: "ioctl(TUNSETVNETHDRSZ)" };
  const set = libc.ioctlValue(fd, TUNSETOFFLOAD, OFFLOAD_FLAGS);
  if (set < 0) return { errno: -set, syscall: "ioctl(TUNSETOFFLOAD)" };
  return { vnetBytes: VNET_HDR_BYTES, flags: OFFLOAD_FLAGS };
}

/** Clears every offload (a persistent TAP may still have a previous reader's). */
export function disableOffloads(fd: number): number {
  return libc.ioctlValue(fd, TUNSETOFFLOAD, 0);
}

/**
 * Whether the environment forbids offloads: `MIP_NO_OFFLOAD=1` (the CI matrix runs every test
 * both ways with it). Without --allow-env it reads as unset.
 */
export function offloadDisabledByEnv(): boolean {
  try {
    const value = Deno.env.get("MIP_NO_OFFLOAD");
    return value !== undefined && value !== "" && value !== "0";
  } catch {
    return false;
  }
}
