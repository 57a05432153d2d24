/**
 * Device settings (the fields of Mongoose's device-dashboard: log_enabled, log_level,
 * brightness, device_name), validated and persisted in the state directory.
 *
 * Invariants: the store only ever holds a valid {@linkcode Settings}; every save replaces the
 * file atomically (temporary file + rename), so a restart sees the last completed save; saves
 * are serialised so concurrent requests cannot interleave their writes.
 * @module
 */

import { join, readJsonFile, writeFileAtomic } from "./_fs.ts";

/** File name inside the state directory. */
export const SETTINGS_FILE = "settings.json";
/** Mongoose's MAX_DEVICE_NAME is 40 with the terminating NUL, so 39 characters. */
export const MAX_DEVICE_NAME_LENGTH = 39;
/** Log levels the settings form offers: 0 off, 1 error, 2 info, 3 debug (Mongoose's options). */
export const MAX_SETTINGS_LOG_LEVEL = 3;

/** The settings document. */
export interface Settings {
  log_enabled: boolean;
  log_level: number;
  /** Percent, 0-100. */
  brightness: number;
  device_name: string;
}

/** Factory settings (Mongoose's example starts with true, 1, 57, "My Device"). */
export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  log_enabled: true,
  log_level: 2,
  brightness: 57,
  device_name: "My Device",
});

/** Why an update was refused: one message per bad field. */
export class SettingsError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

/**
 * Applies `patch` (a parsed JSON object, possibly partial) to `base`. Throws
 * {@linkcode SettingsError} naming the first bad or unknown field.
 */
export function applySettingsPatch(base: Settings, patch: Record<string, unknown>): Settings {
  const next: Settings = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case "log_enabled":
        if (typeof value !== "boolean") throw new SettingsError("log_enabled: expected true/false");
        next.log_enabled = value;
        break;
      case "log_level":
        next.log_level = integerIn(key, value, 0, MAX_SETTINGS_LOG_LEVEL);
        break;
      case "brightness":
        next.brightness = integerIn(key, value, 0, 100);
        break;
      case "device_name":
        next.device_name = deviceName(value);
        break;
      default:
        throw new SettingsError(`${key}: unknown setting`);
    }
  }
  return next;
}

function integerIn(key: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new SettingsError(`${key}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

function deviceName(value: unknown): string {
  if (typeof value !== "string") throw new SettingsError("device_name: expected a string");
  const name = value.trim();
  if (name.length === 0 || [...name].length > MAX_DEVICE_NAME_LENGTH) {
    throw new SettingsError(
      `device_name: expected 1 to ${MAX_DEVICE_NAME_LENGTH} characters`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new SettingsError("device_name: control characters are not allowed");
  }
  return name;
}

/** Settings kept in `<stateDir>/settings.json`. */
export class SettingsStore {
  readonly #path: string;
  #current: Settings;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, current: Settings) {
    this.#path = path;
    this.#current = current;
  }

  /**
   * Opens the store; a missing file means factory settings. A file that no longer validates
   * (edited by hand, older version) falls back field by field to the defaults.
   */
  static async open(stateDir: string): Promise<SettingsStore> {
    const path = join(stateDir, SETTINGS_FILE);
    const stored = await readJsonFile(path).catch(() => null);
    let current: Settings = { ...DEFAULT_SETTINGS };
    if (typeof stored === "object" && stored !== null && !Array.isArray(stored)) {
      for (const [key, value] of Object.entries(stored)) {
        try {
          current = applySettingsPatch(current, { [key]: value });
        } catch {
          // Keep the default of a field that does not validate.
        }
      }
    }
    return new SettingsStore(path, current);
  }

  /** The current settings (a copy). */
  get(): Settings {
    return { ...this.#current };
  }

  /** Validates `patch`, saves the result atomically and returns it. */
  update(patch: Record<string, unknown>): Promise<Settings> {
    const run = this.#queue.then(async () => {
      const next = applySettingsPatch(this.#current, patch);
      await writeFileAtomic(this.#path, JSON.stringify(next, null, 2) + "\n");
      this.#current = next;
      return { ...next };
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
