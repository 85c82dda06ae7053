// A private key's passphrase, asked for as ssh asks (OpenSSH's readpass.c, read_passphrase):
// on the terminal, /dev/tty, without echo; through the SSH_ASKPASS program only when there is
// no terminal to open and a display, or when SSH_ASKPASS_REQUIRE says so.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import tty from 'node:tty';

/** Resolves with what was typed, or undefined when nothing can be asked or the asking was cancelled. */
export type AskPassphrase = (prompt: string) => Promise<string | undefined>;

const DEFAULT_ASKPASS = '/usr/bin/ssh-askpass';

export function passphraseAsker(debug: (line: string) => void, env: NodeJS.ProcessEnv = process.env): AskPassphrase {
  return (prompt) => {
    const require = (env.SSH_ASKPASS_REQUIRE ?? '').toLowerCase();
    let allowAskpass = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
    let useAskpass = false;
    if (require === 'force') useAskpass = allowAskpass = true;
    else if (require === 'prefer') useAskpass = allowAskpass;
    else if (require === 'never') allowAskpass = false;
    let fd: number | undefined;
    if (!useAskpass) {
      try {
        fd = fs.openSync('/dev/tty', 'r+');
      } catch (err) {
        debug(`read_passphrase: can't open /dev/tty: ${(err as Error).message}`);
        useAskpass = true;
      }
    }
    if (useAskpass && allowAskpass) return runAskpass(env.SSH_ASKPASS || DEFAULT_ASKPASS, prompt, debug);
    return fd === undefined ? Promise.resolve(undefined) : readFromTerminal(fd, prompt);
  };
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
 * Reads a line from the terminal `fd` in raw mode, echoing nothing: Enter ends it, Backspace
 * and ^U edit it, ^D on an empty line gives none. ^C and ^\\, or a signal that would end ferry
 * meanwhile, restore the terminal first and then have their way; ^Z suspends with the terminal
 * restored and asks again on return, as readpassphrase(3) does.
 */
function readFromTerminal(fd: number, prompt: string): Promise<string | undefined> {
  const input = new tty.ReadStream(fd);
  // libuv reopens a terminal for its stream (to make it non-blocking) and closes only its own.
  const reopened = (input as unknown as { _handle?: { fd?: number } })._handle?.fd !== fd;
  return new Promise((resolve) => {
    let typed = '';
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
    const restore = () => {
      input.off('data', onData);
      for (const sig of signals) process.off(sig, onSignal);
      process.off('exit', restore);
      input.setRawMode(false);
      fs.writeSync(fd, '\n');
      input.destroy();
      if (reopened) fs.closeSync(fd);
    };
    const finish = (answer: string | undefined) => {
      restore();
      resolve(answer);
    };
    const onSignal = (sig: NodeJS.Signals) => {
      finish(undefined);
      process.kill(process.pid, sig);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(typed);
        if (ch === '\x03') return onSignal('SIGINT');
        if (ch === '\x1c') return onSignal('SIGQUIT');
        if (ch === '\x04' && typed === '') return finish(undefined);
        if (ch === '\x1a') {
          input.setRawMode(false);
          fs.writeSync(fd, '\n');
          process.kill(process.pid, 'SIGTSTP'); // stopped here until the shell's fg
          input.setRawMode(true);
          fs.writeSync(fd, `\r${prompt}`);
          continue;
        }
        if (ch === '\x7f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch === '\x15') typed = '';
        else if (ch >= ' ' || ch === '\t') typed += ch;
      }
    };
    // The handlers first, so that no moment leaves the terminal raw to a signal.
    for (const sig of signals) process.once(sig, onSignal);
    process.once('exit', restore);
    input.on('data', onData);
    input.setRawMode(true);
    fs.writeSync(fd, `\r${prompt}`); // \r: over anything typed ahead, as ssh
  });
}
