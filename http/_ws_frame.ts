/**
 * WebSocket framing (RFC 6455 section 5): reading client frames from a ConnReader and building
 * server frames. Client frames must be masked (5.1, 5.3); the server never masks.
 *
 * Invariants: a protocol violation is thrown as a {@link WsCloseError} carrying the close code
 * to send (1002 protocol error, 1007 invalid data, 1009 too big); a payload is allocated only
 * after its length was checked against the limit; control frames are at most 125 bytes and
 * never fragmented (5.5).
 * @module
 */

import type { ConnReader } from "./_conn_reader.ts";

/** Frame opcodes (RFC 6455 section 5.2). */
export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes used by this implementation (RFC 6455 section 7.4.1). */
export const CLOSE_CODE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  invalidData: 1007,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** The largest control frame payload (RFC 6455 section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A failure that closes the connection with `code`. */
export class WsCloseError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "WsCloseError";
    this.code = code;
  }
}

/** One received frame, unmasked. */
export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Uint8Array;
}

const KNOWN_OPCODES = new Set<number>(Object.values(OPCODE));

/**
 * Reads one client frame. Resolves null at end of stream. `maxPayloadBytes` bounds the
 * payload of this frame (the caller subtracts what a fragmented message already holds).
 */
export async function readFrame(
  reader: ConnReader,
  maxPayloadBytes: number,
): Promise<Frame | null> {
  if (!(await reader.ensure(2))) return null;
  const b0 = reader.peek()[0]!;
  const b1 = reader.peek()[1]!;
  const fin = (b0 & 0x80) !== 0;
  const opcode = b0 & 0x0f;
  const len7 = b1 & 0x7f;
  // RFC 6455 5.2: RSV1-3 must be 0 without a negotiated extension; unknown opcodes fail.
  if ((b0 & 0x70) !== 0) throw new WsCloseError(CLOSE_CODE.protocolError, "reserved bits set");
  if (!KNOWN_OPCODES.has(opcode)) throw new WsCloseError(CLOSE_CODE.protocolError, "bad opcode");
  if (opcode >= OPCODE.close && (!fin || len7 > MAX_CONTROL_PAYLOAD)) {
    throw new WsCloseError(CLOSE_CODE.protocolError, "bad control frame"); // 5.5
  }
  // RFC 6455 5.1: a server must close on an unmasked client frame.
  if ((b1 & 0x80) === 0) throw new WsCloseError(CLOSE_CODE.protocolError, "unmasked frame");
  const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const headerLength = 2 + extended + 4;
  if (!(await reader.ensure(headerLength))) return null;
  const head = reader.peek();
  const view = new DataView(head.buffer, head.byteOffset, headerLength);
  let length = len7;
  if (extended === 2) length = view.getUint16(2);
  if (extended === 8) {
    const high = view.getUint32(2);
    // RFC 6455 5.2: the most significant bit must be 0.
    if (high >= 0x80000000) throw new WsCloseError(CLOSE_CODE.protocolError, "bad length");
    if (high > 0x1fffff) throw new WsCloseError(CLOSE_CODE.tooBig, "message too big");
    length = high * 2 ** 32 + view.getUint32(6);
  }
  if (length > maxPayloadBytes) throw new WsCloseError(CLOSE_CODE.tooBig, "message too big");
  const mask = head.slice(2 + extended, headerLength);
  reader.consume(headerLength);
  const payload = new Uint8Array(length);
  if (!(await reader.readExact(payload))) return null;
  unmask(payload, mask);
  return { fin, opcode, payload };
}

/** XORs `payload` in place with the 4-byte masking key (RFC 6455 section 5.3). */
export function unmask(payload: Uint8Array, mask: Uint8Array): void {
  const m0 = mask[0]!, m1 = mask[1]!, m2 = mask[2]!, m3 = mask[3]!;
  const n = payload.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    payload[i] = payload[i]! ^ m0;
    payload[i + 1] = payload[i + 1]! ^ m1;
    payload[i + 2] = payload[i + 2]! ^ m2;
    payload[i + 3] = payload[i + 3]! ^ m3;
  }
  for (; i < n; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
}

/** Builds one unmasked, final server frame. */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const frame = new Uint8Array(2 + extended + length);
  frame[0] = 0x80 | opcode;
  const view = new DataView(frame.buffer);
  if (extended === 0) frame[1] = length;
  else if (extended === 2) {
    frame[1] = 126;
    view.setUint16(2, length);
  } else {
    frame[1] = 127;
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  frame.set(payload, 2 + extended);
  return frame;
}

/**
 * Whether `code` may appear in a received close frame (RFC 6455 section 7.4.1-7.4.2):
 * the defined codes other than the reserved 1004-1006 and 1015, and 3000-4999.
 */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Decodes UTF-8 text of a message, failing with 1007 on invalid bytes (RFC 6455 8.1). */
export function decodeText(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WsCloseError(CLOSE_CODE.invalidData, "invalid UTF-8");
  }
}

/** Parses a close frame body (RFC 6455 section 5.5.1): code 1005 when there is none. */
export function parseClosePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length === 0) return { code: CLOSE_CODE.noStatus, reason: "" };
  if (payload.length === 1) throw new WsCloseError(CLOSE_CODE.protocolError, "bad close frame");
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) throw new WsCloseError(CLOSE_CODE.protocolError, "bad close code");
  return { code, reason: decodeText(payload.subarray(2)) };
}

/** Builds a close frame body; code 1005 means none (an empty body). */
export function encodeClosePayload(code: number, reason: string): Uint8Array {
  if (code === CLOSE_CODE.noStatus) return new Uint8Array(0);
  const text = encoder.encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}
