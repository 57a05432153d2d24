/**
 * SYN cookies (RFC 4987 3.6): when a listener's SYN backlog is full, the SYN-ACK's ISN encodes
 * what the connection needs, so no state is kept until the peer's ACK proves the handshake.
 *
 * ISN layout: bits 31-27 a 64-second time counter (mod 32), bits 26-24 an index into
 * {@linkcode COOKIE_MSS_TABLE}, bits 23-0 a keyed hash (HalfSipHash-2-4) of the 4-tuple, the
 * peer's ISN, the full counter and the MSS index. A cookie is valid for up to 2 counter steps
 * (2-3 minutes). With timestamps, the window scale and SACK-permitted of the peer's SYN ride in
 * the low 6 bits of our TSval and come back in TSecr (as Linux does); without timestamps the
 * connection does without them.
 * @module
 */

import { halfSipHash24, type HashKey, randomHashKey } from "./hash.ts";
import type { Random } from "../random.ts";

/** MSS values a cookie can carry. */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1220, 1300, 1360, 1400, 1440, 1460, 8960];

const PERIOD_MS = 64_000;
const MAX_AGE_PERIODS = 2;
const NO_WSCALE = 0xf;

/** What a valid cookie gives back. */
export interface CookieContents {
  mss: number;
}

/** Options of the SYN packed into the low bits of a timestamp. */
export interface CookieOptions {
  /** -1 when the SYN had none. */
  windowScale: number;
  sack: boolean;
}

/** Makes and checks SYN cookies for one stack. */
export class SynCookies {
  readonly #key: HashKey;
  readonly #words = new Uint32Array(6);

  constructor(random: Random) {
    this.#key = randomHashKey(random);
  }

  /** The ISN for a SYN-ACK answering a SYN with `peerIsn` and `peerMss` (0 = none). */
  make(
    tuple: { localAddr: number; localPort: number; remoteAddr: number; remotePort: number },
    peerIsn: number,
    peerMss: number,
    nowMs: number,
  ): number {
    const mss = peerMss > 0 ? peerMss : 536;
    let index = 0;
    for (let i = 0; i < COOKIE_MSS_TABLE.length; i++) if (COOKIE_MSS_TABLE[i]! <= mss) index = i;
    const t = Math.floor(nowMs / PERIOD_MS);
    const hash = this.#hash(tuple, peerIsn, t, index);
    return (((t & 0x1f) << 27) | (index << 24) | (hash & 0xffffff)) >>> 0;
  }

  /** Checks the cookie `ourIsn` (the ACK minus one) against the peer's ISN (SEQ minus one). */
  check(
    tuple: { localAddr: number; localPort: number; remoteAddr: number; remotePort: number },
    peerIsn: number,
    ourIsn: number,
    nowMs: number,
  ): CookieContents | undefined {
    const now = Math.floor(nowMs / PERIOD_MS);
    const age = (now - (ourIsn >>> 27)) & 0x1f;
    if (age > MAX_AGE_PERIODS) return undefined;
    const index = (ourIsn >>> 24) & 0x7;
    const hash = this.#hash(tuple, peerIsn, now - age, index);
    if ((hash & 0xffffff) !== (ourIsn & 0xffffff)) return undefined;
    return { mss: COOKIE_MSS_TABLE[index]! };
  }

  #hash(
    tuple: { localAddr: number; localPort: number; remoteAddr: number; remotePort: number },
    peerIsn: number,
    t: number,
    index: number,
  ): number {
    const w = this.#words;
    w[0] = tuple.localAddr;
    w[1] = tuple.remoteAddr;
    w[2] = ((tuple.localPort << 16) | tuple.remotePort) >>> 0;
    w[3] = peerIsn;
    w[4] = t;
    w[5] = index;
    return halfSipHash24(this.#key, w);
  }
}

/** Packs SYN options into the low 6 bits of `tsVal` (Linux cookie_init_timestamp). */
export function encodeCookieTimestamp(tsVal: number, options: CookieOptions): number {
  const ws = options.windowScale >= 0 ? options.windowScale : NO_WSCALE;
  const ts = ((tsVal & ~0x3f) | ws | (options.sack ? 0x10 : 0)) >>> 0;
  // Never ahead of our clock, or our next segments' older TSval would fail the peer's PAWS
  // check (RFC 7323 5.3); step back one 64-unit block as Linux's cookie_init_timestamp does.
  return ((ts - tsVal) | 0) > 0 ? (ts - 0x40) >>> 0 : ts;
}

/** Unpacks what {@linkcode encodeCookieTimestamp} stored (from the ACK's TSecr). */
export function decodeCookieTimestamp(tsEcr: number): CookieOptions {
  const ws = tsEcr & 0xf;
  return { windowScale: ws === NO_WSCALE || ws > 14 ? -1 : ws, sack: (tsEcr & 0x10) !== 0 };
}
