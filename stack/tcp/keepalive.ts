/**
 * Keepalive (RFC 1122 4.2.3.6): after `keepAliveIdleMs` without hearing from the peer, send a
 * probe every `keepAliveIntervalMs`; after `keepAliveProbes` unanswered ones, give up. Off by
 * default (RFC 1122: MUST default to off); the idle check is lazy (one timer, compared with
 * the time of the last received segment when it fires), so receiving costs nothing.
 * @module
 */

/** Keepalive timing of one connection. */
export class KeepAlive {
  enabled = false;
  /** When the timer fires next, or Infinity. */
  atMs = Infinity;
  #probes = 0;
  readonly #idleMs: number;
  readonly #intervalMs: number;
  readonly #maxProbes: number;

  constructor(
    config: { keepAliveIdleMs: number; keepAliveIntervalMs: number; keepAliveProbes: number },
  ) {
    this.#idleMs = config.keepAliveIdleMs;
    this.#intervalMs = config.keepAliveIntervalMs;
    this.#maxProbes = config.keepAliveProbes;
  }

  /** Turns keepalive on or off; `active` when the connection is synchronized. */
  set(enabled: boolean, lastRecvMs: number, active: boolean): void {
    this.enabled = enabled;
    this.#probes = 0;
    this.atMs = enabled && active ? lastRecvMs + this.#idleMs : Infinity;
  }

  /** The connection became established. */
  restart(nowMs: number): void {
    if (this.enabled) this.atMs = nowMs + this.#idleMs;
  }

  stop(): void {
    this.atMs = Infinity;
  }

  /**
   * The timer fired. "probe" asks for a probe segment, "abort" to give up; `idleSender` is
   * false while data is outstanding (the retransmission timer watches the peer then).
   */
  onTimer(
    nowMs: number,
    lastRecvMs: number,
    active: boolean,
    idleSender: boolean,
  ): "probe" | "abort" | "none" {
    this.atMs = Infinity;
    if (!this.enabled || !active) return "none";
    if (nowMs - lastRecvMs < this.#idleMs) {
      this.#probes = 0;
      this.atMs = lastRecvMs + this.#idleMs;
      return "none";
    }
    if (this.#probes >= this.#maxProbes) return "abort";
    this.atMs = nowMs + this.#intervalMs;
    if (!idleSender) return "none";
    this.#probes++;
    return "probe";
  }
}
