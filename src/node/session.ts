// Session channels: exec and shell, with a PTY when asked, running as the login's OS user
// with its groups. Exit status and signals go back to the client as sshd sends them.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Connection, ServerChannel, Session } from 'ssh2';
import * as pty from 'node-pty';
import type { Scope } from '../scope';
import type { Access } from '../policy/access';
import { authorizePty } from '../policy/authorize';
import { onOtherSessionRequest, sendDebug } from '../protocol/ssh2-ext';
import type { Identity } from './authenticate';
import type { NodeAudit } from './audit';
import { asUser } from './osuser';
import { sttyArgs } from '../protocol/ttymodes';
import { withTtyModes } from './ttymodes';

export interface SessionContext {
  client: Connection;
  identity: Identity;
  scope: Scope;
  access(): Promise<Access>;
  audit: NodeAudit;
  localAddress: string;
  localPort: number;
}

interface PtyRequest {
  term: string;
  cols: number;
  rows: number;
  /** The client's terminal modes, as groups of stty arguments. */
  modes: string[][];
}

/** Environment names a client may set, as Debian's sshd AcceptEnv. */
const ACCEPT_ENV = /^(LANG|LC_[A-Z_]+)$/;
const SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);
/** How long a hung-up session has to end before its scope closes without it. */
const HANGUP_GRACE_MS = 2000;

export function handleSession(ctx: SessionContext, session: Session): void {
  const scope = ctx.scope.child();
  const env: Record<string, string> = {};
  let ptyRequest: PtyRequest | undefined;
  let started = false;
  let resize: ((cols: number, rows: number) => void) | undefined;
  let signal: ((name: string) => void) | undefined;

  // Requests on a channel are answered in order (RFC 4254 5.4): the PTY decision is
  // asynchronous, and what follows it waits. A step with nothing ahead of it runs at once, so
  // that an exec answers before a request sent after it.
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;
  const failed = (err: unknown) => ctx.audit.emit({ type: 'session.error', success: false, message: String(err) }, ctx.identity);
  // A step that fails inside is refused (a no-op if it had answered), so none goes unanswered.
  const inOrder = (step: () => void | Promise<void>, reject: (() => void) | undefined) => {
    const fail = (err: unknown) => {
      failed(err);
      reject?.();
    };
    let result: void | Promise<void>;
    if (waiting === 0) {
      try {
        result = step();
      } catch (err) {
        fail(err);
        return;
      }
      if (!(result instanceof Promise)) return;
    } else {
      result = queue.then(step);
    }
    waiting += 1;
    queue = result.catch(fail).finally(() => { waiting -= 1; });
  };
  session.on('pty', (accept, reject, info) => {
    inOrder(async () => {
      if (started) return reject?.();
      const decision = authorizePty(await ctx.access(), ctx.identity.permitPty);
      if (!decision.allow) {
        ctx.audit.refusal('session.pty', decision, ctx.identity);
        sendDebug(ctx.client, decision.message);
        reject?.();
        return;
      }
      ptyRequest = { term: info.term || 'xterm', cols: info.cols || 80, rows: info.rows || 24, modes: sttyArgs(info.modes) };
      accept?.();
    }, reject);
  });
  session.on('window-change', (accept, _reject, info) => {
    inOrder(() => {
      if (ptyRequest) {
        ptyRequest.cols = info.cols;
        ptyRequest.rows = info.rows;
      }
      resize?.(info.cols, info.rows);
      accept?.();
    }, _reject);
  });
  session.on('env', (accept, reject, info) => {
    inOrder(() => {
      if (ACCEPT_ENV.test(info.key) && !started && !info.val.includes('\0')) {
        env[info.key] = info.val;
        accept?.();
      } else {
        reject?.();
      }
    }, reject);
  });
  session.on('signal', (accept, reject, info) => {
    inOrder(() => {
      if (signal && SIGNALS.has(info.name)) {
        signal(info.name);
        accept?.();
      } else {
        reject?.();
      }
    }, reject);
  });
  // Subsystems, x11, agent forwarding, keepalive@openssh.com and the rest: refused, in turn.
  session.on('subsystem', (_accept, reject) => inOrder(() => reject?.(), reject));
  onOtherSessionRequest(session, (reject) => inOrder(() => reject?.(), reject));
  const start = (command: string | undefined, accept: () => ServerChannel | undefined) => {
    started = true;
    // No channel when the client closed the session before this step ran.
    const channel = accept();
    if (!channel) return;
    const controls = run(ctx, scope, channel, command, env, ptyRequest);
    resize = controls.resize;
    signal = controls.signal;
  };
  session.on('exec', (accept, reject, info) => {
    inOrder(() => {
      if (started) return reject?.();
      if (info.command.includes('\0')) {
        // A command line cannot hold a NUL (sshd refuses the message); refused before it is
        // accepted, rather than accepted and never run.
        const message = 'the command contains a NUL byte';
        ctx.audit.emit({ type: 'session.start', success: false, code: 'bad_request', message }, ctx.identity);
        sendDebug(ctx.client, message);
        return reject?.();
      }
      start(info.command, accept);
    }, reject);
  });
  session.on('shell', (accept, reject) => {
    inOrder(() => {
      if (started) return reject?.();
      start(undefined, accept);
    }, reject);
  });
  session.on('close', () => void scope.close());
}

/**
 * node-pty as patched in patches/: data is Buffers (encoding null), write() says whether to
 * wait before writing more, and onceWritten() when the pty has taken what was queued.
 */
interface PatchedPty extends Omit<pty.IPty, 'onData' | 'write'> {
  onData: pty.IEvent<Buffer>;
  write(data: Buffer): boolean;
  onceWritten(callback: () => void): void;
  /** node-pty's own: closes the terminal's master side, then sends SIGHUP. */
  destroy(): void;
}

function run(
  ctx: SessionContext,
  scope: Scope,
  channel: ServerChannel,
  command: string | undefined,
  clientEnv: Record<string, string>,
  ptyRequest: PtyRequest | undefined,
): { resize: (cols: number, rows: number) => void; signal: (name: string) => void } {
  const { identity } = ctx;
  const user = identity.osUser;
  const shell = user.shell || '/bin/sh';
  const env: Record<string, string> = {
    ...clientEnv,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: shell,
    PATH: user.uid === 0 ? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : '/usr/local/bin:/usr/bin:/bin',
    SSH_CLIENT: `${identity.remoteAddr} ${identity.remotePort} ${ctx.localPort}`,
    SSH_CONNECTION: `${identity.remoteAddr} ${identity.remotePort} ${ctx.localAddress} ${ctx.localPort}`,
    FERRY_USER: identity.user,
  };
  if (ptyRequest) env.TERM = ptyRequest.term;
  // A login shell for "shell", `shell -c` for exec, as sshd runs them.
  const argv = asUser(user, withTtyModes(ptyRequest?.modes ?? [], command === undefined ? [shell, '-l'] : [shell, '-c', command]));
  const [file, ...args] = argv as [string, ...string[]];
  const cwd = user.home;
  const started = Date.now();
  ctx.audit.emit({ type: 'session.start', success: true, fields: { command: command ?? null, pty: Boolean(ptyRequest) } }, identity);
  let ended = () => {};
  const endedPromise = new Promise<void>((resolve) => { ended = resolve; });
  const finish = (exitCode: number | null, signalName: string | null) => {
    if (signalName) channel.exit(signalName.replace(/^SIG/, ''), false, '');
    else channel.exit(exitCode ?? 0);
    channel.end();
    ctx.audit.emit(
      { type: 'session.end', success: true, fields: { command: command ?? null, exit_code: exitCode, signal: signalName, duration_ms: Date.now() - started } },
      identity,
    );
    ended();
  };
  // Hangs up, as sshd does, and gives the command a moment to end so that its session.end is
  // recorded before a stopping node writes its last audit events. One that ignores SIGHUP
  // (nohup) is left running, as under sshd, but then loses its terminal or pipes (`cut`): it
  // gets EIO or EPIPE when it writes. Its output would otherwise wait for a channel that is
  // gone, and the node keep them open for it, blocked, for good.
  const hangUp = (signal: () => void, cut: () => void) => async () => {
    signal();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HANGUP_GRACE_MS);
      void endedPromise.then(() => { clearTimeout(timer); resolve(); });
    });
    cut();
  };

  if (ptyRequest) {
    let term: PatchedPty;
    try {
      // Bytes both ways (encoding null), as sshd passes them: decoded as UTF-8, any other byte
      // came out as U+FFFD, and so did a character split between two packets.
      term = pty.spawn(file, args, { name: ptyRequest.term, cols: ptyRequest.cols, rows: ptyRequest.rows, cwd: existingDir(cwd), env, encoding: null }) as unknown as PatchedPty;
    } catch (err) {
      channel.stderr.write(`ferry: cannot start a terminal: ${String(err)}\r\n`);
      finish(255, null);
      return { resize: () => {}, signal: () => {} };
    }
    // Each side waits for the other, as pipe() does for a command without a terminal: else a
    // client that read nothing, or typed into a program that read nothing, grew the node by
    // everything the other side sent.
    let outputWaits = false;
    term.onData((data) => {
      if (channel.write(data) || outputWaits) return;
      outputWaits = true;
      term.pause();
      channel.once('drain', () => { outputWaits = false; term.resume(); });
    });
    channel.on('data', (data: Buffer) => {
      if (term.write(data)) return;
      channel.pause();
      term.onceWritten(() => channel.resume());
    });
    term.onExit(({ exitCode, signal }) => finish(signal ? null : exitCode, signal ? signalName(signal) : null));
    scope.defer(hangUp(() => { try { term.kill('SIGHUP'); } catch { /* already gone */ } }, () => term.destroy()));
    return {
      resize: (cols, rows) => { try { term.resize(cols, rows); } catch { /* exited */ } },
      signal: (name) => { try { term.kill(`SIG${name}`); } catch { /* exited */ } },
    };
  }

  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawn(file, args, { cwd: existingDir(cwd), env, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    channel.stderr.write(`ferry: cannot run the command: ${String(err)}\n`);
    finish(127, null);
    return { resize: () => {}, signal: () => {} };
  }
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  channel.pipe(child.stdin);
  child.stdin.on('error', () => {});
  let outputs = 2;
  let exit: [number | null, string | null] | undefined;
  const maybeFinish = () => {
    if (outputs === 0 && exit) finish(exit[0], exit[1]);
  };
  child.stdout.once('end', () => { outputs -= 1; maybeFinish(); });
  child.stderr.once('end', () => { outputs -= 1; maybeFinish(); });
  child.once('error', (err) => {
    channel.stderr.write(`ferry: cannot run the command: ${err.message}\n`);
    exit = [127, null];
    outputs = 0;
    maybeFinish();
  });
  child.once('exit', (code, sig) => { exit = [code, sig]; maybeFinish(); });
  scope.defer(hangUp(
    () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGHUP'); },
    () => { for (const pipe of [child.stdin, child.stdout, child.stderr]) pipe.destroy(); },
  ));
  return {
    resize: () => {},
    signal: (name) => { child.kill(`SIG${name}` as NodeJS.Signals); },
  };
}

function signalName(signal: number): string | null {
  const entry = Object.entries(os.constants.signals).find(([, n]) => n === signal);
  return entry ? entry[0] : null;
}

function existingDir(dir: string): string {
  try {
    return fs.statSync(dir).isDirectory() ? dir : '/';
  } catch {
    return '/';
  }
}
