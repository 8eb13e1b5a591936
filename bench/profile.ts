// Where the time goes: `npm run bench -- --cpu-prof` profiles each contender's recorded batches in-process (the
// V8 profiler through node:inspector, so the driver, plain mongoose and the package get separate profiles) and
// writes them as .cpuprofile files, the format of node's own --cpu-prof (open them in Chrome DevTools or VS Code).
// `summariseProfile` ranks functions by self time and sums it by origin: our src/, mongoose, the driver, GC...
import type { Profiler } from 'node:inspector';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

export type CpuProfile = Profiler.Profile;

let session: Session | undefined;

/** Starts the V8 sampling profiler (100 µs interval); `stop()` returns the profile. */
export async function startProfile(): Promise<{ stop(): Promise<CpuProfile> }> {
  if (!session) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
  }
  const active = session;
  await active.post('Profiler.start');
  return { stop: async () => (await active.post('Profiler.stop')).profile };
}

/** One profile holding several: the second's nodes renumbered and hung under the first's root. */
export function mergeProfiles(profiles: CpuProfile[]): CpuProfile {
  const [first, ...rest] = profiles;
  if (!first) throw new Error('no profile to merge');
  const nodes = first.nodes.map((n) => ({ ...n, children: [...(n.children ?? [])] }));
  const root = nodes[0]!;
  const samples = [...(first.samples ?? [])];
  const timeDeltas = [...(first.timeDeltas ?? [])];
  let endTime = first.endTime;
  for (const profile of rest) {
    const offset = Math.max(...nodes.map((n) => n.id));
    const [otherRoot, ...others] = profile.nodes;
    const renumber = (id: number) => (id === otherRoot!.id ? root.id : id + offset);
    root.children.push(...(otherRoot!.children ?? []).map(renumber));
    root.hitCount = (root.hitCount ?? 0) + (otherRoot!.hitCount ?? 0);
    nodes.push(...others.map((n) => ({ ...n, id: renumber(n.id), children: (n.children ?? []).map(renumber) })));
    samples.push(...(profile.samples ?? []).map(renumber));
    timeDeltas.push(...(profile.timeDeltas ?? []));
    endTime += profile.endTime - profile.startTime;
  }
  return { nodes, startTime: first.startTime, endTime, samples, timeDeltas };
}

export interface ProfileSummary {
  /** Sampled time, idle excluded, in ms. */
  totalMs: number;
  /** Self time by origin, in ms, largest first. */
  byOrigin: Array<{ origin: string; ms: number; share: number }>;
  /** The functions with the most self time. */
  top: Array<{ fn: string; where: string; origin: string; ms: number; share: number }>;
}

const packageRoot = fileURLToPath(new URL('..', import.meta.url));

function originOf(functionName: string, url: string): string {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8 (program)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path.startsWith(`${packageRoot}src/`)) return 'package src/';
  if (path.startsWith(`${packageRoot}bench/`)) return 'bench harness';
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
  if (dependency === 'mongodb' || dependency === 'bson') return `driver (${dependency})`;
  if (dependency) return dependency;
  if (path.startsWith('node:')) return 'node internals';
  return 'native';
}

/** Self time per function and per origin; time is hit count x the profile's mean sampling interval. */
export function summariseProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const samples = profile.samples?.length ?? 0;
  const interval = samples ? (profile.endTime - profile.startTime) / 1000 / samples : 0;
  const hits = new Map<number, number>();
  for (const id of profile.samples ?? []) hits.set(id, (hits.get(id) ?? 0) + 1);
  const byFunction = new Map<string, { fn: string; where: string; origin: string; ms: number }>();
  const byOrigin = new Map<string, number>();
  let totalMs = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const ms = (hits.get(node.id) ?? node.hitCount ?? 0) * interval;
    if (ms === 0 || functionName === '(idle)' || functionName === '(root)') continue;
    const origin = originOf(functionName, url);
    const where = url ? `${url.replace(/^.*node_modules\//, '').replace(`file://${packageRoot}`, '')}:${lineNumber + 1}` : '';
    const key = `${functionName}\u0000${where}`;
    const entry = byFunction.get(key) ?? { fn: functionName || '(anonymous)', where, origin, ms: 0 };
    entry.ms += ms;
    byFunction.set(key, entry);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + ms);
    totalMs += ms;
  }
  const share = (ms: number) => (totalMs ? ms / totalMs : 0);
  return {
    totalMs,
    byOrigin: [...byOrigin].map(([origin, ms]) => ({ origin, ms, share: share(ms) })).sort((a, b) => b.ms - a.ms),
    top: [...byFunction.values()].sort((a, b) => b.ms - a.ms).slice(0, top).map((f) => ({ ...f, share: share(f.ms) })),
  };
}

export function formatSummary(title: string, summary: ProfileSummary): string {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
  return [
    `   profile ${title}: ${summary.totalMs.toFixed(0)} ms sampled`,
    `     by origin: ${summary.byOrigin.map((o) => `${o.origin} ${(o.share * 100).toFixed(1)}%`).join(', ')}`,
    ...summary.top.map((f) => `     ${pct(f.share)}  ${f.fn}  ${f.where} [${f.origin}]`),
  ].join('\n');
}
