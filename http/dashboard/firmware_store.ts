/**
 * Firmware images in two slots (A/B) plus a state file, the scheme of Mongoose's OTA API
 * (mg_ota_begin/write/end/commit/rollback) over files in `<stateDir>/firmware/`.
 *
 * An upload always goes into the inactive slot, in chunks at contiguous offsets, into a `.part`
 * file; the empty chunk that ends it checks the size against `total`, flushes the file, renames it
 * over the slot image and records its size and CRC-32. Commit makes the uploaded slot the active
 * one; rollback switches back to the other slot if it holds a committed image.
 *
 * Invariants: a slot image on disk is always complete (partial data lives only in `.part`); the
 * state file is replaced atomically; an image never exceeds `maxImageBytes`; operations run one
 * at a time, in arrival order.
 * @module
 */

import { join, readJsonFile, syncDirectory, writeAll, writeFileAtomic } from "./_fs.ts";
import { Crc32, formatCrc32 } from "./crc32.ts";

/** The two slots. */
export type SlotName = "a" | "b";
/** What a slot holds. */
export type SlotState = "empty" | "uploaded" | "committed";

/** Metadata of one slot. */
export interface SlotInfo {
  state: SlotState;
  name: string;
  size: number;
  crc32: number;
  /** Wall-clock Unix ms of the end of the upload. */
  timestampMs: number;
}

/** A slot as /api/firmware/status reports it; the first four fields are Mongoose's. */
export interface FirmwareStatus {
  /** Mongoose's codes: 0 UNAVAILABLE, 1 FIRST_BOOT, 2 NOT_COMMITTED, 3 COMMITTED. */
  status: 0 | 1 | 2 | 3;
  /** CRC-32 of the image, 8 hex digits. */
  crc32: string;
  size: number;
  /** Unix seconds of the upload; 0 for an empty slot. */
  timestamp: number;
  slot: SlotName;
  state: SlotState;
  name: string;
  active: boolean;
}

/** One chunk of an upload: the query of /api/firmware/upload. */
export interface UploadChunk {
  name: string;
  offset: number;
  total: number;
}

/** What a chunk achieved. */
export interface UploadProgress {
  done: boolean;
  received: number;
  total: number;
  slot: SlotName;
  /** CRC-32 of the whole image, when `done`. */
  crc32: number | null;
}

/** A refused upload chunk; `tooLarge` for an image above the limit. */
export class FirmwareError extends Error {
  readonly tooLarge: boolean;
  constructor(message: string, tooLarge = false) {
    super(message);
    this.name = "FirmwareError";
    this.tooLarge = tooLarge;
  }
}

interface PersistedState {
  active: SlotName;
  slots: Record<SlotName, SlotInfo>;
}

interface Upload {
  name: string;
  total: number;
  received: number;
  crc: Crc32;
  file: Deno.FsFile;
}

const STATUS_CODE: Record<SlotState, 0 | 2 | 3> = { empty: 0, uploaded: 2, committed: 3 };
const EMPTY_SLOT: SlotInfo = Object.freeze({
  state: "empty",
  name: "",
  size: 0,
  crc32: 0,
  timestampMs: 0,
});
/** Mongoose's upload handler keeps the name in 64 bytes. */
export const MAX_NAME_LENGTH = 64;

/** The A/B firmware slots of one state directory. */
export class FirmwareStore {
  readonly maxImageBytes: number;
  readonly #dir: string;
  #state: PersistedState;
  #upload: Upload | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, state: PersistedState, maxImageBytes: number) {
    this.#dir = dir;
    this.#state = state;
    this.maxImageBytes = maxImageBytes;
  }

  /** Opens (creating) `<stateDir>/firmware`, dropping leftovers of interrupted uploads. */
  static async open(stateDir: string, maxImageBytes: number): Promise<FirmwareStore> {
    const dir = join(stateDir, "firmware");
    await Deno.mkdir(dir, { recursive: true });
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".part")) await Deno.remove(join(dir, entry.name));
    }
    const state = parseState(await readJsonFile(join(dir, "state.json")).catch(() => null));
    for (const slot of ["a", "b"] as const) {
      const info = state.slots[slot];
      const size = await Deno.stat(join(dir, `slot_${slot}.bin`)).then((s) => s.size, () => -1);
      if (info.state !== "empty" && size !== info.size) state.slots[slot] = { ...EMPTY_SLOT };
    }
    return new FirmwareStore(dir, state, maxImageBytes);
  }

  /** The slot that runs now. */
  get active(): SlotName {
    return this.#state.active;
  }

  /** `[active slot, other slot]`, as Mongoose's `[current, previous]`. */
  status(): [FirmwareStatus, FirmwareStatus] {
    const active = this.#state.active;
    return [this.#describe(active), this.#describe(other(active))];
  }

  /** Bytes received so far by the upload in progress, or null. */
  get uploadReceived(): number | null {
    return this.#upload?.received ?? null;
  }

  /**
   * Takes one chunk: offset 0 starts a new upload into the inactive slot (dropping any other in
   * progress), later offsets must continue exactly where the last chunk ended, and an empty
   * chunk ends the upload. A refused chunk throws {@linkcode FirmwareError} and leaves the upload
   * in progress as it was, so the client may resend from `uploadReceived`.
   */
  write(chunk: UploadChunk, data: Uint8Array, nowMs: number): Promise<UploadProgress> {
    return this.#serialise(() => this.#write(chunk, data, nowMs));
  }

  /** Makes an uploaded image the active one; false when there is none. */
  commit(): Promise<boolean> {
    return this.#serialise(async () => {
      const target = other(this.#state.active);
      if (this.#state.slots[target].state !== "uploaded") return false;
      const slots = { ...this.#state.slots, [target]: { ...this.#state.slots[target] } };
      slots[target].state = "committed";
      await this.#save({ active: target, slots });
      return true;
    });
  }

  /** Switches back to the other slot's committed image; false when it has none. */
  rollback(): Promise<boolean> {
    return this.#serialise(async () => {
      const target = other(this.#state.active);
      if (this.#state.slots[target].state !== "committed") return false;
      await this.#save({ active: target, slots: this.#state.slots });
      return true;
    });
  }

  /** Abandons an upload in progress and closes its file. */
  close(): Promise<void> {
    return this.#serialise(() => this.#abort());
  }

  async #write(chunk: UploadChunk, data: Uint8Array, nowMs: number): Promise<UploadProgress> {
    checkChunk(chunk, this.maxImageBytes);
    if (chunk.offset === 0) await this.#begin(chunk);
    const upload = this.#upload;
    if (upload === null) throw new FirmwareError("No upload in progress: start at offset 0");
    if (upload.name !== chunk.name || upload.total !== chunk.total) {
      throw new FirmwareError("name and total must stay those of the upload in progress");
    }
    if (chunk.offset !== upload.received) {
      throw new FirmwareError(
        `Offset ${chunk.offset} is not contiguous: expected ${upload.received}`,
      );
    }
    const slot = other(this.#state.active);
    if (data.length === 0) return await this.#finish(upload, slot, nowMs);
    if (upload.received + data.length > upload.total) {
      throw new FirmwareError(
        `Chunk of ${data.length} bytes at ${chunk.offset} exceeds total ${upload.total}`,
      );
    }
    await writeAll(upload.file, data);
    upload.crc.update(data);
    upload.received += data.length;
    return { done: false, received: upload.received, total: upload.total, slot, crc32: null };
  }

  async #begin(chunk: UploadChunk): Promise<void> {
    await this.#abort();
    const path = this.#partPath();
    const file = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
    this.#upload = { name: chunk.name, total: chunk.total, received: 0, crc: new Crc32(), file };
  }

  async #finish(upload: Upload, slot: SlotName, nowMs: number): Promise<UploadProgress> {
    if (upload.received !== upload.total) {
      throw new FirmwareError(`Upload incomplete: ${upload.received} of ${upload.total} bytes`);
    }
    this.#upload = null;
    try {
      await upload.file.syncData();
    } finally {
      upload.file.close();
    }
    await Deno.rename(this.#partPath(), join(this.#dir, `slot_${slot}.bin`));
    await syncDirectory(this.#dir);
    const info: SlotInfo = {
      state: "uploaded",
      name: upload.name,
      size: upload.total,
      crc32: upload.crc.value,
      timestampMs: nowMs,
    };
    await this.#save({ active: this.#state.active, slots: { ...this.#state.slots, [slot]: info } });
    return { done: true, received: upload.total, total: upload.total, slot, crc32: info.crc32 };
  }

  async #abort(): Promise<void> {
    const upload = this.#upload;
    if (upload === null) return;
    this.#upload = null;
    upload.file.close();
    await Deno.remove(this.#partPath()).catch(() => {});
  }

  async #save(state: PersistedState): Promise<void> {
    await writeFileAtomic(join(this.#dir, "state.json"), JSON.stringify(state, null, 2) + "\n");
    this.#state = state;
  }

  #partPath(): string {
    return join(this.#dir, "upload.part");
  }

  #describe(slot: SlotName): FirmwareStatus {
    const info = this.#state.slots[slot];
    return {
      status: STATUS_CODE[info.state],
      crc32: formatCrc32(info.crc32),
      size: info.size,
      timestamp: Math.floor(info.timestampMs / 1000),
      slot,
      state: info.state,
      name: info.name,
      active: slot === this.#state.active,
    };
  }

  #serialise<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => {});
    return run;
  }
}

function checkChunk(chunk: UploadChunk, maxImageBytes: number): void {
  if (!Number.isSafeInteger(chunk.total) || chunk.total < 1) {
    throw new FirmwareError("total must be a positive integer");
  }
  if (chunk.total > maxImageBytes) {
    throw new FirmwareError(`Image of ${chunk.total} bytes exceeds ${maxImageBytes}`, true);
  }
  if (!Number.isSafeInteger(chunk.offset) || chunk.offset < 0) {
    throw new FirmwareError("offset must be a non-negative integer");
  }
  // deno-lint-ignore no-control-regex
  if (chunk.name.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(chunk.name)) {
    throw new FirmwareError(`name must be at most ${MAX_NAME_LENGTH} printable characters`);
  }
}

function other(slot: SlotName): SlotName {
  return slot === "a" ? "b" : "a";
}

function parseState(value: unknown): PersistedState {
  const state: PersistedState = {
    active: "a",
    slots: { a: { ...EMPTY_SLOT }, b: { ...EMPTY_SLOT } },
  };
  if (typeof value !== "object" || value === null) return state;
  const v = value as { active?: unknown; slots?: Record<string, unknown> };
  if (v.active === "a" || v.active === "b") state.active = v.active;
  for (const slot of ["a", "b"] as const) {
    const info = v.slots?.[slot] as Partial<SlotInfo> | undefined;
    if (
      info && (info.state === "uploaded" || info.state === "committed") &&
      Number.isSafeInteger(info.size) && Number.isSafeInteger(info.crc32) &&
      typeof info.name === "string" && typeof info.timestampMs === "number"
    ) {
      state.slots[slot] = {
        state: info.state,
        name: info.name,
        size: info.size!,
        crc32: info.crc32!,
        timestampMs: info.timestampMs,
      };
    }
  }
  return state;
}
