/**
 * Reading a V8 `.cpuprofile` (what `deno run --cpu-prof` writes): self time per function,
 * summed over every node of the call tree, sorted, for a short "top entries" table.
 *
 * Invariants: only the JSON shape V8 documents is read (nodes with `id`, `callFrame`,
 * `hitCount`; `samples` and `timeDeltas` in step); a file without that shape is an error that
 * names it. Time is taken from `timeDeltas` (microseconds) so it stays right when the sampling
 * interval varied.
 * @module
 */

/** One function's share of a profile. */
export interface ProfileEntry {
  /** "name file:line" (anonymous functions as "(anonymous)"). */
  where: string;
  selfMs: number;
  /** Share of all sampled time, in %. */
  percent: number;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function isProfile(value: unknown): value is CpuProfile {
  const v = value as Partial<CpuProfile> | null;
  return v !== null && typeof v === "object" && Array.isArray(v.nodes) &&
    Array.isArray(v.samples) && Array.isArray(v.timeDeltas);
}

/** A short location: the path from the repository's top folders on, or the URL's last parts. */
function shortUrl(url: string): string {
  const match = /\/(stack|tap|tests|app|http)\/(.*)$/.exec(url);
  if (match) return `${match[1]}/${match[2]}`;
  return url.split("/").slice(-2).join("/");
}

/** Self time per function of the profile in `text`, largest first. */
export function summarizeProfile(text: string, source = "profile"): ProfileEntry[] {
  const profile: unknown = JSON.parse(text);
  if (!isProfile(profile)) throw new Error(`${source} is not a V8 .cpuprofile`);
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const delta = profile.timeDeltas[i] ?? 0;
    if (node === undefined || delta <= 0) continue;
    const frame = node.callFrame;
    const name = frame.functionName || "(anonymous)";
    const where = frame.url ? `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : name;
    selfUs.set(where, (selfUs.get(where) ?? 0) + delta);
    totalUs += delta;
  }
  return [...selfUs.entries()]
    .map(([where, us]) => ({
      where,
      selfMs: us / 1000,
      percent: totalUs > 0 ? 100 * us / totalUs : 0,
    }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

/** The first `count` entries as aligned text lines. */
export function formatProfile(entries: readonly ProfileEntry[], count = 15): string {
  return entries.slice(0, count).map((e) =>
    `${e.percent.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.where}`
  ).join("\n");
}
