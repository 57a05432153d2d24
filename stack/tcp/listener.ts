/**
 * The state of a listening socket (RFC 9293 LISTEN): its half-open connections (bounded by the
 * SYN backlog, beyond which SYN cookies take over) and its accept queue (bounded by the accept
 * backlog, beyond which SYNs are dropped so the peer retries later, as Linux does).
 *
 * Invariants: `halfOpen` holds only connections in SYN-RECEIVED that belong to this listener;
 * `queue.length <= acceptBacklog + synBacklog`: a half-open connection was admitted with a slot
 * of the accept queue reserved for it, and completes into the queue even when a SYN-cookie
 * connection took an ordinary slot meanwhile (it is never reset for that); other arrivals need
 * `queue.length < acceptBacklog`. Once `closed`, nothing is added.
 * @module
 */

import type { TcpConnection } from "./connection.ts";

/** A listener's tables; `T` is what the accept queue holds (the API's connection object). */
export class ListenerCore<T> {
  readonly localAddr: number;
  readonly localPort: number;
  readonly synBacklog: number;
  readonly acceptBacklog: number;
  readonly halfOpen = new Set<TcpConnection>();
  readonly queue: T[] = [];
  closed = false;
  /** When a SYN cookie was last sent (ACKs are checked as cookies only shortly after). */
  lastCookieMs = -Infinity;
  /** Called (from input/poll) when `queue` gained an entry. */
  onQueued: (() => void) | undefined;

  constructor(localAddr: number, localPort: number, synBacklog: number, acceptBacklog: number) {
    this.localAddr = localAddr;
    this.localPort = localPort;
    this.synBacklog = synBacklog;
    this.acceptBacklog = acceptBacklog;
  }

  /**
   * Room for another half-open connection: within the SYN backlog, and within the accept
   * backlog counting the half-open connections that will land in the queue.
   */
  get synRoom(): boolean {
    const half = this.halfOpen.size;
    return half < this.synBacklog && half + this.queue.length < this.acceptBacklog;
  }

  /** Room in the accept queue. */
  get acceptRoom(): boolean {
    return this.queue.length < this.acceptBacklog;
  }

  /**
   * Adds an established connection for accept(); false when full or closed. `reserved`: it
   * completed from `halfOpen`, whose admission reserved its slot.
   */
  enqueue(item: T, reserved = false): boolean {
    const limit = reserved ? this.acceptBacklog + this.synBacklog : this.acceptBacklog;
    if (this.closed || this.queue.length >= limit) return false;
    this.queue.push(item);
    this.onQueued?.();
    return true;
  }
}
