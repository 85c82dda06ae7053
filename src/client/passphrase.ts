// A private key's passphrase, asked for as ssh asks (OpenSSH's readpass.c): on the terminal,
// /dev/tty, without echo; or through the SSH_ASKPASS program when there is a display and no
// terminal on stdin (or SSH_ASKPASS_REQUIRE says so).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import tty from 'node:tty';

/** Resolves with what was typed, or undefined when nothing can be asked or the asking was cancelled. */
export type AskPassphrase = (prompt: string) => Promise<string | undefined>;

const DEFAULT_ASKPASS = '/usr/bin/ssh-askpass';

export function passphraseAsker(debug: (line: string) => void, env: NodeJS.ProcessEnv = process.env, stdinIsTTY = Boolean(process.stdin.isTTY)): AskPassphrase {
  const require = (env.SSH_ASKPASS_REQUIRE ?? '').toLowerCase();
  const display = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  const askpass = require === 'force' || (require !== 'never' && display && (require === 'prefer' || !stdinIsTTY));
  if (askpass) {
    const program = env.SSH_ASKPASS || DEFAULT_ASKPASS;
    return (prompt) => runAskpass(program, prompt, debug);
  }
  return (prompt) => readFromTerminal(prompt, debug);
}

function runAskpass(program: string, prompt: string, debug: (line: string) => void): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(program, [prompt], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', (err) => {
      debug(`ssh_askpass: exec(${program}): ${err.message}`);
      resolve(undefined);
    });
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined); // cancelled
      resolve(Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, ''));
    });
  });
}

/**
 * Reads a line from /dev/tty in raw mode, echoing nothing: Enter ends it, Backspace and ^U
 * edit it, ^D on an empty line gives none, and ^C restores the terminal and interrupts ferry,
 * as readpassphrase(3) does.
 */
function readFromTerminal(prompt: string, debug: (line: string) => void): Promise<string | undefined> {
  let fd: number;
  try {
    fd = fs.openSync('/dev/tty', 'r+');
  } catch (err) {
    debug(`read_passphrase: can't open /dev/tty: ${(err as Error).message}`);
    return Promise.resolve(undefined);
  }
  const input = new tty.ReadStream(fd);
  input.setRawMode(true);
  fs.writeSync(fd, prompt);
  return new Promise((resolve) => {
    let typed = '';
    const finish = (answer: string | undefined, interrupted = false) => {
      input.off('data', onData);
      input.setRawMode(false);
      fs.writeSync(fd, '\n');
      input.destroy(); // closes fd
      resolve(answer);
      if (interrupted) process.kill(process.pid, 'SIGINT');
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(typed);
        if (ch === '\x03') return finish(undefined, true);
        if (ch === '\x04' && typed === '') return finish(undefined);
        if (ch === '\x7f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch === '\x15') typed = '';
        else if (ch >= ' ' || ch === '\t') typed += ch;
      }
    };
    input.on('data', onData);
  });
}
