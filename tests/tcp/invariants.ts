/**
 * Checks over a packet trace that hold for any correct TCP, whatever the path did:
 * - our ACK never moves backwards and the right edge we advertise never shrinks
 *   (RFC 9293 3.8.6.2.2), on the segments as sent (before the path's faults);
 * - no data is sent beyond the right edge the peer advertised so far (RFC 9293 3.8.6);
 * - every segment that carries data, SYN or FIN has a sequence number at or below what the
 *   sender sent before plus the new bytes (no gaps in what goes out first).
 * @module
 */

import { TcpFlag } from "../../stack/wire/tcp.ts";
import type { TracedPacket } from "./harness.ts";
import { parseSegment } from "./segments.ts";

const lt = (a: number, b: number) => ((a - b) | 0) < 0;
const gt = (a: number, b: number) => ((a - b) | 0) > 0;

interface Side {
  shift: number;
  lastAck: number | undefined;
  lastRight: number | undefined;
  /** Highest right edge this side advertised, as seen on the wire. */
  maxRight: number | undefined;
  sndMax: number | undefined;
}

/** Returns a list of violations (empty when the trace is clean). */
export function checkTrace(trace: TracedPacket[]): string[] {
  const problems: string[] = [];
  const sides: Record<string, Side> = {
    a: {
      shift: 0,
      lastAck: undefined,
      lastRight: undefined,
      maxRight: undefined,
      sndMax: undefined,
    },
    b: {
      shift: 0,
      lastAck: undefined,
      lastRight: undefined,
      maxRight: undefined,
      sndMax: undefined,
    },
  };
  const synShift: Record<string, number> = {};
  for (const [i, p] of trace.entries()) {
    const s = parseSegment(p.segment);
    const me = sides[p.from]!;
    const peer = sides[p.to]!;
    const where = `#${i} ${p.from}>${p.to} at ${p.atMs}`;
    if (s.flags & TcpFlag.RST) continue;
    if (s.flags & TcpFlag.SYN) {
      synShift[p.from] = s.options.windowScale;
      if (synShift.a !== undefined && synShift.b !== undefined) {
        const agreed = synShift.a >= 0 && synShift.b >= 0;
        sides.a!.shift = agreed ? synShift.a : 0;
        sides.b!.shift = agreed ? synShift.b : 0;
      }
    }
    const len = s.payload.length + (s.flags & TcpFlag.SYN ? 1 : 0) +
      (s.flags & TcpFlag.FIN ? 1 : 0);
    if (s.flags & TcpFlag.ACK) {
      const shift = s.flags & TcpFlag.SYN ? 0 : me.shift;
      const right = (s.ack + s.window * 2 ** shift) >>> 0;
      if (me.lastAck !== undefined && lt(s.ack, me.lastAck)) {
        problems.push(`${where}: ACK went back from ${me.lastAck} to ${s.ack}`);
      }
      if (me.lastRight !== undefined && lt(right, me.lastRight) && !(s.flags & TcpFlag.SYN)) {
        problems.push(`${where}: window shrank, right edge ${me.lastRight} -> ${right}`);
      }
      me.lastAck = s.ack;
      me.lastRight = me.lastRight === undefined || gt(right, me.lastRight) ? right : me.lastRight;
      me.maxRight = me.lastRight;
    }
    if (s.payload.length > 0 && peer.maxRight !== undefined) {
      const end = (s.seq + s.payload.length) >>> 0;
      if (gt(end, peer.maxRight) && s.payload.length > 0) {
        problems.push(`${where}: data to ${end} beyond the peer's window edge ${peer.maxRight}`);
      }
    }
    if (len > 0) {
      const end = (s.seq + len) >>> 0;
      if (me.sndMax !== undefined && gt(s.seq, me.sndMax)) {
        problems.push(`${where}: segment at ${s.seq} leaves a gap after ${me.sndMax}`);
      }
      if (me.sndMax === undefined || gt(end, me.sndMax)) me.sndMax = end;
    }
  }
  return problems;
}
