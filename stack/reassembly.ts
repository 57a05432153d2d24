/**
 * IPv4 fragment reassembly (RFC 791 3.2, RFC 815 hole tracking in spirit).
 *
 * Invariants: at most `maxDatagrams` datagrams are in progress and at most `maxBytes` of fragment
 * data is held in all; a fragment that would exceed either is dropped and counted. A datagram not
 * complete `timeoutMs` after its first fragment is discarded (RFC 791 suggests 15 s). A fragment
 * that overlaps another of the same datagram, other than an exact duplicate, poisons the datagram
 * (RFC 5722's rule for IPv6, applied to IPv4 as Linux does): it and every later fragment with the
 * same key are dropped until the timeout. Fragment data is copied; the caller's view is not kept.
 * @module
 */

import type { LayerCounters } from "./counters.ts";
import type { Ipv4Address } from "./wire/address.ts";
import type { Ipv4Packet } from "./wire/ipv4.ts";

/** Limits of {@linkcode Reassembler}. */
export interface ReassemblyOptions {
  timeoutMs: number;
  maxDatagrams: number;
  maxBytes: number;
}

/** Defaults: 15 s (RFC 791), 64 datagrams, 1 MiB. */
export const DEFAULT_REASSEMBLY_OPTIONS: ReassemblyOptions = {
  timeoutMs: 15_000,
  maxDatagrams: 64,
  maxBytes: 1 << 20,
};

/** The largest IPv4 payload: 65535 minus a minimal header. */
const MAX_PAYLOAD = 65535 - 20;

interface Piece {
  offset: number;
  data: Uint8Array;
}

interface Datagram {
  src: Ipv4Address;
  dst: Ipv4Address;
  protocol: number;
  expiresMs: number;
  pieces: Piece[];
  bytes: number;
  /** Payload length, known once the last fragment (MF clear) has arrived; -1 before. */
  length: number;
  poisoned: boolean;
  /** Header and first 8 payload bytes of the offset-0 fragment, for ICMP time exceeded. */
  firstQuote: Uint8Array | null;
  ttl: number;
  tos: number;
}

/** A reassembled datagram. */
export interface Reassembled {
  src: Ipv4Address;
  dst: Ipv4Address;
  protocol: number;
  ttl: number;
  tos: number;
  payload: Uint8Array;
}

/** A datagram given up on; `quote` is set when its first fragment had arrived. */
export interface Expired {
  src: Ipv4Address;
  quote: Uint8Array | null;
}

/** Reassembly buffers of one IPv4 layer. */
export class Reassembler {
  readonly #counters: LayerCounters;
  readonly #options: ReassemblyOptions;
  readonly #datagrams = new Map<string, Datagram>();
  #bytes = 0;

  constructor(counters: LayerCounters, options: Partial<ReassemblyOptions> = {}) {
    this.#counters = counters;
    this.#options = { ...DEFAULT_REASSEMBLY_OPTIONS, ...options };
  }

  /** Datagrams in progress. */
  get size(): number {
    return this.#datagrams.size;
  }

  /** Fragment bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds a fragment; returns the whole datagram once the last hole is filled, else null. */
  add(packet: Ipv4Packet, nowMs: number): Reassembled | null {
    const offset = packet.fragmentOffset;
    const data = packet.payload;
    const more = packet.moreFragments;
    if (
      (more && (data.length === 0 || data.length % 8 !== 0)) || offset + data.length > MAX_PAYLOAD
    ) {
      this.#counters.drop("bad-fragment");
      return null;
    }
    const key = `${packet.src}:${packet.dst}:${packet.protocol}:${packet.identification}`;
    let d = this.#datagrams.get(key);
    if (d === undefined) {
      if (this.#datagrams.size >= this.#options.maxDatagrams) {
        this.#counters.drop("reassembly-full");
        return null;
      }
      d = {
        src: packet.src,
        dst: packet.dst,
        protocol: packet.protocol,
        expiresMs: nowMs + this.#options.timeoutMs,
        pieces: [],
        bytes: 0,
        length: -1,
        poisoned: false,
        firstQuote: null,
        ttl: packet.ttl,
        tos: packet.tos,
      };
      this.#datagrams.set(key, d);
    }
    if (d.poisoned) {
      this.#counters.drop("overlapping-fragment");
      return null;
    }
    const verdict = this.#place(d, offset, data, more);
    if (verdict !== null) {
      this.#counters.drop(verdict);
      if (verdict === "overlapping-fragment" || verdict === "bad-fragment-length") this.#poison(d);
      return null;
    }
    if (offset === 0) {
      d.firstQuote = packet.bytes.slice(0, packet.headerLength + Math.min(8, data.length));
      d.ttl = packet.ttl;
      d.tos = packet.tos;
    }
    if (d.length < 0 || d.bytes !== d.length) return null;
    this.#datagrams.delete(key);
    this.#bytes -= d.bytes;
    const payload = new Uint8Array(d.length);
    for (const piece of d.pieces) payload.set(piece.data, piece.offset);
    return {
      src: d.src,
      dst: d.dst,
      protocol: d.protocol,
      ttl: d.ttl,
      tos: d.tos,
      payload,
    };
  }

  /** Discards timed-out datagrams; returns them (for ICMP time exceeded) and the next expiry. */
  expire(nowMs: number): { expired: Expired[]; nextMs: number } {
    const expired: Expired[] = [];
    let nextMs = Infinity;
    for (const [key, d] of this.#datagrams) {
      if (d.expiresMs <= nowMs) {
        this.#datagrams.delete(key);
        this.#bytes -= d.bytes;
        if (!d.poisoned) {
          this.#counters.drop("reassembly-timeout");
          expired.push({ src: d.src, quote: d.firstQuote });
        }
      } else {
        nextMs = Math.min(nextMs, d.expiresMs);
      }
    }
    return { expired, nextMs };
  }

  /** Returns a drop reason, or null when the fragment was stored (or was an exact duplicate). */
  #place(d: Datagram, offset: number, data: Uint8Array, more: boolean): string | null {
    const end = offset + data.length;
    if (!more) {
      if (
        (d.length >= 0 && d.length !== end) || d.pieces.some((p) => p.offset + p.data.length > end)
      ) {
        return "bad-fragment-length";
      }
    } else if (d.length >= 0 && end > d.length) {
      return "bad-fragment-length";
    }
    for (const p of d.pieces) {
      const pEnd = p.offset + p.data.length;
      if (offset < pEnd && p.offset < end) {
        if (p.offset === offset && pEnd === end) return "duplicate-fragment";
        return "overlapping-fragment";
      }
    }
    if (this.#bytes + data.length > this.#options.maxBytes) return "reassembly-full";
    d.pieces.push({ offset, data: data.slice() });
    d.bytes += data.length;
    this.#bytes += data.length;
    if (!more) d.length = end;
    return null;
  }

  #poison(d: Datagram): void {
    d.poisoned = true;
    this.#bytes -= d.bytes;
    d.bytes = 0;
    d.pieces = [];
  }
}
