// `ferry ssh` options: the flags and the -o keywords that ssh(1) users type, turned into one
// typed invocation. Parsing only; nothing connects here.

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
  /** What ssh_config set, for -v. */
  configNotes: string[];
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

/** [user@]host as typed: the login before the last @, the host without IPv6 brackets. */
export function splitDestination(destination: string): { login: string | undefined; host: string } {
  const at = destination.lastIndexOf('@');
  let host = at >= 0 ? destination.slice(at + 1) : destination;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || /[\s/]/.test(host)) throw new ValidationError(`hostname contains invalid characters: "${destination}"`);
  return { login: at >= 0 ? destination.slice(0, at) : undefined, host };
}

/**
 * Splits [user@]host and applies the flags, the -o options and then ssh_config (`ssh -G`'s
 * answer, see sshconfig.ts), with ssh's precedence: the command line first, and for each
 * setting the first value given wins; forwards add up, the command line's first.
 */
export function buildInvocation(destination: string, command: string[], flags: RawSshFlags, defaultLogin: string, config: readonly SshConfigEntry[] = []): SshInvocation {
  const { login: destLogin, host } = splitDestination(destination);
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
    configNotes: [],
  };
  const extra: Extra = { remoteCommand: undefined, clearForwards: false };
  // The settings the command line gave: ssh keeps the first value given for an option.
  const seen = new Set<string>();
  const flagged: Array<[string, unknown]> = [['port', flags.p], ['user', flags.l ?? destLogin], ['identityfile', flags.i], ['requesttty', flags.t || flags.T || undefined], ['sessiontype', flags.N], ['loglevel', flags.q || flags.v || undefined], ['escapechar', flags.e]];
  for (const [key, value] of flagged) if (value !== undefined && value !== false) seen.add(key);
  for (const raw of flags.o) {
    const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$/.exec(raw);
    if (!m || !m[1] || m[2] === undefined) throw new ValidationError(`command-line: bad -o option "${raw}" (expected Keyword=value)`);
    const key = m[1].toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    applyOption(inv, extra, m[1], key, m[2], '-o');
  }
  if (flags.e !== undefined) inv.escapeChar = parseEscapeChar(flags.e);
  applyConfig(inv, extra, config, seen, { host, defaultLogin });
  if (extra.clearForwards) {
    inv.remote = [];
    inv.local = [];
    inv.dynamic = [];
  }
  if (extra.remoteCommand !== undefined && !inv.noCommand) {
    if (inv.command.length > 0) throw new ValidationError('Cannot execute command-line and remote command.');
    inv.command = [extra.remoteCommand];
  }
  const tokens = fileTokens(inv, host);
  if (inv.keyFile !== undefined) inv.keyFile = expandTokens(inv.keyFile, tokens, 'IdentityFile');
  if (inv.certFile !== undefined) inv.certFile = expandTokens(inv.certFile, tokens, 'CertificateFile');
  return inv;
}

/** Settings that only take effect once every source has been read. */
interface Extra {
  remoteCommand: string | undefined;
  clearForwards: boolean;
}

/** Settings ferry does not implement and cannot ignore: each would reach another host or trust another key. */
const UNSUPPORTED: Record<string, string> = {
  proxyjump: 'ProxyJump',
  proxycommand: 'ProxyCommand',
  hostkeyalias: 'HostKeyAlias',
  knownhostscommand: 'KnownHostsCommand',
};

/** OpenSSH's default identities, which ssh -G lists when no IdentityFile is set. */
const DEFAULT_IDENTITY = /^~\/\.ssh\/id_(?:rsa|ecdsa|ecdsa_sk|ed25519|ed25519_sk|xmss|dsa)$/;

/**
 * Applies what ssh -G printed for the settings ferry implements, skipping those the command
 * line gave. ssh -G prints every setting, defaults included, so a value equal to OpenSSH's
 * default reads as "not set" (the same result, except EnableEscapeCommandline, whose default
 * differs: a config's "no" cannot be told from ssh's default, and ~C stays on).
 */
function applyConfig(inv: SshInvocation, extra: Extra, config: readonly SshConfigEntry[], seen: ReadonlySet<string>, ctx: { host: string; defaultLogin: string }): void {
  const identities: string[] = [];
  const home = os.userInfo().homedir;
  // What ferry takes from ssh -G, each with what ssh -G prints when nothing set it.
  const defaults: Record<string, string | undefined> = {
    hostname: ctx.host.toLowerCase(),
    user: ctx.defaultLogin,
    port: '22',
    certificatefile: undefined,
    userknownhostsfile: `${home}/.ssh/known_hosts ${home}/.ssh/known_hosts2`,
    stricthostkeychecking: 'ask',
    exitonforwardfailure: 'no',
    serveraliveinterval: '0',
    connecttimeout: 'none',
    loglevel: 'INFO',
    escapechar: '~',
    enableescapecommandline: 'no',
    requesttty: 'auto',
    sessiontype: 'default',
    remotecommand: undefined,
    clearallforwardings: 'no',
  };
  const taken = new Set<string>();
  for (const { keyword, value } of config) {
    const unsupported = UNSUPPORTED[keyword];
    if (unsupported !== undefined && !seen.has(keyword)) {
      throw new ValidationError(`ssh_config: ${unsupported} ${value} applies to ${ctx.host}, and ferry ssh does not support ${unsupported} (-o ${unsupported}=none or -F none connects without it)`);
    }
    if (keyword === 'remoteforward') inv.remote.push(parseRemoteForward(forwardArgument(value)));
    else if (keyword === 'localforward') inv.local.push(parseLocalForward(forwardArgument(value)));
    else if (keyword === 'dynamicforward') inv.dynamic.push(parseDynamicForward(forwardArgument(value)));
    else if (keyword === 'identityfile') identities.push(value);
    if (keyword === 'forkafterauthentication' && value === 'yes') {
      throw new ValidationError(`ssh_config: ForkAfterAuthentication (ssh -f) applies to ${ctx.host}, and ferry ssh does not go to the background (-F none connects without the config)`);
    }
    if (keyword === 'forwardagent' && value !== 'no') inv.configNotes.push(`forwardagent ${value} ignored: ferry ssh forwards no agent`);
    // The rest of ssh_config (SendEnv, ControlMaster, ...) means nothing to ferry.
    if (!(keyword in defaults) || seen.has(keyword) || taken.has(keyword) || value === defaults[keyword]) continue;
    taken.add(keyword);
    if (keyword === 'hostname') inv.host = value;
    else applyOption(inv, extra, keyword, keyword, keyword === 'escapechar' ? unvis(value) : value, 'ssh_config');
    inv.configNotes.push(`${keyword} ${keyword === 'escapechar' ? unvis(value) : value}`);
  }
  if (!seen.has('identityfile') && identities.length > 0 && !identities.every((f) => DEFAULT_IDENTITY.test(f))) {
    // ssh offers each in turn; ferry offers one: the first that exists (or the first, to name it).
    const tokens = fileTokens(inv, ctx.host);
    inv.keyFile = identities.find((f) => fs.existsSync(expandTokens(f, tokens, 'IdentityFile'))) ?? identities[0];
    inv.configNotes.push(`identityfile ${inv.keyFile}`);
  }
}

/** ssh_config(5) TOKENS for IdentityFile and CertificateFile. */
function fileTokens(inv: SshInvocation, originalHost: string): Record<string, string> {
  const me = os.userInfo();
  const fqdn = os.hostname();
  return { '%': '%', d: me.homedir, h: inv.host, i: String(me.uid), L: fqdn.split('.')[0] ?? fqdn, l: fqdn, n: originalHost, p: String(inv.port), r: inv.login, u: me.username };
}

/** %x tokens, ${VAR} and a leading ~, as ssh expands a file name; an unknown token is refused by name. */
export function expandTokens(file: string, tokens: Record<string, string>, what: string): string {
  const expanded = file
    .replace(/%(.?)/g, (_m, t: string) => {
      const v = tokens[t];
      if (v === undefined) throw new ValidationError(`${what} ${file}: token %${t} is not supported by ferry ssh (%%, %d, %h, %i, %L, %l, %n, %p, %r, %u are)`);
      return v;
    })
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = process.env[name];
      if (v === undefined) throw new ValidationError(`${what} ${file}: environment variable ${name} is not set`);
      return v;
    });
  return expanded === '~' ? os.userInfo().homedir : expanded.startsWith('~/') ? path.join(os.userInfo().homedir, expanded.slice(2)) : expanded;
}

function applyOption(inv: SshInvocation, extra: Extra, name: string, key: string, value: string, where: '-o' | 'ssh_config'): void {
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
      inv.userKnownHostsFiles = value.split(/\s+/).filter(Boolean);
      return;
    case 'certificatefile':
      inv.certFile = value;
      return;
    case 'identityfile':
      inv.keyFile ??= value;
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
      inv.connectTimeout = seconds(name, value, where);
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
      const pty = ({ yes: 'force', true: 'force', force: 'force', no: 'never', false: 'never', auto: 'auto' } as const)[value.toLowerCase()];
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
    case 'proxyjump':
    case 'proxycommand':
      if (/^none$/i.test(value)) return; // what a config's ProxyJump is overruled with
      throw new ValidationError(`${where} ${name}: ferry ssh does not support ${UNSUPPORTED[key] ?? name} (only ${UNSUPPORTED[key] ?? name}=none, to skip one ssh_config sets)`);
    case 'batchmode':
    case 'identitiesonly':
    case 'serveralivecountmax':
      return; // accepted for scripts written for ssh; ferry never prompts for passwords
    default:
      throw new ValidationError(`command-line: Bad configuration option: ${name.toLowerCase()} (ferry ssh supports ExitOnForwardFailure, StrictHostKeyChecking, UserKnownHostsFile, CertificateFile, IdentityFile, Port, User, ServerAliveInterval, ConnectTimeout, LogLevel, EscapeChar, EnableEscapeCommandline, RequestTTY, SessionType, RemoteCommand, ClearAllForwardings, ProxyJump=none, ProxyCommand=none, BatchMode, IdentitiesOnly)`);
  }
}

function seconds(name: string, value: string, where: string): number {
  if (!/^\d+$/.test(value)) throw new ValidationError(`${where} ${name}: "${value}" is not a number of seconds`);
  return Number(value);
}
