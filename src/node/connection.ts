// One SSH connection at the node. It owns a scope: every channel, listener and forwarded
// socket it opens is registered there and closes when the connection ends.

import net from 'node:net';
import type { AuthContext, Connection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { OpenFailure } from '../errors';
import { forwardResolver } from '../lookup';
import { Scope } from '../scope';
import type { AuthService } from '../auth/service';
import { resolveAccess, type Access } from '../policy/access';
import { authorizeDirectTcpip } from '../policy/authorize';
import { rejectChannel } from '../protocol/ssh2-ext';
import { authenticate, type Identity, type Peer } from './authenticate';
import type { NodeAudit } from './audit';
import { plainAddress } from './bind';
import { RemoteForwards } from './remote-forward';
import { bindSocket, splice } from './splice';
import { handleSession } from './session';
import type { TunnelRegistry } from './tunnels';

export interface NodeDeps {
  auth: AuthService;
  audit: NodeAudit;
  tunnels: TunnelRegistry;
  log: (line: string) => void;
  /** Seconds a connection may take to authenticate, as sshd's LoginGraceTime. */
  loginGraceSeconds: number;
}

type GlobalReply = { accept?: (port?: number) => void; reject?: () => void };

export function handleConnection(deps: NodeDeps, client: Connection, socket: net.Socket, parent: Scope): void {
  const scope = parent.child();
  const peer: Peer = { address: plainAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
  const local = { address: plainAddress(socket.localAddress), port: socket.localPort ?? 0 };
  let identity: Identity | undefined;

  // Many channels share this socket: Nagle would hold each small write until the previous
  // one is acknowledged (and the peer delays ACKs by up to 40 ms), as sshd avoids too.
  socket.setNoDelay(true);
  scope.defer(() => { client.end(); socket.destroy(); });
  client.on('error', (err: Error) => {
    deps.log(`connection from ${peer.address}:${peer.port}: ${err.message}`);
    void scope.close();
  });
  client.on('close', () => void scope.close());

  const grace = setTimeout(() => {
    if (!identity) {
      deps.log(`connection from ${peer.address}:${peer.port}: no authentication within ${deps.loginGraceSeconds}s`);
      void scope.close();
    }
  }, deps.loginGraceSeconds * 1000);
  grace.unref();
  scope.defer(() => clearTimeout(grace));

  client.on('authentication', (ctx: AuthContext) => {
    authenticate(deps.auth, ctx, peer)
      .then((outcome) => {
        switch (outcome.kind) {
          case 'query':
            return ctx.accept();
          case 'accept':
            identity = outcome.identity;
            deps.audit.emit({ type: 'auth.login', success: true, fields: { method: 'certificate', cert_serial: identity.certSerial, roles: identity.roles } }, identity);
            return ctx.accept();
          case 'reject': {
            if (outcome.audit) {
              const event = { type: 'auth.login', success: false, code: outcome.code, message: outcome.reason, login: ctx.username, remoteAddr: `${peer.address}:${peer.port}` };
              deps.audit.emit(outcome.user === undefined ? event : { ...event, user: outcome.user });
            }
            return ctx.reject(['publickey']);
          }
        }
      })
      .catch((err: unknown) => {
        deps.log(`authentication error for ${ctx.username} from ${peer.address}: ${String(err)}`);
        ctx.reject(['publickey']);
      });
  });

  client.on('ready', () => {
    if (!identity) return void scope.close();
    const who = identity;
    const access = async (): Promise<Access> => {
      const user = await deps.auth.storage.getUser(who.user);
      return resolveAccess(user ? await deps.auth.loadRoles(who.roles) : [], user?.logins ?? []);
    };
    const forwards = new RemoteForwards({ client, identity: who, scope, access, audit: deps.audit, tunnels: deps.tunnels });
    const failed = (what: string) => (err: unknown) => deps.log(`${who.user}@${peer.address}: ${what}: ${String(err)}`);
    // A request that failed inside still gets its answer: ssh2 sends global replies in order,
    // so one left unanswered would hold back every later one.
    const unanswered = (what: string, reply: GlobalReply) => (err: unknown) => {
      failed(what)(err);
      reply.reject?.();
    };

    client.on('session', (accept) => {
      handleSession({ client, identity: who, scope, access, audit: deps.audit, localAddress: local.address, localPort: local.port }, accept());
    });

    client.on('tcpip', (accept, reject, info: TcpipRequestInfo) => {
      handleDirectTcpip(deps, who, scope, access, accept, reject, info).catch((err: unknown) => {
        failed('direct-tcpip')(err);
        // Every open gets its answer; a no-op if it was accepted already.
        rejectChannel(reject, OpenFailure.CONNECT_FAILED, 'internal error');
      });
    });

    client.on('openssh.streamlocal', (_accept, reject) => {
      deps.audit.emit({ type: 'forward.local', success: false, code: 'not_supported', message: 'direct-streamlocal is not supported' }, who);
      rejectChannel(reject, OpenFailure.ADMINISTRATIVELY_PROHIBITED, 'unix-socket local forwarding is not supported by this node');
    });

    client.on('request', (accept, reject, requestName, info) => {
      const reply: GlobalReply = { accept, reject };
      // @types/ssh2 lists only the tcpip names; ssh2 also emits the streamlocal ones.
      const name: string = requestName;
      const data = info as { bindAddr?: string; bindPort?: number; socketPath?: string };
      switch (name) {
        case 'tcpip-forward':
          forwards.handleTcpipForward(reply, data.bindAddr ?? '', data.bindPort ?? 0).catch(unanswered(name, reply));
          break;
        case 'cancel-tcpip-forward':
          forwards.handleCancelTcpipForward(reply, data.bindAddr ?? '', data.bindPort ?? 0).catch(unanswered(name, reply));
          break;
        case 'streamlocal-forward@openssh.com':
          forwards.handleStreamlocalForward(reply, data.socketPath ?? '').catch(unanswered(name, reply));
          break;
        case 'cancel-streamlocal-forward@openssh.com':
          forwards.handleCancelStreamlocalForward(reply, data.socketPath ?? '').catch(unanswered(name, reply));
          break;
        default:
          reject?.();
      }
    });
  });
}

async function handleDirectTcpip(
  deps: NodeDeps,
  identity: Identity,
  scope: Scope,
  access: () => Promise<Access>,
  accept: () => ServerChannel,
  reject: () => void,
  info: TcpipRequestInfo,
): Promise<void> {
  const fields = { host: info.destIP, port: info.destPort, origin: `${info.srcIP}:${info.srcPort}` };
  const decision = authorizeDirectTcpip(await access(), identity.permitPortForwarding, info.destIP, info.destPort);
  if (!decision.allow) {
    deps.audit.refusal('forward.local', decision, identity, fields);
    return rejectChannel(reject, OpenFailure.ADMINISTRATIVELY_PROHIBITED, decision.message);
  }
  // Connect first: the client learns of a failure as a refused channel, with the reason.
  const target = forwardResolver.connect(info.destIP, info.destPort, { allowHalfOpen: true });
  const connected = await new Promise<Error | undefined>((resolve) => {
    target.once('connect', () => resolve(undefined));
    target.once('error', (err) => resolve(err));
  });
  if (connected || scope.closed) {
    target.destroy();
    const message = connected ? `connect to ${info.destIP}:${info.destPort} failed: ${connected.message}` : 'connection closed';
    deps.audit.emit({ type: 'forward.local', success: false, code: 'connect_failed', message, fields }, identity);
    return rejectChannel(reject, OpenFailure.CONNECT_FAILED, message);
  }
  target.setNoDelay(true);
  const channel = accept();
  const connScope = scope.child();
  deps.audit.emit({ type: 'forward.local', success: true, fields }, identity);
  connScope.defer(() => {
    deps.audit.emit({ type: 'forward.local.end', success: true, fields: { ...fields, bytes_in: target.bytesWritten, bytes_out: target.bytesRead } }, identity);
  });
  bindSocket(target, connScope);
  splice(target, channel, connScope);
}
