// known_hosts in OpenSSH's format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): host patterns with
// '*', '?' and '!' negation, "[host]:port" for non-22 ports, hashed names (|1|salt|hash),
// and the @cert-authority and @revoked markers. Lookups decide; the caller acts.

import crypto from 'node:crypto';
import fs from 'node:fs';
import { formatAuthorizedKeyLine } from '../auth/sshcert';

export interface KnownHostLine {
  marker: '' | '@cert-authority' | '@revoked';
  patterns: string;
  keyType: string;
  keyBlob: Buffer;
  file: string;
  line: number;
}

export type HostKeyVerdict =
  | { kind: 'match'; line: KnownHostLine }
  | { kind: 'unknown' }
  | { kind: 'changed'; lines: KnownHostLine[] }
  | { kind: 'revoked'; line: KnownHostLine };

export function parseKnownHosts(text: string, file: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostLine['marker'] = '';
    if (fields[0] === '@cert-authority' || fields[0] === '@revoked') marker = fields.shift() as KnownHostLine['marker'];
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) return; // ssh skips lines it cannot read
    const keyBlob = Buffer.from(b64, 'base64');
    if (keyBlob.length === 0) return;
    lines.push({ marker, patterns, keyType, keyBlob, file, line: i + 1 });
  });
  return lines;
}

export function loadKnownHosts(files: string[]): KnownHostLine[] {
  return files.flatMap((file) => {
    try {
      return parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
    } catch {
      return [];
    }
  });
}

/** The name ssh looks a host up by: "host", or "[host]:port" when the port is not 22. */
export function hostLookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i').test(name);
}

function hashedMatch(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const mac = crypto.createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return mac === hash;
}

/** Whether a line's host patterns match the name; a matching negation excludes the line. */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Checks a plain host key against the lines for this host. */
export function verifyHostKey(lines: KnownHostLine[], name: string, keyType: string, keyBlob: Buffer): HostKeyVerdict {
  const mine = lines.filter((l) => patternsMatch(l.patterns, name));
  const revoked = lines.find((l) => l.marker === '@revoked' && l.keyBlob.equals(keyBlob));
  if (revoked) return { kind: 'revoked', line: revoked };
  const plain = mine.filter((l) => l.marker === '');
  const same = plain.find((l) => l.keyBlob.equals(keyBlob));
  if (same) return { kind: 'match', line: same };
  const sameType = plain.filter((l) => l.keyType === keyType);
  if (sameType.length > 0) return { kind: 'changed', lines: sameType };
  return { kind: 'unknown' };
}

/** Adds a host key line; hashed (HashKnownHosts), the name is |1|salt|HMAC-SHA1(salt, name), as ssh writes it. */
export function appendKnownHost(file: string, name: string, keyType: string, keyBlob: Buffer, hashed = false): void {
  const salt = crypto.randomBytes(20);
  const entry = hashed ? `|1|${salt.toString('base64')}|${crypto.createHmac('sha1', salt).update(name).digest('base64')}` : name;
  fs.appendFileSync(file, `${entry} ${formatAuthorizedKeyLine(keyType, keyBlob)}\n`, { mode: 0o600 });
}
