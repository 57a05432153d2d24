/**
 * Initial sequence numbers (RFC 6528) and per-connection timestamp offsets (RFC 7323 5.4).
 *
 * ISN = M + F(localip, localport, remoteip, remoteport, secretkey) where M is a 4-microsecond
 * clock (RFC 9293 3.4.1) and F is HalfSipHash-2-4 keyed from the stack's Random (RFC 6528 3
 * suggests MD5; any keyed PRF fits). Different 4-tuples get unrelated sequence spaces, while one
 * 4-tuple's ISNs keep increasing with time, which TIME-WAIT reuse relies on.
 * The timestamp offset is keyed on the address pair (as Linux does), so it can be recomputed
 * without state (SYN cookies need that).
 * @module
 */

import { halfSipHash24, type HashKey, randomHashKey } from "./hash.ts";
import type { Random } from "../random.ts";

/** Makes ISNs and timestamp offsets for one stack. */
export class IsnGenerator {
  readonly #isnKey: HashKey;
  readonly #tsKey: HashKey;
  readonly #words = new Uint32Array(3);

  constructor(random: Random) {
    this.#isnKey = randomHashKey(random);
    this.#tsKey = randomHashKey(random);
  }

  /** The ISN for a connection (RFC 6528 3). */
  isn(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
  ): number {
    const w = this.#words;
    w[0] = localAddr;
    w[1] = remoteAddr;
    w[2] = ((localPort << 16) | remotePort) >>> 0;
    const f = halfSipHash24(this.#isnKey, w);
    // M: a timer ticking every 4 microseconds (RFC 9293 3.4.1), i.e. 250 ticks per ms.
    const m = Math.floor(nowMs * 250) % 4294967296;
    return (f + m) >>> 0;
  }

  /** A random-looking offset added to our TSval for this address pair (RFC 7323 5.4). */
  tsOffset(localAddr: number, remoteAddr: number): number {
    const w = this.#words;
    w[0] = localAddr;
    w[1] = remoteAddr;
    return halfSipHash24(this.#tsKey, w, 2);
  }
}
