// What the command-line tools do when whoever reads their output goes away.

import os from 'node:os';

let installed = false;

/**
 * A reader that closed its end (`ferryctl audit ls | head -1`) ends the program quietly with
 * status 141, as SIGPIPE ends a C tool. Node ignores SIGPIPE, so the write failed with EPIPE
 * instead and the tool died with a stack trace.
 */
export function exitQuietlyWhenStdoutCloses(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(128 + os.constants.signals.SIGPIPE);
    throw err;
  });
}
