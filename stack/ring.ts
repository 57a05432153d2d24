/**
 * FrameRing: a bounded FIFO of frames stored in fixed-size slots carved out of one ArrayBuffer.
 *
 * Invariants: nothing is allocated after construction except the length-exact `subarray` view
 * handed out by `peek`; a producer reserves a slot, writes a frame into it in place and pushes
 * it; a consumer peeks the oldest frame, uses it in place and shifts it. When every slot is
 * taken `reserve` returns null and the producer sheds the frame (and counts it).
 *
 * A ring may reserve `headerBytes` in front of every frame (the TAP's virtio-net header): the
 * device reads and writes whole slots (`reserveSlot`, `pushSlot`, `peekSlot`, `peekBytes`)
 * while the stack sees only frames (`reserve`, `push`, `peek`).
 * @module
 */

/** Options for {@linkcode FrameRing}. */
export interface FrameRingOptions {
  /** Number of slots (frames the ring holds at most). */
  slotCount: number;
  /** Bytes per slot, header included. */
  slotBytes: number;
  /** Bytes reserved in front of every frame (e.g. a vnet header). Default 0. */
  headerBytes?: number;
}

/** A bounded FIFO of frames in preallocated slots. */
export class FrameRing {
  readonly buffer: ArrayBuffer;
  readonly slotCount: number;
  readonly slotBytes: number;
  readonly headerBytes: number;
  readonly #slots: Uint8Array<ArrayBuffer>[];
  readonly #frames: Uint8Array<ArrayBuffer>[];
  readonly #lengths: Uint32Array;
  #head = 0; // oldest frame
  #size = 0;

  constructor(options: FrameRingOptions) {
    const { slotCount, slotBytes, headerBytes = 0 } = options;
    if (!Number.isInteger(slotCount) || slotCount < 1) {
      throw new RangeError(`Cannot create a FrameRing with ${slotCount} slots: expected >= 1`);
    }
    if (!Number.isInteger(slotBytes) || slotBytes < 64) {
      throw new RangeError(
        `Cannot create a FrameRing with ${slotBytes}-byte slots: expected >= 64`,
      );
    }
    if (!Number.isInteger(headerBytes) || headerBytes < 0 || headerBytes >= slotBytes) {
      throw new RangeError(`Cannot reserve ${headerBytes} header bytes in ${slotBytes}-byte slots`);
    }
    this.slotCount = slotCount;
    this.slotBytes = slotBytes;
    this.headerBytes = headerBytes;
    this.buffer = new ArrayBuffer(slotCount * slotBytes);
    this.#slots = Array.from(
      { length: slotCount },
      (_, i) => new Uint8Array(this.buffer, i * slotBytes, slotBytes),
    );
    this.#frames = this.#slots.map((slot) => slot.subarray(headerBytes));
    this.#lengths = new Uint32Array(slotCount);
  }

  /** Frames waiting to be consumed. */
  get size(): number {
    return this.#size;
  }

  /** Slots free for producers. */
  get free(): number {
    return this.slotCount - this.#size;
  }

  /** The frame area of the slot the next `push` will commit, or null when the ring is full. */
  reserve(): Uint8Array<ArrayBuffer> | null {
    if (this.#size === this.slotCount) return null;
    return this.#frames[(this.#head + this.#size) % this.slotCount]!;
  }

  /** The whole slot (header first) the next `push`/`pushSlot` will commit, or null when full. */
  reserveSlot(): Uint8Array<ArrayBuffer> | null {
    if (this.#size === this.slotCount) return null;
    return this.#slots[(this.#head + this.#size) % this.slotCount]!;
  }

  /** Commits a `length`-byte frame written into the reserved slot as the newest frame. */
  push(length: number): void {
    const max = this.slotBytes - this.headerBytes;
    if (!Number.isInteger(length) || length < 0 || length > max) {
      throw new RangeError(`Cannot push a ${length}-byte frame into ${max}-byte slots`);
    }
    this.pushSlot(this.headerBytes + length);
  }

  /** Commits the first `bytes` of the reserved slot, header included (what a read returned). */
  pushSlot(bytes: number): void {
    if (this.#size === this.slotCount) throw new RangeError("Cannot push to a full FrameRing");
    if (!Number.isInteger(bytes) || bytes < this.headerBytes || bytes > this.slotBytes) {
      throw new RangeError(`Cannot push ${bytes} bytes into ${this.slotBytes}-byte slots`);
    }
    this.#lengths[(this.#head + this.#size) % this.slotCount] = bytes;
    this.#size++;
  }

  /** Copies `frame` into the next slot; returns false (and stores nothing) when full or too big. */
  pushCopy(frame: Uint8Array): boolean {
    const slot = this.reserve();
    if (slot === null || frame.length > slot.length) return false;
    slot.set(frame);
    this.push(frame.length);
    return true;
  }

  /** The oldest frame without its header (a view valid until `shift`), or null when empty. */
  peek(): Uint8Array<ArrayBuffer> | null {
    if (this.#size === 0) return null;
    return this.#slots[this.#head]!.subarray(this.headerBytes, this.#lengths[this.#head]!);
  }

  /** The oldest frame's whole slot (its first `peekBytes` bytes are used), or null when empty. */
  peekSlot(): Uint8Array<ArrayBuffer> | null {
    return this.#size === 0 ? null : this.#slots[this.#head]!;
  }

  /** Bytes of the oldest frame, header included; 0 when empty. */
  get peekBytes(): number {
    return this.#size === 0 ? 0 : this.#lengths[this.#head]!;
  }

  /** Releases the oldest frame. */
  shift(): void {
    if (this.#size === 0) return;
    this.#head = (this.#head + 1) % this.slotCount;
    this.#size--;
  }

  /** Drops every frame. */
  clear(): void {
    this.#head = 0;
    this.#size = 0;
  }
}
