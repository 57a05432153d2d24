/**
 * Reading a process's CPU time and memory from /proc (Linux), for the process figures.
 *
 * Invariants: only processes inside our own namespaces are looked at (the pid comes from a child
 * we spawned or from `ip netns pids` of a namespace we made); nothing here signals a process.
 * CPU time is read two ways: utime + stime of /proc/<pid>/stat (every thread, in clock ticks of
 * USER_HZ = 100, so 10 ms resolution), and the sum of `se.sum_exec_runtime` over
 * /proc/<pid>/task/<tid>/sched (the scheduler's own nanosecond account, live threads only; absent
 * on kernels without CONFIG_SCHED_DEBUG). Idle figures use the second when it exists.
 * @module
 */

import type { Namespace } from "../helpers/netns.ts";
import type { ChildHandle } from "../helpers/process.ts";

/** Linux's USER_HZ: the unit of utime and stime in /proc/<pid>/stat (proc(5)). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time used so far by `pid`, all threads, user + system, in ms. */
export async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // proc(5): "pid (comm) state ..." - comm may hold spaces and parentheses, so split after the
  // last ')'. Fields after it start at field 3 (state); utime is field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Cannot read utime/stime of pid ${pid} from: ${stat}`);
  }
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size (VmRSS of /proc/<pid>/status) in KiB. */
export async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/**
 * The deno process behind `child` (`ip netns exec <ns> deno ...`): the child itself when `ip`
 * exec'd into deno, else the deno process in `ns` whose parent is the child.
 */
export async function denoPid(ns: Namespace, child: ChildHandle): Promise<number> {
  if (await commOf(child.pid) === "deno") return child.pid;
  const listed = await ns.exec(["ip", "netns", "pids", ns.name]);
  for (const word of listed.stdout.split(/\s+/)) {
    if (!/^\d+$/.test(word)) continue;
    const pid = Number(word);
    if (await commOf(pid) === "deno" && await parentOf(pid) === child.pid) return pid;
  }
  throw new Error(`No deno process found for ${child.command} in ${ns.name}`);
}

async function commOf(pid: number): Promise<string | null> {
  try {
    return (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
  } catch {
    return null;
  }
}

async function parentOf(pid: number): Promise<number | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** CPU time of the live threads of `pid` from the scheduler (ms, ns precision), or null. */
export async function schedRuntimeMs(pid: number): Promise<number | null> {
  let total = 0;
  let threads = 0;
  try {
    for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
      const sched = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/sched`).catch(() => "");
      const match = /^se\.sum_exec_runtime\s*:\s*([0-9.]+)$/m.exec(sched);
      if (match === null) continue; // exited meanwhile, or no CONFIG_SCHED_DEBUG
      total += Number(match[1]);
      threads++;
    }
  } catch {
    return null;
  }
  return threads > 0 ? total : null;
}

/** CPU use of a process over a window, in % of one CPU. */
export interface CpuSample {
  /** From the scheduler's runtime when available, else from the stat ticks. */
  percent: number;
  /** From utime + stime ticks (10 ms resolution). */
  ticksPercent: number;
  source: "sched" | "stat";
}

/** CPU use of `pid` over `windowMs` of wall time, in % of one CPU. */
export async function cpuPercentOver(pid: number, windowMs: number): Promise<CpuSample> {
  const startTicks = await cpuTimeMs(pid);
  const startSched = await schedRuntimeMs(pid);
  const startWall = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const endTicks = await cpuTimeMs(pid);
  const endSched = await schedRuntimeMs(pid);
  const wallMs = performance.now() - startWall;
  const ticksPercent = ((endTicks - startTicks) / wallMs) * 100;
  if (startSched === null || endSched === null) {
    return { percent: ticksPercent, ticksPercent, source: "stat" };
  }
  return { percent: ((endSched - startSched) / wallMs) * 100, ticksPercent, source: "sched" };
}
