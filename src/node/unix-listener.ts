// Remote unix-socket listeners, created as the login user: a short-lived child process
// running as that user binds the socket, so the kernel decides where the user may create
// it, and the listening socket comes back to ferryd over IPC.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { asUser, type OsUser } from './osuser';

export class UnixBindError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export interface UnixListener {
  server: net.Server;
  /** Identity of the file we created, so that cleanup never removes another one. */
  ino: number;
  dev: number;
}

const CHILD = path.join(__dirname, 'unix-listener-child.js');
const TIMEOUT_MS = 10_000;

export function listenUnixAsUser(user: OsUser, socketPath: string): Promise<UnixListener> {
  const [cmd, ...args] = asUser(user, [process.execPath, CHILD, socketPath]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd ?? process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let settled = false;
    const timer = setTimeout(() => finish(new UnixBindError('ETIMEDOUT', 'socket helper did not answer')), TIMEOUT_MS);
    const finish = (err: Error | undefined, server?: net.Server) => {
      if (settled) {
        server?.close();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (err || !server) {
        child.kill();
        reject(err ?? new UnixBindError('EIO', 'socket helper sent no socket'));
        return;
      }
      try {
        const st = fs.lstatSync(socketPath);
        resolve({ server, ino: st.ino, dev: st.dev });
      } catch (statErr) {
        server.close();
        reject(new UnixBindError('ENOENT', `socket ${socketPath} vanished after bind: ${String(statErr)}`));
      }
    };
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', (err) => finish(new UnixBindError('ESPAWN', `cannot start socket helper: ${err.message}`)));
    child.on('message', (msg: { ok?: boolean; code?: string; message?: string }, handle: unknown) => {
      if (msg.ok) {
        // Forwarded connections half-close as the TCP ones do (bind.ts). The server comes
        // from the IPC handle, so the option is set on it, where net reads it per connection.
        const server = handle as net.Server & { allowHalfOpen: boolean };
        server.allowHalfOpen = true;
        finish(undefined, server);
      } else {
        finish(new UnixBindError(msg.code ?? 'EIO', msg.message ?? 'bind failed'));
      }
    });
    // 'close', not 'exit': the helper exits as soon as it has sent the socket, and 'exit' can
    // come before that message does. 'close' waits for the IPC channel too.
    child.on('close', (code) => {
      if (!settled) finish(new UnixBindError('EIO', `socket helper exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/** Removes the socket file if it is still the one we created. */
export function unlinkIfOurs(socketPath: string, listener: UnixListener): void {
  try {
    const st = fs.lstatSync(socketPath);
    if (st.ino === listener.ino && st.dev === listener.dev && st.isSocket()) fs.unlinkSync(socketPath);
  } catch {
    // Already gone: nothing to clean.
  }
}
