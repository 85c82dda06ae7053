// `ferry ssh` options: the flags and the -o keywords that ssh(1) users type, turned into one
// typed invocation. Parsing only; nothing connects here.

import { ValidationError } from '../errors';
import { parseEscapeChar } from './escapes';
import {
  parseDynamicForward,
  parseLocalForward,
  parseRemoteForward,
  type DynamicForward,
  type LocalForward,
  type RemoteForward,
} from './forwardspec';

const DEFAULT_ESCAPE = 0x7e; // ~

export type StrictHostKeyChecking = 'yes' | 'no' | 'ask' | 'accept-new';

export interface SshInvocation {
  host: string;
  port: number;
  login: string;
  command: string[];
  keyFile: string | undefined;
  certFile: string | undefined;
  noCommand: boolean;
  pty: 'auto' | 'force' | 'never';
  quiet: boolean;
  verbosity: number;
  exitOnForwardFailure: boolean;
  strictHostKeyChecking: StrictHostKeyChecking;
  userKnownHostsFiles: string[];
  serverAliveInterval: number;
  connectTimeout: number;
  remote: RemoteForward[];
  local: LocalForward[];
  dynamic: DynamicForward[];
  /** The escape character of a terminal session (~ by default); null: none. */
  escapeChar: number | null;
  /** Whether ~C opens a command line (EnableEscapeCommandline; on by default, unlike ssh 9.2+). */
  escapeCommandline: boolean;
}

export interface RawSshFlags {
  p?: string;
  l?: string;
  i?: string;
  N?: boolean;
  t?: boolean;
  T?: boolean;
  q?: boolean;
  v?: number;
  e?: string;
  o: string[];
  R: string[];
  L: string[];
  D: string[];
}

const YES_NO: Record<string, boolean> = { yes: true, no: false, true: true, false: false };

function yesNo(key: string, value: string): boolean {
  const v = YES_NO[value.toLowerCase()];
  if (v === undefined) throw new ValidationError(`-o ${key}: unsupported value "${value}" (expected yes or no)`);
  return v;
}

function port(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535 || Number(text) === 0) throw new ValidationError(`Bad port '${text}' in ${what}`);
  return Number(text);
}

/** Splits [user@]host and applies -l and -p the way ssh does (-l wins over user@). */
export function buildInvocation(destination: string, command: string[], flags: RawSshFlags, defaultLogin: string): SshInvocation {
  const at = destination.lastIndexOf('@');
  const destLogin = at >= 0 ? destination.slice(0, at) : undefined;
  let host = at >= 0 ? destination.slice(at + 1) : destination;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || /[\s/]/.test(host)) throw new ValidationError(`hostname contains invalid characters: "${destination}"`);
  const inv: SshInvocation = {
    host,
    port: flags.p !== undefined ? port(flags.p, '-p') : 22,
    login: flags.l ?? destLogin ?? defaultLogin,
    command: command[0] === '--' ? command.slice(1) : command,
    keyFile: flags.i,
    certFile: undefined,
    noCommand: Boolean(flags.N),
    pty: flags.t ? 'force' : flags.T ? 'never' : 'auto',
    quiet: Boolean(flags.q),
    verbosity: flags.v ?? 0,
    exitOnForwardFailure: false,
    strictHostKeyChecking: 'ask',
    userKnownHostsFiles: ['~/.ssh/known_hosts'],
    serverAliveInterval: 0,
    connectTimeout: 0,
    remote: flags.R.map((s) => parseRemoteForward(s)),
    local: flags.L.map((s) => parseLocalForward(s)),
    dynamic: flags.D.map((s) => parseDynamicForward(s)),
    escapeChar: DEFAULT_ESCAPE,
    escapeCommandline: true,
  };
  // ssh keeps the first value given for an option.
  const seen = new Set<string>();
  for (const raw of flags.o) {
    const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$/.exec(raw);
    if (!m || !m[1] || m[2] === undefined) throw new ValidationError(`command-line: bad -o option "${raw}" (expected Keyword=value)`);
    const key = m[1].toLowerCase();
    const value = m[2];
    if (seen.has(key)) continue;
    seen.add(key);
    applyOption(inv, m[1], key, value);
  }
  if (flags.e !== undefined) inv.escapeChar = parseEscapeChar(flags.e);
  return inv;
}

function applyOption(inv: SshInvocation, name: string, key: string, value: string): void {
  switch (key) {
    case 'exitonforwardfailure':
      inv.exitOnForwardFailure = yesNo(name, value);
      return;
    case 'stricthostkeychecking': {
      const v = value.toLowerCase();
      const map: Record<string, StrictHostKeyChecking> = { yes: 'yes', true: 'yes', no: 'no', off: 'no', false: 'no', ask: 'ask', 'accept-new': 'accept-new' };
      const mode = map[v];
      if (!mode) throw new ValidationError(`-o StrictHostKeyChecking: unsupported value "${value}" (yes, no, ask or accept-new)`);
      inv.strictHostKeyChecking = mode;
      return;
    }
    case 'userknownhostsfile':
      inv.userKnownHostsFiles = value.split(/\s+/).filter(Boolean);
      return;
    case 'certificatefile':
      inv.certFile = value;
      return;
    case 'identityfile':
      inv.keyFile ??= value;
      return;
    case 'port':
      inv.port = port(value, '-o Port');
      return;
    case 'user':
      inv.login = value;
      return;
    case 'serveraliveinterval':
      inv.serverAliveInterval = seconds(name, value);
      return;
    case 'connecttimeout':
      inv.connectTimeout = seconds(name, value);
      return;
    case 'loglevel':
      if (/^(quiet|fatal|error)$/i.test(value)) inv.quiet = true;
      if (/^(debug|debug1|debug2|debug3|verbose)$/i.test(value)) inv.verbosity = Math.max(inv.verbosity, 1);
      return;
    case 'escapechar':
      inv.escapeChar = parseEscapeChar(value);
      return;
    case 'enableescapecommandline':
      inv.escapeCommandline = yesNo(name, value);
      return;
    case 'batchmode':
    case 'identitiesonly':
    case 'serveralivecountmax':
      return; // accepted for scripts written for ssh; ferry never prompts for passwords
    default:
      throw new ValidationError(`command-line: Bad configuration option: ${name.toLowerCase()} (ferry ssh supports ExitOnForwardFailure, StrictHostKeyChecking, UserKnownHostsFile, CertificateFile, IdentityFile, Port, User, ServerAliveInterval, ConnectTimeout, LogLevel, EscapeChar, EnableEscapeCommandline, BatchMode, IdentitiesOnly)`);
  }
}

function seconds(name: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new ValidationError(`-o ${name}: "${value}" is not a number of seconds`);
  return Number(value);
}
