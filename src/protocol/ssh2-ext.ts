// Typed access to what Ferry's patch of ssh2 adds (patches/ssh2+*.patch): SSH_MSG_DEBUG in
// both directions and channel-open refusals that carry a reason code and text. Kept here so
// that nothing else reaches into ssh2's internals.

import { utils, type AnyAuthMethod, type AuthHandlerMiddleware, type BaseAgent, type Client, type Connection, type ParsedKey, type Session } from 'ssh2';
import { ValidationError } from '../errors';
import { isCertificateKeyType, parseAuthorizedKeyLine, parseCertificate } from '../auth/sshcert';
import type { OpenFailureReason } from '../errors';

interface PatchedProtocol {
  sendDebug(message: string, alwaysDisplay: boolean): void;
}

/** Sends SSH_MSG_DEBUG, as sshd does to say why the next reply is a failure. */
export function sendDebug(conn: Connection, message: string): void {
  const proto = (conn as unknown as { _protocol?: PatchedProtocol })._protocol;
  proto?.sendDebug(message, true);
}

/**
 * Session requests that no other listener takes (keepalive@openssh.com, x11-req, ...): Ferry's
 * patch hands them here instead of refusing them at once, ahead of replies still pending.
 */
export function onOtherSessionRequest(session: Session, listener: (reject: (() => void) | undefined, type: string) => void): void {
  (session as unknown as NodeJS.EventEmitter).on('request', (_accept: unknown, reject: (() => void) | undefined, type: string) => listener(reject, type));
}

/** ssh2's channel reject callback, which Ferry's patch extends with a reason and text. */
export type ChannelReject = (reason?: OpenFailureReason, description?: string) => void;

export function rejectChannel(reject: () => void, reason: OpenFailureReason, description: string): void {
  (reject as ChannelReject)(reason, description);
}

/** The server's software version from its identification string (`OpenSSH_9.2p1`), once known. */
export function serverSoftware(client: Client): string | undefined {
  return (client as unknown as { _remoteVer?: string })._remoteVer;
}

/**
 * Drops the connection at once. ssh2's destroy() does nothing once it has half-closed the
 * socket itself (after a protocol error or a DISCONNECT), which a dead peer never answers.
 */
export function dropConnection(client: Client): void {
  client.destroy();
  (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
}

/**
 * Whether the client sends SSH_MSG_IGNORE when a CHANNEL_CLOSE answers its own, so that the TCP
 * ACK for it leaves at once instead of after the delayed-ACK timer (Ferry's ssh2 patch).
 */
export function ackAnsweredCloses(client: Client, on: boolean): void {
  (client as unknown as { _ackAnsweredClose?: boolean })._ackAnsweredClose = on;
}

/** Subscribes to SSH_MSG_DEBUG messages a server sends to this client. */
export function onRemoteDebug(client: Client, listener: (message: string) => void): void {
  (client as unknown as NodeJS.EventEmitter).on('remote-debug', (message: string) => listener(message));
}

/** The first key in `data` (ssh2 returns a list for files that hold several), or why there is none. */
export function parseFirstKey(data: Buffer | string, passphrase?: string): ParsedKey | Error {
  const parsed = utils.parseKey(data, passphrase);
  if (parsed instanceof Error) return parsed;
  return (Array.isArray(parsed) ? parsed[0] : parsed) ?? new Error('no key in the file');
}

/**
 * Wraps a parsed private key so ssh2 presents the certificate as its public half, under the
 * certificate's algorithm: a client offers it for user auth, a server as its host key. The
 * private half and signing stay ssh2's; Ferry's ssh2 patch makes the signatures carry the
 * plain algorithm name (ssh-ed25519), as OpenSSH expects.
 */
export function certifiedKey(key: ParsedKey, certLine: string, source: string): ParsedKey {
  const line = parseAuthorizedKeyLine(certLine);
  if (!isCertificateKeyType(line.type)) throw new ValidationError(`${source}: not an OpenSSH certificate (type ${line.type})`);
  const cert = parseCertificate(line.blob);
  if (!cert.key.blob.equals(key.getPublicSSH())) {
    throw new ValidationError(`${source}: the certificate is for a different key than ${key.comment || 'the private key'}`);
  }
  return showAs(key, line.type, line.blob);
}

/** `key`, shown to the server (and to an agent) as type `type` with blob `blob`; it signs as `key`. */
export function showAs(key: ParsedKey, type: string, blob: Buffer): ParsedKey {
  const adapter = Object.create(key) as ParsedKey & { type: string };
  Object.defineProperty(adapter, 'type', { value: type, enumerable: true });
  Object.defineProperty(adapter, 'getPublicSSH', { value: () => blob });
  return adapter;
}

/** A key to offer: signed by ssh2 with the key itself, or, when `agent` is set, by that agent. */
export interface KeyOffer {
  key: ParsedKey;
  agent?: BaseAgent;
}

/**
 * An ssh2 authHandler that offers each key once, in order, then says there is nothing more to
 * try (ssh2's documented `false`, which its typings leave out); `onOffer` hears each as it
 * goes. A parsed key, certificate adapters included, is only taken as it is through an
 * authHandler.
 */
export function offerKeys(username: string, offers: readonly KeyOffer[], onOffer?: (offer: KeyOffer) => void): AuthHandlerMiddleware {
  let next = 0;
  return (_methods, _partial, callback) => {
    const offer = offers[next++];
    if (offer === undefined) return callback(false as unknown as AnyAuthMethod);
    onOffer?.(offer);
    callback(offer.agent ? { type: 'agent', username, agent: offer.agent } : { type: 'publickey', username, key: offer.key });
  };
}

/** One key, once. */
export function offerKeyOnce(username: string, key: ParsedKey): AuthHandlerMiddleware {
  return offerKeys(username, [{ key }]);
}
