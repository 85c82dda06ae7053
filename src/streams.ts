// Stream lifetimes shared by the node and the client.

import type { Writable } from 'node:stream';

/**
 * Calls `then` once everything written to `stream` has gone out: at once unless its writer has
 * ended and data is still queued (for an SSH channel, waiting for the peer's window), else on
 * 'finish', or on 'close' if it closes first.
 */
export function whenWritten(stream: Writable, then: () => void): void {
  if (!stream.writableEnded || stream.writableFinished) return then();
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    then();
  };
  stream.once('finish', once);
  stream.once('close', once);
}
