/**
 * Building outgoing segments straight into the IP layer's payload buffer: header and options
 * written in place, data copied once from the send buffer, checksum computed once over the
 * result with the pseudo-header of the source address the IP layer chose. With checksum
 * offload the checksum is left partial (the pseudo-header sum only, for the link to finish)
 * and a segment longer than `gsoSize` is a TSO super-segment the link cuts.
 * @module
 */

import type { LayerCounters } from "../counters.ts";
import type { Ipv4SendOptions } from "../ipv4.ts";
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
import { partialTcpChecksum } from "./tso.ts";

/** The checksum field's offset in the TCP header (RFC 9293 3.1). */
const CHECKSUM_OFFSET = 16;

/** Where a segment goes. */
export interface SegmentRoute {
  localAddr: number;
  remoteAddr: number;
}

/**
 * Sends one segment: `header` with `options`, and `dataLen` bytes of `buffer` from
 * `dataOffset`. `gsoSize` >= 0 leaves the checksum partial for an offloading link, and makes a
 * segment with more data than `gsoSize` a super-segment cut at `gsoSize`; -1 (the default)
 * computes the checksum here. Returns false when the IP layer dropped it at once.
 */
export function sendSegment(
  ip: IpSender,
  counters: LayerCounters,
  route: SegmentRoute,
  header: TcpHeader,
  options: TcpOptions | undefined,
  data?: { buffer: SendBuffer; offset: number; length: number },
  gsoSize = -1,
): boolean {
  const headerLength = TCP_HEADER_LENGTH + (options ? tcpOptionsLength(options) : 0);
  const dataLength = data?.length ?? 0;
  const length = headerLength + dataLength;
  const partial = gsoSize >= 0;
  const sendOptions: Ipv4SendOptions = {};
  if (route.localAddr !== 0) sendOptions.src = route.localAddr;
  if (partial) {
    sendOptions.offload = {
      csumOffset: CHECKSUM_OFFSET,
      gsoSize: dataLength > gsoSize ? gsoSize : 0,
      headerBytes: headerLength,
    };
  }
  const ok = ip.send(route.remoteAddr, TCP_PROTOCOL, length, (payload, src) => {
    emitTcpHeader(payload, header, options);
    if (data && data.length > 0) {
      data.buffer.copyOut(data.offset, payload.subarray(headerLength, length));
    }
    if (partial) {
      const sum = partialTcpChecksum(src, route.remoteAddr, length);
      payload[CHECKSUM_OFFSET] = sum >>> 8;
      payload[CHECKSUM_OFFSET + 1] = sum & 0xff;
    } else {
      setTcpChecksum(payload.subarray(0, length), src, route.remoteAddr);
    }
  }, sendOptions);
  if (ok) counters.sent(length);
  else counters.drop("tx-refused");
  return ok;
}
