// Child processes for the bench: output kept (bounded) so a failure can show it, every
// process registered so that `stopAll` (run in `finally` and on SIGINT) ends exactly the
// processes this run started, by pid. Memory is read from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { descendants } from '../src/procs';

const KEEP_HEAD = 64 * 1024;
const KEEP_TAIL = 128 * 1024;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  #out = '';
  #exit: Exit | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    // Once stopAll has begun, nothing new may start: it could outlive the bench.
    if (stopping) throw new Error(`not starting ${name}: the bench is stopping`);
    this.name = name;
    this.child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => {
      this.#out += d.toString();
      if (this.#out.length > KEEP_HEAD + KEEP_TAIL) {
        this.#out = `${this.#out.slice(0, KEEP_HEAD)}\n[... output cut ...]\n${this.#out.slice(-KEEP_TAIL / 2)}`;
      }
      this.#notify();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.child.stdin?.on('error', () => {});
    this.child.on('exit', (code, signal) => {
      this.#exit = { code, signal };
      live.delete(this);
      this.#notify();
    });
    this.child.on('error', (err) => {
      this.#out += `\n[spawn error: ${err.message}]`;
      this.#exit ??= { code: -1, signal: null };
      live.delete(this);
      this.#notify();
    });
    live.add(this);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exit(): Exit | undefined {
    return this.#exit;
  }

  output(): string {
    return this.#out;
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves with the first match of `pattern` in stdout+stderr; rejects after `ms` or on exit. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: timed out after ${ms} ms waiting for ${String(pattern)}; output:\n${this.#out.slice(-4000)}`));
      }, ms);
      const check = () => {
        const m = pattern.exec(this.#out);
        if (m) {
          done();
          resolve(m);
        } else if (this.#exit) {
          done();
          reject(new Error(`${this.name}: exited (${this.#exit.code ?? this.#exit.signal ?? '?'}) before printing ${String(pattern)}; output:\n${this.#out.slice(-4000)}`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Resolves once the process has exited; sends SIGKILL if it is still there after `ms`. */
  stop(signal: NodeJS.Signals = 'SIGTERM', ms = 5000): Promise<Exit> {
    return new Promise((resolve) => {
      if (this.#exit) return resolve(this.#exit);
      const finish = () => {
        if (!this.#exit) return;
        clearTimeout(timer);
        this.#waiters.delete(finish);
        resolve(this.#exit);
      };
      const timer = setTimeout(() => {
        if (!this.#exit) this.child.kill('SIGKILL');
      }, ms);
      this.#waiters.add(finish);
      this.child.kill(signal);
    });
  }
}

const live = new Set<Proc>();
let stopping = false;
/** Pids of processes started by ours (sshd's per-connection children) to end on the way out. */
const adoptedRoots = new Set<number>();

export function adoptDescendantsOf(pid: number): void {
  adoptedRoots.add(pid);
}

/** Ends every process this run started (and their descendants we adopted), by pid. */
export async function stopAll(): Promise<void> {
  stopping = true;
  const orphans: number[] = [];
  for (const root of adoptedRoots) orphans.push(...descendants(root));
  await Promise.all([...live].map((p) => p.stop('SIGTERM', 3000)));
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Like stopAll but synchronous, for a second Ctrl-C. */
export function killAllNow(): void {
  stopping = true;
  for (const root of adoptedRoots) {
    for (const pid of descendants(root)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  for (const p of live) p.child.kill('SIGKILL');
}

export interface Memory {
  /** Sum of VmRSS, KiB. */
  rssKiB: number;
  /**
   * Sum of Private_Dirty from smaps_rollup, KiB: pages the process wrote and shares with no
   * one (heap, stacks, copy-on-write copies), i.e. what it really costs in RAM. Clean pages of
   * the binary and libraries are left out: they can be dropped and re-read, and they turn from
   * "private" to "shared" as soon as another process maps the same file.
   */
  privateKiB: number;
  processes: number;
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function privateMemory(pid: number): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const dirty = /^Private_Dirty:\s+(\d+) kB/m.exec(text)?.[1];
    return dirty === undefined ? undefined : Number(dirty);
  } catch {
    return undefined;
  }
}

export function memoryOf(pids: number[]): Memory {
  let rssKiB = 0;
  let privateKiB = 0;
  let processes = 0;
  for (const pid of pids) {
    const rss = statusField(pid, 'VmRSS');
    if (rss === undefined) continue;
    rssKiB += rss;
    privateKiB += privateMemory(pid) ?? rss;
    processes += 1;
  }
  return { rssKiB, privateKiB, processes };
}

/**
 * Seconds of CPU the processes have used so far, all threads: the first field of
 * /proc/PID/task/TID/schedstat (nanoseconds on a CPU), which unlike utime + stime in
 * /proc/PID/stat is not rounded to clock ticks.
 */
export function cpuSeconds(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tasks) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0] ?? 0);
      } catch {
        // thread gone
      }
    }
  }
  return ns / 1e9;
}

/** A loopback port that was free a moment ago (for sshd, which cannot listen on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `condition` holds or `ms` passes; bounded by the deadline. */
export async function eventually(what: string, condition: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms: ${what}`);
    await sleep(25);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

export { descendants };
