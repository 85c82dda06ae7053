// Parses the arguments of `ferry ssh -L`, `-R` and `-D` the way OpenSSH's ssh(1) does
// (readconf.c parse_forward and parse_fwd_field, misc.c a2port), so a command line that
// works with ssh means the same thing here. Checked against `ssh -G` of OpenSSH 9.2.
//
// Where this parser deliberately differs from ssh, the function doing it says so.

import { readFileSync } from 'node:fs';
import { ValidationError } from '../errors';

export interface TcpTarget {
  readonly kind: 'tcp';
  readonly host: string;
  readonly port: number;
}

export interface UnixTarget {
  readonly kind: 'unix';
  readonly path: string;
}

/** Reverse dynamic forwarding: the client itself serves SOCKS on each forwarded connection. */
export interface SocksTarget {
  readonly kind: 'socks';
}

export type ForwardTarget = TcpTarget | UnixTarget;
export type RemoteForwardTarget = ForwardTarget | SocksTarget;

/**
 * Where a client-side (-L, -D) TCP listener binds, as ssh decides with GatewayPorts=no:
 * no bind address or "localhost" means both loopback families, "*" or "" all interfaces,
 * anything else that host or address.
 */
export type ListenAddress =
  | { readonly kind: 'loopback' }
  | { readonly kind: 'all-interfaces' }
  | { readonly kind: 'address'; readonly address: string };

/** `-R [bind_address:]port:...`: a tcpip-forward request. */
export interface RemoteTcpForward {
  readonly kind: 'remote-tcp';
  /** The argument as typed, for messages. */
  readonly spec: string;
  /** The address the request carries: "localhost" when none was given, "" for "*" or empty. */
  readonly bindAddress: string;
  /** 0 asks the server to choose a port. */
  readonly port: number;
  readonly target: RemoteForwardTarget;
}

/** `-R remote_socket:...`: a streamlocal-forward@openssh.com request. */
export interface RemoteUnixForward {
  readonly kind: 'remote-unix';
  readonly spec: string;
  readonly socketPath: string;
  readonly target: RemoteForwardTarget;
}

export type RemoteForward = RemoteTcpForward | RemoteUnixForward;

/** `-L [bind_address:]port:...`: a local TCP listener opening direct-tcpip channels. */
export interface LocalTcpForward {
  readonly kind: 'local-tcp';
  readonly spec: string;
  readonly listen: ListenAddress;
  readonly port: number;
  readonly target: ForwardTarget;
}

/** `-L local_socket:...`: a local Unix socket listener. */
export interface LocalUnixForward {
  readonly kind: 'local-unix';
  readonly spec: string;
  readonly socketPath: string;
  readonly target: ForwardTarget;
}

export type LocalForward = LocalTcpForward | LocalUnixForward;

/** `-D [bind_address:]port`: a local SOCKS listener. */
export interface DynamicTcpForward {
  readonly kind: 'dynamic-tcp';
  readonly spec: string;
  readonly listen: ListenAddress;
  readonly port: number;
}

/** `-D local_socket`: a SOCKS listener on a Unix socket (ssh accepts this, undocumented). */
export interface DynamicUnixForward {
  readonly kind: 'dynamic-unix';
  readonly spec: string;
  readonly socketPath: string;
}

export type DynamicForward = DynamicTcpForward | DynamicUnixForward;

export type Forward = RemoteForward | LocalForward | DynamicForward;

/** TCP service names (and aliases) to port numbers, as /etc/services lists them. */
export type TcpServices = ReadonlyMap<string, number>;

export interface ForwardSpecOptions {
  /**
   * Where service names used as ports are looked up. Left out, /etc/services is read once;
   * null means there is no services database, so only numeric ports are accepted.
   */
  readonly tcpServices?: TcpServices | null;
}

const SERVICES_PATH = '/etc/services';

const REMOTE_FORMS =
  '[bind_address:]port:host:hostport, [bind_address:]port:local_socket, ' +
  'remote_socket:host:hostport, remote_socket:local_socket or [bind_address:]port';
const LOCAL_FORMS =
  '[bind_address:]port:host:hostport, [bind_address:]port:remote_socket, ' +
  'local_socket:host:hostport or local_socket:remote_socket';
const DYNAMIC_FORMS = '[bind_address:]port or local_socket';

// ssh's limits: NI_MAXHOST for names, sizeof(sun_path) on Linux for socket paths; both
// count the terminating NUL, so the longest accepted is one less.
const MAX_HOST_BYTES = 1024;
const MAX_SOCKET_PATH_BYTES = 107;

type Direction = 'remote' | 'local' | 'dynamic';

const FORMS: Record<Direction, string> = {
  remote: REMOTE_FORMS,
  local: LOCAL_FORMS,
  dynamic: DYNAMIC_FORMS,
};

/** Parses the argument of `-R`. Throws ValidationError on a spec ssh would refuse. */
export function parseRemoteForward(spec: string, options: ForwardSpecOptions = {}): RemoteForward {
  // Every form parse_forward knows is a valid -R: ssh tries it as a forward, then as dynamic.
  const { listen, connect } = resolveShape(spec, 'remote', parseShape(spec, 'remote'), options);
  if (connect.kind === 'tcp') checkTargetPort(spec, 'remote', connect.port);
  if (listen.kind === 'unix') return { kind: 'remote-unix', spec, socketPath: listen.path, target: connect };
  // Port 0 is allowed: the server picks one and reports it back.
  return { kind: 'remote-tcp', spec, bindAddress: remoteBindAddress(listen.host), port: listen.port, target: connect };
}

/** Parses the argument of `-L`. Throws ValidationError on a spec ssh would refuse. */
export function parseLocalForward(spec: string, options: ForwardSpecOptions = {}): LocalForward {
  const shape = parseShape(spec, 'local');
  if (shape.connect.kind === 'socks') throw badSpec(spec, 'local');
  const { listen, connect } = resolveShape(spec, 'local', shape, options);
  if (connect.kind === 'socks') throw badSpec(spec, 'local'); // checked above; narrows the type
  if (connect.kind === 'tcp') checkTargetPort(spec, 'local', connect.port);
  if (listen.kind === 'unix') return { kind: 'local-unix', spec, socketPath: listen.path, target: connect };
  checkLocalListenPort(spec, 'local', listen.port);
  return { kind: 'local-tcp', spec, listen: localListenAddress(listen.host), port: listen.port, target: connect };
}

/**
 * Parses the argument of `-D`. Throws ValidationError on a spec ssh would refuse.
 *
 * Differs from ssh: ssh also accepts `-D port:local_socket` and `-D path:path` and then
 * runs them as plain -L forwards (parse_forward only counts fields for -D); those are
 * refused here since they are not dynamic.
 */
export function parseDynamicForward(spec: string, options: ForwardSpecOptions = {}): DynamicForward {
  const shape = parseShape(spec, 'dynamic');
  if (shape.fieldCount > 2 || shape.connect.kind !== 'socks') throw badSpec(spec, 'dynamic');
  const { listen } = resolveShape(spec, 'dynamic', shape, options);
  if (listen.kind === 'unix') return { kind: 'dynamic-unix', spec, socketPath: listen.path };
  checkLocalListenPort(spec, 'dynamic', listen.port);
  return { kind: 'dynamic-tcp', spec, listen: localListenAddress(listen.host), port: listen.port };
}

/**
 * The target as ssh writes it in "Allocated port N for remote forward to %s:%d": host and
 * port joined by ':' (no brackets around IPv6, as ssh), "socks:0" for reverse dynamic.
 * For a socket ssh would print "(null):-2"; the path is printed instead.
 */
export function formatForwardTarget(target: RemoteForwardTarget): string {
  switch (target.kind) {
    case 'tcp':
      return `${target.host}:${target.port}`;
    case 'unix':
      return target.path;
    case 'socks':
      return 'socks:0';
  }
}

/** ssh's notice after the server chose the port of `-R 0:...`. */
export function formatAllocatedPort(allocatedPort: number, target: RemoteForwardTarget): string {
  return `Allocated port ${allocatedPort} for remote forward to ${formatForwardTarget(target)}`;
}

/** Where a forward listens, for messages: "localhost:8080", "*:8080", "[::1]:8080", "/path". */
export function formatForwardListener(forward: Forward): string {
  switch (forward.kind) {
    case 'remote-tcp':
      return joinHostPort(forward.bindAddress === '' ? '*' : forward.bindAddress, forward.port);
    case 'local-tcp':
    case 'dynamic-tcp':
      return joinHostPort(formatListenAddress(forward.listen), forward.port);
    case 'remote-unix':
    case 'local-unix':
    case 'dynamic-unix':
      return forward.socketPath;
  }
}

function formatListenAddress(listen: ListenAddress): string {
  switch (listen.kind) {
    case 'loopback':
      return 'localhost';
    case 'all-interfaces':
      return '*';
    case 'address':
      return listen.address;
  }
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Reads TCP services from a services(5) file; null when the file cannot be read. */
export function loadTcpServices(path: string = SERVICES_PATH): TcpServices | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  return parseTcpServices(text);
}

/** Parses services(5) text: "name port/proto [aliases...] [# comment]"; the first entry wins. */
export function parseTcpServices(text: string): TcpServices {
  const services = new Map<string, number>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    const [name, portProto, ...aliases] = line.split(/\s+/);
    if (name === undefined || portProto === undefined) continue;
    const match = /^(\d+)\/tcp$/.exec(portProto);
    if (match?.[1] === undefined) continue;
    const port = Number(match[1]);
    if (port > 65535) continue;
    for (const serviceName of [name, ...aliases]) {
      if (!services.has(serviceName)) services.set(serviceName, port);
    }
  }
  return services;
}

let defaultServices: { services: TcpServices | null } | undefined;

function tcpServicesFor(options: ForwardSpecOptions): TcpServices | null {
  if (options.tcpServices !== undefined) return options.tcpServices;
  defaultServices ??= { services: loadTcpServices() };
  return defaultServices.services;
}

// ---- parse_fwd_field: splitting the spec into fields ----

interface Field {
  readonly text: string;
  /** A '/' outside an escape makes the field a Unix socket path, as in ssh. */
  readonly isPath: boolean;
}

/** Splits like parse_fwd_field; returns the fields or the reason the spec cannot be split. */
function splitFields(spec: string): Field[] | { reason: string | undefined } {
  const fields: Field[] = [];
  let i = 0;
  // ssh skips leading white space (isspace) of the whole spec, nowhere else.
  while (i < spec.length && /[ \t\n\v\f\r]/.test(spec.charAt(i))) i++;

  while (fields.length < 4 && i < spec.length) {
    if (spec.charAt(i) === '[') {
      // A bracketed field is literal up to ']', which must end the field.
      const close = spec.indexOf(']', i + 1);
      if (close < 0) return { reason: "unbalanced '['" };
      const next = close + 1;
      if (next < spec.length && spec.charAt(next) !== ':') return { reason: "']' must end the field" };
      const text = spec.slice(i + 1, close);
      fields.push({ text, isPath: text.includes('/') });
      i = next < spec.length ? next + 1 : next;
      continue;
    }
    let text = '';
    let isPath = false;
    for (; i < spec.length; i++) {
      const c = spec.charAt(i);
      if (c === '\\') {
        // A backslash takes the next character literally; an escaped '/' does not make a path.
        i++;
        if (i >= spec.length) return { reason: "trailing '\\'" };
        text += spec.charAt(i);
        continue;
      }
      if (c === ':') {
        i++;
        break;
      }
      if (c === '/') isPath = true;
      text += c;
    }
    fields.push({ text, isPath });
  }
  // A trailing ':' ends the spec without starting a field, so "8080:h:80:" is 3 fields.
  if (i < spec.length) return { reason: 'too many fields' };
  if (fields.length === 0) return { reason: undefined };
  return fields;
}

// ---- parse_forward: what the fields mean ----

// Ports stay text until the direction has accepted the form, so a spec of the wrong shape
// is reported as such rather than as a bad port.
type ListenShape =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string | null; port: string };

type ConnectShape =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: string }
  | { kind: 'socks' };

interface Shape {
  listen: ListenShape;
  connect: ConnectShape;
  fieldCount: number;
}

/** The meaning parse_forward gives each field count; the same for every direction. */
function parseShape(spec: string, direction: Direction): Shape {
  const split = splitFields(spec);
  if (!Array.isArray(split)) throw badSpec(spec, direction, split.reason);
  const fields = split;
  const [a, b, c, d] = fields;
  const unix = (field: Field) => ({ kind: 'unix', path: field.text }) as const;
  const socks = { kind: 'socks' } as const;
  const tcpListen = (host: Field | null, port: Field) =>
    ({ kind: 'tcp', host: host === null ? null : host.text, port: port.text }) as const;
  const tcpConnect = (host: Field, port: Field) => ({ kind: 'tcp', host: host.text, port: port.text }) as const;
  const shape = (listen: ListenShape, connect: ConnectShape): Shape => ({ listen, connect, fieldCount: fields.length });

  if (a === undefined) throw badSpec(spec, direction);
  if (b === undefined) return shape(a.isPath ? unix(a) : tcpListen(null, a), socks);
  if (c === undefined) {
    if (a.isPath && b.isPath) return shape(unix(a), unix(b));
    if (b.isPath) return shape(tcpListen(null, a), unix(b));
    return shape(tcpListen(a, b), socks);
  }
  if (d === undefined) {
    if (a.isPath) return shape(unix(a), tcpConnect(b, c));
    if (c.isPath) return shape(tcpListen(a, b), unix(c));
    return shape(tcpListen(null, a), tcpConnect(b, c));
  }
  return shape(tcpListen(a, b), tcpConnect(c, d));
}

interface ResolvedShape {
  listen: { kind: 'unix'; path: string } | { kind: 'tcp'; host: string | null; port: number };
  connect: RemoteForwardTarget;
}

/** Resolves the ports left to right, as ssh does, then checks the limits ssh checks. */
function resolveShape(spec: string, direction: Direction, shape: Shape, options: ForwardSpecOptions): ResolvedShape {
  const { listen, connect } = shape;
  const resolved: ResolvedShape = {
    listen: listen.kind === 'tcp' ? { ...listen, port: resolvePort(spec, direction, listen.port, options) } : listen,
    connect:
      connect.kind === 'tcp' ? { ...connect, port: resolvePort(spec, direction, connect.port, options) } : connect,
  };
  checkHostsAndPaths(spec, direction, resolved);
  return resolved;
}

/**
 * Differs from ssh: ssh accepts an empty host ("8080::80") and fails only when the
 * connection is made; it can never work, so it is refused here.
 */
function checkHostsAndPaths(spec: string, direction: Direction, { listen, connect }: ResolvedShape): void {
  if (connect.kind === 'tcp' && connect.host === '') throw badSpec(spec, direction, 'empty host');
  const hosts = [listen.kind === 'tcp' ? listen.host : null, connect.kind === 'tcp' ? connect.host : null];
  for (const host of hosts) {
    if (host !== null && Buffer.byteLength(host) > MAX_HOST_BYTES) {
      throw badSpec(spec, direction, `host name longer than ${MAX_HOST_BYTES} bytes`);
    }
  }
  const paths = [listen.kind === 'unix' ? listen.path : null, connect.kind === 'unix' ? connect.path : null];
  for (const path of paths) {
    if (path !== null && Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw badSpec(spec, direction, `socket path longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
    }
  }
}

function checkTargetPort(spec: string, direction: Direction, port: number): void {
  if (port === 0) throw badSpec(spec, direction, 'host port 0 is not allowed');
}

// Only the server can choose a port for a listener; ssh refuses -L/-D port 0.
function checkLocalListenPort(spec: string, direction: Direction, port: number): void {
  if (port === 0) throw badSpec(spec, direction, 'listen port 0 is only allowed for -R');
}

/** What a -R request carries for the bind address (channels.c channel_request_remote_forwarding). */
function remoteBindAddress(host: string | null): string {
  if (host === null) return 'localhost';
  if (host === '' || host === '*') return '';
  return host;
}

/** channels.c channel_fwd_bind_addr for the client, with GatewayPorts=no. */
function localListenAddress(host: string | null): ListenAddress {
  if (host === null || host === 'localhost') return { kind: 'loopback' };
  if (host === '' || host === '*') return { kind: 'all-interfaces' };
  return { kind: 'address', address: host };
}

/**
 * a2port: a decimal number 0..65535 as strtonum reads it (leading white space and a sign
 * allowed), else a TCP service name. Whether 0 is allowed is the caller's check.
 */
function resolvePort(spec: string, direction: Direction, text: string, options: ForwardSpecOptions): number {
  const numeric = /^[ \t\n\v\f\r]*[+-]?[0-9]+$/.test(text);
  if (numeric) {
    const value = Number(text.trim());
    if (value >= 0 && value <= 65535) return Object.is(value, -0) ? 0 : value;
  }
  // ssh asks getservbyname even for out-of-range numbers; no services file names them.
  const services = tcpServicesFor(options);
  const port = services?.get(text);
  if (port !== undefined) return port;
  if (numeric) throw badSpec(spec, direction, `port ${text.trim()} is outside 0..65535`);
  if (text === '') throw badSpec(spec, direction, 'empty port');
  if (services === null) {
    throw badSpec(
      spec,
      direction,
      `'${text}' is not a port number, and service names cannot be looked up because ${SERVICES_PATH} is missing`,
    );
  }
  throw badSpec(spec, direction, `'${text}' is not a port number or a TCP service name`);
}

function badSpec(spec: string, direction: Direction, reason?: string): ValidationError {
  // ssh's own words first, so the message reads like ssh's; then the forms and the reason.
  const detail = reason === undefined ? '' : ` (${reason})`;
  return new ValidationError(`Bad ${direction} forwarding specification '${spec}': expected ${FORMS[direction]}${detail}`);
}
