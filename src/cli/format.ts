// Output helpers shared by the command-line tools.

import { ValidationError } from '../errors';

/** Left-aligned columns with a header row, as tctl prints them. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style durations: "90s", "15m", "1h30m", "2d". */
export function parseDuration(text: string, flag: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new ValidationError(`${flag}: "${text}" is not a duration (examples: 90s, 15m, 1h30m, 2d)`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? 's'] ?? 0), 0);
}

/** A point in time: an ISO date, or a duration meaning that long ago ("1h"). */
export function parseTime(text: string, flag: string, now = new Date()): Date {
  if (/^\d/.test(text) && /[-T:]/.test(text)) {
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) throw new ValidationError(`${flag}: "${text}" is not a valid date`);
    return d;
  }
  return new Date(now.getTime() - parseDuration(text, flag));
}

export function csv(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
