// The figures' names and units, and the table: each pairing's median with its ratio to the
// OpenSSH reference (ssh -> sshd), as text for the terminal and as Markdown.

import { median } from './figures';
import type { ProfileSummary } from './profile';

export type FigureId =
  | 'up' | 'down' | 'upCpuServer' | 'upCpuClient' | 'downCpuServer' | 'downCpuClient'
  | 'connRateCold' | 'connRate' | 'ttfbP50' | 'ttfbP99' | 'ttfbSerial'
  | 'concServed' | 'concRss' | 'concDirty' | 'concTotalRss'
  | 'clientsUp' | 'clientsRss' | 'clientsDirty' | 'clientsTotalRss'
  | 'startup';

export interface FigureSpec {
  id: FigureId;
  label: string;
  unit: string;
  /** How to read the ratio to the reference; "count" figures get none. */
  better: 'higher' | 'lower' | 'count';
  digits: number;
}

export const FIGURES: FigureSpec[] = [
  { id: 'up', label: 'throughput to service (upload)', unit: 'MB/s', better: 'higher', digits: 1 },
  { id: 'down', label: 'throughput from service (download)', unit: 'MB/s', better: 'higher', digits: 1 },
  { id: 'upCpuServer', label: 'upload: server CPU', unit: 's/GB', better: 'lower', digits: 2 },
  { id: 'upCpuClient', label: 'upload: client CPU', unit: 's/GB', better: 'lower', digits: 2 },
  { id: 'downCpuServer', label: 'download: server CPU', unit: 's/GB', better: 'lower', digits: 2 },
  { id: 'downCpuClient', label: 'download: client CPU', unit: 's/GB', better: 'lower', digits: 2 },
  { id: 'connRateCold', label: 'new connections, just started', unit: 'conn/s', better: 'higher', digits: 0 },
  { id: 'connRate', label: 'new connections', unit: 'conn/s', better: 'higher', digits: 0 },
  { id: 'ttfbP50', label: 'first byte p50', unit: 'ms', better: 'lower', digits: 2 },
  { id: 'ttfbP99', label: 'first byte p99', unit: 'ms', better: 'lower', digits: 2 },
  { id: 'ttfbSerial', label: 'first byte p50, one at a time', unit: 'ms', better: 'lower', digits: 2 },
  { id: 'concServed', label: 'concurrent conns served (min)', unit: 'conns', better: 'count', digits: 0 },
  { id: 'concRss', label: 'server RSS per conn', unit: 'KiB', better: 'lower', digits: 1 },
  { id: 'concDirty', label: 'server private dirty per conn', unit: 'KiB', better: 'lower', digits: 1 },
  { id: 'concTotalRss', label: 'server RSS, conns open', unit: 'MiB', better: 'lower', digits: 1 },
  { id: 'clientsUp', label: 'clients holding -R 0 (min)', unit: 'clients', better: 'count', digits: 0 },
  { id: 'clientsRss', label: 'server RSS per client', unit: 'KiB', better: 'lower', digits: 0 },
  { id: 'clientsDirty', label: 'server private dirty per client', unit: 'KiB', better: 'lower', digits: 0 },
  { id: 'clientsTotalRss', label: 'server RSS, clients up', unit: 'MiB', better: 'lower', digits: 1 },
  { id: 'startup', label: 'client start to first answer', unit: 'ms', better: 'lower', digits: 0 },
];

export type PairingId = 'a' | 'b' | 'c' | 'd' | 'raw';
export const REFERENCE: PairingId = 'd';

export interface PairingResult {
  id: PairingId;
  label: string;
  skipped?: string;
  samples: Partial<Record<FigureId, number[]>>;
  /** How many were asked for, for count figures. */
  requested: Partial<Record<FigureId, number>>;
}

export interface Summary {
  value: number;
  ratio?: number;
  samples: number[];
}

export function summarize(p: PairingResult, id: FigureId, ref: PairingResult | undefined): Summary | undefined {
  const samples = p.samples[id];
  if (!samples || samples.length === 0) return undefined;
  const spec = FIGURES.find((f) => f.id === id);
  const value = spec?.better === 'count' ? Math.min(...samples) : median(samples);
  const refSamples = ref?.samples[id];
  const out: Summary = { value, samples };
  if (spec?.better !== 'count' && refSamples && refSamples.length > 0) {
    const r = median(refSamples);
    if (r > 0 && Number.isFinite(value)) out.ratio = value / r;
  }
  return out;
}

function cell(p: PairingResult, spec: FigureSpec, ref: PairingResult | undefined): string {
  if (p.skipped) return 'skipped';
  const s = summarize(p, spec.id, ref);
  if (!s) return '—';
  if (spec.better === 'count') {
    const req = p.requested[spec.id];
    return req === undefined ? String(s.value) : `${s.value}/${req}`;
  }
  const v = Number.isFinite(s.value) ? s.value.toFixed(spec.digits) : 'n/a';
  if (p.id === REFERENCE || s.ratio === undefined) return v;
  return `${v} (${s.ratio.toFixed(2)}×)`;
}

export function tableRows(results: PairingResult[]): string[][] {
  const ref = results.find((r) => r.id === REFERENCE);
  const header = ['figure', ...results.map((r) => r.label)];
  const rows = FIGURES
    .filter((f) => results.some((r) => (r.samples[f.id]?.length ?? 0) > 0))
    .map((f) => [`${f.label} (${f.unit})`, ...results.map((r) => cell(r, f, ref))]);
  return [header, ...rows];
}

export function textTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const [head, ...body] = rows;
  if (!head) return '';
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(rows: string[][]): string {
  const [head, ...body] = rows;
  if (!head) return '';
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function profileMarkdown(p: ProfileSummary): string {
  const lines = [
    `#### ${p.label}`,
    '',
    `${(p.durationMs / 1000).toFixed(1)} s profiled, ${p.busyPct.toFixed(0)}% busy. Shares are of busy time.`,
    '',
    '| self % | total % | function | where |',
    '| ---: | ---: | --- | --- |',
    ...p.topSelf.map((f) => `| ${f.selfPct.toFixed(1)} | ${f.totalPct.toFixed(1)} | \`${f.name}\` | ${f.where} |`),
    '',
    'Self time by file:',
    '',
    '| self % | file |',
    '| ---: | --- |',
    ...p.byFile.map((f) => `| ${f.selfPct.toFixed(1)} | ${f.where} |`),
    '',
  ];
  return lines.join('\n');
}

export function profileText(p: ProfileSummary, top = 15): string {
  return [
    `${p.label}: ${(p.durationMs / 1000).toFixed(1)} s, ${p.busyPct.toFixed(0)}% busy; top self time:`,
    ...p.topSelf.slice(0, top).map((f) => `  ${f.selfPct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`),
  ].join('\n');
}
