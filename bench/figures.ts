// The measurements. Each takes the port to connect to (a forwarded port, or the endpoint
// itself for the raw ceiling) and returns plain numbers; run.ts decides the order, the
// rounds and what to do with failures.

import type net from 'node:net';
import { startTunnel, type ClientKind, type RunningTunnel } from './clients';
import { mapLimit, sleep, type Memory } from './procs';
import type { Credentials, ServerUnderTest } from './servers';
import { CorrectnessError, ForeignAnswerError, download, hold, ping, pingForward, upload } from './traffic';

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] as number;
}

/** Timeout for a bulk transfer: generous (the figure is the speed, not a pass mark). */
function transferTimeout(bytes: number): number {
  return 60_000 + Math.ceil(bytes / (2 * 1024 * 1024)) * 1000; // 2 MiB/s floor
}

export async function throughput(port: number, pattern: Buffer, bytes: number, direction: 'up' | 'down'): Promise<number> {
  const t = direction === 'up'
    ? await upload(port, pattern, bytes, transferTimeout(bytes))
    : await download(port, pattern, bytes, transferTimeout(bytes));
  return t.bytes / 1e6 / t.seconds;
}

export interface ConnRate {
  perSecond: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  errors: string[];
}

/** `total` new connections, `concurrency` at a time, each one small request/response. */
export async function connectionRate(port: number, pattern: Buffer, total: number, concurrency: number): Promise<ConnRate> {
  const ttfb: number[] = [];
  const errors: string[] = [];
  const t0 = process.hrtime.bigint();
  await mapLimit(Array.from({ length: total }, (_, i) => i), concurrency, async () => {
    try {
      ttfb.push(await ping(port, pattern, 15_000));
    } catch (err) {
      if (err instanceof CorrectnessError) throw err;
      errors.push((err as Error).message);
    }
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: ttfb.length / seconds, p50: percentile(ttfb, 50), p99: percentile(ttfb, 99), ok: ttfb.length, failed: errors.length, errors: errors.slice(0, 5) };
}

/** `total` new connections one after another: latency without queueing behind other connections. */
export async function serialLatency(port: number, pattern: Buffer, total: number): Promise<{ p50: number; errors: string[] }> {
  const ttfb: number[] = [];
  const errors: string[] = [];
  for (let i = 0; i < total; i++) {
    try {
      ttfb.push(await ping(port, pattern, 15_000));
    } catch (err) {
      if (err instanceof CorrectnessError) throw err;
      errors.push((err as Error).message);
    }
  }
  return { p50: percentile(ttfb, 50), errors: errors.slice(0, 5) };
}

export interface Concurrent {
  served: number;
  failed: number;
  seconds: number;
  before?: Memory;
  after?: Memory;
  errors: string[];
}

/**
 * Opens `count` connections that stay open (`openConcurrency` being opened at a time), each
 * answered by the service through the tunnel, and reads the server's memory while all are open.
 */
export async function concurrentConnections(port: number, count: number, openConcurrency: number, memory?: () => Memory): Promise<Concurrent> {
  const before = memory?.();
  const sockets: net.Socket[] = [];
  const errors: string[] = [];
  const t0 = process.hrtime.bigint();
  try {
    await mapLimit(Array.from({ length: count }, (_, i) => i), openConcurrency, async () => {
      try {
        sockets.push(await hold(port, 30_000));
      } catch (err) {
        if (err instanceof CorrectnessError) throw err;
        errors.push((err as Error).message);
      }
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(500);
    const after = memory?.();
    const served = sockets.filter((s) => !s.destroyed).length;
    const result: Concurrent = { served, failed: count - served, seconds, errors: errors.slice(0, 5) };
    if (before) result.before = before;
    if (after) result.after = after;
    return result;
  } finally {
    for (const s of sockets) s.destroy();
    await sleep(500);
  }
}

export interface Clients {
  up: number;
  /** Clients whose forward answered on ::1 only: 127.0.0.1 at that port belonged to another program. */
  v6Only: number;
  failed: number;
  seconds: number;
  before: Memory;
  after: Memory;
  errors: string[];
}

/**
 * Starts `count` clients, each holding one `-R 0` forward on the server (`startConcurrency`
 * starting at a time), checks each forward answers, and reads the server's memory with all up
 * against a baseline taken after one client has come and gone.
 */
export async function manyClients(kind: ClientKind, server: ServerUnderTest, creds: Credentials, targetPort: number, pattern: Buffer, count: number, startConcurrency: number): Promise<Clients> {
  // One client first, so that code loaded and compiled on the first login is not counted per client.
  const warm = await startTunnel(kind, server.port, creds, targetPort, 30_000);
  try {
    await pingForward(warm.port, pattern, 15_000);
  } finally {
    await warm.proc.stop('SIGTERM', 5000);
  }
  await sleep(500);
  const before = server.memory();
  const tunnels: RunningTunnel[] = [];
  const errors: string[] = [];
  let v6Only = 0;
  const t0 = process.hrtime.bigint();
  try {
    await mapLimit(Array.from({ length: count }, (_, i) => i), startConcurrency, async () => {
      let tunnel: RunningTunnel | undefined;
      try {
        tunnel = await startTunnel(kind, server.port, creds, targetPort, 60_000);
        tunnels.push(tunnel);
        if ((await pingForward(tunnel.port, pattern, 15_000)).host === '::1') v6Only += 1;
      } catch (err) {
        if (err instanceof CorrectnessError) throw err;
        errors.push((err as Error).message.split('\n').slice(0, 3).join(' | '));
        if (tunnel) tunnels.splice(tunnels.indexOf(tunnel), 1);
        await tunnel?.proc.stop('SIGTERM', 2000);
      }
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(500);
    const after = server.memory();
    const up = tunnels.filter((t) => !t.proc.exit).length;
    return { up, v6Only, failed: count - up, seconds, before, after, errors: errors.slice(0, 5) };
  } finally {
    await Promise.all(tunnels.map((t) => t.proc.stop('SIGTERM', 5000)));
  }
}

/** Milliseconds from starting the client to a request answered through its forwarded port. */
export async function startupTime(kind: ClientKind, serverPort: number, creds: Credentials, targetPort: number, pattern: Buffer): Promise<number> {
  const t0 = process.hrtime.bigint();
  const tunnel = await startTunnel(kind, serverPort, creds, targetPort, 30_000);
  try {
    let lastError: unknown;
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        await pingForward(tunnel.port, pattern, 5000);
        return Number(process.hrtime.bigint() - t0) / 1e6;
      } catch (err) {
        if (err instanceof CorrectnessError) throw err;
        lastError = err;
        await sleep(10);
      }
    }
    throw new Error(`forwarded port ${tunnel.port} never answered: ${String(lastError)}`);
  } finally {
    await tunnel.proc.stop('SIGTERM', 5000);
  }
}

/**
 * Starts a client with one forward that answers on 127.0.0.1, where the figures connect. If
 * another program holds 127.0.0.1 at the allocated port (the server bound ::1 alone), the
 * client is stopped and started again, a bounded number of times.
 */
export async function startWorkingTunnel(kind: ClientKind, serverPort: number, creds: Credentials, targetPort: number, pattern: Buffer, nodeFlags?: string[]): Promise<RunningTunnel> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const tunnel = await startTunnel(kind, serverPort, creds, targetPort, 30_000, nodeFlags);
    try {
      await ping(tunnel.port, pattern, 10_000);
      return tunnel;
    } catch (err) {
      await tunnel.proc.stop('SIGTERM', 5000);
      if (!(err instanceof ForeignAnswerError)) throw err;
      lastError = err;
    }
  }
  throw lastError;
}
