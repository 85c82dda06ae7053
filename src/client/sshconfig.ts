// ssh_config for `ferry ssh`, read through OpenSSH itself. `ssh -G` prints the settings ssh
// would use for a destination after every rule ssh_config(5) has: the user's file and the
// system one (or -F), Host and Match blocks, Include, first value wins, tokens. A second
// parser here would be a second, different copy of rules OpenSSH owns, so ferry asks ssh and
// takes from the answer what it implements (src/client/options.ts decides which).

import { execFile } from 'node:child_process';
import { ValidationError } from '../errors';

/** One `keyword value` line of `ssh -G`, keyword in lower case, in ssh's order. */
export interface SshConfigEntry {
  readonly keyword: string;
  readonly value: string;
}

export interface SshConfigQuery {
  /** -F: a file instead of ~/.ssh/config and /etc/ssh/ssh_config. */
  readonly file: string | undefined;
  /** The destination as typed ([user@]host). */
  readonly destination: string;
  /** -l and -p as typed, so that Match user and %r/%p see them. */
  readonly login: string | undefined;
  readonly port: string | undefined;
  /** -N and the command: ssh -G checks them against ForkAfterAuthentication and RemoteCommand. */
  readonly noCommand: boolean;
  readonly command: readonly string[];
  /** The OpenSSH client to ask (default: `ssh` on PATH). */
  readonly ssh?: string;
}

/** ssh -G of a config that cannot be read, or whose Match exec hangs, ends here. */
const SSH_G_TIMEOUT_MS = 10_000;

/**
 * The settings ssh would use for this destination, or null when no OpenSSH client is
 * installed and no -F asked for a file (then there is no config to honour but ferry's own
 * defaults). A config ssh refuses is refused here with ssh's own words.
 */
export function readSshConfig(query: SshConfigQuery): Promise<SshConfigEntry[] | null> {
  const args = ['-G'];
  if (query.file !== undefined) args.push('-F', query.file);
  if (query.login !== undefined) args.push('-l', query.login);
  if (query.port !== undefined) args.push('-p', query.port);
  if (query.noCommand) args.push('-N');
  args.push('--', query.destination, ...query.command);
  const ssh = query.ssh ?? 'ssh';
  return new Promise((resolve, reject) => {
    const child = execFile(ssh, args, { encoding: 'utf8', timeout: SSH_G_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(parseSshG(stdout));
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        if (query.file === undefined) return resolve(null);
        return reject(new ValidationError(`-F ${query.file}: reading an ssh_config needs OpenSSH's ssh (ssh -G), and ${ssh} is not installed`));
      }
      const said = stderr.trim().replace(/\r/g, '');
      if (err.killed) return reject(new ValidationError(`ssh_config: ssh -G did not answer within ${SSH_G_TIMEOUT_MS / 1000} s (a Match exec that hangs?)`));
      reject(new ValidationError(said !== '' ? said : `ssh_config: ssh -G failed: ${err.message}`));
    });
    child.stdin?.end();
  });
}

/** `keyword value` lines; values keep their inner spaces. */
export function parseSshG(text: string): SshConfigEntry[] {
  const entries: SshConfigEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line.replace(/\r$/, ''));
    if (m && m[1] && m[2] !== undefined) entries.push({ keyword: m[1].toLowerCase(), value: m[2] });
  }
  // OpenSSH's dump (readconf.c dump_cfg_forwards, 9.2) prints a LocalForward to a unix socket
  // a second time as a DynamicForward of its listen address: its target has no host, which
  // the dump reads as SOCKS. That phantom is dropped, or ferry would bind the port twice.
  const toSocket = new Set(entries.filter((e) => e.keyword === 'localforward' && / \//.test(e.value)).map((e) => e.value.split(' ')[0]));
  return entries.filter((e) => !(e.keyword === 'dynamicforward' && toSocket.has(e.value)));
}

/** ssh -G prints a control character vis(3)-encoded (`\^A`) and a backslash doubled. */
export function unvis(value: string): string {
  return value.replace(/\\(\^.|\\)/g, (_m, s: string) => (s === '\\' ? '\\' : s));
}

/**
 * A forward as ssh -G prints it (`LISTEN CONNECT`, hosts in brackets, reverse dynamic as
 * `[socks]:0`) in the one-argument form `-L`/`-R` take.
 */
export function forwardArgument(value: string): string {
  const [listen = '', connect] = value.split(' ');
  if (connect === undefined || connect === '[socks]:0') return listen;
  return `${listen}:${connect}`;
}
