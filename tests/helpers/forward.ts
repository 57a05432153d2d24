/**
 * A TCP forward from 127.0.0.1:<port> on the host into a test namespace, so that programs that
 * live in the root namespace (a browser, a person's curl) can reach the appliance:
 *
 *   socat TCP-LISTEN:<port>,bind=127.0.0.1,reuseaddr,fork \
 *     EXEC:"ip netns exec <ns> socat STDIO TCP:<ip>:<port>"
 *
 * Each accepted connection forks a socat that enters the namespace and connects there; the
 * root namespace gets no address, route or interface.
 *
 * The listener runs under `setpriv --pdeathsig SIGTERM` where util-linux has it, so it ends with
 * the process that started it even when that process is killed without cleaning up.
 *
 * Invariants: the listener is bound to 127.0.0.1 only (never a wildcard address); `stop()` ends
 * the listening socat and every process it forked (found through /proc as its descendants, so
 * nothing that this helper did not start is signalled); the port is free when chosen and the
 * forward is returned only once socat reports it is listening.
 * @module
 */

import type { Namespace } from "./netns.ts";
import { type ChildHandle, spawn } from "./process.ts";

/** The only address a forward listens on. */
export const LOOPBACK = "127.0.0.1";
/** How long socat may take to report "listening". */
const LISTEN_TIMEOUT_MS = 5_000;
/** Ports tried after a taken one when `fallback` is set. */
const FALLBACK_TRIES = 20;
/** How long `stop` waits after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 3_000;
/**
 * util-linux setpriv: the listener gets SIGTERM when the process that started it dies, so even
 * a test runner killed with SIGKILL leaves no socat listening on 127.0.0.1.
 */
const DIE_WITH_PARENT = onPath("setpriv") ? ["setpriv", "--pdeathsig", "SIGTERM"] : [];

/** Why forwards cannot be made here (no socat), or null when they can. */
export function forwardSkipReason(): string | null {
  return onPath("socat") ? null : "socat not found (apt-get install socat)";
}

/** Where a forward leads: an address and port inside the namespace. */
export interface ForwardTarget {
  hostname: string;
  port: number;
}

/** Options of {@linkcode startForward}. */
export interface ForwardOptions {
  /** Local port to listen on; 0 or absent = a free ephemeral port. */
  port?: number;
  /** When `port` is taken, try the next ones (up to 20) instead of failing. */
  fallback?: boolean;
}

/** A running forward. */
export class Forward implements AsyncDisposable {
  /** The local port on 127.0.0.1. */
  readonly port: number;
  readonly target: ForwardTarget;
  readonly #child: ChildHandle;

  constructor(port: number, target: ForwardTarget, child: ChildHandle) {
    this.port = port;
    this.target = target;
    this.#child = child;
  }

  /** `scheme://127.0.0.1:<port>/`, e.g. `forward.url("http")`. */
  url(scheme: "http" | "https"): string {
    return `${scheme}://${LOOPBACK}:${this.port}/`;
  }

  /** socat's log so far (connections accepted, errors). */
  output(): string {
    return this.#child.output();
  }

  /**
   * Stops every connection process the listener forked, deepest first (so each is reaped by its
   * own parent), then the listener. Idempotent.
   */
  async stop(): Promise<void> {
    // Once the listener has exited its pid may belong to someone else: look no further.
    const levels = this.#child.status === null ? await descendants(this.#child.pid) : [];
    for (const level of levels.reverse()) await terminate(level);
    await this.#child.stop("SIGTERM", STOP_TIMEOUT_MS);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Forwards 127.0.0.1:<port> to `target` inside `ns` until `stop()`.
 *
 * @example
 * ```ts ignore
 * await using forward = await startForward(ns, { hostname: "10.0.0.2", port: 80 });
 * await fetch(forward.url("http"));
 * ```
 */
export async function startForward(
  ns: Namespace,
  target: ForwardTarget,
  options: ForwardOptions = {},
): Promise<Forward> {
  const wanted = options.port ?? 0;
  const tries = wanted !== 0 && options.fallback ? FALLBACK_TRIES : 1;
  const failures: string[] = [];
  for (let i = 0; i < tries; i++) {
    const port = wanted === 0 ? freePort(0) : freePort(wanted + i);
    if (port === null) {
      failures.push(`${wanted + i}: in use`);
      continue;
    }
    const inner = `ip netns exec ${ns.name} socat STDIO TCP:${target.hostname}:${target.port}`;
    const child = spawn([
      ...DIE_WITH_PARENT,
      "socat",
      "-d",
      "-d",
      `TCP-LISTEN:${port},bind=${LOOPBACK},reuseaddr,fork`,
      `EXEC:"${inner}"`,
    ]);
    try {
      await child.waitForLine(/ listening on /, LISTEN_TIMEOUT_MS);
      return new Forward(port, target, child);
    } catch (err) {
      await child.stop("SIGKILL", 1_000);
      failures.push(`${port}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(
    `Cannot forward ${LOOPBACK} to ${target.hostname}:${target.port} in ${ns.name}: ` +
      failures.join("; "),
  );
}

/** `port` if nothing listens on 127.0.0.1:<port> now (0: an ephemeral free port), else null. */
export function freePort(port: number): number | null {
  try {
    const listener = Deno.listen({ hostname: LOOPBACK, port });
    const chosen = (listener.addr as Deno.NetAddr).port;
    listener.close();
    return chosen;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) return null;
    throw err;
  }
}

/** A process as /proc/<pid>/stat identifies it: the pid and its start time (pids get reused). */
interface ProcessId {
  pid: number;
  startTicks: string;
}

/** Fields of /proc/<pid>/stat after "pid (comm) ": [state, ppid, ...]; comm may hold ") ". */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null; // Exited.
  }
}

/** The processes below `pid` by depth: [children, grandchildren, ...], read from /proc. */
async function descendants(pid: number): Promise<ProcessId[][]> {
  const parentOf = new Map<number, { ppid: number; startTicks: string }>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = statFields(entry.name);
    // Field 4 of stat is ppid, field 22 starttime (proc(5)); fields[] starts at field 3.
    if (fields !== null) {
      parentOf.set(Number(entry.name), { ppid: Number(fields[1]), startTicks: fields[19]! });
    }
  }
  const levels: ProcessId[][] = [];
  let parents = [pid];
  while (parents.length > 0) {
    const level: ProcessId[] = [];
    for (const [child, info] of parentOf) {
      if (parents.includes(info.ppid)) level.push({ pid: child, startTicks: info.startTicks });
    }
    if (level.length > 0) levels.push(level);
    parents = level.map((p) => p.pid);
  }
  return levels;
}

/** SIGTERM, then SIGKILL what is still there after STOP_TIMEOUT_MS. */
async function terminate(processes: ProcessId[]): Promise<void> {
  for (const process of processes) signal(process, "SIGTERM");
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (processes.some(alive) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const process of processes) signal(process, "SIGKILL");
}

/** The same process is still there (not a zombie, not a reused pid). */
function alive(process: ProcessId): boolean {
  const fields = statFields(process.pid);
  return fields !== null && fields[0] !== "Z" && fields[19] === process.startTicks;
}

function signal(process: ProcessId, name: Deno.Signal): void {
  if (!alive(process)) return;
  try {
    Deno.kill(process.pid, name);
  } catch {
    // Gone meanwhile.
  }
}

function onPath(program: string): boolean {
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    // No env permission: look in the usual places.
  }
  const dirs = (path ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  return dirs.some((dir) => {
    try {
      return dir !== "" && Deno.statSync(`${dir}/${program}`).isFile;
    } catch {
      return false;
    }
  });
}
