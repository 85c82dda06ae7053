// Reads a V8 .cpuprofile (as written by `node --cpu-prof`) and sums self time per function
// and per source file, so the report can say where ferryd spends its CPU during a transfer.

import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface Frame {
  name: string;
  where: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

export interface ProfileSummary {
  label: string;
  file: string;
  durationMs: number;
  /** Share of samples that were not idle. */
  busyPct: number;
  topSelf: Frame[];
  byFile: { where: string; selfMs: number; selfPct: number }[];
}

function shortUrl(url: string, root: string): string {
  if (url === '') return '(native)';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm + 'node_modules/'.length);
  else if (u.startsWith(root)) u = path.relative(root, u);
  return u;
}

/**
 * `window` (microseconds of CLOCK_MONOTONIC, the clock of both V8's profile timestamps and
 * process.hrtime) keeps only the samples taken while the figure ran, not ferryd's start-up.
 */
export function summarizeProfile(file: string, label: string, root: string, window?: { fromUs: number; toUs: number }, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfById = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample.
    at += deltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = samples[i] as number;
    const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    selfById.set(id, (selfById.get(id) ?? 0) + dt);
  }
  const total = [...selfById.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  const self = new Map<string, { name: string; where: string; ms: number }>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  const keyOf = (n: ProfileNode) => {
    const cf = n.callFrame;
    const where = cf.url === '' ? '(native)' : `${shortUrl(cf.url, root)}:${cf.lineNumber + 1}`;
    return { key: `${cf.functionName}\u0000${where}`, name: cf.functionName || '(anonymous)', where, file: shortUrl(cf.url, root) };
  };
  for (const [id, ms] of selfById) {
    const node = byId.get(id);
    if (!node) continue;
    const k = keyOf(node);
    if (k.name === '(idle)') idle += ms;
    const entry = self.get(k.key) ?? { name: k.name, where: k.where, ms: 0 };
    entry.ms += ms;
    self.set(k.key, entry);
    const fileKey = k.name.startsWith('(') ? k.name : k.file;
    files.set(fileKey, (files.get(fileKey) ?? 0) + ms);
    // Inclusive time: each distinct function on the stack once.
    const seen = new Set<string>();
    let cur: number | undefined = id;
    for (let depth = 0; cur !== undefined && depth < 10_000; depth++) {
      const n = byId.get(cur);
      if (!n) break;
      const kk = keyOf(n).key;
      if (!seen.has(kk)) {
        seen.add(kk);
        inclusive.set(kk, (inclusive.get(kk) ?? 0) + ms);
      }
      cur = parent.get(cur);
    }
  }
  const busy = total - idle;
  const pct = (ms: number) => (busy > 0 ? (100 * ms) / busy : 0);
  const topSelf = [...self.entries()]
    .filter(([, e]) => e.name !== '(idle)')
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, top)
    .map(([k, e]) => ({ name: e.name, where: e.where, selfMs: e.ms, selfPct: pct(e.ms), totalMs: inclusive.get(k) ?? e.ms, totalPct: pct(inclusive.get(k) ?? e.ms) }));
  const byFile = [...files.entries()]
    .filter(([w]) => w !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([where, ms]) => ({ where, selfMs: ms, selfPct: pct(ms) }));
  return { label, file, durationMs: total, busyPct: total > 0 ? (100 * busy) / total : 0, topSelf, byFile };
}
