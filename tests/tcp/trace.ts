/**
 * Pretty-printing of traced segments for debugging TCP tests (tcpdump-like one-liners).
 * @module
 */

import { newTcpOptions, parseTcpOptions, TcpFlag, TcpHeaderView } from "../../stack/wire/tcp.ts";
import type { TracedPacket } from "./harness.ts";

/** One line describing a segment. */
export function describeSegment(segment: Uint8Array): string {
  const v = TcpHeaderView.parse(segment);
  if (typeof v === "string") return `malformed (${v})`;
  const f = v.flags;
  const flags = [
    [TcpFlag.SYN, "S"],
    [TcpFlag.FIN, "F"],
    [TcpFlag.RST, "R"],
    [TcpFlag.PSH, "P"],
    [TcpFlag.ACK, "."],
  ].filter(([bit]) => f & (bit as number)).map(([, c]) => c).join("");
  const o = newTcpOptions();
  parseTcpOptions(v.options, o);
  const opts: string[] = [];
  if (o.mss) opts.push(`mss ${o.mss}`);
  if (o.windowScale >= 0) opts.push(`wscale ${o.windowScale}`);
  if (o.sackPermitted) opts.push("sackOK");
  if (o.hasTimestamps) opts.push(`TS ${o.tsVal}/${o.tsEcr}`);
  if (o.sackBlocks.length) opts.push(`sack ${o.sackBlocks.join(",")}`);
  return `${v.srcPort} > ${v.dstPort} [${flags}] seq ${v.seq} ack ${v.ack} win ${v.window}` +
    ` len ${v.payload.length}${opts.length ? ` <${opts.join(", ")}>` : ""}`;
}

/** Prints traced packets (for debugging a failing test). */
export function printTrace(trace: TracedPacket[], limit = Infinity): void {
  for (const p of trace.slice(0, limit)) {
    console.log(`${p.atMs.toFixed(1)} ${p.from}>${p.to} ${describeSegment(p.segment)}`);
  }
}
