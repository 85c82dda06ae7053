// Live remote forwards, published to storage so that `ferryctl tunnels ls` (another process)
// sees them. Counters are flushed at most once a second; a forward's row goes when it closes.

import crypto from 'node:crypto';
import type { Socket } from 'node:net';
import type { Storage, TunnelRecord } from '../auth/types';
import type { Identity } from './authenticate';

const FLUSH_MS = 1000;

export class Tunnel {
  readonly record: TunnelRecord;
  readonly #live = new Set<Socket>();
  #closedIn = 0;
  #closedOut = 0;
  #registry: TunnelRegistry;

  constructor(registry: TunnelRegistry, record: TunnelRecord) {
    this.#registry = registry;
    this.record = record;
  }

  /** Counts a forwarded connection; its bytes are read off the socket until it closes. */
  track(socket: Socket): void {
    this.#live.add(socket);
    this.record.connections += 1;
    this.#registry.markDirty(this);
    socket.once('close', () => {
      this.#live.delete(socket);
      this.#closedIn += socket.bytesRead;
      this.#closedOut += socket.bytesWritten;
      this.#registry.markDirty(this);
    });
  }

  snapshot(): TunnelRecord {
    let bytesIn = this.#closedIn;
    let bytesOut = this.#closedOut;
    for (const s of this.#live) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    return { ...this.record, activeConnections: this.#live.size, bytesIn, bytesOut, updatedAt: new Date() };
  }
}

export class TunnelRegistry {
  readonly #storage: Storage;
  readonly #node: string;
  readonly #dirty = new Set<Tunnel>();
  readonly #open = new Set<Tunnel>();
  #timer: NodeJS.Timeout | undefined;

  constructor(storage: Storage, node: string) {
    this.#storage = storage;
    this.#node = node;
  }

  async start(): Promise<void> {
    await this.#storage.clearTunnels(this.#node);
    this.#timer = setInterval(() => this.flush(), FLUSH_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#storage.clearTunnels(this.#node);
  }

  open(identity: Identity, kind: 'tcp' | 'unix', bindAddress: string, port: number): Tunnel {
    const now = new Date();
    const tunnel = new Tunnel(this, {
      id: crypto.randomUUID(),
      node: this.#node,
      user: identity.user,
      login: identity.login,
      remoteAddr: `${identity.remoteAddr}:${identity.remotePort}`,
      kind,
      bindAddress,
      port,
      connections: 0,
      activeConnections: 0,
      bytesIn: 0,
      bytesOut: 0,
      startedAt: now,
      updatedAt: now,
    });
    this.#open.add(tunnel);
    this.#write(tunnel);
    return tunnel;
  }

  close(tunnel: Tunnel): void {
    this.#open.delete(tunnel);
    this.#dirty.delete(tunnel);
    this.#storage.deleteTunnel(tunnel.record.id).catch(report);
  }

  markDirty(tunnel: Tunnel): void {
    if (this.#open.has(tunnel)) this.#dirty.add(tunnel);
  }

  flush(): void {
    for (const tunnel of this.#open) {
      if (tunnel.snapshot().activeConnections > 0) this.#dirty.add(tunnel);
    }
    for (const tunnel of this.#dirty) this.#write(tunnel);
    this.#dirty.clear();
  }

  #write(tunnel: Tunnel): void {
    this.#storage.upsertTunnel(tunnel.snapshot()).catch(report);
  }
}

function report(err: unknown): void {
  process.stderr.write(`ferryd: tunnel state write failed: ${String(err)}\n`);
}
