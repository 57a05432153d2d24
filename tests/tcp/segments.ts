/**
 * Building and reading raw segments in tests (a scripted peer talks to a real TcpLayer).
 * @module
 */

import {
  emitTcpHeader,
  newTcpOptions,
  parseTcpOptions,
  setTcpChecksum,
  TcpHeaderView,
  type TcpOptions,
  tcpOptionsLength,
} from "../../stack/wire/tcp.ts";
import type { TestHost, TestNet } from "./harness.ts";

/** A segment as plain fields. */
export interface Segment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payload: Uint8Array;
  options: TcpOptions;
}

/** Fields for {@linkcode buildSegment}; missing ones default to zero/empty. */
export interface SegmentSpec {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  payload?: Uint8Array;
  options?: Partial<TcpOptions>;
}

/** Builds a checksummed segment from `src` to `dst`. */
export function buildSegment(spec: SegmentSpec, src: number, dst: number): Uint8Array {
  const options = { ...newTcpOptions(), ...spec.options };
  const payload = spec.payload ?? new Uint8Array(0);
  const hl = 20 + tcpOptionsLength(options);
  const out = new Uint8Array(hl + payload.length);
  emitTcpHeader(out, {
    srcPort: spec.srcPort,
    dstPort: spec.dstPort,
    seq: spec.seq >>> 0,
    ack: (spec.ack ?? 0) >>> 0,
    flags: spec.flags,
    window: spec.window ?? 65535,
  }, options);
  out.set(payload, hl);
  setTcpChecksum(out, src, dst);
  return out;
}

/** Reads a segment into plain fields (throws on malformed bytes). */
export function parseSegment(bytes: Uint8Array): Segment {
  const v = TcpHeaderView.parse(bytes);
  if (typeof v === "string") throw new Error(`malformed segment: ${v}`);
  const options = newTcpOptions();
  parseTcpOptions(v.options, options);
  return {
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    flags: v.flags,
    window: v.window,
    payload: v.payload.slice(),
    options,
  };
}

/**
 * A hand-driven peer in place of host b: every segment host a sends is captured here instead
 * of being delivered, and `send` injects segments into host a.
 */
export class ScriptedPeer {
  readonly #net: TestNet;
  readonly #host: TestHost;
  readonly #peer: TestHost;
  readonly received: Segment[] = [];

  constructor(net: TestNet) {
    this.#net = net;
    this.#host = net.a;
    this.#peer = net.b;
    const previous = net.tap;
    net.tap = (from, segment) => {
      if (from === this.#host) {
        this.received.push(parseSegment(segment));
        return false;
      }
      return previous ? previous(from, segment) : true;
    };
  }

  /** Segments captured since the last call. */
  take(): Segment[] {
    return this.received.splice(0);
  }

  /** Sends a segment to host a from host b's address. */
  send(spec: SegmentSpec): void {
    const bytes = buildSegment(spec, this.#peer.address, this.#host.address);
    this.#net.inject(this.#host, bytes, this.#peer.address);
  }
}
