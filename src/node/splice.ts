// Joins a TCP or unix socket to an SSH channel for the life of a scope: bytes both ways,
// half-closes passed on, and the scope closed when either side is done or fails.

import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Scope } from '../scope';

/** Ties the socket to the scope: closing one closes the other. Safe to call before splice(). */
export function bindSocket(socket: net.Socket, scope: Scope): void {
  scope.defer(() => { socket.destroy(); });
  socket.on('error', () => void scope.close());
  socket.once('close', () => void scope.close());
}

export function splice(socket: net.Socket, channel: Duplex, scope: Scope): void {
  scope.defer(() => { channel.destroy(); });
  channel.on('error', () => void scope.close());
  // The channel's close ends our side; the scope closes once what we owe the peer is written.
  channel.once('close', () => {
    if (socket.destroyed || socket.writableFinished) return void scope.close();
    socket.once('finish', () => void scope.close());
    // Ended already by the pipe when the channel's EOF came first: end() again builds an error.
    if (!socket.writableEnded) socket.end();
  });
  socket.pipe(channel);
  channel.pipe(socket);
}
