/**
 * DNS messages (RFC 1035 4.1): query building and message parsing for a stub resolver.
 *
 * Invariants: `parseDnsMessage` and `readDnsName` never throw; every read is bounds-checked and a
 * malformed message yields a short reason string. Name decompression (RFC 1035 4.1.4) accepts a
 * pointer only when it points past the 12-byte header and strictly before the start of the name
 * and before the previous pointer's target (offsets strictly decrease, so no loop), follows at most
 * `DNS_MAX_POINTER_HOPS` pointers, and rejects names longer than 255 octets on the wire or label
 * types other than 00 (a label) and 11 (a pointer) (RFC 6891 retired the 01 extended labels).
 * Parsed names are in presentation form without the trailing dot (the root is "."), with `.`,
 * `\` and non-printable octets escaped as RFC 1035 5.1 does. Record data stay views into the
 * input (`rdata`), alongside a decoded form for A, AAAA, CNAME, NS, PTR and SOA.
 * Names to encode are validated (letters, digits, `-`, `_`; labels 1-63 octets; <= 255 in all).
 * @module
 */

import type { Ipv4Address } from "./address.ts";
import { readIpv4 } from "./address.ts";

/** Fixed header length (RFC 1035 4.1.1). */
export const DNS_HEADER_LENGTH = 12;
/** Longest name on the wire, length octets included (RFC 1035 2.3.4). */
export const DNS_MAX_NAME_LENGTH = 255;
/** Longest label (RFC 1035 2.3.4). */
export const DNS_MAX_LABEL_LENGTH = 63;
/** Compression pointers followed per name before giving up; backwards-only already forbids loops. */
export const DNS_MAX_POINTER_HOPS = 64;

/** Resource record types used by the resolver (RFC 1035 3.2.2, RFC 3596, RFC 6891). */
export const DnsType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

/** The Internet class (RFC 1035 3.2.4). */
export const DNS_CLASS_IN = 1;

/** Response codes (RFC 1035 4.1.1). */
export const DnsRcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** Why a message or name was refused. */
export type DnsParseError =
  | "truncated"
  | "bad-label-type"
  | "bad-pointer"
  | "too-many-pointers"
  | "name-too-long"
  | "bad-rdata";

/** One entry of the question section. */
export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

/** SOA fields (RFC 1035 3.3.13); `minimum` is the negative-caching TTL of RFC 2308 4. */
export interface DnsSoa {
  readonly mname: string;
  readonly rname: string;
  readonly serial: number;
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  readonly minimum: number;
}

/** Decoded record data; `other` for types and classes this codec leaves to `rdata`. */
export type DnsRdata =
  | { readonly kind: "A"; readonly address: Ipv4Address }
  | { readonly kind: "AAAA"; readonly address: Uint8Array }
  | { readonly kind: "CNAME" | "NS" | "PTR"; readonly name: string }
  | ({ readonly kind: "SOA" } & DnsSoa)
  | { readonly kind: "other" };

/** A resource record (RFC 1035 4.1.3). */
export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Seconds; a TTL with the top bit set reads as 0 (RFC 2181 8), except in OPT records. */
  readonly ttl: number;
  /** The raw RDATA, a view into the parsed buffer. */
  readonly rdata: Uint8Array;
  readonly data: DnsRdata;
}

/** A parsed message: header fields (RFC 1035 4.1.1) and the four sections. */
export interface DnsMessage {
  readonly id: number;
  /** True for a response. */
  readonly qr: boolean;
  readonly opcode: number;
  /** Authoritative answer. */
  readonly aa: boolean;
  /** Truncated: the answer did not fit; retry over TCP. */
  readonly tc: boolean;
  /** Recursion desired. */
  readonly rd: boolean;
  /** Recursion available. */
  readonly ra: boolean;
  readonly rcode: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authority: readonly DnsRecord[];
  readonly additional: readonly DnsRecord[];
}

/** What `emitDnsQuery` sends: one question of class IN. */
export interface DnsQuery {
  readonly id: number;
  readonly name: string;
  /** QTYPE, e.g. `DnsType.A`. */
  readonly type: number;
  /** RD flag; defaults to true (ask the server to recurse). */
  readonly recursionDesired?: boolean;
}

/**
 * Parses a whole DNS message, or returns why not. Never throws. Bytes after the last record the
 * counts announce are ignored.
 *
 * @example
 * ```ts
 * const message = parseDnsMessage(datagram.payload);
 * if (typeof message === "string") counters.drop(message);
 * ```
 */
export function parseDnsMessage(bytes: Uint8Array): DnsMessage | DnsParseError {
  if (bytes.length < DNS_HEADER_LENGTH) return "truncated";
  const flags = u16(bytes, 2);
  const cursor = { offset: DNS_HEADER_LENGTH };
  const questions: DnsQuestion[] = [];
  for (let i = u16(bytes, 4); i > 0; i--) {
    const question = readQuestion(bytes, cursor);
    if (typeof question === "string") return question;
    questions.push(question);
  }
  const sections: DnsRecord[][] = [];
  for (const countOffset of [6, 8, 10]) {
    const records: DnsRecord[] = [];
    for (let i = u16(bytes, countOffset); i > 0; i--) {
      const record = readRecord(bytes, cursor);
      if (typeof record === "string") return record;
      records.push(record);
    }
    sections.push(records);
  }
  return {
    id: u16(bytes, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
  };
}

/**
 * Reads a possibly compressed name starting at `offset`; `end` is the offset just past the name
 * where it starts (after its first pointer, if any). Never throws.
 */
export function readDnsName(
  bytes: Uint8Array,
  offset: number,
): { name: string; end: number } | DnsParseError {
  const labels: string[] = [];
  let position = offset;
  let end = -1;
  let hops = 0;
  let limit = offset;
  let wireLength = 1; // the root label
  for (;;) {
    if (position >= bytes.length) return "truncated";
    const length = bytes[position]!;
    const labelType = length >>> 6;
    if (labelType === 3) {
      if (position + 1 >= bytes.length) return "truncated";
      const target = ((length & 0x3f) << 8) | bytes[position + 1]!;
      // Each pointer must land before the previous landing point (the name's start, for the
      // first): offsets strictly decrease, which rules out loops whatever the bytes between.
      if (target >= Math.min(position, limit) || target < DNS_HEADER_LENGTH) return "bad-pointer";
      if (++hops > DNS_MAX_POINTER_HOPS) return "too-many-pointers";
      if (end < 0) end = position + 2;
      position = limit = target;
      continue;
    }
    if (labelType !== 0) return "bad-label-type";
    if (length === 0) break;
    wireLength += length + 1;
    if (wireLength > DNS_MAX_NAME_LENGTH) return "name-too-long";
    if (position + 1 + length > bytes.length) return "truncated";
    labels.push(labelText(bytes.subarray(position + 1, position + 1 + length)));
    position += 1 + length;
  }
  return { name: labels.length === 0 ? "." : labels.join("."), end: end < 0 ? position + 1 : end };
}

/** Octets `emitDnsQuery` writes for `query`; throws `TypeError` for an invalid name. */
export function dnsQueryLength(query: DnsQuery): number {
  return DNS_HEADER_LENGTH + dnsNameLength(query.name) + 4;
}

/**
 * Writes a query with one question (QCLASS IN) at the start of `buffer` and returns its length.
 * Throws `TypeError` for an invalid name and `RangeError` for a short buffer or a bad id/type.
 *
 * @example
 * ```ts
 * const query = { id: 0x1a2b, name: "example.test", type: DnsType.A };
 * const length = emitDnsQuery(new Uint8Array(dnsQueryLength(query)), query);
 * ```
 */
export function emitDnsQuery(buffer: Uint8Array, query: DnsQuery): number {
  const length = dnsQueryLength(query);
  if (buffer.length < length) {
    throw new RangeError(`Cannot emit DNS query: buffer holds ${buffer.length} of ${length} bytes`);
  }
  checkU16("id", query.id);
  checkU16("type", query.type);
  buffer.fill(0, 0, DNS_HEADER_LENGTH);
  setU16(buffer, 0, query.id);
  setU16(buffer, 2, query.recursionDesired === false ? 0 : 0x0100);
  setU16(buffer, 4, 1);
  let offset = encodeDnsName(buffer, DNS_HEADER_LENGTH, query.name);
  setU16(buffer, offset, query.type);
  setU16(buffer, offset + 2, DNS_CLASS_IN);
  offset += 4;
  return offset;
}

/** Octets of `name` encoded uncompressed; throws `TypeError` when the name is invalid. */
export function dnsNameLength(name: string): number {
  return splitName(name).reduce((sum, label) => sum + label.length + 1, 1);
}

/**
 * Writes `name` uncompressed at `offset` and returns the offset after it. Throws `TypeError` when
 * the name is invalid and `RangeError` when it does not fit.
 */
export function encodeDnsName(buffer: Uint8Array, offset: number, name: string): number {
  const labels = splitName(name);
  if (offset + dnsNameLength(name) > buffer.length) {
    throw new RangeError(`Cannot encode DNS name '${name}': buffer too small`);
  }
  for (const label of labels) {
    buffer[offset++] = label.length;
    for (let i = 0; i < label.length; i++) buffer[offset++] = label.charCodeAt(i);
  }
  buffer[offset++] = 0;
  return offset;
}

/** True when `name` can be encoded (see `encodeDnsName`). */
export function isValidDnsName(name: string): boolean {
  try {
    splitName(name);
    return true;
  } catch {
    return false;
  }
}

/** Compares names as DNS does: ASCII case-insensitive, trailing dot optional (RFC 4343). */
export function dnsNamesEqual(a: string, b: string): boolean {
  return canonicalName(a) === canonicalName(b);
}

function canonicalName(name: string): string {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.length > 1 && lower.endsWith(".") && !lower.endsWith("\\.")
    ? lower.slice(0, -1)
    : lower;
}

const LABEL = /^[A-Za-z0-9_-]{1,63}$/;

function splitName(name: string): string[] {
  if (name === "." || name === "") return [];
  const labels = (name.endsWith(".") ? name.slice(0, -1) : name).split(".");
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw new TypeError(
        `Cannot encode DNS name '${name}': label '${label}' must be 1-63 letters, digits, '-' or '_'`,
      );
    }
  }
  if (labels.reduce((sum, label) => sum + label.length + 1, 1) > DNS_MAX_NAME_LENGTH) {
    throw new TypeError(`Cannot encode DNS name '${name}': longer than 255 octets`);
  }
  return labels;
}

function labelText(label: Uint8Array): string {
  let text = "";
  for (const byte of label) {
    if (byte === 0x2e || byte === 0x5c) text += "\\" + String.fromCharCode(byte);
    else if (byte > 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += "\\" + byte.toString().padStart(3, "0");
  }
  return text;
}

function readQuestion(
  bytes: Uint8Array,
  cursor: { offset: number },
): DnsQuestion | DnsParseError {
  const name = readDnsName(bytes, cursor.offset);
  if (typeof name === "string") return name;
  if (name.end + 4 > bytes.length) return "truncated";
  cursor.offset = name.end + 4;
  return { name: name.name, type: u16(bytes, name.end), class: u16(bytes, name.end + 2) };
}

function readRecord(bytes: Uint8Array, cursor: { offset: number }): DnsRecord | DnsParseError {
  const name = readDnsName(bytes, cursor.offset);
  if (typeof name === "string") return name;
  const at = name.end;
  if (at + 10 > bytes.length) return "truncated";
  const type = u16(bytes, at);
  const rrClass = u16(bytes, at + 2);
  const rawTtl = u32(bytes, at + 4);
  const rdLength = u16(bytes, at + 8);
  if (at + 10 + rdLength > bytes.length) return "truncated";
  const data = decodeRdata(bytes, at + 10, rdLength, type, rrClass);
  if (typeof data === "string") return data;
  cursor.offset = at + 10 + rdLength;
  return {
    name: name.name,
    type,
    class: rrClass,
    ttl: type !== DnsType.OPT && rawTtl > 0x7fffffff ? 0 : rawTtl,
    rdata: bytes.subarray(at + 10, at + 10 + rdLength),
    data,
  };
}

function decodeRdata(
  bytes: Uint8Array,
  start: number,
  length: number,
  type: number,
  rrClass: number,
): DnsRdata | DnsParseError {
  const end = start + length;
  switch (type) {
    case DnsType.A:
      if (rrClass !== DNS_CLASS_IN) return { kind: "other" };
      return length === 4 ? { kind: "A", address: readIpv4(bytes, start) } : "bad-rdata";
    case DnsType.AAAA:
      if (rrClass !== DNS_CLASS_IN) return { kind: "other" };
      return length === 16 ? { kind: "AAAA", address: bytes.subarray(start, end) } : "bad-rdata";
    case DnsType.CNAME:
    case DnsType.NS:
    case DnsType.PTR: {
      const name = readDnsName(bytes.subarray(0, end), start);
      if (typeof name === "string") return name === "truncated" ? "bad-rdata" : name;
      if (name.end !== end) return "bad-rdata";
      const kind = type === DnsType.CNAME ? "CNAME" : type === DnsType.NS ? "NS" : "PTR";
      return { kind, name: name.name };
    }
    case DnsType.SOA:
      return decodeSoa(bytes.subarray(0, end), start);
    default:
      return { kind: "other" };
  }
}

function decodeSoa(bytes: Uint8Array, start: number): DnsRdata | DnsParseError {
  const mname = readDnsName(bytes, start);
  if (typeof mname === "string") return mname === "truncated" ? "bad-rdata" : mname;
  const rname = readDnsName(bytes, mname.end);
  if (typeof rname === "string") return rname === "truncated" ? "bad-rdata" : rname;
  const at = rname.end;
  if (at + 20 !== bytes.length) return "bad-rdata";
  return {
    kind: "SOA",
    mname: mname.name,
    rname: rname.name,
    serial: u32(bytes, at),
    refresh: u32(bytes, at + 4),
    retry: u32(bytes, at + 8),
    expire: u32(bytes, at + 12),
    minimum: u32(bytes, at + 16),
  };
}

function u16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

function u32(bytes: Uint8Array, offset: number): number {
  return readIpv4(bytes, offset);
}

function setU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value & 0xff;
}

function checkU16(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`Cannot emit DNS query ${name} ${value}: expected an integer 0-65535`);
  }
}
