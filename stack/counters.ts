/**
 * Per-layer counters: packets and bytes each way, and drops by reason. Every frame the stack
 * refuses is counted here under a short kebab-case reason (`bad-checksum`, `truncated`, ...),
 * which is what `/api/stats/get` and the tests read.
 * @module
 */

/** Counters of one layer. */
export class LayerCounters {
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  /** Drops by reason (no prototype: any reason string is a plain key). */
  readonly drops: Record<string, number> = Object.create(null);

  /** Counts one dropped packet. */
  drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  /** All drops, whatever the reason. */
  get dropped(): number {
    let total = 0;
    for (const n of Object.values(this.drops)) total += n;
    return total;
  }

  /** Counts one received packet of `bytes`. */
  received(bytes: number): void {
    this.rxPackets++;
    this.rxBytes += bytes;
  }

  /** Counts one sent packet of `bytes`. */
  sent(bytes: number): void {
    this.txPackets++;
    this.txBytes += bytes;
  }

  /** A plain copy for JSON. */
  snapshot(): LayerSnapshot {
    return {
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      drops: { ...this.drops },
    };
  }
}

/** A plain copy of {@linkcode LayerCounters}. */
export interface LayerSnapshot {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: Record<string, number>;
}

/** The layers the stack counts. */
export const LAYERS = ["ethernet", "arp", "ipv4", "icmp", "udp", "tcp"] as const;
/** One of {@linkcode LAYERS}. */
export type Layer = typeof LAYERS[number];

/** Counters for every layer of one stack. */
export type StackCounters = Record<Layer, LayerCounters>;

/** Fresh counters for a stack. */
export function createCounters(): StackCounters {
  return Object.fromEntries(LAYERS.map((l) => [l, new LayerCounters()])) as StackCounters;
}
