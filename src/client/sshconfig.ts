// ssh_config for `ferry ssh`, read through OpenSSH itself. `ssh -G` prints the settings ssh
// would use for a destination after every rule ssh_config(5) has: the user's file and the
// system one (or -F), Host and Match blocks, Include, first value wins, tokens. A second
// parser here would be a second, different copy of rules OpenSSH owns, so ferry asks ssh and
// takes from the answer what it implements (src/client/options.ts decides which).

import { spawn } from 'node:child_process';
import { ValidationError } from '../errors';

/** One `keyword value` line of `ssh -G`, keyword in lower case, in ssh's order. */
export interface SshConfigEntry {
  readonly keyword: string;
  readonly value: string;
}

export interface SshConfigQuery {
  /**
   * `ferry ssh`'s arguments as typed, destination and command included. ferry's flags are all
   * ssh's, so ssh -G reads them as ssh would, in their order.
   */
  readonly args: readonly string[];
  /** -F, for the message when there is no ssh to read it. */
  readonly file: string | undefined;
  /** The OpenSSH client to ask (default: `ssh` on PATH). */
  readonly ssh?: string;
  readonly timeoutMs?: number;
}

/** ssh -G of a config that cannot be read, or whose Match exec hangs, ends here. */
const SSH_G_TIMEOUT_MS = 10_000;

/**
 * The settings ssh would use for this destination, or null when no OpenSSH client is
 * installed and no -F asked for a file (then there is no config to honour but ferry's own
 * defaults). A config ssh refuses is refused here with ssh's own words.
 */
export function readSshConfig(query: SshConfigQuery): Promise<SshConfigEntry[] | null> {
  const args = ['-G', ...query.args];
  const ssh = query.ssh ?? 'ssh';
  const timeoutMs = query.timeoutMs ?? SSH_G_TIMEOUT_MS;
  const hint = "(ferry ssh reads ssh_config through OpenSSH's ssh -G; -F none reads none)";
  return new Promise((resolve, reject) => {
    // Its own process group, so that a Match exec still running at the timeout goes with it.
    const child = spawn(ssh, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    // A signal that ends ferry meanwhile ends the group too (it is not ferry's group), then ferry as it would have.
    const onSignal = (signal: NodeJS.Signals) => {
      killGroup();
      done();
      process.kill(process.pid, signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const signal of signals) process.once(signal, onSignal);
    const done = () => {
      clearTimeout(timer);
      for (const signal of signals) process.removeListener(signal, onSignal);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code !== 'ENOENT') return reject(new ValidationError(`ssh_config: cannot run ${ssh} -G: ${err.message} ${hint}`));
      if (query.file === undefined) return resolve(null);
      reject(new ValidationError(`-F ${query.file}: reading an ssh_config needs OpenSSH's ssh (ssh -G), and ${ssh} is not installed`));
    });
    child.on('close', (code) => {
      done();
      if (timedOut) return reject(new ValidationError(`ssh_config: ssh -G did not answer within ${timeoutMs / 1000} s (a Match exec that hangs?) ${hint}`));
      if (code === 0) return resolve(parseSshG(stdout));
      const said = stderr.trim().replace(/\r/g, '');
      reject(new ValidationError(`${said !== '' ? said : `ssh -G exited with status ${String(code)}`}\n${hint}`));
    });
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

/** ssh -G prints a value vis(3)-encoded: a control character as `\^A`, a space as `\040`, a backslash doubled. */
export function unvis(value: string): string {
  return value.replace(/\\(\^.|\\|[0-7]{3})/g, (_m, s: string) => (s === '\\' ? '\\' : s.startsWith('^') ? s : String.fromCharCode(parseInt(s, 8))));
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
