// Joins a TCP or unix socket to an SSH channel for the life of a scope: bytes both ways,
// half-closes passed on, and the scope closed when either side is done or fails.

import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Scope } from '../scope';
import { whenWritten } from '../streams';

/** The channel each spliced socket feeds. */
const feeds = new WeakMap<net.Socket, Duplex>();

/**
 * Ties the socket to the scope: closing one closes the other. Safe to call before splice().
 * A socket that closes cleanly after splice() waits for the channel to send what it still
 * holds (data waiting for the peer's window) before the scope, and so the channel, closes.
 */
export function bindSocket(socket: net.Socket, scope: Scope): void {
  scope.defer(() => { socket.destroy(); });
  socket.on('error', () => void scope.close());
  socket.once('close', (hadError) => {
    const channel = feeds.get(socket);
    if (channel && !hadError) whenWritten(channel, () => void scope.close());
    else void scope.close();
  });
}

export function splice(socket: net.Socket, channel: Duplex, scope: Scope): void {
  feeds.set(socket, channel);
  scope.defer(() => { channel.destroy(); });
  channel.on('error', () => void scope.close());
  // The channel's close ends our side; the scope closes once what we owe the peer is written.
  channel.once('close', () => {
    if (socket.destroyed) return void scope.close();
    // Ended already by the pipe when the channel's EOF came first: end() again builds an error.
    if (!socket.writableEnded) socket.end();
    whenWritten(socket, () => void scope.close());
  });
  socket.pipe(channel);
  channel.pipe(socket);
}
