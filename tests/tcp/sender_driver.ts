/**
 * Drives one TcpSender by hand, without a peer: the test feeds ACKs and SACK blocks, and
 * `send` collects what the sender would put on the wire then, as short labels ("N12" new
 * segment 12, "R12" its retransmission). Segments are numbered from the first data byte; the
 * MSS is 1000 bytes. For scenarios that need an exact order of ACKs.
 */

import { NewReno } from "../../stack/tcp/congestion.ts";
import {
  type AckInput,
  newSegmentPlan,
  type SenderOptions,
  TcpSender,
} from "../../stack/tcp/sender.ts";

export const MSS = 1000;
const ISS = 1000;

/** The first sequence number of data segment `i`. */
export function seg(i: number): number {
  return ISS + 1 + i * MSS;
}

/** An established sender with `segments` of data queued and nothing sent yet. */
export function establishedSender(
  sack: boolean,
  segments: number,
  options: Partial<SenderOptions> = {},
): TcpSender {
  const s = new TcpSender(ISS, MSS, new NewReno(MSS), {
    sendBufferBytes: 1 << 22,
    hystart: false,
    ...options,
  });
  s.sackEnabled = sack;
  s.markSynSent();
  s.onAck(ack(ISS + 1), 0);
  s.canSendData = true;
  s.noDelay = true;
  s.queue(new Uint8Array(segments * MSS));
  return s;
}

/** An ACK of everything below `to`, with SACK blocks [left, right, ...] given as sequences. */
export function ack(to: number, sack: number[] = [], extra: Partial<AckInput> = {}): AckInput {
  return {
    seq: 0,
    ack: to,
    windowBytes: 1 << 22,
    occupiesSequence: false,
    sackBlocks: sack,
    tsRttMs: NaN,
    ...extra,
  };
}

/** Everything the sender sends at `nowMs`, as labels. */
export function send(s: TcpSender, nowMs: number): string[] {
  const out: string[] = [];
  const p = newSegmentPlan();
  for (let i = 0; i < 1000 && s.nextSegment(nowMs, p); i++) {
    out.push(`${p.retransmit ? "R" : "N"}${(p.seq - ISS - 1) / MSS}`);
    s.onSent(p, nowMs);
  }
  return out;
}
