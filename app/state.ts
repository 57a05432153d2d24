/**
 * The state directory (`--state-dir`): small JSON files written atomically (a temporary file in
 * the same directory, then rename), so a crash never leaves a half-written lease or setting.
 * Implements the stack's lease stores over it.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { BindingStore, LeaseStore, StoredBinding, StoredLease } from "../stack/lease_store.ts";

const log = getLogger(["mip", "state"]);

/** Creates `dir` (and parents) if missing. */
export function ensureStateDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Reads a JSON file, or returns null when it is missing or unreadable (logged). */
export function readJson<T>(path: string): T | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      log.warn("Cannot read {path}: {error}", { path, error });
    }
    return null;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    log.warn("Ignoring {path}: not valid JSON ({error})", { path, error });
    return null;
  }
}

/** Writes `value` as JSON atomically; `null` removes the file. */
export function writeJson(path: string, value: unknown): void {
  if (value === null) {
    try {
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return;
  }
  const temporary = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(temporary, JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
  Deno.renameSync(temporary, path);
}

/** The DHCP client's lease, in `<dir>/dhcp_lease.json` (for INIT-REBOOT after a restart). */
export class FileLeaseStore implements LeaseStore {
  readonly path: string;

  constructor(dir: string) {
    this.path = `${dir}/dhcp_lease.json`;
  }

  load(): StoredLease | null {
    const lease = readJson<StoredLease>(this.path);
    return lease !== null && typeof lease.address === "number" ? lease : null;
  }

  save(lease: StoredLease | null): void {
    try {
      writeJson(this.path, lease);
    } catch (error) {
      log.warn("Cannot save the DHCP lease to {path}: {error}", { path: this.path, error });
    }
  }
}

/** The DHCP server's bindings, in `<dir>/dhcp_server_leases.json`. */
export class FileBindingStore implements BindingStore {
  readonly path: string;

  constructor(dir: string) {
    this.path = `${dir}/dhcp_server_leases.json`;
  }

  load(): StoredBinding[] {
    const bindings = readJson<StoredBinding[]>(this.path);
    return Array.isArray(bindings) ? bindings : [];
  }

  save(bindings: StoredBinding[]): void {
    try {
      writeJson(this.path, bindings);
    } catch (error) {
      log.warn("Cannot save DHCP leases to {path}: {error}", { path: this.path, error });
    }
  }
}
