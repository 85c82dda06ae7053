// The node's decisions. Each function only decides; the node's handlers act on the result.

import type { Access } from './access';
import { matchesListenRule } from './listen';
import { ALLOW, deny, type Decision } from './decision';

/** Ports below this need root, as on every Unix and in sshd (IPPORT_RESERVED). */
export const PRIVILEGED_PORT_LIMIT = 1024;

export function authorizeLogin(access: Access, login: string): Decision {
  if (access.deniedLogins.has(login)) {
    return deny('login_denied', `login "${login}" is denied`, `login "${login}" is listed in deny.logins of one of the roles [${access.roles.join(', ')}]`);
  }
  if (!access.logins.has(login)) {
    return deny('login_denied', `login "${login}" is not allowed`, `login "${login}" is not in allow.logins of any of the roles [${access.roles.join(', ')}]`);
  }
  return ALLOW;
}

export function authorizePty(access: Access, certPermitsPty: boolean): Decision {
  if (!certPermitsPty) return deny('certificate_denied', 'PTY allocation disabled', 'the certificate has no permit-pty extension');
  if (!access.pty.allowed) return deny('denied_by_role', 'PTY allocation disabled', access.pty.reason);
  return ALLOW;
}

/** SSH carries ports as uint32; anything above 65535 is refused by name. */
function portOutOfRange(port: number, what: string): Decision {
  return deny('port_out_of_range', `port ${port} is out of range (0-65535)`, `${what}: port above 65535`);
}

export function authorizeDirectTcpip(access: Access, certPermitsForwarding: boolean, host: string, port: number): Decision {
  const what = `local forward to ${host}:${port}`;
  if (!certPermitsForwarding) return deny('certificate_denied', 'port forwarding is disabled by your certificate', `${what}: the certificate has no permit-port-forwarding extension`);
  if (!access.localForwarding.allowed) return deny('denied_by_role', 'local port forwarding is not allowed for you', `${what}: ${access.localForwarding.reason}`);
  if (port > 65535) return portOutOfRange(port, what);
  return ALLOW;
}

export interface TcpipForwardRequest {
  bindAddress: string;
  port: number;
  uid: number;
  /** Remote forwards (TCP and unix) this connection holds now. */
  activeForwards: number;
  certPermitsForwarding: boolean;
}

export function authorizeTcpipForward(access: Access, req: TcpipForwardRequest): Decision {
  const where = `${req.bindAddress === '' ? '*' : req.bindAddress}:${req.port}`;
  if (!req.certPermitsForwarding) {
    return deny('certificate_denied', 'port forwarding is disabled by your certificate', `listen on ${where}: the certificate has no permit-port-forwarding extension`);
  }
  if (!access.remoteForwarding.allowed) {
    return deny('denied_by_role', 'remote port forwarding is not allowed for you', `listen on ${where}: ${access.remoteForwarding.reason}`);
  }
  if (req.port > 65535) return portOutOfRange(req.port, `listen on ${where}`);
  if (req.activeForwards >= access.maxForwards) {
    return deny('cap_reached', `remote forward limit reached (${access.maxForwards} per connection)`, `listen on ${where}: already holding ${req.activeForwards} of max_forwards ${access.maxForwards}`);
  }
  if (!access.permitListen.some((rule) => matchesListenRule(rule, req.bindAddress, req.port))) {
    const rules = access.permitListen.map((r) => r.text).join(', ');
    return deny('address_not_allowed', `listening on ${where} is not allowed by your roles`, `listen on ${where}: matches no permit_listen rule of the roles [${access.roles.join(', ')}] (${rules || 'none'})`);
  }
  if (req.port !== 0 && req.port < PRIVILEGED_PORT_LIMIT && req.uid !== 0) {
    return deny('privileged_port', `port ${req.port} is privileged and your login is not root`, `listen on ${where}: port below ${PRIVILEGED_PORT_LIMIT} needs uid 0, login has uid ${req.uid}`);
  }
  return ALLOW;
}

/** The longest unix socket path Linux binds: sun_path is 108 bytes, NUL included. */
export const MAX_SOCKET_PATH = 107;

export function authorizeStreamlocalForward(access: Access, socketPath: string, activeForwards: number, certPermitsForwarding: boolean): Decision {
  const what = `unix socket ${socketPath}`;
  if (!certPermitsForwarding) return deny('certificate_denied', 'port forwarding is disabled by your certificate', `${what}: the certificate has no permit-port-forwarding extension`);
  if (!access.unixSockets.allowed) return deny('denied_by_role', 'remote unix-socket forwarding is not allowed for you', `${what}: ${access.unixSockets.reason}`);
  if (activeForwards >= access.maxForwards) {
    return deny('cap_reached', `remote forward limit reached (${access.maxForwards} per connection)`, `${what}: already holding ${activeForwards} of max_forwards ${access.maxForwards}`);
  }
  if (!socketPath.startsWith('/')) return deny('path_not_allowed', `socket path "${socketPath}" must be absolute`, `${what}: relative path`);
  // sun_path holds 108 bytes with the NUL; a longer path was cut short by the bind, leaving a
  // socket under another name. sshd refuses it too.
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH) return deny('path_not_allowed', `socket path is too long (${bytes} bytes, at most ${MAX_SOCKET_PATH})`, `${what}: path longer than ${MAX_SOCKET_PATH} bytes`);
  if (socketPath.includes('\0')) return deny('path_not_allowed', 'socket path contains a NUL byte', `${what}: NUL byte in path`);
  return ALLOW;
}
