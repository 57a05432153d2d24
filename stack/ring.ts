/**
 * FrameRing: a bounded FIFO of frames stored in fixed-size slots carved out of one ArrayBuffer.
 *
 * Invariants: nothing is allocated after construction except the length-exact `subarray` view
 * handed out by `peek`; a producer reserves a slot, writes a frame into it in place and pushes
 * it; a consumer peeks the oldest frame, uses it in place and shifts it. When every slot is
 * taken `reserve` returns null and the producer sheds the frame (and counts it).
 *
 * The FFI device reads straight into `reserve()`'s view: its `byteOffset` within `buffer`
 * gives the pointer offset, so one pointer to `buffer` is enough for every slot.
 * @module
 */

/** Options for {@linkcode FrameRing}. */
export interface FrameRingOptions {
  /** Number of slots (frames the ring holds at most). */
  slotCount: number;
  /** Bytes per slot: the largest frame the ring can hold. */
  slotBytes: number;
}

/** A bounded FIFO of frames in preallocated slots. */
export class FrameRing {
  readonly buffer: ArrayBuffer;
  readonly slotCount: number;
  readonly slotBytes: number;
  readonly #slots: Uint8Array[];
  readonly #lengths: Uint32Array;
  #head = 0; // oldest frame
  #size = 0;

  constructor(options: FrameRingOptions) {
    const { slotCount, slotBytes } = options;
    if (!Number.isInteger(slotCount) || slotCount < 1) {
      throw new RangeError(`Cannot create a FrameRing with ${slotCount} slots: expected >= 1`);
    }
    if (!Number.isInteger(slotBytes) || slotBytes < 64) {
      throw new RangeError(
        `Cannot create a FrameRing with ${slotBytes}-byte slots: expected >= 64`,
      );
    }
    this.slotCount = slotCount;
    this.slotBytes = slotBytes;
    this.buffer = new ArrayBuffer(slotCount * slotBytes);
    this.#slots = Array.from(
      { length: slotCount },
      (_, i) => new Uint8Array(this.buffer, i * slotBytes, slotBytes),
    );
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

  /** The whole slot the next `push` will commit, or null when the ring is full. */
  reserve(): Uint8Array | null {
    if (this.#size === this.slotCount) return null;
    return this.#slots[(this.#head + this.#size) % this.slotCount]!;
  }

  /** Commits the first `length` bytes of the slot `reserve` returned as the newest frame. */
  push(length: number): void {
    if (this.#size === this.slotCount) throw new RangeError("Cannot push to a full FrameRing");
    if (!Number.isInteger(length) || length < 0 || length > this.slotBytes) {
      throw new RangeError(`Cannot push a ${length}-byte frame into ${this.slotBytes}-byte slots`);
    }
    this.#lengths[(this.#head + this.#size) % this.slotCount] = length;
    this.#size++;
  }

  /** Copies `frame` into the next slot; returns false (and stores nothing) when full or too big. */
  pushCopy(frame: Uint8Array): boolean {
    const slot = this.reserve();
    if (slot === null || frame.length > this.slotBytes) return false;
    slot.set(frame);
    this.push(frame.length);
    return true;
  }

  /** The oldest frame (a view valid until `shift`), or null when empty. */
  peek(): Uint8Array | null {
    if (this.#size === 0) return null;
    return this.#slots[this.#head]!.subarray(0, this.#lengths[this.#head]!);
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
