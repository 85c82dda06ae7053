// The server side of SOCKS 4, 4A and 5 (RFC 1928; no authentication, CONNECT only) over any
// Duplex: a local socket for `ferry ssh -D`, or a forwarded-tcpip channel for reverse
// dynamic `ferry ssh -R [bind:]port`. Deciding where a connection may go and opening it is
// the caller's `connect`; this file only speaks the protocol and relays bytes.

import type { Duplex } from 'node:stream';
import { ChannelOpenError, FerryError, OpenFailure, describeError } from '../errors';
import { whenWritten } from '../streams';

/** Opens the connection a SOCKS client asked for. The signal aborts when the client leaves. */
export type SocksConnect = (host: string, port: number, signal: AbortSignal) => Promise<Duplex>;

export interface ServeSocksOptions {
  /**
   * Told of every error of the session: a client breaking the protocol (code
   * 'socks_protocol'), a connect that failed ('socks_connect_failed'), or either stream
   * erroring while relaying (the stream's own error). Nothing is thrown or rejected.
   */
  readonly onError?: (err: Error) => void;
}

/** RFC 1928 section 6 reply codes. */
export const Socks5Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED_BY_RULESET: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export type Socks5ReplyCode = (typeof Socks5Reply)[keyof typeof Socks5Reply];

/** SOCKS 4 reply codes ("CD" of the reply). */
export const Socks4Reply = {
  GRANTED: 0x5a,
  REJECTED: 0x5b,
} as const;

const SOCKS4 = 0x04;
const SOCKS5 = 0x05;
const COMMAND_CONNECT = 0x01;
const METHOD_NO_AUTH = 0x00;
const METHOD_NONE_ACCEPTABLE = 0xff;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
// SOCKS 4 ends the user id and the 4A host name with a NUL and sets no limit; these bound
// what a client can make us buffer before the request is complete.
const MAX_SOCKS4_USER_ID = 255;
const MAX_SOCKS4_HOST = 255;

/**
 * Serves one SOCKS session on `stream`: reads the greeting and request, opens the target
 * with `connect`, replies, then relays both ways. An end on either side is passed on (half
 * close); once either stream closes or errors, both are destroyed. Resolves when every
 * stream it touched has closed; never rejects.
 */
export function serveSocks(stream: Duplex, connect: SocksConnect, options: ServeSocksOptions = {}): Promise<void> {
  return new SocksSession(stream, connect, options.onError ?? (() => {})).finished;
}

/** The SOCKS 5 reply for a failed connect; reads Node error codes along the `cause` chain. */
export function socks5ReplyFor(err: unknown): Socks5ReplyCode {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof ChannelOpenError && e.reason === OpenFailure.ADMINISTRATIVELY_PROHIBITED) {
      return Socks5Reply.NOT_ALLOWED_BY_RULESET;
    }
    switch ((e as { code?: unknown }).code) {
      case 'ECONNREFUSED':
        return Socks5Reply.CONNECTION_REFUSED;
      case 'EHOSTUNREACH':
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return Socks5Reply.HOST_UNREACHABLE;
      case 'ENETUNREACH':
        return Socks5Reply.NETWORK_UNREACHABLE;
    }
    // An SSH server reports a failed direct-tcpip only as text; OpenSSH sends strerror().
    const fromText = replyForServerText(e.message);
    if (fromText !== undefined) return fromText;
    e = e.cause;
  }
  return Socks5Reply.GENERAL_FAILURE;
}

function replyForServerText(message: string): Socks5ReplyCode | undefined {
  if (/connection refused/i.test(message)) return Socks5Reply.CONNECTION_REFUSED;
  if (/network is unreachable/i.test(message)) return Socks5Reply.NETWORK_UNREACHABLE;
  if (/no route to host|name or service not known/i.test(message)) return Socks5Reply.HOST_UNREACHABLE;
  return undefined;
}

// ---- wire parsing: pure functions over what has arrived so far ----

type Parsed<T> =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'refused'; readonly reply: Buffer | null; readonly message: string }
  | { readonly kind: 'parsed'; readonly value: T; readonly length: number };

interface ConnectRequest {
  readonly version: 4 | 5;
  readonly host: string;
  readonly port: number;
}

const incomplete = { kind: 'incomplete' } as const;

function refused(reply: Buffer | null, message: string): Parsed<never> {
  return { kind: 'refused', reply, message };
}

function socks4Reply(code: number): Buffer {
  // VN 0, CD, then DSTPORT and DSTIP, which clients ignore for CONNECT.
  return Buffer.from([0x00, code, 0, 0, 0, 0, 0, 0]);
}

function socks5Reply(code: Socks5ReplyCode): Buffer {
  // The bound address is not known for an SSH channel; 0.0.0.0:0 is what ssh sends too.
  return Buffer.from([SOCKS5, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/** VN CD DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x != 0]. */
function parseSocks4Request(buf: Buffer): Parsed<ConnectRequest> {
  const reject = socks4Reply(Socks4Reply.REJECTED);
  if (buf.length < 8) return incomplete;
  const userIdEnd = buf.indexOf(0, 8);
  if (userIdEnd < 0) {
    return buf.length - 8 > MAX_SOCKS4_USER_ID ? refused(reject, 'SOCKS 4 user id too long') : incomplete;
  }
  const port = buf.readUInt16BE(2);
  const ip = buf.subarray(4, 8);
  let host: string;
  let length: number;
  if (ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0) {
    const hostStart = userIdEnd + 1;
    const hostEnd = buf.indexOf(0, hostStart);
    if (hostEnd < 0) {
      return buf.length - hostStart > MAX_SOCKS4_HOST ? refused(reject, 'SOCKS 4A host name too long') : incomplete;
    }
    host = buf.toString('utf8', hostStart, hostEnd);
    if (host === '') return refused(reject, 'SOCKS 4A request with an empty host name');
    length = hostEnd + 1;
  } else {
    host = ip.join('.');
    length = userIdEnd + 1;
  }
  const command = buf[1];
  if (command !== COMMAND_CONNECT) return refused(reject, `SOCKS 4 command ${String(command)} is not supported`);
  return { kind: 'parsed', value: { version: 4, host, port }, length };
}

/** VER NMETHODS METHODS...; only "no authentication" is offered. */
function parseSocks5Greeting(buf: Buffer): Parsed<{ readonly noAuthOffered: boolean }> {
  const methodCount = buf[1];
  if (methodCount === undefined || buf.length < 2 + methodCount) return incomplete;
  const methods = buf.subarray(2, 2 + methodCount);
  return { kind: 'parsed', value: { noAuthOffered: methods.includes(METHOD_NO_AUTH) }, length: 2 + methodCount };
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT(2). The whole request is read before refusing it. */
function parseSocks5Request(buf: Buffer): Parsed<ConnectRequest> {
  if (buf.length < 4) return incomplete;
  const [version, command, , addressType, domainLength] = buf;
  let addressLength: number;
  switch (addressType) {
    case ATYP_IPV4:
      addressLength = 4;
      break;
    case ATYP_IPV6:
      addressLength = 16;
      break;
    case ATYP_DOMAIN:
      if (domainLength === undefined) return incomplete;
      addressLength = 1 + domainLength;
      break;
    default:
      // Its length is unknown, so this is the one refusal sent before the request is read.
      return refused(
        socks5Reply(Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED),
        `SOCKS 5 address type ${String(addressType)} is not supported`,
      );
  }
  const length = 4 + addressLength + 2;
  if (buf.length < length) return incomplete;
  if (version !== SOCKS5) {
    return refused(socks5Reply(Socks5Reply.GENERAL_FAILURE), `SOCKS 5 request with version ${String(version)}`);
  }
  if (command !== COMMAND_CONNECT) {
    return refused(socks5Reply(Socks5Reply.COMMAND_NOT_SUPPORTED), `SOCKS 5 command ${String(command)} is not supported`);
  }
  const address = buf.subarray(4, 4 + addressLength);
  let host: string;
  if (addressType === ATYP_IPV4) host = address.join('.');
  else if (addressType === ATYP_IPV6) host = formatIPv6(address);
  else host = address.toString('utf8', 1);
  if (host === '') return refused(socks5Reply(Socks5Reply.GENERAL_FAILURE), 'SOCKS 5 request with an empty host name');
  return { kind: 'parsed', value: { version: 5, host, port: buf.readUInt16BE(4 + addressLength) }, length };
}

/** RFC 5952 text for 16 address bytes: lower case, longest run of two or more zero groups as "::". */
export function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (part: number[]): string => part.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

// ---- the session ----

type Stage = 'version' | 'socks4-request' | 'socks5-greeting' | 'socks5-request' | 'connecting' | 'relaying' | 'closing' | 'closed';

class SocksSession {
  readonly finished: Promise<void>;
  readonly #client: Duplex;
  readonly #connect: SocksConnect;
  readonly #report: (err: Error) => void;
  readonly #abort = new AbortController();
  #resolve: () => void = () => {};
  #stage: Stage = 'version';
  #buffered: Buffer = Buffer.alloc(0);
  // Client bytes that came after the request, held (client paused) until the target is open.
  readonly #held: Buffer[] = [];
  #clientEnded = false;
  #clientClosed = false;
  #target: Duplex | undefined;
  #targetClosed = false;
  #connectPending = false;

  constructor(client: Duplex, connect: SocksConnect, report: (err: Error) => void) {
    this.#client = client;
    this.#connect = connect;
    this.#report = report;
    this.finished = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    // Permanent, so no 'error' from the client is ever unhandled, even after teardown.
    client.on('error', (err: Error) => this.#fail(err));
    client.on('close', () => {
      this.#clientClosed = true;
      // Relaying, what the client sent last may still wait in the target (an SSH channel
      // waiting for window): let it out first. An error tore everything down already.
      if (this.#stage === 'relaying' && this.#target) whenWritten(this.#target, () => this.#teardown());
      else this.#teardown();
    });
    client.on('data', this.#onData);
    client.on('end', this.#onEnd);
    if (client.closed || client.destroyed) {
      this.#clientClosed = client.closed;
      this.#teardown();
    }
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#stage === 'connecting') {
      this.#held.push(bytes);
      this.#client.pause();
      return;
    }
    if (!this.#inHandshake()) return;
    this.#buffered = this.#buffered.length === 0 ? bytes : Buffer.concat([this.#buffered, bytes]);
    this.#advance();
  };

  readonly #onEnd = (): void => {
    if (this.#stage === 'connecting') {
      this.#clientEnded = true;
      return;
    }
    if (this.#inHandshake()) {
      this.#fail(new FerryError('socks_protocol', 'SOCKS client closed the connection before finishing its request'));
    }
  };

  #inHandshake(): boolean {
    return (
      this.#stage === 'version' ||
      this.#stage === 'socks4-request' ||
      this.#stage === 'socks5-greeting' ||
      this.#stage === 'socks5-request'
    );
  }

  /** Moves through as many handshake steps as the buffered bytes allow. */
  #advance(): void {
    while (this.#inHandshake()) {
      switch (this.#stage) {
        case 'version': {
          const version = this.#buffered[0];
          if (version === undefined) return;
          if (version === SOCKS4) this.#stage = 'socks4-request';
          else if (version === SOCKS5) this.#stage = 'socks5-greeting';
          // No reply format is shared by every version, so an unknown one is just closed.
          else return this.#refuse(null, `unsupported SOCKS version ${version}`);
          break;
        }
        case 'socks4-request': {
          const parsed = parseSocks4Request(this.#buffered);
          if (parsed.kind === 'incomplete') return;
          if (parsed.kind === 'refused') return this.#refuse(parsed.reply, parsed.message);
          this.#consume(parsed.length);
          return this.#startConnect(parsed.value);
        }
        case 'socks5-greeting': {
          const parsed = parseSocks5Greeting(this.#buffered);
          if (parsed.kind !== 'parsed') return;
          this.#consume(parsed.length);
          if (!parsed.value.noAuthOffered) {
            return this.#refuse(
              Buffer.from([SOCKS5, METHOD_NONE_ACCEPTABLE]),
              'SOCKS 5 client offers no method without authentication',
            );
          }
          this.#client.write(Buffer.from([SOCKS5, METHOD_NO_AUTH]));
          this.#stage = 'socks5-request';
          break;
        }
        case 'socks5-request': {
          const parsed = parseSocks5Request(this.#buffered);
          if (parsed.kind === 'incomplete') return;
          if (parsed.kind === 'refused') return this.#refuse(parsed.reply, parsed.message);
          this.#consume(parsed.length);
          return this.#startConnect(parsed.value);
        }
      }
    }
  }

  #consume(length: number): void {
    this.#buffered = this.#buffered.subarray(length);
  }

  #startConnect(request: ConnectRequest): void {
    this.#stage = 'connecting';
    // Whatever the client sent early waits for the target; pausing keeps it bounded.
    this.#client.pause();
    if (this.#buffered.length > 0) this.#held.push(this.#buffered);
    this.#buffered = Buffer.alloc(0);
    this.#connectPending = true;
    const { host, port } = request;
    Promise.resolve()
      .then(() => this.#connect(host, port, this.#abort.signal))
      .then(
        (target) => {
          this.#connectPending = false;
          this.#onConnected(request, target);
        },
        (err: unknown) => {
          this.#connectPending = false;
          this.#onConnectFailed(request, err);
        },
      );
  }

  #onConnected(request: ConnectRequest, target: Duplex): void {
    this.#target = target;
    target.on('error', (err: Error) => this.#fail(err));
    target.on('close', () => {
      this.#targetClosed = true;
      if (this.#stage === 'relaying') whenWritten(this.#client, () => this.#teardown());
      else this.#teardown();
    });
    if (target.closed) this.#targetClosed = true;
    if (this.#stage !== 'connecting' || target.destroyed) {
      // The client left (or the target died) while connecting: close what was opened.
      this.#teardown();
      return;
    }
    this.#stage = 'relaying';
    const client = this.#client;
    client.write(request.version === 4 ? socks4Reply(Socks4Reply.GRANTED) : socks5Reply(Socks5Reply.SUCCEEDED));
    client.removeListener('data', this.#onData);
    client.removeListener('end', this.#onEnd);
    for (const chunk of this.#held.splice(0)) target.write(chunk);
    if (this.#clientEnded) target.end();
    else client.pipe(target);
    target.pipe(client);
  }

  #onConnectFailed(request: ConnectRequest, err: unknown): void {
    if (this.#stage !== 'connecting') {
      // The client already left; the failure is most likely our own abort.
      this.#settle();
      return;
    }
    const reply =
      request.version === 4 ? socks4Reply(Socks4Reply.REJECTED) : socks5Reply(socks5ReplyFor(err));
    this.#report(
      new FerryError('socks_connect_failed', `SOCKS connect to ${request.host}:${request.port} failed: ${describeError(err)}`, {
        cause: err,
      }),
    );
    this.#close(reply);
  }

  /** Refuses the request: reports why, sends the refusal if the protocol has one, closes. */
  #refuse(reply: Buffer | null, message: string): void {
    this.#report(new FerryError('socks_protocol', message));
    this.#close(reply);
  }

  #close(reply: Buffer | null): void {
    this.#stage = 'closing';
    this.#client.removeListener('data', this.#onData);
    this.#client.removeListener('end', this.#onEnd);
    if (reply === null || this.#client.writableEnded) {
      this.#teardown();
      return;
    }
    // Destroy once the refusal is flushed, rather than wait for a client that may never close.
    this.#client.end(reply, () => this.#teardown());
  }

  #fail(err: Error): void {
    if (this.#stage === 'closed') return; // a consequence of the teardown, not news
    this.#report(err);
    this.#teardown();
  }

  /** Destroys both sides; idempotent. Settles once everything opened has closed. */
  #teardown(): void {
    if (this.#stage !== 'closed') {
      this.#stage = 'closed';
      this.#abort.abort();
      this.#client.destroy();
    }
    this.#target?.destroy();
    this.#settle();
  }

  #settle(): void {
    if (this.#stage !== 'closed' || !this.#clientClosed || this.#connectPending) return;
    if (this.#target !== undefined && !this.#targetClosed) return;
    this.#resolve();
  }
}
