/**
 * DHCP messages (RFC 2131 2 message layout, RFC 2132 options) over Ethernet (htype 1, hlen 6).
 *
 * Invariants:
 * - `parseDhcp` never throws. It checks op, htype, hlen and the magic cookie, walks the options
 *   with pad and end so that no option overruns its area, requires the end option, follows option
 *   overload (52) into `file` then `sname` (RFC 2131 4.1), concatenates repeated options in that
 *   order (RFC 3396 5), and validates the length of every typed option before decoding it. A bad
 *   message yields a short reason string for `LayerCounters.drop`.
 * - `options.raw` holds every option except pad, end and overload, keyed by code, in first-seen
 *   order. Values are views into the parsed buffer unless they had to be concatenated.
 * - `emitDhcp` writes options in `raw` order first (a typed field, when set, replaces the raw
 *   value of its code), then the typed fields `raw` lacks in a fixed order, then end, then zero
 *   padding to the 300-byte BOOTP minimum. Values longer than 255 bytes are split into repeated
 *   options (RFC 3396). It never overloads `sname`/`file` (written as zeros), and writes hops 0.
 *   So `emitDhcp(buffer, parseDhcp(bytes))` reproduces any non-overloaded message whose options
 *   each appear once and that ends right after its end option or at the 300-byte minimum.
 * @module
 */

import type { Ipv4Address } from "./address.ts";
import { readIpv4, writeIpv4 } from "./address.ts";

/** op, htype, hlen, hops, xid, secs, flags, four addresses, chaddr, sname, file (RFC 2131 2). */
export const DHCP_FIXED_LENGTH = 236;
/** 99.130.83.99 at the start of the options field (RFC 2131 3, RFC 2132 2). */
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** The first option byte: fixed header plus magic cookie. */
export const DHCP_OPTIONS_OFFSET = 240;
/** The smallest BOOTP message, which relays may expect (RFC 951, RFC 1542 2.1). */
export const BOOTP_MIN_LENGTH = 300;
/** UDP ports (RFC 2131 4.1). */
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
/** The only flag defined; the other 15 bits must be zero (RFC 2131 2, Figure 2). */
export const DHCP_FLAG_BROADCAST = 0x8000;

/** BOOTP op codes (RFC 2131 2). */
export const BootpOp = { REQUEST: 1, REPLY: 2 } as const;

/** DHCP message types, option 53 (RFC 2132 9.6). */
export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** Option codes with a typed field, plus the framing codes (RFC 2132). */
export const DhcpOption = {
  PAD: 0, // 3.1
  SUBNET_MASK: 1, // 3.3
  ROUTER: 3, // 3.5
  DNS_SERVERS: 6, // 3.8
  HOSTNAME: 12, // 3.14
  REQUESTED_IP: 50, // 9.1
  LEASE_TIME: 51, // 9.2
  OVERLOAD: 52, // 9.3
  MESSAGE_TYPE: 53, // 9.6
  SERVER_ID: 54, // 9.7
  PARAMETER_REQUEST_LIST: 55, // 9.8
  MESSAGE: 56, // 9.9
  MAX_MESSAGE_SIZE: 57, // 9.10
  RENEWAL_TIME: 58, // 9.11, T1
  REBINDING_TIME: 59, // 9.12, T2
  CLIENT_ID: 61, // 9.14
  END: 255, // 3.2
} as const;

/** The smallest maximum message size a client may announce (RFC 2132 9.10). */
export const DHCP_MIN_MAX_MESSAGE_SIZE = 576;

/** Typed options; every field is absent when the option is. */
export interface DhcpOptions {
  readonly subnetMask?: Ipv4Address;
  readonly routers?: readonly Ipv4Address[];
  readonly dnsServers?: readonly Ipv4Address[];
  /** Option 12, UTF-8 decoded, trailing NULs dropped (absent if nothing else is left). */
  readonly hostname?: string;
  readonly requestedIp?: Ipv4Address;
  readonly leaseSeconds?: number;
  readonly serverId?: Ipv4Address;
  /** Option 55: the option codes the client asks for, in its order. */
  readonly parameterRequestList?: Uint8Array;
  /** Option 56, an error text (in a NAK) or a client's reason (in a DECLINE). */
  readonly message?: string;
  readonly maxMessageSize?: number;
  /** T1 (option 58). */
  readonly renewalSeconds?: number;
  /** T2 (option 59). */
  readonly rebindingSeconds?: number;
  /** Option 61: type octet then identifier (1 + MAC for Ethernet). */
  readonly clientId?: Uint8Array;
  /** Every option by code; for emit, codes without a typed field (and the order, see module). */
  readonly raw?: ReadonlyMap<number, Uint8Array>;
}

/** A DHCP message as a plain record (RFC 2131 Figure 1); addresses are u32 in host order. */
export interface DhcpMessage {
  /** `BootpOp.REQUEST` from clients, `BootpOp.REPLY` from servers. */
  readonly op: number;
  readonly xid: number;
  readonly secs: number;
  /** The BROADCAST flag (RFC 2131 4.1): the client cannot receive unicast before configuration. */
  readonly broadcast: boolean;
  readonly ciaddr: Ipv4Address;
  readonly yiaddr: Ipv4Address;
  readonly siaddr: Ipv4Address;
  readonly giaddr: Ipv4Address;
  /** The client's MAC, 6 bytes. */
  readonly chaddr: Uint8Array;
  /** Option 53, see `DhcpMessageType`. */
  readonly messageType: number;
  readonly options: DhcpOptions;
}

/** Options as `parseDhcp` returns them: `raw` is always present. */
export interface ParsedDhcpOptions extends DhcpOptions {
  readonly raw: ReadonlyMap<number, Uint8Array>;
}

/** A message as `parseDhcp` returns it; `chaddr` is a view into the parsed buffer. */
export interface ParsedDhcpMessage extends DhcpMessage {
  readonly options: ParsedDhcpOptions;
}

/** Why `parseDhcp` refused a message. */
export type DhcpParseError =
  | "truncated"
  | "bad-op"
  | "bad-htype"
  | "bad-hlen"
  | "bad-magic"
  | "option-overrun"
  | "missing-end"
  | "bad-overload"
  | "bad-option-length"
  | "bad-option-value"
  | "no-message-type"
  | "bad-message-type";

const SNAME_OFFSET = 44;
const FILE_OFFSET = 108;
const CHADDR_OFFSET = 28;
const HTYPE_ETHERNET = 1; // RFC 1700 hardware types
const HLEN_ETHERNET = 6;

/**
 * Parses and validates a DHCP message (the UDP payload), or returns why not. Never throws.
 *
 * @example
 * ```ts
 * const message = parseDhcp(datagram.payload);
 * if (typeof message === "string") counters.drop(message);
 * else if (message.messageType === DhcpMessageType.OFFER) considerOffer(message);
 * ```
 */
export function parseDhcp(bytes: Uint8Array): ParsedDhcpMessage | DhcpParseError {
  if (bytes.length < DHCP_OPTIONS_OFFSET) return "truncated";
  const op = bytes[0]!;
  if (op !== BootpOp.REQUEST && op !== BootpOp.REPLY) return "bad-op";
  if (bytes[1] !== HTYPE_ETHERNET) return "bad-htype";
  if (bytes[2] !== HLEN_ETHERNET) return "bad-hlen";
  if (readIpv4(bytes, DHCP_FIXED_LENGTH) !== DHCP_MAGIC_COOKIE) return "bad-magic";
  const raw = collectOptions(bytes);
  if (typeof raw === "string") return raw;
  const type = raw.get(DhcpOption.MESSAGE_TYPE);
  if (type === undefined) return "no-message-type";
  if (type.length !== 1) return "bad-option-length";
  const messageType = type[0]!;
  if (messageType < DhcpMessageType.DISCOVER || messageType > DhcpMessageType.INFORM) {
    return "bad-message-type";
  }
  const options = decodeOptions(raw);
  if (typeof options === "string") return options;
  return {
    op,
    xid: readIpv4(bytes, 4),
    secs: (bytes[8]! << 8) | bytes[9]!,
    broadcast: (bytes[10]! & 0x80) !== 0,
    ciaddr: readIpv4(bytes, 12),
    yiaddr: readIpv4(bytes, 16),
    siaddr: readIpv4(bytes, 20),
    giaddr: readIpv4(bytes, 24),
    chaddr: bytes.subarray(CHADDR_OFFSET, CHADDR_OFFSET + HLEN_ETHERNET),
    messageType,
    options,
  };
}

/** Octets `emitDhcp` writes for `message` (at least `BOOTP_MIN_LENGTH`). */
export function dhcpLength(message: DhcpMessage): number {
  return messageLength(optionList(message));
}

/**
 * Writes `message` at the start of `buffer` and returns its length. Throws `RangeError` when the
 * buffer is smaller than `dhcpLength(message)` or a field is out of range.
 *
 * @example
 * ```ts
 * const buffer = new Uint8Array(dhcpLength(discover));
 * const length = emitDhcp(buffer, discover);
 * ```
 */
export function emitDhcp(buffer: Uint8Array, message: DhcpMessage): number {
  const list = optionList(message);
  const length = messageLength(list);
  if (buffer.length < length) {
    throw new RangeError(`Cannot emit DHCP message: buffer holds ${buffer.length} of ${length}`);
  }
  if (message.op !== BootpOp.REQUEST && message.op !== BootpOp.REPLY) {
    throw new RangeError(`Cannot emit DHCP op ${message.op}: expected 1 (request) or 2 (reply)`);
  }
  if (message.chaddr.length !== HLEN_ETHERNET) {
    throw new RangeError(`Cannot emit DHCP chaddr of ${message.chaddr.length} bytes: expected 6`);
  }
  buffer.fill(0, 0, length);
  buffer[0] = message.op;
  buffer[1] = HTYPE_ETHERNET;
  buffer[2] = HLEN_ETHERNET;
  writeIpv4(buffer, 4, checkInt("xid", message.xid, 0, 0xffffffff));
  const secs = checkInt("secs", message.secs, 0, 0xffff);
  buffer[8] = secs >>> 8;
  buffer[9] = secs & 0xff;
  buffer[10] = message.broadcast ? DHCP_FLAG_BROADCAST >>> 8 : 0;
  writeIpv4(buffer, 12, message.ciaddr);
  writeIpv4(buffer, 16, message.yiaddr);
  writeIpv4(buffer, 20, message.siaddr);
  writeIpv4(buffer, 24, message.giaddr);
  buffer.set(message.chaddr, CHADDR_OFFSET);
  writeIpv4(buffer, DHCP_FIXED_LENGTH, DHCP_MAGIC_COOKIE);
  let offset = DHCP_OPTIONS_OFFSET;
  for (const [code, value] of list) {
    // RFC 3396: a value over 255 bytes goes out as several options of the same code.
    let start = 0;
    do {
      const chunk = value.subarray(start, start + 255);
      buffer[offset] = code;
      buffer[offset + 1] = chunk.length;
      buffer.set(chunk, offset + 2);
      offset += 2 + chunk.length;
      start += 255;
    } while (start < value.length);
  }
  buffer[offset] = DhcpOption.END;
  return length;
}

/** Walks the options field, then any overloaded `file` and `sname` (RFC 2131 4.1). */
function collectOptions(bytes: Uint8Array): Map<number, Uint8Array> | DhcpParseError {
  const parts = new Map<number, Uint8Array[]>();
  const main = walkOptions(bytes, DHCP_OPTIONS_OFFSET, bytes.length, parts);
  if (main !== null) return main;
  const overload = parts.get(DhcpOption.OVERLOAD);
  if (overload !== undefined) {
    parts.delete(DhcpOption.OVERLOAD);
    const value = overload.length === 1 && overload[0]!.length === 1 ? overload[0]![0]! : 0;
    if (value < 1 || value > 3) return "bad-overload"; // 1 file, 2 sname, 3 both (RFC 2132 9.3)
    if (value & 1) {
      const error = walkOptions(bytes, FILE_OFFSET, DHCP_FIXED_LENGTH, parts);
      if (error !== null) return error;
    }
    if (value & 2) {
      const error = walkOptions(bytes, SNAME_OFFSET, FILE_OFFSET, parts);
      if (error !== null) return error;
    }
    if (parts.has(DhcpOption.OVERLOAD)) return "bad-overload";
  }
  const raw = new Map<number, Uint8Array>();
  for (const [code, values] of parts) {
    raw.set(code, values.length === 1 ? values[0]! : concat(values));
  }
  return raw;
}

/** Adds each option in [start, end) to `parts`; null once the end option is reached. */
function walkOptions(
  bytes: Uint8Array,
  start: number,
  end: number,
  parts: Map<number, Uint8Array[]>,
): DhcpParseError | null {
  let offset = start;
  while (offset < end) {
    const code = bytes[offset]!;
    if (code === DhcpOption.PAD) {
      offset++;
      continue;
    }
    if (code === DhcpOption.END) return null;
    if (offset + 2 > end) return "option-overrun";
    const valueEnd = offset + 2 + bytes[offset + 1]!;
    if (valueEnd > end) return "option-overrun";
    const value = bytes.subarray(offset + 2, valueEnd);
    const existing = parts.get(code);
    if (existing === undefined) parts.set(code, [value]);
    else existing.push(value);
    offset = valueEnd;
  }
  return "missing-end";
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Validates the lengths (and a few values) of typed options and decodes them. */
function decodeOptions(raw: Map<number, Uint8Array>): ParsedDhcpOptions | DhcpParseError {
  const options: Mutable<ParsedDhcpOptions> = { raw };
  for (const [code, value] of raw) {
    const n = value.length;
    switch (code) {
      case DhcpOption.SUBNET_MASK:
        if (n !== 4) return "bad-option-length";
        options.subnetMask = readIpv4(value, 0);
        break;
      case DhcpOption.ROUTER:
      case DhcpOption.DNS_SERVERS: {
        if (n === 0 || n % 4 !== 0) return "bad-option-length";
        const list = Array.from({ length: n / 4 }, (_, i) => readIpv4(value, i * 4));
        if (code === DhcpOption.ROUTER) options.routers = list;
        else options.dnsServers = list;
        break;
      }
      case DhcpOption.HOSTNAME:
      case DhcpOption.MESSAGE: {
        if (n === 0) return "bad-option-length";
        const text = TEXT_DECODER.decode(value).replace(/\0+$/, "");
        if (text === "") break; // only NULs: left to `raw`, so emit still reproduces it
        if (code === DhcpOption.HOSTNAME) options.hostname = text;
        else options.message = text;
        break;
      }
      case DhcpOption.REQUESTED_IP:
      case DhcpOption.SERVER_ID:
      case DhcpOption.LEASE_TIME:
      case DhcpOption.RENEWAL_TIME:
      case DhcpOption.REBINDING_TIME:
        if (n !== 4) return "bad-option-length";
        options[U32_FIELDS[code]!] = readIpv4(value, 0);
        break;
      case DhcpOption.PARAMETER_REQUEST_LIST:
        if (n === 0) return "bad-option-length";
        options.parameterRequestList = value;
        break;
      case DhcpOption.MAX_MESSAGE_SIZE:
        if (n !== 2) return "bad-option-length";
        options.maxMessageSize = (value[0]! << 8) | value[1]!;
        if (options.maxMessageSize < DHCP_MIN_MAX_MESSAGE_SIZE) return "bad-option-value";
        break;
      case DhcpOption.CLIENT_ID:
        if (n < 2) return "bad-option-length";
        options.clientId = value;
        break;
    }
  }
  return options;
}

type U32Field = "requestedIp" | "serverId" | "leaseSeconds" | "renewalSeconds" | "rebindingSeconds";
const U32_FIELDS: Record<number, U32Field> = {
  [DhcpOption.REQUESTED_IP]: "requestedIp",
  [DhcpOption.SERVER_ID]: "serverId",
  [DhcpOption.LEASE_TIME]: "leaseSeconds",
  [DhcpOption.RENEWAL_TIME]: "renewalSeconds",
  [DhcpOption.REBINDING_TIME]: "rebindingSeconds",
};

const TEXT_DECODER = new TextDecoder();
const TEXT_ENCODER = new TextEncoder();

/** The options `emitDhcp` writes, in order, as [code, value] (see the module comment). */
function optionList(message: DhcpMessage): [number, Uint8Array][] {
  const typed = typedOptions(message);
  const list: [number, Uint8Array][] = [];
  for (const [code, value] of message.options.raw ?? []) {
    if (!Number.isInteger(code) || code <= DhcpOption.PAD || code >= DhcpOption.END) {
      throw new RangeError(`Cannot emit DHCP option code ${code}: expected 1-254`);
    }
    if (code === DhcpOption.OVERLOAD) {
      throw new RangeError("Cannot emit DHCP option 52 (overload): emitDhcp never overloads");
    }
    list.push([code, typed.get(code) ?? value]);
    typed.delete(code);
  }
  for (const entry of typed) list.push(entry);
  return list;
}

/** Encodes the typed fields that are set, in the fixed order used when `raw` lacks them. */
function typedOptions(message: DhcpMessage): Map<number, Uint8Array> {
  const o = message.options;
  const typed = new Map<number, Uint8Array>();
  const type = checkInt("message type", message.messageType, 1, 8);
  typed.set(DhcpOption.MESSAGE_TYPE, Uint8Array.of(type));
  if (o.clientId !== undefined) {
    typed.set(DhcpOption.CLIENT_ID, minLength("client id", o.clientId, 2));
  }
  if (o.requestedIp !== undefined) typed.set(DhcpOption.REQUESTED_IP, u32Bytes(o.requestedIp));
  if (o.serverId !== undefined) typed.set(DhcpOption.SERVER_ID, u32Bytes(o.serverId));
  if (o.leaseSeconds !== undefined) typed.set(DhcpOption.LEASE_TIME, u32Bytes(o.leaseSeconds));
  if (o.renewalSeconds !== undefined) {
    typed.set(DhcpOption.RENEWAL_TIME, u32Bytes(o.renewalSeconds));
  }
  if (o.rebindingSeconds !== undefined) {
    typed.set(DhcpOption.REBINDING_TIME, u32Bytes(o.rebindingSeconds));
  }
  if (o.subnetMask !== undefined) typed.set(DhcpOption.SUBNET_MASK, u32Bytes(o.subnetMask));
  if (o.routers !== undefined) typed.set(DhcpOption.ROUTER, addressList("routers", o.routers));
  if (o.dnsServers !== undefined) {
    typed.set(DhcpOption.DNS_SERVERS, addressList("DNS servers", o.dnsServers));
  }
  if (o.maxMessageSize !== undefined) {
    const size = checkInt("max message size", o.maxMessageSize, DHCP_MIN_MAX_MESSAGE_SIZE, 0xffff);
    typed.set(DhcpOption.MAX_MESSAGE_SIZE, Uint8Array.of(size >>> 8, size & 0xff));
  }
  if (o.hostname !== undefined) typed.set(DhcpOption.HOSTNAME, text("hostname", o.hostname));
  if (o.message !== undefined) typed.set(DhcpOption.MESSAGE, text("message", o.message));
  if (o.parameterRequestList !== undefined) {
    const list = minLength("parameter request list", o.parameterRequestList, 1);
    typed.set(DhcpOption.PARAMETER_REQUEST_LIST, list);
  }
  return typed;
}

function messageLength(list: [number, Uint8Array][]): number {
  let length = DHCP_OPTIONS_OFFSET + 1; // + end option
  for (const [, value] of list) {
    length += value.length + 2 * Math.max(1, Math.ceil(value.length / 255));
  }
  return Math.max(length, BOOTP_MIN_LENGTH);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function u32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  writeIpv4(bytes, 0, checkInt("option value", value, 0, 0xffffffff));
  return bytes;
}

function addressList(name: string, addresses: readonly Ipv4Address[]): Uint8Array {
  if (addresses.length === 0) throw new RangeError(`Cannot emit empty DHCP ${name} list`);
  const bytes = new Uint8Array(addresses.length * 4);
  addresses.forEach((address, i) =>
    writeIpv4(bytes, i * 4, checkInt(name, address, 0, 0xffffffff))
  );
  return bytes;
}

function text(name: string, value: string): Uint8Array {
  return minLength(name, TEXT_ENCODER.encode(value), 1);
}

function minLength(name: string, value: Uint8Array, min: number): Uint8Array {
  if (value.length < min) {
    throw new RangeError(`Cannot emit DHCP ${name} of ${value.length} bytes: expected >= ${min}`);
  }
  return value;
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot emit DHCP ${name} ${value}: expected an integer ${min}-${max}`);
  }
  return value;
}
