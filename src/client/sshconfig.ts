// ssh_config for `ferry ssh`, read through OpenSSH itself. `ssh -G` prints the settings ssh
// would use for a destination after every rule ssh_config(5) has: the user's file and the
// system one (or -F), Host and Match blocks, Include, first value wins, tokens. A second
// parser here would be a second, different copy of rules OpenSSH owns, so ferry asks ssh and
// takes from the answer what it implements (src/client/options.ts decides which).

import { spawn } from 'node:child_process';
import { ValidationError } from '../errors';
import { descendants } from '../procs';

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
    // Not its own session or group: a Match exec may want the terminal (gpg-connect-agent
    // updatestartuptty). So on a timeout or a signal its whole tree is found and killed.
    const child = spawn(ssh, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const killTree = () => {
      const pid = child.pid;
      if (pid === undefined) return;
      for (const p of [pid, ...descendants(pid)]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, timeoutMs);
    // A signal that ends ferry meanwhile ends the tree too, then ferry as it would have.
    const onSignal = (signal: NodeJS.Signals) => {
      killTree();
      done();
      process.kill(process.pid, signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
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
    // ssh -G's exit ends it, not its pipes: something a Match exec left in the background
    // may hold its stderr open. Its answer is whole once its stdout has ended.
    const stdoutEnded = new Promise<void>((r) => child.stdout.once('end', () => r()));
    child.once('exit', (code) => {
      done();
      if (timedOut) return reject(new ValidationError(`ssh_config: ssh -G did not answer within ${timeoutMs / 1000} s (a Match exec that hangs?) ${hint}`));
      if (code === 0) {
        child.stderr.destroy();
        void stdoutEnded.then(() => resolve(parseSshG(stdout)));
        return;
      }
      // What ssh said went out before it exited; give the pipe a moment to deliver it.
      const stderrEnded = new Promise<void>((r) => child.stderr.once('end', () => r()));
      void Promise.race([stderrEnded, new Promise((r) => setTimeout(r, 200))]).then(() => {
        child.stderr.destroy();
        const said = stderr.trim().replace(/\r/g, '');
        reject(new ValidationError(`${said !== '' ? said : `ssh -G exited with status ${String(code)}`}\n${hint}`));
      });
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
