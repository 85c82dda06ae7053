// Remote forwarding (RFC 4254 section 7.1) and its unix-socket twin
// (streamlocal-forward@openssh.com). A connection owns its forwards: the map lives here,
// inside the connection's scope, keyed by the exact bind string the client sent and the
// bound port, so one connection can never cancel another's and port-0 forwards can be
// cancelled by the port they were given.

import type net from 'node:net';
import type { Connection, ServerChannel } from 'ssh2';
import type { Scope } from '../scope';
import type { Access } from '../policy/access';
import { authorizeStreamlocalForward, authorizeTcpipForward } from '../policy/authorize';
import { deny, type Decision } from '../policy/decision';
import { sendDebug } from '../protocol/ssh2-ext';
import type { Identity } from './authenticate';
import type { NodeAudit } from './audit';
import { bindAll, planBind, plainAddress } from './bind';
import type { Tunnel, TunnelRegistry } from './tunnels';
import { bindSocket, splice } from './splice';
import { listenUnixAsUser, UnixBindError, unlinkIfOurs } from './unix-listener';

export interface ForwardingContext {
  client: Connection;
  identity: Identity;
  /** The connection's scope: forwarded connections live and die with it. */
  scope: Scope;
  access(): Promise<Access>;
  audit: NodeAudit;
  tunnels: TunnelRegistry;
}

type Reply = { accept?: (port?: number) => void; reject?: () => void };

interface Forward {
  kind: 'tcp' | 'unix';
  bindAddress: string;
  port: number;
  /** Closes the listeners only; connections already forwarded go on. */
  scope: Scope;
}

const key = (kind: 'tcp' | 'unix', bindAddress: string, port: number) => `${kind}\u0000${bindAddress}\u0000${port}`;

export class RemoteForwards {
  readonly #ctx: ForwardingContext;
  readonly #forwards = new Map<string, Forward>();
  /** Forwards granted or being bound: the cap counts requests in flight too. */
  #pending = 0;
  /** Forward and cancel requests not yet answered (see handleTcpipForward). */
  readonly #forwarding = new Set<Promise<void>>();
  readonly #cancelling = new Set<Promise<void>>();

  constructor(ctx: ForwardingContext) {
    this.#ctx = ctx;
  }

  get size(): number {
    return this.#forwards.size;
  }

  // Forwards and cancels are handled in the order they came, where order matters, as sshd
  // handles every request in turn: a cancel waits for the forwards and cancels before it (a
  // cancel pipelined behind its forward finds it), a forward for the cancels before it (a port
  // cancelled and asked for again gets bound again). Forwards alone still bind in parallel.
  handleTcpipForward(reply: Reply, bindAddress: string, port: number): Promise<void> {
    return this.#asForward(() => this.#tcpipForward(reply, bindAddress, port));
  }

  handleCancelTcpipForward(reply: Reply, bindAddress: string, port: number): Promise<void> {
    return this.#asCancel(() => this.#cancel(reply, key('tcp', bindAddress, port), `${bindAddress}:${port}`));
  }

  handleStreamlocalForward(reply: Reply, socketPath: string): Promise<void> {
    return this.#asForward(() => this.#streamlocalForward(reply, socketPath));
  }

  handleCancelStreamlocalForward(reply: Reply, socketPath: string): Promise<void> {
    return this.#asCancel(() => this.#cancel(reply, key('unix', socketPath, 0), socketPath));
  }

  /** A forward: after the cancels before it. */
  #asForward(step: () => Promise<void>): Promise<void> {
    return this.#track(this.#forwarding, [...this.#cancelling], step);
  }

  /** A cancel: after the forwards and cancels before it. */
  #asCancel(step: () => void): Promise<void> {
    return this.#track(this.#cancelling, [...this.#forwarding, ...this.#cancelling], step);
  }

  /** Runs `step` once `earlier` have settled, and keeps it in `set` until it has too. */
  #track(set: Set<Promise<void>>, earlier: Promise<void>[], step: () => void | Promise<void>): Promise<void> {
    const request = (async () => {
      if (earlier.length > 0) await Promise.allSettled(earlier);
      await step();
    })();
    set.add(request);
    const done = () => { set.delete(request); };
    request.then(done, done);
    return request;
  }

  async #tcpipForward(reply: Reply, bindAddress: string, port: number): Promise<void> {
    const { identity } = this.#ctx;
    const fields = { bind_address: bindAddress, requested_port: port };
    const access = await this.#ctx.access();
    const decision = authorizeTcpipForward(access, {
      bindAddress,
      port,
      uid: identity.osUser.uid,
      activeForwards: this.#forwards.size + this.#pending,
      certPermitsForwarding: identity.permitPortForwarding,
    });
    if (!decision.allow) return this.#refuse(reply, 'tunnel.listen', decision, fields);
    if (this.#ctx.scope.closed) return;
    this.#pending += 1;
    const forwardScope = this.#ctx.scope.child();
    // Connections can arrive while the other address family is still binding: hold them.
    let ready: { forward: Forward; tunnel: Tunnel } | undefined;
    const early: net.Socket[] = [];
    try {
      const bound = await bindAll(planBind(bindAddress, access.gatewayPorts), port, (socket) => {
        if (ready) this.#onTcpConnection(ready.forward, ready.tunnel, socket);
        else early.push(socket);
      });
      // close() stops listening at once; its callback would wait for the forwarded
      // connections, which outlive a cancel, so nothing waits for it.
      for (const server of bound.servers) forwardScope.defer(() => { server.close(); });
      forwardScope.defer(() => { for (const socket of early.splice(0)) socket.destroy(); });
      const forward: Forward = { kind: 'tcp', bindAddress, port: bound.port, scope: forwardScope };
      ready = { forward, tunnel: this.#register(forward, bound.servers.map((s) => s.address())) };
      reply.accept?.(bound.port);
      for (const socket of early.splice(0)) this.#onTcpConnection(forward, ready.tunnel, socket);
    } catch (err) {
      await forwardScope.close();
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const where = `${bindAddress === '' ? '*' : bindAddress}:${port}`;
      const refusal =
        code === 'EADDRINUSE'
          ? deny('port_in_use', `port ${port} is already in use on the node`, `listen on ${where}: address already in use`)
          : code === 'EACCES'
            ? deny('privileged_port', `binding ${where} is not permitted`, `listen on ${where}: ${String(err)}`)
            : deny('bind_failed', `cannot listen on ${where}: ${code || String(err)}`, `listen on ${where}: ${String(err)}`);
      this.#refuse(reply, 'tunnel.listen', refusal, fields);
    } finally {
      this.#pending -= 1;
    }
  }

  async #streamlocalForward(reply: Reply, socketPath: string): Promise<void> {
    const { identity } = this.#ctx;
    const fields = { socket_path: socketPath };
    const access = await this.#ctx.access();
    const decision = authorizeStreamlocalForward(access, socketPath, this.#forwards.size + this.#pending, identity.permitPortForwarding);
    if (!decision.allow) return this.#refuse(reply, 'tunnel.listen', decision, fields);
    if (this.#ctx.scope.closed) return;
    this.#pending += 1;
    try {
      const listener = await listenUnixAsUser(identity.osUser, socketPath);
      const forwardScope = this.#ctx.scope.child();
      forwardScope.defer(() => unlinkIfOurs(socketPath, listener));
      forwardScope.defer(() => { listener.server.close(); });
      const forward: Forward = { kind: 'unix', bindAddress: socketPath, port: 0, scope: forwardScope };
      const tunnel = this.#register(forward, [socketPath]);
      listener.server.on('connection', (socket: net.Socket) => this.#onUnixConnection(forward, tunnel, socket));
      reply.accept?.();
    } catch (err) {
      const code = err instanceof UnixBindError ? err.code : '';
      const refusal =
        code === 'EADDRINUSE'
          ? deny('port_in_use', `socket ${socketPath} already exists`, `unix socket ${socketPath}: address already in use`)
          : code === 'EACCES' || code === 'EPERM' || code === 'ENOENT'
            ? deny('path_not_allowed', `login ${identity.login} may not create ${socketPath}`, `unix socket ${socketPath}: ${String(err)}`)
            : deny('bind_failed', `cannot create ${socketPath}: ${code || String(err)}`, `unix socket ${socketPath}: ${String(err)}`);
      this.#refuse(reply, 'tunnel.listen', refusal, fields);
    } finally {
      this.#pending -= 1;
    }
  }

  #register(forward: Forward, addresses: unknown[]): Tunnel {
    const k = key(forward.kind, forward.bindAddress, forward.port);
    this.#forwards.set(k, forward);
    const tunnel = this.#ctx.tunnels.open(this.#ctx.identity, forward.kind, forward.bindAddress, forward.port);
    const fields = describe(forward);
    this.#ctx.audit.emit({ type: 'tunnel.listen', success: true, fields: { ...fields, listeners: addresses } }, this.#ctx.identity);
    forward.scope.defer(() => {
      this.#forwards.delete(k);
      this.#ctx.tunnels.close(tunnel);
      const snap = tunnel.snapshot();
      this.#ctx.audit.emit(
        {
          type: 'tunnel.close',
          success: true,
          fields: { ...fields, connections: snap.connections, bytes_in: snap.bytesIn, bytes_out: snap.bytesOut },
        },
        this.#ctx.identity,
      );
    });
    return tunnel;
  }

  #cancel(reply: Reply, k: string, what: string): void {
    const forward = this.#forwards.get(k);
    if (!forward) {
      const refusal = deny('no_such_forward', `no forward for ${what} on this connection`, `cancel ${what}: this connection holds no such forward`);
      this.#refuse(reply, 'tunnel.cancel', refusal, { forward: what });
      return;
    }
    // Unregister first so the port can be requested again at once; the listeners close now.
    this.#forwards.delete(k);
    void forward.scope.close().then(() => reply.accept?.());
  }

  #onTcpConnection(forward: Forward, tunnel: Tunnel, socket: net.Socket): void {
    socket.setNoDelay(true);
    const originAddr = plainAddress(socket.remoteAddress);
    const originPort = socket.remotePort ?? 0;
    this.#open(forward, tunnel, socket, `${originAddr}:${originPort}`, (cb) =>
      this.#ctx.client.forwardOut(forward.bindAddress, forward.port, originAddr, originPort, cb),
    );
  }

  #onUnixConnection(forward: Forward, tunnel: Tunnel, socket: net.Socket): void {
    socket.pause();
    this.#open(forward, tunnel, socket, 'unix', (cb) => this.#ctx.client.openssh_forwardOutStreamLocal(forward.bindAddress, cb));
  }

  #open(
    forward: Forward,
    tunnel: Tunnel,
    socket: net.Socket,
    origin: string,
    openChannel: (cb: (err: Error | undefined, channel: ServerChannel) => void) => void,
  ): void {
    const { scope, audit, identity } = this.#ctx;
    const fields = { ...describe(forward), origin };
    const connScope = scope.child();
    bindSocket(socket, connScope);
    if (scope.closed) return;
    try {
      openChannel((err, channel) => {
        if (err) {
          audit.emit({ type: 'tunnel.conn.start', success: false, code: 'channel_open_failed', message: err.message, fields }, identity);
          void connScope.close();
          return;
        }
        if (connScope.closed) {
          channel.close();
          return;
        }
        tunnel.track(socket);
        audit.emit({ type: 'tunnel.conn.start', success: true, fields }, identity);
        connScope.defer(() => {
          audit.emit(
            { type: 'tunnel.conn.end', success: true, fields: { ...fields, bytes_in: socket.bytesRead, bytes_out: socket.bytesWritten } },
            identity,
          );
        });
        splice(socket, channel, connScope);
        socket.resume();
      });
    } catch (err) {
      audit.emit({ type: 'tunnel.conn.start', success: false, code: 'channel_open_failed', message: String(err), fields }, identity);
      void connScope.close();
    }
  }

  #refuse(reply: Reply, type: string, decision: Decision, fields: Record<string, unknown>): void {
    if (decision.allow) return;
    this.#ctx.audit.refusal(type, decision, this.#ctx.identity, fields);
    if (reply.reject) {
      sendDebug(this.#ctx.client, decision.message);
      reply.reject();
    }
  }
}

function describe(forward: Forward): Record<string, unknown> {
  return forward.kind === 'tcp'
    ? { kind: 'tcp', bind_address: forward.bindAddress, port: forward.port }
    : { kind: 'unix', socket_path: forward.bindAddress };
}
