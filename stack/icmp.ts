/**
 * ICMP (RFC 792, RFC 1122 3.2.2): echo replies, the errors the stack sends (protocol and port
 * unreachable, reassembly time exceeded), errors received for our packets handed to the transport
 * that sent them, and an echo client (`ping`).
 *
 * Invariants: errors are never sent about an ICMP error, a broadcast/multicast destination, a
 * non-initial fragment, or an invalid source (RFC 1122 3.2.2); they are rate-limited by a token
 * bucket. Echo requests to broadcast addresses are ignored (as Linux does by default). Outstanding
 * pings are bounded; each settles on reply or at its deadline, inside `input`/`poll`.
 * @module
 */

import type { LayerCounters } from "./counters.ts";
import type { Ipv4ErrorSink } from "./ipv4.ts";
import type { IpSender, PacketInfo, Transport } from "./transport.ts";
import { IpProtocol } from "./transport.ts";
import { formatIpv4, type Ipv4Address, readIpv4 } from "./wire/address.ts";
import {
  emitIcmp,
  ICMP_HEADER_LENGTH,
  IcmpType,
  isIcmpError,
  parseIcmp,
  UnreachableCode,
} from "./wire/icmp.ts";
import { emitIpv4, IPV4_HEADER_LENGTH } from "./wire/ipv4.ts";

/** Errors per second allowed on average, and the burst (Linux: 1000 ms per ~50-token bucket). */
const ERROR_RATE_PER_S = 20;
const ERROR_BURST = 50;
/** Bytes of the offending datagram an error quotes beyond the header (RFC 792: 64 bits). */
const QUOTE_BYTES = 8;
const MAX_OUTSTANDING_PINGS = 1024;

/** The outcome of one echo request. */
export interface PingResult {
  rttMs: number;
  ttl: number;
  bytes: number;
  sequence: number;
}

/** Options of {@linkcode IcmpLayer.ping}. */
export interface PingOptions {
  /** Echo data bytes (ping -s). Default 56. */
  size?: number;
  timeoutMs?: number;
  identifier?: number;
  sequence?: number;
}

interface Outstanding {
  key: number;
  dst: Ipv4Address;
  size: number;
  identifier: number;
  sequence: number;
  /** -1 until sent from `poll`. */
  sentMs: number;
  timeoutMs: number;
  deadlineMs: number;
  resolve: (result: PingResult) => void;
  reject: (error: Error) => void;
}

/** The ICMP protocol of one stack. */
export class IcmpLayer implements Transport, Ipv4ErrorSink {
  readonly protocol = IpProtocol.ICMP;
  readonly #ip: IpSender;
  readonly #counters: LayerCounters;
  readonly #transports: (protocol: number) => Transport | undefined;
  readonly #pings = new Map<number, Outstanding>();
  #tokens = ERROR_BURST;
  #tokensAtMs = 0;
  #nowMs = 0;
  #nextIdentifier = 1;

  constructor(
    ip: IpSender,
    counters: LayerCounters,
    transports: (protocol: number) => Transport | undefined,
  ) {
    this.#ip = ip;
    this.#counters = counters;
    this.#transports = transports;
  }

  input(info: PacketInfo, payload: Uint8Array, nowMs: number): void {
    this.#nowMs = nowMs;
    const message = parseIcmp(payload);
    if (typeof message === "string") {
      this.#counters.drop(message);
      return;
    }
    this.#counters.received(payload.length);
    switch (message.type) {
      case IcmpType.ECHO_REQUEST:
        if (info.nonUnicast) {
          this.#counters.drop("broadcast-echo");
          return;
        }
        this.#reply(info, payload);
        return;
      case IcmpType.ECHO_REPLY:
        this.#settle(info, message.identifier, message.sequence, payload.length, nowMs);
        return;
      default:
        if (isIcmpError(message.type)) {
          this.#dispatchError(message.type, message.code, message.sequence, message.body, nowMs);
        } else {
          this.#counters.drop("unhandled-type");
        }
    }
  }

  poll(nowMs: number): number {
    this.#nowMs = nowMs;
    let next = Infinity;
    for (const [key, p] of this.#pings) {
      if (p.sentMs < 0) this.#sendEcho(p, nowMs);
      if (!this.#pings.has(key)) continue;
      if (p.deadlineMs <= nowMs) {
        this.#pings.delete(key);
        p.reject(new Deno.errors.TimedOut(`No echo reply from ${formatIpv4(p.dst)}`));
      } else {
        next = Math.min(next, p.deadlineMs);
      }
    }
    return next;
  }

  /**
   * Queues an echo request; it leaves at the next `poll` (stamped with that time) and the promise
   * resolves with the round trip when the reply arrives, or rejects with `TimedOut`.
   */
  ping(dst: Ipv4Address, options: PingOptions = {}): Promise<PingResult> {
    const size = options.size ?? 56;
    const identifier = options.identifier ?? (this.#nextIdentifier++ & 0xffff);
    const sequence = options.sequence ?? 1;
    const key = identifier * 65536 + sequence;
    if (!Number.isInteger(size) || size < 0 || size > 65507) {
      return Promise.reject(new RangeError(`Cannot send a ${size}-byte ping: expected 0-65507`));
    }
    if (this.#pings.size >= MAX_OUTSTANDING_PINGS || this.#pings.has(key)) {
      return Promise.reject(new RangeError("Cannot send ping: too many outstanding echo requests"));
    }
    const { promise, resolve, reject } = Promise.withResolvers<PingResult>();
    this.#pings.set(key, {
      key,
      dst,
      size,
      identifier,
      sequence,
      sentMs: -1,
      timeoutMs: options.timeoutMs ?? 1000,
      deadlineMs: -1,
      resolve,
      reject,
    });
    return promise;
  }

  #sendEcho(p: Outstanding, nowMs: number): void {
    const { size, identifier, sequence } = p;
    p.sentMs = nowMs;
    p.deadlineMs = nowMs + p.timeoutMs;
    const sent = this.#ip.send(p.dst, IpProtocol.ICMP, ICMP_HEADER_LENGTH + size, (message) => {
      for (let i = 0; i < size; i++) message[ICMP_HEADER_LENGTH + i] = i & 0xff;
      emitIcmp(message, IcmpType.ECHO_REQUEST, 0, identifier, sequence);
    });
    if (sent) {
      this.#counters.sent(ICMP_HEADER_LENGTH + size);
    } else {
      this.#pings.delete(p.key);
      p.reject(new Deno.errors.NetworkUnreachable(`No route to ${formatIpv4(p.dst)}`));
    }
  }

  /** The time of the latest input or poll (the stack sets it). */
  set nowMs(nowMs: number) {
    this.#nowMs = nowMs;
  }

  /** Port unreachable for a datagram of `protocol` nobody listens to (header rebuilt from info). */
  portUnreachable(info: PacketInfo, protocol: number, datagram: Uint8Array): void {
    const head = datagram.subarray(0, QUOTE_BYTES);
    const packet = new Uint8Array(IPV4_HEADER_LENGTH + head.length);
    emitIpv4(packet, 0, {
      totalLength: IPV4_HEADER_LENGTH + datagram.length,
      identification: 0,
      ttl: info.ttl,
      tos: info.tos,
      protocol,
      src: info.src,
      dst: info.dst,
    });
    packet.set(head, IPV4_HEADER_LENGTH);
    this.#sendError(IcmpType.DEST_UNREACHABLE, UnreachableCode.PORT, packet, info);
  }

  protocolUnreachable(packet: Uint8Array, info: PacketInfo): void {
    this.#sendError(IcmpType.DEST_UNREACHABLE, UnreachableCode.PROTOCOL, packet, info);
  }

  reassemblyTimeout(dst: Ipv4Address, quote: Uint8Array): void {
    this.#sendError(IcmpType.TIME_EXCEEDED, 1, quote, {
      src: dst,
      dst: this.#ip.localAddress,
      ttl: 64,
      tos: 0,
      nonUnicast: false,
    });
  }

  #reply(info: PacketInfo, request: Uint8Array): void {
    const sent = this.#ip.send(info.src, IpProtocol.ICMP, request.length, (message) => {
      message.set(request);
      const identifier = (request[4]! << 8) | request[5]!;
      const sequence = (request[6]! << 8) | request[7]!;
      emitIcmp(message, IcmpType.ECHO_REPLY, 0, identifier, sequence);
    }, { src: info.dst, tos: info.tos });
    if (sent) this.#counters.sent(request.length);
  }

  #settle(info: PacketInfo, identifier: number, sequence: number, bytes: number, nowMs: number) {
    const key = identifier * 65536 + sequence;
    const p = this.#pings.get(key);
    if (p === undefined || p.dst !== info.src || p.sentMs < 0) {
      this.#counters.drop("unexpected-reply");
      return;
    }
    this.#pings.delete(key);
    p.resolve({ rttMs: nowMs - p.sentMs, ttl: info.ttl, bytes, sequence });
  }

  /** Hands an error about one of our packets to the transport that sent it. */
  #dispatchError(type: number, code: number, word: number, body: Uint8Array, nowMs: number) {
    if (body.length < IPV4_HEADER_LENGTH + QUOTE_BYTES || body[0]! >>> 4 !== 4) {
      this.#counters.drop("bad-quote");
      return;
    }
    const headerLength = (body[0]! & 0x0f) * 4;
    if (headerLength < IPV4_HEADER_LENGTH || body.length < headerLength + QUOTE_BYTES) {
      this.#counters.drop("bad-quote");
      return;
    }
    const transport = this.#transports(body[9]!);
    transport?.icmpError?.({
      type,
      code,
      src: readIpv4(body, 12),
      dst: readIpv4(body, 16),
      quoted: body.subarray(headerLength),
      nextHopMtu: type === IcmpType.DEST_UNREACHABLE && code === 4 ? word : 0,
    }, nowMs);
  }

  /** Builds an error quoting the offending packet's header and first 8 payload bytes. */
  #sendError(type: number, code: number, packet: Uint8Array, info: PacketInfo): void {
    if (info.nonUnicast || info.src === 0 || !this.#takeToken()) {
      this.#counters.drop("error-suppressed");
      return;
    }
    if (packet[9] === IpProtocol.ICMP) {
      const headerLength = (packet[0]! & 0x0f) * 4;
      const innerType = packet[headerLength];
      if (innerType === undefined || isIcmpError(innerType)) return; // never an error about an error
    }
    const headerLength = (packet[0]! & 0x0f) * 4;
    const quote = packet.subarray(0, Math.min(packet.length, headerLength + QUOTE_BYTES));
    const length = ICMP_HEADER_LENGTH + quote.length;
    const sent = this.#ip.send(info.src, IpProtocol.ICMP, length, (message) => {
      message.set(quote, ICMP_HEADER_LENGTH);
      emitIcmp(message, type, code, 0, 0);
    });
    if (sent) this.#counters.sent(length);
  }

  #takeToken(): boolean {
    const elapsed = this.#nowMs - this.#tokensAtMs;
    this.#tokens = Math.min(ERROR_BURST, this.#tokens + (elapsed * ERROR_RATE_PER_S) / 1000);
    this.#tokensAtMs = this.#nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
