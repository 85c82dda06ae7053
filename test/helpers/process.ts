// Child processes in tests: output is kept so a failure can show it, and every process is
// killed in `finally` by the test that started it.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface Running {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr, or rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export function start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Running {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitWaiters: (() => void)[] = [];
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    for (const w of exitWaiters) w();
    for (const w of [...waiters]) w();
  });
  child.on('error', (err) => { out += `\n[spawn error: ${err.message}]`; });
  return {
    child,
    output: () => out,
    waitFor(pattern, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms}ms waiting for ${pattern} in output of ${cmd} ${args.join(' ')}:\n${out}`));
        }, ms);
        const check = () => {
          const m = pattern.exec(out);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          } else if (exit) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`${cmd} exited (${exit.code ?? exit.signal}) before printing ${pattern}:\n${out}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    exited(ms = 10_000) {
      return new Promise((resolve, reject) => {
        if (exit) return resolve(exit);
        const timer = setTimeout(() => reject(new Error(`${cmd} did not exit within ${ms}ms:\n${out}`)), ms);
        exitWaiters.push(() => {
          clearTimeout(timer);
          if (exit) resolve(exit);
        });
      });
    },
    kill(signal = 'SIGTERM') {
      if (!exit) child.kill(signal);
    },
  };
}

/** Resolves true when something accepts a TCP connection at host:port. */
/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Polls until the condition holds, or throws after `ms`. Polling, not sleeping, so tests are fast. */
export async function eventually(what: string, condition: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`not true within ${ms}ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A loopback TCP server that answers each chunk with "echo:" + chunk, or with `raw` the
 * bytes alone (for bulk transfers, where chunk boundaries vary).
 */
export async function echoServer(opts: { raw?: boolean } = {}): Promise<{ port: number; server: net.Server; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    if (opts.raw) s.pipe(s);
    else s.on('data', (d) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return { port, server, close: () => new Promise((r) => server.close(() => r())) };
}

/** Sends `payload` to host:port and resolves with everything read back once `expect` bytes arrived. */
export function roundTrip(port: number, payload: Buffer | string, expect: number, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.connect({ port, host }, () => s.write(payload));
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`round trip to ${port}: got ${got} of ${expect} bytes`)); }, 10_000);
    s.on('data', (d) => {
      chunks.push(d);
      got += d.length;
      if (got >= expect) {
        clearTimeout(timer);
        s.end();
        resolve(Buffer.concat(chunks));
      }
    });
    s.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/**
 * A loopback server for half-closed connections. `answer-after-eof` reads until the peer's EOF,
 * then answers "got:" + what it read + `answer`, and closes. `speak-first` sends "ready", shuts
 * down its sending side at once, and keeps reading: `received` resolves with what arrived after
 * that. `readDelayMs` holds off reading for that long, so that data backs up through the tunnel.
 */
export async function halfCloseServer(
  mode: 'answer-after-eof' | 'speak-first',
  opts: { answer?: string; readDelayMs?: number } = {},
): Promise<{ port: number; received: Promise<string>; close(): Promise<void> }> {
  let deliver: (s: string) => void = () => {};
  const received = new Promise<string>((r) => { deliver = r; });
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let data = '';
    s.on('error', () => {});
    s.on('data', (d: Buffer) => { data += d.toString(); });
    holdOff(s, opts.readDelayMs);
    if (mode === 'speak-first') {
      s.end('ready');
      s.on('end', () => deliver(data));
    } else {
      s.on('end', () => s.end(`got:${data}${opts.answer ?? ''}`));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return { port, received, close: () => new Promise((r) => server.close(() => r())) };
}

function holdOff(s: net.Socket, ms: number | undefined): void {
  if (!ms) return;
  s.pause();
  setTimeout(() => s.resume(), ms).unref();
}

/**
 * The other end of halfCloseServer: sends `payload` and its EOF once it has read the
 * server's EOF (`afterEof`) or at once, and resolves with everything it read.
 */
export function halfCloseExchange(to: number | string, payload: string, opts: { afterEof: boolean; readDelayMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    let peerDone = false;
    const where = typeof to === 'number' ? { port: to, host: '127.0.0.1' } : { path: to };
    const s = net.connect({ ...where, allowHalfOpen: true }, () => {
      if (!opts.afterEof) s.end(payload);
    });
    const brief = () => (data.length > 64 ? `${data.length} bytes` : JSON.stringify(data));
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`half-closed exchange with ${to}: read ${brief()}, no EOF`)); }, 10_000);
    s.on('data', (d: Buffer) => { data += d.toString(); });
    holdOff(s, opts.readDelayMs);
    s.on('end', () => {
      peerDone = true;
      if (opts.afterEof) s.end(payload);
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (peerDone) resolve(data);
      else reject(new Error(`half-closed exchange with ${to}: closed before the peer's EOF, read ${brief()}`));
    });
    s.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}
