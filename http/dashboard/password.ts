/**
 * The admin password: PBKDF2-HMAC-SHA-256 hashes via WebCrypto (RFC 8018 5.2), random password
 * generation, and the password file in the state directory.
 *
 * Invariants: a plaintext password is never written to disk; the stored record carries its own
 * salt and iteration count, so the cost can be raised later without breaking old files; hashes
 * are compared in constant time.
 * @module
 */

import { join, readJsonFile, writeFileAtomic } from "./_fs.ts";

/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA-256. */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;
/** Salt length; RFC 8018 4.1 asks for at least 64 bits, NIST SP 800-132 for 128. */
const SALT_BYTES = 16;
/** Derived key length = the SHA-256 output size. */
const HASH_BYTES = 32;
/** File name of the stored hash inside the state directory. */
export const PASSWORD_FILE = "admin_password.json";
/** Letters and digits without look-alikes (0/O, 1/l/I). */
const ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const GENERATED_LENGTH = 16; // 16 * log2(56) ~ 93 bits

/** A stored password hash. */
export interface PasswordHash {
  algorithm: "PBKDF2-SHA-256";
  iterations: number;
  /** Base64. */
  salt: string;
  /** Base64. */
  hash: string;
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(
  password: string,
  iterations = DEFAULT_PBKDF2_ITERATIONS,
): Promise<PasswordHash> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await pbkdf2(password, salt, iterations);
  return { algorithm: "PBKDF2-SHA-256", iterations, salt: toBase64(salt), hash: toBase64(hash) };
}

/** Whether `password` matches `stored` (constant-time comparison of the derived keys). */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const expected = fromBase64(stored.hash);
  const actual = await pbkdf2(password, fromBase64(stored.salt), stored.iterations);
  return timingSafeEqual(actual, expected);
}

/** A random password of 16 unambiguous letters and digits (rejection sampling, no bias). */
export function generatePassword(): string {
  const limit = 256 - (256 % ALPHABET.length);
  let out = "";
  while (out.length < GENERATED_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(32))) {
      if (byte < limit && out.length < GENERATED_LENGTH) out += ALPHABET[byte % ALPHABET.length];
    }
  }
  return out;
}

/** What {@linkcode loadAdminPassword} decided. */
export interface AdminPassword {
  hash: PasswordHash;
  /** The plaintext of a password generated just now (print it once), else null. */
  generated: string | null;
}

/**
 * The admin password hash: from `given` (the --admin-password flag or MIP_ADMIN_PASSWORD, kept
 * in memory only), else the file in `stateDir`, else a new random password whose hash is stored
 * there and whose plaintext is returned once.
 */
export async function loadAdminPassword(
  stateDir: string,
  given: string | null,
  iterations = DEFAULT_PBKDF2_ITERATIONS,
): Promise<AdminPassword> {
  if (given !== null) {
    if (given.length === 0) throw new TypeError("Cannot use an empty admin password");
    return { hash: await hashPassword(given, iterations), generated: null };
  }
  const path = join(stateDir, PASSWORD_FILE);
  const stored = await readJsonFile(path);
  if (stored !== null) {
    if (!isPasswordHash(stored)) {
      throw new TypeError(`Cannot read ${path}: not a password hash; delete it to generate one`);
    }
    return { hash: stored, generated: null };
  }
  const generated = generatePassword();
  const hash = await hashPassword(generated, iterations);
  await writeFileAtomic(path, JSON.stringify(hash, null, 2) + "\n");
  return { hash, generated };
}

/** Whether `value` is a well-formed {@linkcode PasswordHash}. */
export function isPasswordHash(value: unknown): value is PasswordHash {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.algorithm === "PBKDF2-SHA-256" && Number.isSafeInteger(v.iterations) &&
    (v.iterations as number) >= 1 && typeof v.salt === "string" && typeof v.hash === "string";
}

/** Constant-time equality of two byte strings (length is not secret). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

async function pbkdf2(password: string, salt: Uint8Array, iterations: number) {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    key,
    HASH_BYTES * 8,
  );
  return new Uint8Array(bits);
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
