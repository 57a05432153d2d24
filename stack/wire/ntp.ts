/**
 * NTP packets as SNTPv4 uses them (RFC 4330, packet layout of RFC 5905 7.3).
 *
 * Invariants: `NtpView.check` and `parseNtp` never throw; they accept a buffer of at least 48
 * bytes whose version is 1-4 and whose mode is 1-5 (6 and 7 are control/private messages with a
 * different layout, 0 is reserved). Bytes after the first 48 (extension fields, MAC) are ignored.
 * Timestamps are `{ seconds, fraction }` pairs of unsigned 32-bit integers in era 0 (NTP epoch
 * 1900-01-01T00:00:00Z); root delay and dispersion stay raw NTP short format (16.16 fixed point).
 * `emitNtp(buffer, parseNtp(bytes))` reproduces the first 48 bytes exactly.
 * @module
 */

/** Length of the fixed NTP header without extensions or MAC (RFC 5905 7.3). */
export const NTP_PACKET_LENGTH = 48;
/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (RFC 5905 6, RFC 868). */
export const NTP_UNIX_OFFSET_SECONDS = 2208988800;
/** The version this codec sends (RFC 4330 4). */
export const NTP_VERSION = 4;

/** Association modes (RFC 5905 Figure 10). */
export const NtpMode = {
  SYMMETRIC_ACTIVE: 1,
  SYMMETRIC_PASSIVE: 2,
  CLIENT: 3,
  SERVER: 4,
  BROADCAST: 5,
} as const;

/** Leap indicator 3: the server's clock is not synchronised (RFC 5905 7.3). */
export const NTP_LEAP_UNSYNCHRONIZED = 3;

/** A 64-bit NTP timestamp: seconds since 1900 and a binary fraction of a second (RFC 5905 6). */
export interface NtpTimestamp {
  readonly seconds: number;
  readonly fraction: number;
}

/** Every field of the 48-byte header (RFC 5905 Figure 8). */
export interface NtpPacket {
  /** Leap indicator, 0-3. */
  readonly leap: number;
  /** Version number, 1-4. */
  readonly version: number;
  /** Association mode, 1-5 (see `NtpMode`). */
  readonly mode: number;
  /** 0 = unspecified or kiss-o'-death, 1 = primary, 2-15 secondary, 16 unsynchronised. */
  readonly stratum: number;
  /** Poll interval, signed log2 seconds. */
  readonly poll: number;
  /** Clock precision, signed log2 seconds. */
  readonly precision: number;
  /** Root delay, raw NTP short format (unsigned 16.16 seconds). */
  readonly rootDelay: number;
  /** Root dispersion, raw NTP short format (unsigned 16.16 seconds). */
  readonly rootDispersion: number;
  /** Reference id: an IPv4 address, a refclock code, or a kiss code when stratum is 0. */
  readonly referenceId: number;
  readonly referenceTimestamp: NtpTimestamp;
  readonly originateTimestamp: NtpTimestamp;
  readonly receiveTimestamp: NtpTimestamp;
  readonly transmitTimestamp: NtpTimestamp;
}

/** Why `parseNtp` refused a packet. */
export type NtpParseError = "truncated" | "bad-version" | "bad-mode";

/** The zero timestamp, which RFC 5905 uses for "unknown". */
export const NTP_ZERO_TIMESTAMP: NtpTimestamp = Object.freeze({ seconds: 0, fraction: 0 });

/** A checked view over the first 48 bytes of an NTP packet; no accessor can fail. */
export class NtpView {
  readonly #view: DataView;

  private constructor(bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, NTP_PACKET_LENGTH);
  }

  /** Wraps `bytes` after validating length, version and mode; never throws. */
  static check(bytes: Uint8Array): NtpView | NtpParseError {
    if (bytes.length < NTP_PACKET_LENGTH) return "truncated";
    const first = bytes[0]!;
    const version = (first >>> 3) & 7;
    if (version < 1 || version > 4) return "bad-version";
    const mode = first & 7;
    if (mode < NtpMode.SYMMETRIC_ACTIVE || mode > NtpMode.BROADCAST) return "bad-mode";
    return new NtpView(bytes);
  }

  get leap(): number {
    return this.#view.getUint8(0) >>> 6;
  }
  get version(): number {
    return (this.#view.getUint8(0) >>> 3) & 7;
  }
  get mode(): number {
    return this.#view.getUint8(0) & 7;
  }
  get stratum(): number {
    return this.#view.getUint8(1);
  }
  get poll(): number {
    return this.#view.getInt8(2);
  }
  get precision(): number {
    return this.#view.getInt8(3);
  }
  get rootDelay(): number {
    return this.#view.getUint32(4);
  }
  get rootDispersion(): number {
    return this.#view.getUint32(8);
  }
  get referenceId(): number {
    return this.#view.getUint32(12);
  }
  get referenceTimestamp(): NtpTimestamp {
    return this.#timestamp(16);
  }
  get originateTimestamp(): NtpTimestamp {
    return this.#timestamp(24);
  }
  get receiveTimestamp(): NtpTimestamp {
    return this.#timestamp(32);
  }
  get transmitTimestamp(): NtpTimestamp {
    return this.#timestamp(40);
  }

  /** A plain record of every field. */
  toRecord(): NtpPacket {
    return {
      leap: this.leap,
      version: this.version,
      mode: this.mode,
      stratum: this.stratum,
      poll: this.poll,
      precision: this.precision,
      rootDelay: this.rootDelay,
      rootDispersion: this.rootDispersion,
      referenceId: this.referenceId,
      referenceTimestamp: this.referenceTimestamp,
      originateTimestamp: this.originateTimestamp,
      receiveTimestamp: this.receiveTimestamp,
      transmitTimestamp: this.transmitTimestamp,
    };
  }

  #timestamp(offset: number): NtpTimestamp {
    return { seconds: this.#view.getUint32(offset), fraction: this.#view.getUint32(offset + 4) };
  }
}

/**
 * Parses an NTP packet into a record, or returns why not. Never throws.
 *
 * @example
 * ```ts
 * const packet = parseNtp(datagram.payload);
 * if (typeof packet === "string") counters.drop(packet);
 * ```
 */
export function parseNtp(bytes: Uint8Array): NtpPacket | NtpParseError {
  const view = NtpView.check(bytes);
  return typeof view === "string" ? view : view.toRecord();
}

/**
 * Writes the 48-byte header into `buffer` and returns 48. Throws `RangeError` when the buffer is
 * too small or a field is out of range.
 */
export function emitNtp(buffer: Uint8Array, packet: NtpPacket): number {
  if (buffer.length < NTP_PACKET_LENGTH) {
    throw new RangeError(`Cannot emit NTP packet: buffer holds ${buffer.length} of 48 bytes`);
  }
  checkRange("leap", packet.leap, 0, 3);
  checkRange("version", packet.version, 0, 7);
  checkRange("mode", packet.mode, 0, 7);
  checkRange("stratum", packet.stratum, 0, 255);
  checkRange("poll", packet.poll, -128, 127);
  checkRange("precision", packet.precision, -128, 127);
  const view = new DataView(buffer.buffer, buffer.byteOffset, NTP_PACKET_LENGTH);
  view.setUint8(0, (packet.leap << 6) | (packet.version << 3) | packet.mode);
  view.setUint8(1, packet.stratum);
  view.setInt8(2, packet.poll);
  view.setInt8(3, packet.precision);
  view.setUint32(4, u32("rootDelay", packet.rootDelay));
  view.setUint32(8, u32("rootDispersion", packet.rootDispersion));
  view.setUint32(12, u32("referenceId", packet.referenceId));
  setTimestamp(view, 16, packet.referenceTimestamp);
  setTimestamp(view, 24, packet.originateTimestamp);
  setTimestamp(view, 32, packet.receiveTimestamp);
  setTimestamp(view, 40, packet.transmitTimestamp);
  return NTP_PACKET_LENGTH;
}

/**
 * Writes an SNTPv4 client request (RFC 4330 5: LI 0, VN 4, mode 3, every other field zero except
 * the transmit timestamp, which the server echoes as originate) and returns 48.
 *
 * @example
 * ```ts
 * const sent = unixMsToNtp(nowMs);
 * emitNtpRequest(buffer, sent); // later: reply.originateTimestamp must equal `sent`
 * ```
 */
export function emitNtpRequest(buffer: Uint8Array, transmit: NtpTimestamp): number {
  return emitNtp(buffer, {
    leap: 0,
    version: NTP_VERSION,
    mode: NtpMode.CLIENT,
    stratum: 0,
    poll: 0,
    precision: 0,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: 0,
    referenceTimestamp: NTP_ZERO_TIMESTAMP,
    originateTimestamp: NTP_ZERO_TIMESTAMP,
    receiveTimestamp: NTP_ZERO_TIMESTAMP,
    transmitTimestamp: transmit,
  });
}

/**
 * The kiss code of a kiss-o'-death packet (RFC 4330 8, RFC 5905 7.4): stratum 0 and a reference
 * id of 1-4 printable ASCII characters, left-justified and zero-padded, e.g. "RATE" or "DENY".
 * Null for any other packet (an unsynchronised server's stratum 0 with reference id 0 is not one).
 */
export function ntpKissCode(packet: NtpPacket): string | null {
  if (packet.stratum !== 0) return null;
  let code = "";
  for (let shift = 24; shift >= 0; shift -= 8) {
    const byte = (packet.referenceId >>> shift) & 0xff;
    if (byte === 0) break;
    if (byte < 0x20 || byte > 0x7e) return null;
    code += String.fromCharCode(byte);
  }
  const rest = code.length === 4 ? 0 : packet.referenceId & (0xffffffff >>> (8 * code.length));
  return code.length > 0 && code.trim() === code && rest === 0 ? code : null;
}

/**
 * Milliseconds since the Unix epoch of an era-0 NTP timestamp (1900-2036); the fraction keeps
 * sub-millisecond precision as a fractional number.
 */
export function ntpToUnixMs(timestamp: NtpTimestamp): number {
  return (timestamp.seconds - NTP_UNIX_OFFSET_SECONDS) * 1000 +
    (timestamp.fraction * 1000) / 4294967296;
}

/**
 * The era-0 NTP timestamp of `unixMs` (fraction rounded down). Throws `RangeError` outside era 0
 * (before 1900 or from 2036-02-07T06:28:16Z on).
 */
export function unixMsToNtp(unixMs: number): NtpTimestamp {
  if (!Number.isFinite(unixMs)) throw new RangeError(`Cannot convert ${unixMs} ms to NTP time`);
  const wholeSeconds = Math.floor(unixMs / 1000);
  const seconds = wholeSeconds + NTP_UNIX_OFFSET_SECONDS;
  if (seconds < 0 || seconds > 0xffffffff) {
    throw new RangeError(`Cannot convert ${unixMs} ms to NTP time: outside era 0 (1900-2036)`);
  }
  const fractionMs = unixMs - wholeSeconds * 1000;
  const fraction = Math.min(Math.floor((fractionMs * 4294967296) / 1000), 0xffffffff);
  return { seconds, fraction };
}

/** True when two timestamps are bit-identical (how a client matches originate to its request). */
export function ntpTimestampEquals(a: NtpTimestamp, b: NtpTimestamp): boolean {
  return a.seconds === b.seconds && a.fraction === b.fraction;
}

/** Milliseconds of a raw NTP short-format value (root delay, root dispersion). */
export function ntpShortToMs(raw: number): number {
  return ((raw >>> 0) * 1000) / 65536;
}

function setTimestamp(view: DataView, offset: number, timestamp: NtpTimestamp): void {
  view.setUint32(offset, u32("timestamp seconds", timestamp.seconds));
  view.setUint32(offset + 4, u32("timestamp fraction", timestamp.fraction));
}

function u32(name: string, value: number): number {
  checkRange(name, value, 0, 0xffffffff);
  return value;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot emit NTP ${name} ${value}: expected an integer ${min}-${max}`);
  }
}
