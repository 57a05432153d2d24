/**
 * Building outgoing segments straight into the IP layer's payload buffer: header and options
 * written in place, data copied once from the send buffer, checksum computed once over the
 * result with the pseudo-header of the source address the IP layer chose.
 * @module
 */

import type { LayerCounters } from "../counters.ts";
import type { IpSender } from "../transport.ts";
import {
  emitTcpHeader,
  setTcpChecksum,
  TCP_HEADER_LENGTH,
  TCP_PROTOCOL,
  type TcpHeader,
  type TcpOptions,
  tcpOptionsLength,
} from "../wire/tcp.ts";
import type { SendBuffer } from "./send_buffer.ts";

/** Where a segment goes. */
export interface SegmentRoute {
  localAddr: number;
  remoteAddr: number;
}

/**
 * Sends one segment: `header` with `options`, and `dataLen` bytes of `buffer` from
 * `dataOffset`. Returns false when the IP layer dropped it at once.
 */
export function sendSegment(
  ip: IpSender,
  counters: LayerCounters,
  route: SegmentRoute,
  header: TcpHeader,
  options: TcpOptions | undefined,
  data?: { buffer: SendBuffer; offset: number; length: number },
): boolean {
  const headerLength = TCP_HEADER_LENGTH + (options ? tcpOptionsLength(options) : 0);
  const length = headerLength + (data?.length ?? 0);
  const ok = ip.send(route.remoteAddr, TCP_PROTOCOL, length, (payload, src) => {
    emitTcpHeader(payload, header, options);
    if (data && data.length > 0) {
      data.buffer.copyOut(data.offset, payload.subarray(headerLength, length));
    }
    setTcpChecksum(payload.subarray(0, length), src, route.remoteAddr);
  }, route.localAddr === 0 ? undefined : { src: route.localAddr });
  if (ok) counters.sent(length);
  else counters.drop("tx-refused");
  return ok;
}
