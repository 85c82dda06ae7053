// Typed access to what Ferry's patch of ssh2 adds (patches/ssh2+*.patch): SSH_MSG_DEBUG in
// both directions and channel-open refusals that carry a reason code and text. Kept here so
// that nothing else reaches into ssh2's internals.

import type { Client, Connection } from 'ssh2';
import type { OpenFailureReason } from '../errors';

interface PatchedProtocol {
  sendDebug(message: string, alwaysDisplay: boolean): void;
}

/** Sends SSH_MSG_DEBUG, as sshd does to say why the next reply is a failure. */
export function sendDebug(conn: Connection, message: string): void {
  const proto = (conn as unknown as { _protocol?: PatchedProtocol })._protocol;
  proto?.sendDebug(message, true);
}

/** ssh2's channel reject callback, which Ferry's patch extends with a reason and text. */
export type ChannelReject = (reason?: OpenFailureReason, description?: string) => void;

export function rejectChannel(reject: () => void, reason: OpenFailureReason, description: string): void {
  (reject as ChannelReject)(reason, description);
}

/** Subscribes to SSH_MSG_DEBUG messages a server sends to this client. */
export function onRemoteDebug(client: Client, listener: (message: string) => void): void {
  (client as unknown as NodeJS.EventEmitter).on('remote-debug', (message: string) => listener(message));
}
