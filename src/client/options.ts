// `ferry ssh` options: the flags and the -o keywords that ssh(1) users type, turned into one
// typed invocation. Parsing only; nothing connects here.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
import { forwardArgument, unvis, type SshConfigEntry } from './sshconfig';

const DEFAULT_ESCAPE = 0x7e; // ~

/** ssh's exit status for its own failures (connection, forwarding, a bad command line). */
export const EXIT_FAILURE = 255;

export type StrictHostKeyChecking = 'yes' | 'no' | 'ask' | 'accept-new';

export interface SshInvocation {
  host: string;
  port: number;
  login: string;
  command: string[];
  /** -i and IdentityFile, in the order given, tokens expanded; empty: ssh's default names. */
  identityFiles: string[];
  /** CertificateFile, each: offered first, signed for by whatever holds its key; with none, KEY-cert.pub beside each key. */
  certFiles: string[];
  /** IdentityAgent as given: undefined for SSH_AUTH_SOCK (the default), none, $VAR or a path. */
  identityAgent: string | undefined;
  identitiesOnly: boolean;
  /** BatchMode: never ask (for a passphrase; host keys follow StrictHostKeyChecking). */
  batchMode: boolean;
  /** NumberOfPasswordPrompts: how often a key's passphrase is asked for. */
  passwordPrompts: number;
  noCommand: boolean;
  /** yes: a terminal when stdin is one (-t, RequestTTY yes); force: always (-tt). */
  pty: 'auto' | 'yes' | 'force' | 'never';
  quiet: boolean;
  verbosity: number;
  exitOnForwardFailure: boolean;
  strictHostKeyChecking: StrictHostKeyChecking;
  userKnownHostsFiles: string[];
  /** Read for host keys too, never written (GlobalKnownHostsFile). */
  globalKnownHostsFiles: string[];
  /** Whether a host key ferry adds to known_hosts is written hashed (HashKnownHosts). */
  hashKnownHosts: boolean;
  serverAliveInterval: number;
  connectTimeout: number;
  remote: RemoteForward[];
  local: LocalForward[];
  dynamic: DynamicForward[];
  /** The escape character of a terminal session (~ by default); null: none. */
  escapeChar: number | null;
  /** Whether ~C opens a command line (EnableEscapeCommandline; on by default, unlike ssh 9.2+). */
  escapeCommandline: boolean;
  /** What ssh -G answered (for the command line and ssh_config), for -v. */
  configNotes: string[];
  /** Said before connecting, as ssh says them (not with -q). */
  warnings: string[];
}

export interface RawSshFlags {
  p?: string;
  l?: string;
  i: string[];
  N?: boolean;
  /** -t once: a terminal when stdin is one; twice: always. */
  t?: number;
  T?: boolean;
  q?: boolean;
  v?: number;
  e?: string;
  F?: string;
  o: string[];
  R: string[];
  L: string[];
  D: string[];
}

const YES_NO: Record<string, boolean> = { yes: true, no: false, true: true, false: false };

function yesNo(key: string, value: string, where: string): boolean {
  const v = YES_NO[value.toLowerCase()];
  if (v === undefined) throw new ValidationError(`${where} ${key}: unsupported value "${value}" (expected yes or no)`);
  return v;
}

function port(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535 || Number(text) === 0) throw new ValidationError(`Bad port '${text}' in ${what}`);
  return Number(text);
}

/** The flags of `ferry ssh` that take a value (all of them ssh's). */
const TAKES_VALUE = new Set(['p', 'l', 'i', 'e', 'F', 'o', 'R', 'L', 'D']);

/**
 * `ferry ssh`'s arguments with the options typed after the destination moved before it, as
 * ssh reads them (`ssh host -p 2222 ls -la`: -p is ssh's, `-la` the command's): after the
 * host, ssh takes options until the first word that is not one, or `--`.
 */
export function optionsFirst(args: readonly string[]): string[] {
  const isOption = (a: string | undefined): a is string => a !== undefined && a.startsWith('-') && a !== '-' && a !== '--';
  // The index after the option that starts at i (a value may follow in the same word or the next).
  const after = (i: number): number => {
    const word = args[i] ?? '';
    for (let k = 1; k < word.length; k++) if (TAKES_VALUE.has(word[k] ?? '')) return k === word.length - 1 ? i + 2 : i + 1;
    return i + 1;
  };
  let dest = 0;
  while (isOption(args[dest])) dest = after(dest);
  if (dest >= args.length || args[dest] === '--') return [...args];
  const moved: string[] = [];
  let i = dest + 1;
  while (isOption(args[i])) {
    const next = after(i);
    moved.push(...args.slice(i, next));
    i = next;
  }
  return [...args.slice(0, dest), ...moved, ...args.slice(dest, dest + 1), ...args.slice(i)];
}

/** ssh -G's arguments: ferry's, less EnableEscapeCommandline, which ssh before 9.2 refuses and which means nothing to ssh -G. */
export function sshGArguments(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '-o' && /^\s*enableescapecommandline\b/i.test(args[i + 1] ?? '')) i++;
    else if (!/^-oenableescapecommandline\b/i.test(a)) out.push(a);
  }
  return out;
}

/** [user@]host or ssh://[user@]host[:port] as typed: the login before the last @, the host without IPv6 brackets. */
export function splitDestination(destination: string): { login: string | undefined; host: string; port: number | undefined } {
  let rest = destination;
  let uriPort: number | undefined;
  const uri = /^ssh:\/\/(.*?)(?::(\d+))?\/?$/i.exec(destination);
  if (uri && uri[1] !== undefined) {
    rest = uri[1];
    if (uri[2] !== undefined) uriPort = port(uri[2], destination);
  }
  const at = rest.lastIndexOf('@');
  let host = at >= 0 ? rest.slice(at + 1) : rest;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || /[\s/]/.test(host)) throw new ValidationError(`hostname contains invalid characters: "${destination}"`);
  return { login: at >= 0 ? rest.slice(0, at) : undefined, host, port: uriPort };
}

/**
 * The invocation the command line asks for, and then, when ssh_config was read, what `ssh -G`
 * answered (sshconfig.ts). ssh -G was given the same command line, so its answer already
 * holds ssh's own precedence (first value wins, in the order typed; forwards add up, the
 * command line's first); the command line alone stands in for it only when no config is read
 * (-F none, no OpenSSH client), where -l and -p win over -o User and -o Port whatever their order.
 */
export function buildInvocation(destination: string, command: string[], flags: RawSshFlags, defaultLogin: string, config?: readonly SshConfigEntry[]): SshInvocation {
  const { login: destLogin, host, port: uriPort } = splitDestination(destination);
  const inv: SshInvocation = {
    host: host.toLowerCase(), // as ssh: known_hosts lookups and %h see the lower-case name
    port: uriPort ?? 22,
    login: destLogin ?? defaultLogin,
    command: command[0] === '--' ? command.slice(1) : command,
    identityFiles: [...flags.i],
    certFiles: [],
    identityAgent: undefined,
    identitiesOnly: false,
    batchMode: false,
    passwordPrompts: 3,
    noCommand: Boolean(flags.N),
    pty: (flags.t ?? 0) >= 2 ? 'force' : flags.t ? 'yes' : flags.T ? 'never' : 'auto',
    quiet: Boolean(flags.q),
    verbosity: flags.v ?? 0,
    exitOnForwardFailure: false,
    strictHostKeyChecking: 'ask',
    userKnownHostsFiles: ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'],
    globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
    hashKnownHosts: false,
    serverAliveInterval: 0,
    connectTimeout: 0,
    remote: flags.R.map((s) => parseRemoteForward(s)),
    local: flags.L.map((s) => parseLocalForward(s)),
    dynamic: flags.D.map((s) => parseDynamicForward(s)),
    escapeChar: DEFAULT_ESCAPE,
    escapeCommandline: true,
    configNotes: [],
    warnings: [],
  };
  const extra: Extra = { remoteCommand: undefined, clearForwards: false };
  const seen = new Set<string>(); // ssh keeps the first value given for an option, and adds up files
  for (const raw of flags.o) {
    const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$/.exec(raw);
    if (!m || !m[1] || m[2] === undefined) throw new ValidationError(`command-line: bad -o option "${raw}" (expected Keyword=value)`);
    const key = m[1].toLowerCase();
    if (seen.has(key) && key !== 'identityfile' && key !== 'certificatefile') continue;
    seen.add(key);
    applyOption(inv, extra, m[1], key, m[2], '-o');
  }
  if (flags.l !== undefined) inv.login = flags.l;
  if (flags.p !== undefined) inv.port = port(flags.p, '-p');
  if (flags.e !== undefined) inv.escapeChar = parseEscapeChar(flags.e);
  if (config !== undefined) applyConfig(inv, extra, config, { host, defaultLogin });
  if (extra.clearForwards) {
    inv.remote = [];
    inv.local = [];
    inv.dynamic = [];
  }
  if (extra.remoteCommand !== undefined && !inv.noCommand) {
    if (inv.command.length > 0) throw new ValidationError('Cannot execute command-line and remote command.');
    inv.command = [extra.remoteCommand];
  }
  // ssh adds a forward once, however often the command line and the config name it.
  inv.remote = distinct(inv.remote);
  inv.local = distinct(inv.local);
  inv.dynamic = distinct(inv.dynamic);
  const tokens = fileTokens(inv, host);
  // ssh -G leaves out an -i file that is not there, and ssh warns and goes on with the rest.
  for (const file of flags.i) {
    if (!fs.existsSync(expandTokens(file, tokens, 'IdentityFile'))) inv.warnings.push(`Warning: Identity file ${file} not accessible: No such file or directory.`);
  }
  inv.identityFiles = inv.identityFiles.map((f) => expandTokens(f, tokens, 'IdentityFile'));
  // ssh -G has expanded IdentityAgent's tokens already.
  if (config === undefined && inv.identityAgent !== undefined && !/^(none|SSH_AUTH_SOCK|\$.*)$/.test(inv.identityAgent)) {
    inv.identityAgent = expandTokens(inv.identityAgent, tokens, 'IdentityAgent');
  }
  inv.certFiles = inv.certFiles.map((f) => expandTokens(f, tokens, 'CertificateFile'));
  return inv;
}

function distinct<T extends { spec: string }>(forwards: T[]): T[] {
  const seen = new Set<string>();
  return forwards.filter((f) => {
    const key = JSON.stringify({ ...f, spec: '' });
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Settings that only take effect once every source has been read. */
interface Extra {
  remoteCommand: string | undefined;
  clearForwards: boolean;
}

/**
 * Settings ferry does not implement and cannot ignore, each with the value that is harmless:
 * any other would reach another host, trust another key or let the server open more.
 */
const UNSUPPORTED: Record<string, { name: string; harmless: string }> = {
  proxyjump: { name: 'ProxyJump', harmless: 'none' },
  proxycommand: { name: 'ProxyCommand', harmless: 'none' },
  hostkeyalias: { name: 'HostKeyAlias', harmless: '' }, // "none" is an alias like any other to ssh
  knownhostscommand: { name: 'KnownHostsCommand', harmless: 'none' },
  revokedhostkeys: { name: 'RevokedHostKeys', harmless: 'none' },
  permitremoteopen: { name: 'PermitRemoteOpen', harmless: 'any' },
  forkafterauthentication: { name: 'ForkAfterAuthentication', harmless: 'no' },
};

/** OpenSSH's default identities, all of which ssh -G lists, in this order, when no IdentityFile is set. */
export const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((k) => `~/.ssh/${k}`);

/**
 * Takes what ssh -G printed as the truth: it saw the whole command line and the config. Only
 * what ferry decides itself stays: which one identity to offer (the first that exists), and
 * EnableEscapeCommandline, whose default differs (ssh -G prints OpenSSH's "no" when nothing
 * set it, so ferry goes by the command line alone). Values equal to OpenSSH's default are
 * ferry's defaults too, and are applied without a note.
 */
function applyConfig(inv: SshInvocation, extra: Extra, config: readonly SshConfigEntry[], ctx: { host: string; defaultLogin: string }): void {
  const home = os.userInfo().homedir;
  // What ferry takes from ssh -G, each with what ssh -G prints when nothing set it.
  const defaults: Record<string, string | undefined> = {
    userknownhostsfile: `${home}/.ssh/known_hosts ${home}/.ssh/known_hosts2`,
    globalknownhostsfile: '/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2',
    hashknownhosts: 'no',
    stricthostkeychecking: 'ask',
    exitonforwardfailure: 'no',
    serveraliveinterval: '0',
    connecttimeout: 'none',
    loglevel: 'INFO',
    escapechar: '~',
    requesttty: 'auto',
    sessiontype: 'default',
    remotecommand: undefined,
    clearallforwardings: 'no',
    identityagent: undefined,
    identitiesonly: 'no',
    batchmode: 'no',
    numberofpasswordprompts: '3',
  };
  inv.remote = [];
  inv.local = [];
  inv.dynamic = [];
  extra.remoteCommand = undefined;
  extra.clearForwards = false;
  const identities: string[] = [];
  inv.certFiles = []; // -o CertificateFile is among ssh -G's, first
  const taken = new Set<string>();
  for (const { keyword, value } of config) {
    const unsupported = UNSUPPORTED[keyword];
    if (unsupported !== undefined && value.toLowerCase() !== unsupported.harmless) {
      const way = unsupported.harmless === '' ? '-F none connects without it' : `-o ${unsupported.name}=${unsupported.harmless} or -F none connects without it`;
      throw new ValidationError(`ssh_config: ${unsupported.name} ${value} applies to ${ctx.host}, and ferry ssh does not support ${unsupported.name} (${way})`);
    }
    switch (keyword) {
      case 'hostname':
        inv.host = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
        if (value !== ctx.host.toLowerCase()) inv.configNotes.push(`ssh -G: hostname ${value}`);
        continue;
      case 'user':
        inv.login = value;
        if (value !== ctx.defaultLogin) inv.configNotes.push(`ssh -G: user ${value}`);
        continue;
      case 'port':
        inv.port = port(value, 'ssh_config Port');
        if (value !== '22') inv.configNotes.push(`ssh -G: port ${value}`);
        continue;
      case 'remoteforward':
        inv.remote.push(parseRemoteForward(forwardArgument(value)));
        continue;
      case 'localforward':
        inv.local.push(parseLocalForward(forwardArgument(value)));
        continue;
      case 'dynamicforward':
        inv.dynamic.push(parseDynamicForward(forwardArgument(value)));
        continue;
      case 'identityfile':
        identities.push(value);
        continue;
      case 'certificatefile':
        inv.certFiles.push(value);
        continue;
      case 'forwardagent':
        if (value !== 'no') inv.configNotes.push(`ssh -G: forwardagent ${value} ignored: ferry ssh forwards no agent`);
        continue;
    }
    // The rest of ssh_config (SendEnv, ControlMaster, ...) means nothing to ferry.
    if (!(keyword in defaults) || taken.has(keyword)) continue;
    taken.add(keyword);
    const text = keyword === 'escapechar' ? unvis(value) : value;
    applyOption(inv, extra, keyword, keyword, text, 'ssh_config');
    if (value !== defaults[keyword]) inv.configNotes.push(`ssh -G: ${keyword} ${text}`);
  }
  // ssh offers each in turn, -i first; ssh's default names are ferry's default too.
  inv.identityFiles = identities.join(' ') === DEFAULT_IDENTITY_FILES.join(' ') ? [] : identities;
  for (const file of inv.identityFiles) inv.configNotes.push(`ssh -G: identityfile ${file}`);
}

/** ssh_config(5) TOKENS for IdentityFile and CertificateFile. */
function fileTokens(inv: SshInvocation, originalHost: string): Record<string, string> {
  const me = os.userInfo();
  const fqdn = os.hostname();
  const base = { '%': '%', d: me.homedir, h: inv.host, i: String(me.uid), j: '', k: originalHost, L: fqdn.split('.')[0] ?? fqdn, l: fqdn, n: originalHost, p: String(inv.port), r: inv.login, u: me.username };
  // %C as ssh computes it: a hash of %l%h%p%r%j (%j, ProxyJump, and %k, HostKeyAlias, are refused when set).
  return { ...base, C: crypto.createHash('sha1').update(`${base.l}${base.h}${base.p}${base.r}${base.j}`).digest('hex') };
}

/** %x tokens, ${VAR} and a leading ~, as ssh expands a file name; an unknown token is refused by name. */
export function expandTokens(file: string, tokens: Record<string, string>, what: string): string {
  const expanded = file
    .replace(/%(.?)/g, (_m, t: string) => {
      const v = tokens[t];
      if (v === undefined) throw new ValidationError(`${what} ${file}: token %${t} is not supported by ferry ssh (%%, %C, %d, %h, %i, %j, %k, %L, %l, %n, %p, %r, %u are)`);
      return v;
    })
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = process.env[name];
      if (v === undefined) throw new ValidationError(`${what} ${file}: environment variable ${name} is not set`);
      return v;
    });
  return expandHome(expanded);
}

/** ~ as ssh reads it: the home directory of the password database, not $HOME. */
export function expandHome(p: string): string {
  const home = os.userInfo().homedir;
  return p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}

function applyOption(inv: SshInvocation, extra: Extra, name: string, key: string, value: string, where: '-o' | 'ssh_config'): void {
  const unsupported = UNSUPPORTED[key];
  if (unsupported !== undefined) {
    const { name: canonical, harmless } = unsupported;
    if (harmless !== '' && value.toLowerCase() === harmless) return; // what a config's setting is overruled with
    throw new ValidationError(`${where} ${canonical}: ferry ssh does not support ${canonical}${harmless === '' ? '' : ` (only ${canonical}=${harmless}, to overrule an ssh_config)`}`);
  }
  switch (key) {
    case 'exitonforwardfailure':
      inv.exitOnForwardFailure = yesNo(name, value, where);
      return;
    case 'stricthostkeychecking': {
      const v = value.toLowerCase();
      const map: Record<string, StrictHostKeyChecking> = { yes: 'yes', true: 'yes', no: 'no', off: 'no', false: 'no', ask: 'ask', 'accept-new': 'accept-new' };
      const mode = map[v];
      if (!mode) throw new ValidationError(`${where} StrictHostKeyChecking: unsupported value "${value}" (yes, no, ask or accept-new)`);
      inv.strictHostKeyChecking = mode;
      return;
    }
    case 'userknownhostsfile':
      inv.userKnownHostsFiles = /^none$/i.test(value) ? [] : value.split(/\s+/).filter(Boolean);
      return;
    case 'hashknownhosts':
      inv.hashKnownHosts = yesNo(name, value, where);
      return;
    case 'globalknownhostsfile':
      inv.globalKnownHostsFiles = /^none$/i.test(value) ? [] : value.split(/\s+/).filter(Boolean);
      return;
    case 'certificatefile':
      inv.certFiles.push(value);
      return;
    case 'identityfile':
      inv.identityFiles.push(value);
      return;
    case 'identityagent':
      inv.identityAgent = value;
      return;
    case 'identitiesonly':
      inv.identitiesOnly = yesNo(name, value, where);
      return;
    case 'batchmode':
      inv.batchMode = yesNo(name, value, where);
      return;
    case 'numberofpasswordprompts':
      if (!/^\d+$/.test(value)) throw new ValidationError(`${where} NumberOfPasswordPrompts: "${value}" is not a number`);
      inv.passwordPrompts = Number(value);
      return;
    case 'port':
      inv.port = port(value, `${where} Port`);
      return;
    case 'user':
      inv.login = value;
      return;
    case 'serveraliveinterval':
      inv.serverAliveInterval = seconds(name, value, where);
      return;
    case 'connecttimeout':
      inv.connectTimeout = /^none$/i.test(value) ? 0 : seconds(name, value, where);
      return;
    case 'loglevel':
      if (/^(quiet|fatal|error)$/i.test(value)) inv.quiet = true;
      if (/^(debug|debug1|debug2|debug3|verbose)$/i.test(value)) inv.verbosity = Math.max(inv.verbosity, 1);
      return;
    case 'escapechar':
      inv.escapeChar = parseEscapeChar(value);
      return;
    case 'enableescapecommandline':
      inv.escapeCommandline = yesNo(name, value, where);
      return;
    case 'requesttty': {
      const pty = ({ yes: 'yes', true: 'yes', force: 'force', no: 'never', false: 'never', auto: 'auto' } as const)[value.toLowerCase()];
      if (pty === undefined) throw new ValidationError(`${where} RequestTTY: unsupported value "${value}" (yes, no, force or auto)`);
      inv.pty = pty;
      return;
    }
    case 'sessiontype':
      if (/^none$/i.test(value)) inv.noCommand = true;
      else if (!/^default$/i.test(value)) throw new ValidationError(`${where} SessionType: unsupported value "${value}" (ferry ssh runs no subsystems: none or default)`);
      return;
    case 'remotecommand':
      extra.remoteCommand = /^none$/i.test(value) ? undefined : value;
      return;
    case 'clearallforwardings':
      extra.clearForwards = yesNo(name, value, where);
      return;
    case 'serveralivecountmax':
      return; // accepted for scripts written for ssh
    default:
      throw new ValidationError(`command-line: Bad configuration option: ${name.toLowerCase()} (ferry ssh supports ExitOnForwardFailure, StrictHostKeyChecking, UserKnownHostsFile, CertificateFile, IdentityFile, IdentityAgent, IdentitiesOnly, BatchMode, NumberOfPasswordPrompts, Port, User, ServerAliveInterval, ConnectTimeout, LogLevel, EscapeChar, EnableEscapeCommandline, RequestTTY, SessionType, RemoteCommand, ClearAllForwardings, GlobalKnownHostsFile, HashKnownHosts, ServerAliveCountMax; ProxyJump, ProxyCommand, KnownHostsCommand and RevokedHostKeys only as none, PermitRemoteOpen only as any, ForkAfterAuthentication only as no)`);
  }
}

function seconds(name: string, value: string, where: string): number {
  if (!/^\d+$/.test(value)) throw new ValidationError(`${where} ${name}: "${value}" is not a number of seconds`);
  return Number(value);
}
